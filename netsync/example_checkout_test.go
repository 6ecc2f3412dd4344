package netsync_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/netsync"
)

// Two workstations share a server. Alice checks a part out, edits it and
// checks it in; Bob, waiting in the record's queue, is granted it with her
// edit already applied.
func Example_checkOut() {
	dir, _ := os.MkdirTemp("", "hills-example")
	defer os.RemoveAll(dir)
	srv, _ := netsync.NewServer(filepath.Join(dir, "server"), &netsync.ServerOptions{Logger: quiet, Open: true})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.ListenAndServe(ctx, "127.0.0.1:0")
	<-srv.Ready()
	defer srv.Shutdown(context.Background())

	open := func(name string) (*db.DB, *db.Tree[Part], *netsync.Client) {
		d, _ := db.Open(filepath.Join(dir, name), &db.Options{Replica: true, Name: name, Logger: quiet})
		parts, _ := db.OpenTree[Part](d, "parts")
		c, _ := netsync.Connect(d, srv.Addr().String(), &netsync.ClientOptions{Logger: quiet})
		c.WaitSynced(ctx)
		return d, parts, c
	}
	ad, alice, ac := open("alice")
	defer ad.Close()
	defer ac.Close()
	bd, bob, bc := open("bob")
	defer bd.Close()
	defer bc.Close()

	var k db.Key[Part]
	for { // ids come from the server
		var err error
		if k, err = alice.Create(Part{Number: "RC0603", Quantity: 5000}); err == nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := alice.CheckOut(ctx, k); err != nil {
		fmt.Println(err)
		return
	}
	// Bob checks out only records his replica holds: wait for the new part
	// to reach him.
	for _, _, err := bob.Get(k); err != nil; _, _, err = bob.Get(k) {
		time.Sleep(time.Millisecond)
	}
	granted := make(chan error, 1)
	go func() { granted <- bob.CheckOut(ctx, k) }() // waits in the queue
	for bob.Borrow(k).Waiting != 1 {
		select {
		case err := <-granted:
			fmt.Println("bob did not wait:", err)
			return
		case <-time.After(time.Millisecond):
		}
	}
	fmt.Println("held by", bob.Borrow(k).Holder, "- bob waits at place", bob.Borrow(k).Waiting)

	alice.Update(k, func(p *Part) error { p.Quantity -= 250; return nil })
	alice.CheckIn(context.Background(), k) // sends the edit, then hands the record on
	fmt.Println("bob granted:", <-granted == nil, "mine:", bob.Borrow(k).Mine)
	bob.View(k, func(p *Part, m db.Meta) { fmt.Println(p.Quantity, "left, edited by", m.ModifiedBy) })
	// Output:
	// held by alice - bob waits at place 1
	// bob granted: true mine: true
	// 4750 left, edited by alice
}
