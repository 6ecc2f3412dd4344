package wire_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/hillsdb/hills/internal/layout"
	"github.com/hillsdb/hills/internal/wire"
)

// An Entries frame built change by change is the frame wire.Write makes of
// the same changes, for counts on each side of msgpack's array headers.
func TestEntriesFrameLikeWrite(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 15, 16, 300, 65535, 65536} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			chs := make([]layout.Change, n)
			for i := range chs {
				rec := make([]byte, rng.IntN(40))
				for j := range rec {
					rec[j] = byte(rng.Uint32())
				}
				chs[i] = layout.Change{Seq: rng.Uint64(), Tree: "parts", Key: rng.Uint64(), Kind: uint8(rng.IntN(6)), Record: rec}
				if i%3 == 0 {
					chs[i].Sum = rec[:min(len(rec), 16)]
				}
			}
			var want, got bytes.Buffer
			ww, gw := bufio.NewWriter(&want), bufio.NewWriter(&got)
			if err := wire.Write(ww, wire.TEntries, &wire.Entries{Changes: chs}); err != nil {
				t.Fatal(err)
			}
			f := wire.NewEntriesFrame()
			defer f.Free()
			for i := range chs {
				if err := f.Add(&chs[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Flush(gw); err != nil {
				t.Fatal(err)
			}
			ww.Flush()
			gw.Flush()
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("%d changes: built %d bytes, wire.Write %d; first difference at %d", n, got.Len(), want.Len(), firstDiff(got.Bytes(), want.Bytes()))
			}
			if err := f.Flush(gw); err != nil || gw.Buffered() != 0 {
				t.Fatalf("an empty flush wrote %d bytes (%v)", gw.Buffered(), err)
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
