package netsync_test

import (
	"crypto/rand"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hillsdb/hills/internal/wire"
	"github.com/hillsdb/hills/netsync"
)

// FuzzHandshake feeds arbitrary bytes to a real server as the first
// frames of a session, each input on a new connection, and checks the
// server still welcomes a good client afterwards. One server serves every
// input of a fuzzing process. The seed corpus is in
// testdata/fuzz/FuzzHandshake: a valid Hello, a truncated one, a huge
// length, a Hello followed by messages.
func FuzzHandshake(f *testing.F) {
	srv := startServer(f, f.TempDir(), "", &netsync.ServerOptions{MaxFrame: 1 << 20,
		Limits: netsync.Limits{HandshakeTimeout: time.Second}})
	good := 0
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := dialRaw(t, srv.addr, wire.ALPN)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		// Bounded: a server that slows a flood of messages (its rate
		// limit) may take long to read them all.
		c.st.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		c.w.Write(in)
		c.w.Flush()
		// Read what the server answers, for a short while.
		c.st.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		io.Copy(io.Discard, io.LimitReader(c.st, 1<<22))
		c.qc.CloseWithError(0, "")

		// A good client is still welcomed and answered.
		// Its id is one no input can have claimed (an open server binds an
		// id to the first key that uses it).
		good++
		g, w, r := rawHello(t, srv.addr, selfSigned(t), wire.Hello{ClientID: fmt.Sprintf("good-%d-%s", good, rand.Text()), Name: "good"})
		if w == nil {
			t.Fatalf("good client refused after %q: %+v", in, r)
		}
		g.send(t, wire.TPing, &wire.Ping{Nonce: 1})
		var p wire.Pong
		g.next(t, wire.TPong, &p)
		if p.Nonce != 1 {
			t.Fatalf("pong %+v", p)
		}
		g.qc.CloseWithError(0, "")
	})
}
