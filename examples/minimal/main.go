// Command minimal is the smallest synced hills application: a live list
// of notes and a button that adds one. Copy it to start your own.
//
//	go run ./examples/minimal -server 127.0.0.1:7500 -name alice -token TOKEN
//
// TOKEN is what hills-server clients add printed for alice (or set
// HILLS_TOKEN); it is needed on first contact only, and not at all with a
// server started with --open.
package main

import (
	"flag"
	"fmt"
	"time"

	"gioui.org/layout"
	"gioui.org/widget"
	"gioui.org/widget/material"

	"github.com/hillsdb/hills/app"
	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/widgets"
)

// Note is a record of the notes tree.
type Note struct {
	Text    string    `msgpack:"text"`
	Created time.Time `msgpack:"created"`
}

// UI draws the window: a button above the list of notes.
type UI struct {
	a     *app.App
	notes *db.Tree[Note]
	list  widgets.List[Note]
	add   widget.Clickable
	err   error
}

// NewUI opens the notes tree of a and redraws a's window when it changes.
func NewUI(a *app.App) (*UI, error) {
	notes, err := db.OpenTree[Note](a.DB, "notes")
	if err != nil {
		return nil, err
	}
	widgets.WatchTree(a.Watcher, notes)
	return &UI{a: a, notes: notes, list: widgets.List[Note]{Tree: notes, Watcher: a.Watcher}}, nil
}

// Layout draws one frame; a click on the button creates a note.
func (u *UI) Layout(gtx layout.Context) layout.Dimensions {
	th := u.a.Theme
	if u.add.Clicked(gtx) {
		_, u.err = u.notes.Create(Note{Text: fmt.Sprintf("Note %d by %s", u.notes.Len()+1, u.a.DB.Name()), Created: time.Now()})
	}
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			gtx.Constraints.Min.X = 0 // the button as wide as its label
			label := fmt.Sprintf("New note (%d)", u.notes.Len())
			if u.err != nil {
				label = u.err.Error()
			}
			return layout.UniformInset(8).Layout(gtx, material.Button(th.Theme, &u.add, label).Layout)
		}),
		layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
			return u.list.Layout(gtx, th, func(gtx layout.Context, k db.Key[Note], n *Note, m db.Meta, sel bool) layout.Dimensions {
				return layout.Inset{Left: 8, Top: 4}.Layout(gtx, th.Label(k.String()+"  "+n.Text+"  ("+m.ModifiedBy+")").Layout)
			})
		}),
	)
}

func main() {
	cfg := app.Config{AppID: "minimal", Title: "Notes"}
	cfg.RegisterFlags(flag.CommandLine)
	flag.Parse()
	app.Main(cfg, func(a *app.App) (app.UI, error) { return NewUI(a) })
}
