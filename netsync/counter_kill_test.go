package netsync_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/record"
	"github.com/hillsdb/hills/internal/schema"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/netsync"
)

// The environment of a child station (TestCounterStationKilled).
const (
	counterChildDir   = "HILLS_TEST_COUNTER_DIR"
	counterChildAddr  = "HILLS_TEST_COUNTER_ADDR"
	counterChildKey   = "HILLS_TEST_COUNTER_KEY"
	counterChildRound = "HILLS_TEST_COUNTER_ROUND"
)

// TestCounterStationKilled takes stock from a station that is killed
// (SIGKILL) while it adds, three times over, while another station adds
// too. Every delta an Add returned for lands or, when it takes stock away,
// may be refused at the floor; nothing is applied twice; and after the
// killed station reopens, every replica has the server's value.
func TestCounterStationKilled(t *testing.T) {
	if dir := os.Getenv(counterChildDir); dir != "" {
		runCounterChild(t, dir)
		return
	}
	srv := startServer(t, t.TempDir(), "", nil)
	other := newStation(t, "other", srv.addr)
	k := testkit.Create(t, other.reels, Reel{Part: "R1", Stock: 500})
	other.sync(t, nil)
	kdir := filepath.Join(t.TempDir(), "killed")

	var mu sync.Mutex
	returned := map[int64]bool{} // deltas an Add returned nil for
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(5, 5))
		for j := 0; ; j++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(rng.IntN(5)) * time.Millisecond):
			}
			d := int64(2 + 2*j)
			if rng.IntN(2) == 0 {
				d = -d
			}
			if err := other.reels.Add(k, "stock", d); err == nil {
				mu.Lock()
				returned[d] = true
				mu.Unlock()
			} else if !errors.Is(err, db.ErrBelowFloor) {
				t.Errorf("other: add: %v", err)
				return
			}
		}
	})
	inFlight := map[int64]bool{} // deltas of a killed station's call that had not returned
	for round := range 3 {
		got, next := killChild(t, kdir, srv.addr, k, round)
		mu.Lock()
		for _, d := range got {
			returned[d] = true
		}
		mu.Unlock()
		inFlight[next] = true
	}
	close(stop)
	wg.Wait()

	// The killed station comes back and syncs what its outbox held.
	killed := openStation(t, kdir, "killed", srv.addr, nil)
	for range 2 {
		killed.sync(t, db.ErrBelowFloor)
		other.sync(t, db.ErrBelowFloor)
	}
	recs, err := netsync.LogRecords(srv.Server, "reels", layout.Pack(k.ID, k.Rev))
	if err != nil {
		t.Fatal(err)
	}
	accepted := map[int64]bool{}
	var prev, final int64
	for i, rec := range recs {
		_, data, err := record.Decode(rec, nil)
		if err != nil {
			t.Fatal(err)
		}
		v, err := schema.ReadInt(data, "stock")
		if err != nil {
			t.Fatal(err)
		}
		if v < 0 {
			t.Fatalf("log entry %d: stock %d below the floor", i, v)
		}
		if i > 0 {
			d := v - prev
			if !returned[d] && !inFlight[d] {
				t.Fatalf("log entry %d: delta %d was never added", i, d)
			}
			if accepted[d] {
				t.Fatalf("delta %d applied twice", d)
			}
			accepted[d] = true
		}
		prev, final = v, v
	}
	for d := range returned {
		if d > 0 && !accepted[d] {
			t.Errorf("delta %+d returned by Add and lost", d)
		}
	}
	for _, s := range []*station{killed, other} {
		if got := s.stock(t, k); got != final {
			t.Errorf("%s: stock %d, the server's %d", s.name, got, final)
		}
	}
	t.Logf("%d deltas returned, %d accepted; final stock %d", len(returned), len(accepted), final)
}

// killChild runs a child station on dir that adds to k until it is
// killed, and returns the deltas its Adds returned for and the one it
// was adding when killed (0: none).
func killChild(t *testing.T, dir, addr string, k db.Key[Reel], round int) (returned []int64, trying int64) {
	t.Helper()
	cmd, lines := startChild(t, "TestCounterStationKilled", counterChildDir+"="+dir, counterChildAddr+"="+addr,
		counterChildKey+"="+k.String(), counterChildRound+"="+strconv.Itoa(round))
	deadline := time.After(60 * time.Second)
	kill := (<-chan time.Time)(nil)
	n := 0
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				done = true
				break
			}
			switch {
			case l == "ready":
				kill = time.After(time.Duration(150+50*round) * time.Millisecond)
			case strings.HasPrefix(l, "adding "):
				d, err := strconv.ParseInt(strings.TrimPrefix(l, "adding "), 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				trying = d
			case l == "added":
				returned = append(returned, trying)
				trying = 0
				n++
			case l == "refused":
				trying = 0
			case strings.HasPrefix(l, "error"):
				t.Fatalf("child: %s", l)
			}
		case <-kill:
			cmd.Process.Kill() // SIGKILL
			kill = nil
		case <-deadline:
			cmd.Process.Kill()
			t.Fatal("child station did not finish within 60 s")
		}
	}
	cmd.Wait()
	if n == 0 {
		t.Fatalf("round %d: the child added nothing before it was killed", round)
	}
	return returned, trying
}

// startChild runs this test binary's test as a child process with env
// added, and returns it with the lines it prints, closed when it exits.
func startChild(t *testing.T, test string, env ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, out)
	}()
	return cmd, lines
}

// childDelta is the magnitude of the j-th delta of a child's round: odd,
// unique to the round and the call.
func childDelta(round, j int) int64 { return int64(1 + 2*j + 1_000_000*round) }

// runCounterChild is the child station: it adds to the reel until killed,
// printing each delta once Add returned (durable).
func runCounterChild(t *testing.T, dir string) {
	fail := func(err error) {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	k, err := db.ParseKey[Reel](os.Getenv(counterChildKey))
	if err != nil {
		fail(err)
	}
	round, _ := strconv.Atoi(os.Getenv(counterChildRound))
	d, err := db.Open(dir, &db.Options{Replica: true, Name: "killed", Logger: quiet})
	if err != nil {
		fail(err)
	}
	reels, err := db.OpenTree[Reel](d, "reels", db.Versioned())
	if err != nil {
		fail(err)
	}
	if _, err := netsync.Connect(d, os.Getenv(counterChildAddr), &netsync.ClientOptions{Logger: quiet}); err != nil {
		fail(err)
	}
	// A fresh replica learns of the reel from the server first.
	for i := 0; reels.View(k, func(*Reel, db.Meta) {}) != nil; i++ {
		if i > 6000 {
			fail(errors.New("the reel never arrived"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println("ready")
	rng := rand.New(rand.NewPCG(uint64(round), 9))
	for j := 0; j < 1_000_000; j++ {
		delta := childDelta(round, j)
		if rng.IntN(2) == 0 {
			delta = -delta
		}
		fmt.Printf("adding %d\n", delta)
		err := reels.Add(k, "stock", delta)
		switch {
		case err == nil:
			fmt.Println("added")
		case errors.Is(err, db.ErrBelowFloor):
			fmt.Println("refused")
		default:
			fail(err)
		}
	}
}
