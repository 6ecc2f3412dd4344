package widgets

import (
	"fmt"
	"image"

	"gioui.org/layout"
	"gioui.org/widget"
	"gioui.org/widget/material"

	"github.com/hillsdb/hills/db"
)

// maxPick is how many records a key picker lists.
const maxPick = 200

// picker lists the records of a tree to choose a key reference from.
type picker struct {
	keys  []db.OpaqueKey
	names []string
	btns  []widget.Clickable
	list  widget.List
	err   string
}

// open fills the picker from tree of d: the first maxPick records, each
// with its first text field as a label.
func (p *picker) open(d *db.DB, tree string) {
	p.keys, p.names, p.err = p.keys[:0], p.names[:0], ""
	p.list.Axis = layout.Vertical
	if d == nil {
		p.err = "no database"
		return
	}
	t, err := d.Opaque(tree)
	if err != nil {
		p.err = err.Error()
		return
	}
	label := ""
	for _, f := range t.Schema().Fields() {
		if f.Type.Kind == db.KindString {
			label = f.Name
			break
		}
	}
	for k := range t.Keys() {
		if len(p.keys) == maxPick {
			break
		}
		name := ""
		if label != "" {
			if text, err := t.Text(k); err == nil {
				if m, err := parseRecord(text); err == nil {
					name = cellText(m[label], nil)
				}
			}
		}
		p.keys = append(p.keys, k)
		p.names = append(p.names, name)
	}
	if len(p.btns) < len(p.keys) {
		p.btns = make([]widget.Clickable, len(p.keys))
	}
}

func (p *picker) update(gtx layout.Context) (db.OpaqueKey, bool) {
	for i := range p.keys {
		if p.btns[i].Clicked(gtx) {
			return p.keys[i], true
		}
	}
	return db.OpaqueKey{}, false
}

func (p *picker) layout(gtx layout.Context, th *Theme) layout.Dimensions {
	if p.err != "" {
		l := th.Label(p.err)
		l.Color = th.Error
		return l.Layout(gtx)
	}
	if len(p.keys) == 0 {
		return th.MutedLabel("no records to pick").Layout(gtx)
	}
	gtx.Constraints.Max.Y = min(gtx.Constraints.Max.Y, gtx.Dp(200))
	return border(gtx, th, th.Bg, func(gtx layout.Context) layout.Dimensions {
		return material.List(th.Theme, &p.list).Layout(gtx, len(p.keys), func(gtx layout.Context, i int) layout.Dimensions {
			return p.btns[i].Layout(gtx, func(gtx layout.Context) layout.Dimensions {
				gtx.Constraints.Min.X = gtx.Constraints.Max.X
				if p.btns[i].Hovered() {
					rect(gtx, th.Select, image.Pt(gtx.Constraints.Max.X, gtx.Dp(26)))
				}
				return layout.Inset{Top: 4, Bottom: 4, Left: 8, Right: 8}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
					return th.Label(fmt.Sprintf("%-8s %s", p.keys[i], p.names[i])).Layout(gtx)
				})
			})
		})
	})
}
