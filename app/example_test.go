package app_test

import (
	"flag"
	"os"

	"gioui.org/layout"

	"github.com/hillsdb/hills/app"
	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/widgets"
)

type Part struct {
	Number string `msgpack:"number"`
}

// partsUI shows the parts tree as a list.
type partsUI struct {
	a    *app.App
	list widgets.List[Part]
}

func (u *partsUI) Layout(gtx layout.Context) layout.Dimensions {
	th := u.a.Theme
	return u.list.Layout(gtx, th, func(gtx layout.Context, k db.Key[Part], p *Part, m db.Meta, sel bool) layout.Dimensions {
		return th.Label(k.String() + "  " + p.Number).Layout(gtx)
	})
}

// A whole application: flags, database, sync, window and event loop.
func ExampleMain() {
	cfg := app.Config{AppID: "stock", Title: "Parts"}
	cfg.RegisterFlags(flag.CommandLine)
	flag.Parse()
	if len(os.Args) < 2 {
		return // the example only shows the calls
	}
	app.Main(cfg, func(a *app.App) (app.UI, error) {
		parts, err := db.OpenTree[Part](a.DB, "parts")
		if err != nil {
			return nil, err
		}
		widgets.WatchTree(a.Watcher, parts)
		return &partsUI{a: a, list: widgets.List[Part]{Tree: parts, Watcher: a.Watcher}}, nil
	})
}
