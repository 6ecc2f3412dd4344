// Command quickstart opens a standalone hills database, parts.db in the
// working directory (or -dir), stores a few parts, changes one, and prints
// what it did: the README's quickstart in full. Run it twice to see the
// records survive a restart.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hillsdb/hills/db"
)

// Part is a record of the parts tree. Fields are stored by their msgpack
// names, so they can be renamed in Go without touching stored data.
type Part struct {
	Number   string `msgpack:"number"`
	Maker    string `msgpack:"maker"`
	Quantity int    `msgpack:"quantity"`
	Location string `msgpack:"location"`
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	dir := fs.String("dir", "parts.db", "database directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err := db.Open(*dir, &db.Options{Name: "bench-3"})
	if err != nil {
		return err
	}
	defer d.Close()
	parts, err := db.OpenTree[Part](d, "parts")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "opened %s: tree %q holds %d parts\n", *dir, parts.Name(), parts.Len())

	var first db.Key[Part]
	for i, p := range []Part{
		{Number: "RC0603FR-0710KL", Maker: "Yageo", Quantity: 5000, Location: "A1"},
		{Number: "GRM188R71H104KA93D", Maker: "Murata", Quantity: 4000, Location: "A2"},
		{Number: "STM32F103C8T6", Maker: "ST", Quantity: 120, Location: "C4"},
	} {
		k, err := parts.Create(p)
		if err != nil {
			return err
		}
		if i == 0 {
			first = k
		}
		fmt.Fprintf(out, "created %s %s\n", k, p.Number)
	}

	// Take 250 resistors from stock. A standalone database grants the
	// check-out at once; a replica asks the server.
	if err := parts.CheckOut(ctx, first); err != nil {
		return err
	}
	err = parts.Update(first, func(p *Part) error {
		if p.Quantity < 250 {
			return errors.New("not enough stock")
		}
		p.Quantity -= 250
		return nil
	})
	if err != nil {
		return err
	}
	if err := parts.CheckIn(ctx, first); err != nil {
		return err
	}
	// View reads the record in place: no decoding, no copy.
	err = parts.View(first, func(p *Part, m db.Meta) {
		fmt.Fprintf(out, "updated %s %s: %d left, changed %d times by %s\n",
			first, p.Number, p.Quantity, m.Changes, m.ModifiedBy)
	})
	if err != nil {
		return err
	}
	for k, p := range parts.All() {
		fmt.Fprintf(out, "%6s  %-20s %-8s %6d  %s\n", k, p.Number, p.Maker, p.Quantity, p.Location)
	}
	return nil
}
