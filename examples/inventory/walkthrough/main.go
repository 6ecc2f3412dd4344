// Command walkthrough shows hills without a display: it starts a sync
// server on loopback (or uses -server), seeds the inventory, connects two
// clients, alice and bob, and prints what happens as alice checks a part
// out, bob waits for it, alice's edit reaches bob, and bob's station
// takes stock while alice holds the part (a counter needs no check-out).
// scripts/demo.sh runs it when there is no display.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/examples/inventory/stock"
	"github.com/hillsdb/hills/netsync"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "walkthrough:", err)
		os.Exit(1)
	}
}

// client is one connected replica of the inventory.
type client struct {
	name string
	s    *stock.Store
	c    *netsync.Client
}

func connect(ctx context.Context, dir, addr, name, token string, log *slog.Logger) (*client, error) {
	d, err := db.Open(filepath.Join(dir, name), &db.Options{Replica: true, Name: name, Logger: log})
	if err != nil {
		return nil, err
	}
	s, err := stock.Open(d)
	if err != nil {
		d.Close()
		return nil, err
	}
	c, err := netsync.Connect(d, addr, &netsync.ClientOptions{AppID: "inventory", Logger: log, Token: token})
	if err != nil {
		d.Close()
		return nil, err
	}
	cl := &client{name: name, s: s, c: c}
	if err := c.WaitSynced(ctx); err != nil {
		cl.close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return cl, nil
}

func (c *client) close() {
	c.c.Close()
	c.s.DB.Close()
}

// until polls cond every 10 ms until it holds or ctx ends.
func until(ctx context.Context, what string, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("walkthrough", flag.ContinueOnError)
	addr := fs.String("server", "", "use this running server (default: start one on 127.0.0.1)")
	mpn := fs.String("part", "STM32F103C8T6", "the part number the clients work on")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	tokens := map[string]*string{
		"alice": fs.String("alice-token", os.Getenv("HILLS_ALICE_TOKEN"), "alice's enrollment token, with -server ($HILLS_ALICE_TOKEN)"),
		"bob":   fs.String("bob-token", os.Getenv("HILLS_BOB_TOKEN"), "bob's enrollment token, with -server ($HILLS_BOB_TOKEN)"),
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir, err := os.MkdirTemp("", "hills-walkthrough-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }

	if *addr == "" {
		srv, err := netsync.NewServer(filepath.Join(dir, "server"), &netsync.ServerOptions{AppID: "inventory", Logger: log})
		if err != nil {
			return err
		}
		sctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.ListenAndServe(sctx, "127.0.0.1:0") }()
		select {
		case <-srv.Ready():
		case err := <-done:
			stop()
			return err
		}
		defer func() {
			shctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			srv.Shutdown(shctx)
			stop()
			<-done
		}()
		*addr = srv.Addr().String()
		// Only enrolled clients are admitted: alice and bob get a token
		// each, with the accesses their work needs.
		for _, name := range []string{"alice", "bob"} {
			tok, err := srv.AddClient(name, netsync.Grant{Tree: "*", Access: netsync.Read | netsync.Create | netsync.Edit | netsync.Release | netsync.Adjust})
			if err != nil {
				return err
			}
			*tokens[name] = tok
		}
		say("1. server: listening on %s, its data in %s; alice and bob enrolled", *addr, filepath.Join(dir, "server"))
	} else {
		say("1. server: using %s", *addr)
	}

	alice, err := connect(ctx, dir, *addr, "alice", *tokens["alice"], log)
	if err != nil {
		return err
	}
	defer alice.close()
	n, err := stock.SeedIfEmpty(ctx, alice.s, alice.c)
	if err != nil {
		return err
	}
	say("2. alice: connected; seeded %d parts and %d BOMs", n, alice.s.BOMs.Len())
	bob, err := connect(ctx, dir, *addr, "bob", *tokens["bob"], log)
	if err != nil {
		return err
	}
	defer bob.close()
	if err := until(ctx, "bob's copy of the inventory", func() bool { return bob.s.Parts.Len() == alice.s.Parts.Len() }); err != nil {
		return err
	}
	say("3. bob: connected; his replica holds %d parts", bob.s.Parts.Len())

	ka, ok := alice.s.Find(*mpn)
	if !ok {
		return fmt.Errorf("no part %s", *mpn)
	}
	kb, _ := bob.s.Find(*mpn)
	p, _, _ := alice.s.Parts.Get(ka)
	say("4. both find %s (%s) by its part number: %d on hand at %s", *mpn, ka, p.Quantity, p.Location)

	if err := alice.s.Parts.CheckOut(ctx, ka); err != nil {
		return err
	}
	if err := until(ctx, "bob to see alice's check-out", func() bool { return bob.s.Parts.Borrow(kb).Held }); err != nil {
		return err
	}
	say("5. alice checks %s out; bob sees it held by %q", *mpn, bob.s.Parts.Borrow(kb).Holder)

	if err := bob.s.Parts.Update(kb, func(p *stock.Part) error { p.Location = "X1"; return nil }); errors.Is(err, db.ErrNotCheckedOut) {
		say("6. bob tries to edit it without the check-out: refused (%v)", err)
	} else {
		return fmt.Errorf("bob's edit without the check-out: %v, want ErrNotCheckedOut", err)
	}
	granted := make(chan error, 1)
	go func() { granted <- bob.s.Parts.CheckOut(ctx, kb) }()
	if err := until(ctx, "bob to queue", func() bool { return bob.s.Parts.Borrow(kb).Waiting > 0 }); err != nil {
		return err
	}
	say("7. bob asks for the check-out: he waits, number %d in the queue", bob.s.Parts.Borrow(kb).Waiting)

	err = alice.s.Parts.Update(ka, func(p *stock.Part) error {
		p.Location = "C2-07"
		return nil
	})
	if err != nil {
		return err
	}
	if err := alice.s.Restock(ctx, ka, 100, "alice", "shelf count"); err != nil {
		return err
	}
	p, _, _ = alice.s.Parts.Get(ka)
	say("8. alice counts the shelf: %d on hand, moved to %s", p.Quantity, p.Location)
	if err := alice.s.Parts.CheckIn(ctx, ka); err != nil {
		return err
	}
	say("9. alice checks it in")
	select {
	case err := <-granted:
		if err != nil {
			return fmt.Errorf("bob's check-out: %w", err)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	q, m, _ := bob.s.Parts.Get(kb)
	say("10. bob gets the check-out and sees alice's edit: %d on hand at %s (last change by %s)", q.Quantity, q.Location, m.ModifiedBy)
	if q.Quantity != p.Quantity || q.Location != p.Location {
		return fmt.Errorf("bob sees %+v, alice wrote %+v", q, p)
	}
	if err := bob.s.Parts.CheckIn(ctx, kb); err != nil {
		return err
	}

	// Alice holds the part to fix its description while bob's station
	// takes stock: the quantity is a counter, which needs no check-out.
	if err := alice.s.Parts.CheckOut(ctx, ka); err != nil {
		return err
	}
	left, err := bob.s.Consume(ctx, kb, 25, "bob", "board 1 of PCB-1004")
	if err != nil {
		return err
	}
	say("11. alice holds the part to edit it; bob's station takes 25 for a board anyway, no check-out: %d left, movement recorded", left)
	err = alice.s.Parts.Update(ka, func(p *stock.Part) error {
		p.Description += " (reel of 5000)"
		return nil
	})
	if err != nil {
		return err
	}
	if err := alice.s.Parts.CheckIn(ctx, ka); err != nil {
		return err
	}
	if err := until(ctx, "both to see bob's delta and alice's edit", func() bool {
		r, _, _ := alice.s.Parts.Get(ka)
		q, _, _ := bob.s.Parts.Get(kb)
		return r.Quantity == left && q.Quantity == left && q.Description == r.Description && alice.s.Movements.Len() > 0
	}); err != nil {
		return err
	}
	r, _, _ := alice.s.Parts.Get(ka)
	say("    alice's edit kept bob's count: %d on hand, %q", r.Quantity, r.Description)
	for _, mv := range alice.s.Movements.All() {
		say("12. alice sees the new quantity %d and the movement: %+d by %s (%s)", left, mv.Delta, mv.Who, mv.Reason)
	}

	var rel db.Key[stock.BOM]
	for k := range alice.s.BOMs.All() {
		if _, m, _ := alice.s.BOMs.Get(k); m.Version == db.Released {
			rel = k
			break
		}
	}
	next, err := stock.ReviseBOM(ctx, alice.s, rel)
	if err != nil {
		return err
	}
	if err := until(ctx, "bob to see the new revision", func() bool {
		_, _, err := bob.s.BOMs.Get(next)
		return err == nil
	}); err != nil {
		var have, ahave []string
		for k := range bob.s.BOMs.All() {
			have = append(have, k.String())
		}
		for k := range alice.s.BOMs.All() {
			ahave = append(ahave, k.String())
		}
		return fmt.Errorf("%w (bob has boms %v, status %+v; alice has %v, status %+v)", err, have, bob.c.Status(), ahave, alice.c.Status())
	}
	b, _, _ := bob.s.BOMs.Get(next)
	say("13. alice revises released BOM %s: draft %s of %q appears at bob's", rel, next, b.Name)
	say("done: every change went through the server; close the clients and the server stops.")
	return nil
}
