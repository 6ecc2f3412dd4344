// Command inventory is the example application of hills: a parts stock
// and bill-of-materials editor for a small electronics workshop. Parts
// are listed by part number with a search box; a part is edited after
// checking it out, so other windows see it locked; BOM revisions are
// released (frozen) and revised. Every window connected to the same
// server sees every change live.
//
//	inventory -server 127.0.0.1:7500 -name alice
//	inventory -server 127.0.0.1:7500 -seed   # fill an empty inventory, then exit
//
// A server that admits enrolled clients only wants each window's token on
// first contact: -token (env HILLS_TOKEN), from hills-server clients add.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/hillsdb/hills/app"
	"github.com/hillsdb/hills/examples/inventory/stock"
)

func main() {
	cfg := app.Config{AppID: "inventory"}
	cfg.RegisterFlags(flag.CommandLine)
	seed := flag.Bool("seed", false, "fill an empty inventory with the example parts and BOMs, then exit")
	boms := flag.Bool("boms", false, "start on the BOM page with the first BOM selected")
	search := flag.String("search", "", "start with this search text")
	sel := flag.String("select", "", "select the part with this part number once it is there")
	checkOut := flag.Bool("checkout", false, "with -select: check the selected part out")
	flag.Parse()
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	cfg.Title = "Inventory · " + cfg.Name
	if *seed {
		if err := runSeed(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "inventory:", err)
			os.Exit(1)
		}
		return
	}
	app.Main(cfg, func(a *app.App) (app.UI, error) {
		u, err := NewUI(a)
		if err != nil {
			return nil, err
		}
		u.Select, u.CheckOut = *sel, *checkOut
		if *boms {
			u.page = 1
			for k := range u.s.BOMs.All() {
				u.boms.Selected, u.boms.HasSelection = k, true
				break
			}
		}
		if *search != "" {
			u.search.SetQuery(*search)
		}
		return u, nil
	})
}

// runSeed seeds the inventory of cfg's database when it has no parts.
func runSeed(cfg app.Config) error {
	a, err := app.Open(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var c stock.Syncer
	if a.Client != nil {
		c = a.Client
	}
	s, err := stock.Open(a.DB)
	if err != nil {
		return err
	}
	n, err := stock.SeedIfEmpty(ctx, s, c)
	if err != nil {
		return err
	}
	fmt.Printf("inventory: %d parts created\n", n)
	return nil
}
