package netsync_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/quic-go/quic-go"

	"github.com/hillsdb/hills/db"
)

// quicEcho measures n round trips of a small message over one quic-go
// stream on loopback: the floor any check-out round trip stands on.
func quicEcho(b *testing.B, n int) []time.Duration {
	b.Helper()
	cert := selfSigned(b)
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"echo"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		qc, err := ln.Accept(context.Background())
		if err != nil {
			return
		}
		st, err := qc.AcceptStream(context.Background())
		if err != nil {
			return
		}
		io.Copy(st, st)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qc, err := quic.DialAddr(ctx, ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"echo"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer qc.CloseWithError(0, "")
	st, err := qc.OpenStreamSync(ctx)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 32)
	buf := make([]byte, 32)
	out := make([]time.Duration, 0, n)
	for i := range n + 10 {
		t0 := time.Now()
		if _, err := st.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(st, buf); err != nil {
			b.Fatal(err)
		}
		if i >= 10 { // warm-up
			out = append(out, time.Since(t0))
		}
	}
	return out
}

// syncWrites measures n small synced writes to a Pebble store: the floor
// of anything persisted before it is answered.
func syncWrites(b *testing.B, n int) []time.Duration {
	b.Helper()
	pdb, err := pebble.Open(b.TempDir(), &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		b.Fatal(err)
	}
	defer pdb.Close()
	out := make([]time.Duration, 0, n)
	for i := range n {
		t0 := time.Now()
		if err := pdb.Set([]byte("borrow"), []byte{byte(i)}, pebble.Sync); err != nil {
			b.Fatal(err)
		}
		out = append(out, time.Since(t0))
	}
	return out
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

func pct(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return float64(s[i].Nanoseconds()) / 1e3
}

func report(b *testing.B, name string, ds, base []time.Duration) {
	b.ReportMetric(pct(ds, 0.5), name+"-p50-µs")
	b.ReportMetric(pct(ds, 0.99), name+"-p99-µs")
	b.ReportMetric(pct(base, 0.5), "quic-rtt-p50-µs")
	b.ReportMetric(pct(base, 0.99), "quic-rtt-p99-µs")
	b.ReportMetric(pct(ds, 0.5)/pct(base, 0.5), "p50-ratio")
}

// BenchmarkCheckOutUncontended: CheckOut then CheckIn of a record nobody
// else wants, each persisted on the server before it is answered.
func BenchmarkCheckOutUncontended(b *testing.B) {
	srv := startServer(b, b.TempDir(), "", nil)
	a := newReplica(b, "a", srv.addr)
	k := createWhenIDs(b, a, Part{Number: "bench"})
	waitSynced(b, a)
	ctx := context.Background()
	ds := make([]time.Duration, 0, b.N)
	outs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if err := a.parts.CheckOut(ctx, k); err != nil {
			b.Fatal(err)
		}
		outs = append(outs, time.Since(t0))
		if err := a.parts.CheckIn(context.Background(), k); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(pct(outs, 0.5), "checkout-only-p50-µs")
	b.ReportMetric(pct(syncWrites(b, 500), 0.5), "fsync-p50-µs")
	report(b, "checkout+checkin", ds, quicEcho(b, max(len(ds), 200)))
}

// BenchmarkCheckOutHandoff: A holds, B waits; measured from A's CheckIn
// call to B's CheckOut returning (persisted on the server).
func BenchmarkCheckOutHandoff(b *testing.B) {
	srv := startServer(b, b.TempDir(), "", nil)
	a := newReplica(b, "a", srv.addr)
	c := newReplica(b, "b", srv.addr)
	k := createWhenIDs(b, a, Part{Number: "bench"})
	waitSynced(b, a, c)
	ctx := context.Background()
	if err := a.parts.CheckOut(ctx, k); err != nil {
		b.Fatal(err)
	}
	holder, waiter := a, c
	ds := make([]time.Duration, 0, b.N)
	granted := make(chan time.Time, 1)
	queued := make(chan struct{}, 1)
	b.ResetTimer()
	for b.Loop() {
		cancel := waiter.parts.Subscribe(func(e db.Event[Part]) {
			if e.Kind == db.BorrowChanged {
				select {
				case queued <- struct{}{}:
				default:
				}
			}
		})
		w := waiter
		go func() {
			if err := w.parts.CheckOut(ctx, k); err != nil {
				b.Error(err)
			}
			granted <- time.Now()
		}()
		for w.parts.Borrow(k).Waiting != 1 {
			select {
			case <-queued:
			case <-time.After(time.Millisecond):
			}
		}
		cancel()
		t0 := time.Now()
		if err := holder.parts.CheckIn(context.Background(), k); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, (<-granted).Sub(t0))
		holder, waiter = waiter, holder
	}
	b.StopTimer()
	b.ReportMetric(pct(syncWrites(b, 500), 0.5), "fsync-p50-µs")
	report(b, "handoff", ds, quicEcho(b, max(len(ds), 200)))
}
