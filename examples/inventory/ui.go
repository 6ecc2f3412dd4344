package main

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"

	"gioui.org/layout"
	"gioui.org/unit"
	"gioui.org/widget"
	"gioui.org/widget/material"

	"github.com/hillsdb/hills/app"
	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/examples/inventory/stock"
	"github.com/hillsdb/hills/widgets"
)

// UI is the inventory window: a parts page (search, list, editor with
// check-out) and a BOM page (list, lines, release and revise). Its methods
// run on the window's goroutine, except what the background work reports
// through setMsg.
type UI struct {
	a  *app.App
	s  *stock.Store
	th *widgets.Theme

	bar               widgets.SyncBar
	partsTab, bomsTab widget.Clickable
	page              int // 0 parts, 1 boms
	search            widgets.SearchBox[stock.Part, string]
	query             string
	parts             widgets.List[stock.Part]
	partCO            widgets.CheckOut
	shown             db.Key[stock.Part] // the part in the editor
	shownChanges      uint32
	shownQty          int // the quantity the editor showed when the part was loaded
	hasShown          bool
	desc, qty, loc    widget.Editor
	save, take        widget.Clickable
	boms              widgets.List[stock.BOM]
	bomCO             widgets.CheckOut
	release, revise   widget.Clickable
	shownBOM          db.Key[stock.BOM]
	// Select is a part number to select once the part is in the replica;
	// with CheckOut, the part is also checked out then.
	Select   string
	CheckOut bool

	mu  sync.Mutex
	msg string
}

// NewUI opens the inventory of a and watches its trees.
func NewUI(a *app.App) (*UI, error) {
	s, err := stock.Open(a.DB)
	if err != nil {
		return nil, err
	}
	widgets.WatchTree(a.Watcher, s.Parts)
	widgets.WatchTree(a.Watcher, s.BOMs)
	u := &UI{a: a, s: s, th: a.Theme}
	u.bar = widgets.SyncBar{Status: a.Status(), Local: a.DB.Dir()}
	u.search = widgets.SearchBox[stock.Part, string]{Index: s.ByMPN, Hint: "Search part numbers"}
	u.search.Watch(a.Watcher)
	u.parts = widgets.List[stock.Part]{Tree: s.Parts, Watcher: a.Watcher, Keys: u.partKeys}
	u.boms = widgets.List[stock.BOM]{Tree: s.BOMs, Watcher: a.Watcher}
	u.partCO.Watcher = a.Watcher
	u.bomCO.Watcher = a.Watcher
	for _, e := range []*widget.Editor{&u.desc, &u.qty, &u.loc} {
		e.SingleLine = true
	}
	return u, nil
}

// partKeys lists the search results, or every part by part number when
// the search is empty.
func (u *UI) partKeys() iter.Seq[db.Key[stock.Part]] {
	return func(yield func(db.Key[stock.Part]) bool) {
		if strings.TrimSpace(u.search.Query()) != "" {
			for _, k := range u.search.Results() {
				if !yield(k) {
					return
				}
			}
			return
		}
		for _, k := range u.s.ByMPN.All() {
			if !yield(k) {
				return
			}
		}
	}
}

func (u *UI) setMsg(format string, args ...any) {
	u.mu.Lock()
	u.msg = fmt.Sprintf(format, args...)
	u.mu.Unlock()
	u.a.Watcher.Notify()
}

func (u *UI) message() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.msg
}

// Layout draws one frame.
func (u *UI) Layout(gtx layout.Context) layout.Dimensions {
	th := u.th
	if u.partsTab.Clicked(gtx) {
		u.page = 0
	}
	if u.bomsTab.Clicked(gtx) {
		u.page = 1
	}
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			return layout.UniformInset(6).Layout(gtx, func(gtx layout.Context) layout.Dimensions {
				return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
					layout.Rigid(u.tab(&u.partsTab, fmt.Sprintf("Parts (%d)", u.s.Parts.Len()), u.page == 0)),
					layout.Rigid(layout.Spacer{Width: 6}.Layout),
					layout.Rigid(u.tab(&u.bomsTab, fmt.Sprintf("BOMs (%d)", u.s.BOMs.Len()), u.page == 1)),
					layout.Rigid(layout.Spacer{Width: 16}.Layout),
					layout.Flexed(1, th.MutedLabel(strings.TrimSuffix(u.a.DB.Name()+": "+u.message(), ": ")).Layout),
				)
			})
		}),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return widgets.Divider(gtx, th.Border) }),
		layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
			if u.page == 1 {
				return u.layoutBOMs(gtx)
			}
			return u.layoutParts(gtx)
		}),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return u.bar.Layout(gtx, th) }),
	)
}

func (u *UI) tab(c *widget.Clickable, label string, active bool) layout.Widget {
	return func(gtx layout.Context) layout.Dimensions {
		b := material.Button(u.th.Theme, c, label)
		if !active {
			b.Background, b.Color = u.th.Header, u.th.Fg
		}
		return b.Layout(gtx)
	}
}

// split lays out left at width w and right beside it.
func split(gtx layout.Context, th *widgets.Theme, w unit.Dp, left, right layout.Widget) layout.Dimensions {
	return layout.Flex{}.Layout(gtx,
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			gtx.Constraints.Min.X = min(gtx.Dp(w), gtx.Constraints.Max.X)
			gtx.Constraints.Max.X = gtx.Constraints.Min.X
			return left(gtx)
		}),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return widgets.VDivider(gtx, th.Border) }),
		layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
			return layout.UniformInset(12).Layout(gtx, right)
		}),
	)
}

// cells lays out texts in columns of the given widths.
func cells(gtx layout.Context, th *widgets.Theme, widths []unit.Dp, texts ...string) layout.Dimensions {
	children := make([]layout.FlexChild, len(texts))
	for i, t := range texts {
		children[i] = layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			gtx.Constraints.Min.X = gtx.Dp(widths[i])
			gtx.Constraints.Max.X = gtx.Constraints.Min.X
			return layout.Inset{Left: 6, Top: 5}.Layout(gtx, th.Label(t).Layout)
		})
	}
	return layout.Flex{}.Layout(gtx, children...)
}

var partCols = []unit.Dp{190, 140, 70, 80, 120}

func (u *UI) layoutParts(gtx layout.Context) layout.Dimensions {
	th := u.th
	if u.Select != "" {
		if k, ok := u.s.Find(u.Select); ok {
			u.Select = ""
			u.parts.Selected, u.parts.HasSelection = k, true
			u.load(k)
			if u.CheckOut {
				u.partCO.Click()
			}
		}
	}
	return split(gtx, th, 620, func(gtx layout.Context) layout.Dimensions {
		return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
			layout.Rigid(func(gtx layout.Context) layout.Dimensions {
				d := layout.UniformInset(6).Layout(gtx, func(gtx layout.Context) layout.Dimensions { return u.search.Layout(gtx, th) })
				if q := u.search.Query(); q != u.query {
					u.query = q
					u.parts.Refresh()
				}
				return d
			}),
			layout.Rigid(func(gtx layout.Context) layout.Dimensions {
				return widgets.Background(gtx, th.Header, func(gtx layout.Context) layout.Dimensions {
					return cells(gtx, th, partCols, "Part number", "Manufacturer", "On hand", "Location", "Checked out by")
				})
			}),
			layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
				return u.parts.Layout(gtx, th, func(gtx layout.Context, k db.Key[stock.Part], p *stock.Part, m db.Meta, sel bool) layout.Dimensions {
					return cells(gtx, th, partCols, p.MPN, p.Manufacturer, strconv.Itoa(p.Quantity), p.Location, u.s.Parts.Borrow(k).Holder)
				})
			}),
		)
	}, u.layoutEditor)
}

// load fills the editor from part k when another part is selected, or
// when the record changed and this client is not editing it.
func (u *UI) load(k db.Key[stock.Part]) {
	p, m, err := u.s.Parts.Get(k)
	if err != nil {
		return
	}
	mine := u.s.Parts.Borrow(k).Mine
	if u.hasShown && k == u.shown && (mine || m.Changes == u.shownChanges) {
		return
	}
	u.shown, u.hasShown, u.shownChanges = k, true, m.Changes
	u.desc.SetText(p.Description)
	u.qty.SetText(strconv.Itoa(p.Quantity))
	u.shownQty = p.Quantity
	u.loc.SetText(p.Location)
	u.partCO.Cancel()
	u.partCO.Record = widgets.TreeBorrower(u.s.Parts, k)
}

// Save writes the editor's fields to the shown part; the part must be
// checked out by this client. A changed quantity is a count of the
// shelf: the difference is added to the counter (stations may have taken
// stock meanwhile, and their deltas stay).
func (u *UI) Save() error {
	n, err := strconv.Atoi(strings.TrimSpace(u.qty.Text()))
	if err != nil || n < 0 {
		return fmt.Errorf("quantity %q: not a whole number ≥ 0", u.qty.Text())
	}
	var was int
	err = u.s.Parts.Update(u.shown, func(p *stock.Part) error {
		was = p.Quantity
		p.Description, p.Location = u.desc.Text(), u.loc.Text()
		return nil
	})
	if err != nil || n == u.shownQty {
		return err
	}
	return u.s.Restock(context.Background(), u.shown, n-was, u.a.DB.Name(), "counted in the inventory window")
}

func (u *UI) layoutEditor(gtx layout.Context) layout.Dimensions {
	th := u.th
	if !u.parts.HasSelection {
		return th.MutedLabel("Select a part to see it; check it out to edit it.").Layout(gtx)
	}
	u.load(u.parts.Selected)
	k := u.shown
	p, m, err := u.s.Parts.Get(k)
	if err != nil {
		return th.MutedLabel(err.Error()).Layout(gtx)
	}
	mine := u.s.Parts.Borrow(k).Mine
	if u.save.Clicked(gtx) && mine {
		if err := u.Save(); err != nil {
			u.setMsg("save: %v", err)
		} else {
			u.setMsg("saved %s", p.MPN)
			u.shownChanges = 0
		}
	}
	if u.take.Clicked(gtx) {
		go func() {
			left, err := u.s.Consume(context.Background(), k, 1, u.a.DB.Name(), "taken in the inventory window")
			if err != nil {
				u.setMsg("take %s: %v", p.MPN, err)
				return
			}
			u.setMsg("took 1 × %s, %d left", p.MPN, left)
		}()
	}
	field := func(label string, ed *widget.Editor) layout.FlexChild {
		return layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			return layout.Inset{Bottom: 8}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
				return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
					layout.Rigid(func(gtx layout.Context) layout.Dimensions {
						gtx.Constraints.Min.X = gtx.Dp(100)
						return th.Label(label).Layout(gtx)
					}),
					layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
						ed.ReadOnly = !mine
						e := material.Editor(th.Theme, ed, "")
						if !mine {
							e.Color = th.Muted
						}
						return widget.Border{Color: th.Border, Width: 1, CornerRadius: 3}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
							return layout.UniformInset(5).Layout(gtx, e.Layout)
						})
					}),
				)
			})
		})
	}
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Rigid(material.H6(th.Theme, p.MPN).Layout),
		layout.Rigid(th.MutedLabel(fmt.Sprintf("%s · key %s · last written by %s (write %d)", p.Manufacturer, k, m.ModifiedBy, m.Changes)).Layout),
		layout.Rigid(layout.Spacer{Height: 12}.Layout),
		field("Description", &u.desc),
		field("On hand", &u.qty),
		field("Location", &u.loc),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			return layout.Flex{}.Layout(gtx,
				layout.Rigid(func(gtx layout.Context) layout.Dimensions { return u.partCO.Layout(gtx, th) }),
				layout.Rigid(layout.Spacer{Width: 8}.Layout),
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					if !mine {
						return layout.Dimensions{}
					}
					return button(th, &u.save, "Save").Layout(gtx)
				}),
				layout.Rigid(layout.Spacer{Width: 8}.Layout),
				layout.Rigid(button(th, &u.take, "Take 1").Layout),
			)
		}),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			if err := u.partCO.Err(); err != nil {
				l := th.Label(err.Error())
				l.Color = th.Error
				return l.Layout(gtx)
			}
			return layout.Dimensions{}
		}),
	)
}

var bomCols = []unit.Dp{70, 230, 90}
var lineCols = []unit.Dp{190, 50, 170, 80}

func (u *UI) layoutBOMs(gtx layout.Context) layout.Dimensions {
	th := u.th
	return split(gtx, th, 400, func(gtx layout.Context) layout.Dimensions {
		return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
			layout.Rigid(func(gtx layout.Context) layout.Dimensions {
				return widgets.Background(gtx, th.Header, func(gtx layout.Context) layout.Dimensions {
					return cells(gtx, th, bomCols, "Key", "Name", "State")
				})
			}),
			layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
				return u.boms.Layout(gtx, th, func(gtx layout.Context, k db.Key[stock.BOM], b *stock.BOM, m db.Meta, sel bool) layout.Dimensions {
					return cells(gtx, th, bomCols, k.String(), b.Name, m.Version.String())
				})
			}),
		)
	}, u.layoutBOM)
}

func (u *UI) layoutBOM(gtx layout.Context) layout.Dimensions {
	th := u.th
	if !u.boms.HasSelection {
		return th.MutedLabel("Select a BOM revision.").Layout(gtx)
	}
	k := u.boms.Selected
	b, m, err := u.s.BOMs.Get(k)
	if err != nil {
		return th.MutedLabel(err.Error()).Layout(gtx)
	}
	if k != u.shownBOM || u.bomCO.Record == nil {
		u.shownBOM = k
		u.bomCO.Cancel()
		u.bomCO.Record = widgets.TreeBorrower(u.s.BOMs, k)
	}
	released := m.Version == db.Released
	if u.release.Clicked(gtx) && !released {
		go func() {
			if err := stock.ReleaseBOM(context.Background(), u.s, k); err != nil {
				u.setMsg("release %s: %v", k, err)
				return
			}
			u.setMsg("released %s %s", b.Name, k)
		}()
	}
	if u.revise.Clicked(gtx) && released {
		go func() {
			nk, err := stock.ReviseBOM(context.Background(), u.s, k)
			if err != nil {
				u.setMsg("revise %s: %v", k, err)
				return
			}
			u.setMsg("revision %s of %s is a draft", nk, b.Name)
		}()
	}
	children := []layout.FlexChild{
		layout.Rigid(material.H6(th.Theme, b.Name+"  "+k.String()).Layout),
		layout.Rigid(th.MutedLabel(fmt.Sprintf("%s · %s · %d lines", b.Description, m.Version, len(b.Lines))).Layout),
		layout.Rigid(layout.Spacer{Height: 8}.Layout),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			btn := &u.release
			label := "Release"
			if released {
				btn, label = &u.revise, "Revise"
			}
			return layout.Flex{}.Layout(gtx,
				layout.Rigid(func(gtx layout.Context) layout.Dimensions { return u.bomCO.Layout(gtx, th) }),
				layout.Rigid(layout.Spacer{Width: 8}.Layout),
				layout.Rigid(button(th, btn, label).Layout),
			)
		}),
		layout.Rigid(layout.Spacer{Height: 8}.Layout),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			return widgets.Background(gtx, th.Header, func(gtx layout.Context) layout.Dimensions {
				return cells(gtx, th, lineCols, "Part", "Qty", "Designators", "On hand")
			})
		}),
	}
	for _, l := range b.Lines {
		mpn, onHand := l.Part.String(), "?"
		if p, _, err := u.s.Parts.Get(l.Part); err == nil {
			mpn, onHand = p.MPN, strconv.Itoa(p.Quantity)
		}
		children = append(children, layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			gtx.Constraints.Min.Y = gtx.Dp(th.RowHeight)
			d := cells(gtx, th, lineCols, mpn, strconv.Itoa(l.Quantity), l.Designators, onHand)
			d.Size.Y = max(d.Size.Y, gtx.Constraints.Min.Y)
			return d
		}))
	}
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx, children...)
}

// button is a button sized like widgets.CheckOut's.
func button(th *widgets.Theme, c *widget.Clickable, label string) material.ButtonStyle {
	b := material.Button(th.Theme, c, label)
	b.TextSize = th.TextSize
	b.CornerRadius = 4
	b.Inset = layout.Inset{Top: 7, Bottom: 7, Left: 14, Right: 14}
	return b
}
