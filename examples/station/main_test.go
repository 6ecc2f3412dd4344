package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/examples/inventory/stock"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/internal/testkit/testnet"
	"github.com/hillsdb/hills/netsync"
)

var quiet = testnet.Quiet

// seeded connects a replica named name to addr, seeds the inventory
// through it and returns its store.
func seeded(t *testing.T, addr string) (*stock.Store, *netsync.Client) {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), "office"), &db.Options{Replica: true, Name: "office", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st, err := stock.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	c, err := netsync.Connect(d, addr, &netsync.ClientOptions{AppID: "inventory", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := testkit.Context(t)
	if err := stock.Seed(ctx, st); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	return st, c
}

// waitQuantity waits until the office replica shows want items of mpn.
func waitQuantity(t *testing.T, st *stock.Store, mpn string, want int) {
	t.Helper()
	k, ok := st.Find(mpn)
	if !ok {
		t.Fatalf("no part %s", mpn)
	}
	testkit.Until(t, fmt.Sprintf("%d items of %s", want, mpn), func() bool {
		p, _, err := st.Parts.Get(k)
		return err == nil && p.Quantity == want
	})
}

func quantityOf(t *testing.T, st *stock.Store, mpn string) int {
	t.Helper()
	k, ok := st.Find(mpn)
	if !ok {
		t.Fatalf("no part %s", mpn)
	}
	p, _, err := st.Parts.Get(k)
	if err != nil {
		t.Fatal(err)
	}
	return p.Quantity
}

func TestStation(t *testing.T) {
	addr := testnet.Server(t, "inventory")
	office, _ := seeded(t, addr)
	r0, mcu0 := quantityOf(t, office, "RC0603FR-0710KL"), quantityOf(t, office, "STM32G031K8T6")

	var out bytes.Buffer
	err := run(context.Background(), []string{"-server", addr, "-name", "smt-1", "-data", t.TempDir(),
		"-pick", "RC0603FR-0710KL=4, STM32G031K8T6", "-boards", "3"}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, s := range []string{"smt-1: synced with", "board 1: took 4 × RC0603FR-0710KL", "board 3: took 1 × STM32G031K8T6", "built 3 boards"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
	// The office sees the new quantities and six movements by smt-1.
	waitQuantity(t, office, "RC0603FR-0710KL", r0-12)
	waitQuantity(t, office, "STM32G031K8T6", mcu0-3)
	testkit.Until(t, "six movements by smt-1 at the office", func() bool {
		n := 0
		for _, m := range office.Movements.All() {
			if m.Who == "smt-1" && m.Delta < 0 {
				n++
			}
		}
		return n == 6
	})
}

// Two stations taking the same part at once never lose an update: each
// takes it in turn through its check-out.
func TestStationsShareAPart(t *testing.T) {
	addr := testnet.Server(t, "inventory")
	office, _ := seeded(t, addr)
	q0 := quantityOf(t, office, "GRM188R71H104KA93D")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	outs := make([]bytes.Buffer, 2)
	for i, name := range []string{"smt-1", "smt-2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = run(context.Background(), []string{"-server", addr, "-name", name, "-data", t.TempDir(),
				"-pick", "GRM188R71H104KA93D=5", "-boards", "4"}, &outs[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("station %d: %v\n%s", i+1, err, outs[i].String())
		}
	}
	waitQuantity(t, office, "GRM188R71H104KA93D", q0-40)
}

func TestStationShortStock(t *testing.T) {
	addr := testnet.Server(t, "inventory")
	office, _ := seeded(t, addr)
	q := quantityOf(t, office, "STM32H743VIT6")
	var out bytes.Buffer
	err := run(context.Background(), []string{"-server", addr, "-name", "smt-1", "-data", t.TempDir(),
		"-pick", "STM32H743VIT6=" + strconv.Itoa(q+1)}, &out)
	if !errors.Is(err, stock.ErrShort) {
		t.Fatalf("err %v, want ErrShort\n%s", err, out.String())
	}
}

func TestParsePicks(t *testing.T) {
	got, err := ParsePicks(" A=2, B ,")
	if err != nil || len(got) != 2 || got[0] != (Pick{"A", 2}) || got[1] != (Pick{"B", 1}) {
		t.Fatalf("%v, %v", got, err)
	}
	for _, bad := range []string{"", "A=0", "A=x", "=3", ","} {
		if _, err := ParsePicks(bad); err == nil {
			t.Errorf("ParsePicks(%q) accepted", bad)
		}
	}
}

// TestToken runs a station against a server that admits enrolled clients
// only: refused without its token, synced with it.
func TestToken(t *testing.T) {
	s := testnet.ServerWith(t, &netsync.ServerOptions{AppID: "inventory", Logger: quiet})
	addr := s.Addr().String()
	args := []string{"-server", addr, "-name", "smt-1", "-pick", "RC0603FR-0710KL=1", "-boards", "0", "-timeout", "20s"}
	var out bytes.Buffer
	if err := run(context.Background(), append(args, "-data", t.TempDir()), &out); !errors.Is(err, netsync.ErrUnauthorized) {
		t.Fatalf("without a token: %v, want ErrUnauthorized\n%s", err, out.String())
	}
	tok, err := s.AddClient("smt-1", netsync.Grant{Tree: "*", Access: netsync.AllAccess})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), append(args, "-data", t.TempDir(), "-token", tok), &out); err != nil {
		t.Fatalf("with the token: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "smt-1: synced with") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"-pick", "A"}, {"-server", "127.0.0.1:1", "-pick", ""}, {"-server", "127.0.0.1:1", "-pick", "A", "-boards", "-1"}} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("run %q accepted", args)
		}
	}
}
