package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"strconv"
	"strings"

	"gioui.org/layout"
	"gioui.org/unit"
	"gioui.org/widget"
	"gioui.org/widget/material"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/widgets"
)

// editedText returns the record text from the form or the JSON editor.
func (v *viewer) editedText() (string, error) {
	if v.jsonMode {
		return v.jsonEd.Text(), nil
	}
	return v.form.Text()
}

// actions is what the panel's buttons may do now. A button whose action
// is not allowed is drawn disabled and its clicks are ignored; why says
// why the record cannot be edited.
type actions struct {
	save, del, release, state bool
	why                       string
}

// allowed says which actions the panel allows: none while a write runs;
// creating needs the create grant; the selected record's actions need its
// check-out, the grants on the tree (edit to save and delete, release to
// release and set the state) and a draft (to save, delete or release);
// Save needs a change too.
func (v *viewer) allowed() actions {
	var a actions
	switch {
	case v.tree == nil:
		return a
	case v.creating:
		a.save = !v.busy && v.d.Allows(v.cur, "create")
		if !v.d.Allows(v.cur, "create") {
			a.why = "read-only: your grants do not allow creating in " + v.cur
		}
		return a
	case !v.hasSel:
		return a
	case !v.editable():
		a.why = "read-only: check out to edit"
		if !v.d.Allows(v.cur, "edit") && !v.d.Allows(v.cur, "release") {
			a.why = "read-only: your grants allow no edits in " + v.cur
		}
		return a
	}
	draft := v.shown.meta.Version != db.Released
	edit, release := v.d.Allows(v.cur, "edit"), v.d.Allows(v.cur, "release")
	switch {
	case !draft:
		a.why = "released: only the state can change"
	case !edit:
		a.why = "your grants allow no edits of the data in " + v.cur
	}
	if v.busy {
		return a
	}
	a.save = draft && edit && v.edited()
	a.del = draft && edit
	a.release = v.shown.meta.Version == db.Draft && release
	a.state = release
	return a
}

// edited reports whether the user changed the record shown.
func (v *viewer) edited() bool {
	if v.jsonMode {
		return !bytes.Equal(compact(json.RawMessage(v.jsonEd.Text())), compact(json.RawMessage(v.jsonBase)))
	}
	return v.form.Changed()
}

// handlePanel handles the record panel's buttons: the tabs always, the
// others when allowed (see allowed). Each button's action is a method.
// Ctrl+S (Command+S) saves as the Save button does.
func (v *viewer) handlePanel(gtx layout.Context) {
	saveKey := widgets.Shortcut(gtx, "S") // read every frame, whatever follows
	if v.tabForm.Clicked(gtx) && (v.jsonMode || v.histMode) {
		v.histMode = false
		if v.jsonMode {
			v.showForm()
		}
	}
	if v.tabJSON.Clicked(gtx) && (!v.jsonMode || v.histMode) {
		v.histMode = false
		if !v.jsonMode {
			v.showJSON()
		}
	}
	if v.tabHist.Clicked(gtx) && !v.histMode && v.hasSel {
		v.histMode = true
		v.loadHistory()
	}
	a := v.allowed()
	// Every button's clicks are taken, so that one made while it was
	// disabled is not acted upon later.
	save, cancel, del := v.saveBtn.Clicked(gtx) || saveKey, v.cancelBtn.Clicked(gtx), v.delBtn.Clicked(gtx)
	rel, state := v.relBtn.Clicked(gtx), v.stateBtn.Clicked(gtx)
	switch {
	case save && a.save:
		v.save()
	case cancel && v.creating && !v.busy:
		v.creating = false
		v.msg = ""
	case del && a.del:
		v.deleteRecord()
	case rel && a.release:
		v.releaseRecord()
	case state && a.state:
		v.setState()
	}
}

// showForm switches to the form, carrying JSON edits over to it; JSON
// that does not parse keeps the JSON tab and says why.
func (v *viewer) showForm() {
	if err := v.form.SetText(v.jsonEd.Text()); err != nil {
		v.msg, v.msgErr = err.Error(), true
		return
	}
	v.jsonMode = false
}

// showJSON switches to the JSON editor with the form's text, when the
// form is valid (otherwise with the text it had).
func (v *viewer) showJSON() {
	omit := v.form.OmitCounters
	v.form.OmitCounters = false // the JSON shows the counters too
	if text, err := v.form.Text(); err == nil {
		v.setJSON(text)
	}
	v.form.OmitCounters = omit
	v.jsonMode = true
}

// setJSON shows text in the JSON editor, indented; an update of the
// record leaves out the counters the user kept as text shows them
// (untouchedCounters).
func (v *viewer) setJSON(text string) {
	var b bytes.Buffer
	if json.Indent(&b, []byte(text), "", "  ") == nil {
		text = b.String()
	}
	v.jsonEd.SetText(text)
	v.jsonBase = text
}

// editState is what the user has typed, in the JSON editor or the form:
// a save remembers it, and when the user typed nothing more by the time
// the saved record is read back, the panel shows the record as stored.
func (v *viewer) editState() string {
	if v.jsonMode {
		return "json\x00" + v.jsonEd.Text()
	}
	text, _ := v.form.Text()
	return "form\x00" + text
}

// save creates the new record or updates the selected one with the edited
// text.
func (v *viewer) save() {
	t := v.tree
	text, err := v.editedText()
	switch {
	case errors.Is(err, widgets.ErrInvalid):
		v.msg, v.msgErr = "Some fields are invalid: see the messages in red.", true
	case err != nil:
		v.msg, v.msgErr = err.Error(), true
	case v.creating:
		v.do("create", func() (*db.OpaqueKey, error) {
			k, err := t.Create(text)
			if err != nil {
				return nil, err
			}
			return &k, nil
		})
	default:
		k := v.sel
		if v.jsonMode {
			text = untouchedCounters(text, v.jsonBase, t.Schema())
		}
		v.saved = v.editState()
		v.do("save "+k.String(), func() (*db.OpaqueKey, error) { return nil, t.Update(k, text) })
	}
}

// untouchedCounters leaves out of an update's JSON text the counters the
// user did not change from the record as shown: the record keeps its own
// values, which deltas may have moved meanwhile (see OpaqueTree.Update).
// A counter the user changed stays, and the update says it may not.
func untouchedCounters(text, shown string, s db.Schema) string {
	var edited, was map[string]json.RawMessage
	if json.Unmarshal([]byte(text), &edited) != nil || json.Unmarshal([]byte(shown), &was) != nil {
		return text
	}
	dropped := false
	for _, f := range s.Fields() {
		if f.Counter && edited[f.Name] != nil && bytes.Equal(compact(edited[f.Name]), compact(was[f.Name])) {
			delete(edited, f.Name)
			dropped = true
		}
	}
	if !dropped {
		return text
	}
	out, err := json.Marshal(edited)
	if err != nil {
		return text
	}
	return string(out)
}

func compact(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

func (v *viewer) deleteRecord() {
	t, k := v.tree, v.sel
	v.do("delete "+k.String(), func() (*db.OpaqueKey, error) { return nil, t.Delete(k) })
}

func (v *viewer) releaseRecord() {
	t, k := v.tree, v.sel
	v.do("release "+k.String(), func() (*db.OpaqueKey, error) { return nil, t.Release(k) })
}

// setState sets the selected record's state to the number in the state
// field.
func (v *viewer) setState() {
	t, k := v.tree, v.sel
	n, err := strconv.ParseUint(strings.TrimSpace(v.stateEd.Text()), 10, 32)
	if err != nil {
		v.msg, v.msgErr = "state: not a whole number from 0 to 4294967295", true
		return
	}
	v.do(fmt.Sprintf("set state %d", n), func() (*db.OpaqueKey, error) { return nil, t.SetState(k, uint32(n)) })
}

// layoutPanel lays out the record panel, top to bottom: title, meta, tabs,
// fields, message and actions.
func (v *viewer) layoutPanel(gtx layout.Context, th *widgets.Theme) layout.Dimensions {
	v.handlePanel(gtx)
	if v.tree == nil || (!v.hasSel && !v.creating) {
		l := th.MutedLabel("Select a record.")
		if v.msg != "" {
			// Such as a -select naming no record, or a record filtered out.
			l = th.Label(v.msg + "\n\nSelect a record.")
			l.MaxLines = 6
			l.Color = th.Muted
			if v.msgErr {
				l.Color = th.Error
			}
		}
		return layout.Inset{Top: 16, Left: 16}.Layout(gtx, l.Layout)
	}
	editable := v.editable()
	v.form.ReadOnly = !editable
	v.jsonEd.ReadOnly = !editable
	acts := v.allowed()
	var borrow db.BorrowState
	if v.hasSel {
		borrow = v.tree.Borrow(v.sel)
	}
	inset := layout.Inset{Left: 14, Right: 14}
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return v.layoutTitle(gtx, th) }),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			if !v.hasSel {
				return layout.Dimensions{}
			}
			return inset.Layout(gtx, func(gtx layout.Context) layout.Dimensions { return v.layoutMeta(gtx, th, borrow) })
		}),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			return layout.Inset{Top: 8}.Layout(gtx, func(gtx layout.Context) layout.Dimensions { return widgets.Divider(gtx, th.Border) })
		}),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return v.layoutTabs(gtx, th, editable, acts.why) }),
		layout.Flexed(1, func(gtx layout.Context) layout.Dimensions { return v.layoutFields(gtx, th, editable) }),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return widgets.Divider(gtx, th.Border) }),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return v.layoutFooter(gtx, th, acts) }),
	)
}

// layoutTitle lays out the tree and record (or "new record") and the
// check-out button.
func (v *viewer) layoutTitle(gtx layout.Context, th *widgets.Theme) layout.Dimensions {
	return layout.Inset{Top: 12, Bottom: 8, Left: 14, Right: 14}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
		return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
			layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
				title := v.cur + " / new record"
				if v.hasSel {
					title = v.cur + " / " + v.sel.String()
				}
				l := material.Label(th.Theme, 16, title)
				l.Font.Weight = 700
				l.MaxLines = 1
				return l.Layout(gtx)
			}),
			layout.Rigid(func(gtx layout.Context) layout.Dimensions {
				if !v.hasSel {
					return layout.Dimensions{}
				}
				return v.checkout.Layout(gtx, th)
			}),
		)
	})
}

// layoutTabs lays out the Form and JSON tabs and what editing is possible.
func (v *viewer) layoutTabs(gtx layout.Context, th *widgets.Theme, editable bool, why string) layout.Dimensions {
	return layout.Inset{Top: 6, Bottom: 6, Left: 14, Right: 14}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
		return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
			layout.Rigid(func(gtx layout.Context) layout.Dimensions {
				return tab(gtx, th, &v.tabForm, "Form", !v.jsonMode && !v.histMode)
			}),
			layout.Rigid(func(gtx layout.Context) layout.Dimensions {
				return tab(gtx, th, &v.tabJSON, "JSON", v.jsonMode && !v.histMode)
			}),
			layout.Rigid(func(gtx layout.Context) layout.Dimensions {
				if !v.hasSel {
					return layout.Dimensions{}
				}
				return tab(gtx, th, &v.tabHist, "History", v.histMode)
			}),
			layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
				hint := why
				switch {
				case why != "":
				case v.creating:
					hint = "new record"
				case editable:
					hint = "editing"
				}
				return layout.E.Layout(gtx, th.MutedLabel(hint).Layout)
			}),
		)
	})
}

// layoutFields lays out the form or the JSON editor, or why the record
// could not be read.
func (v *viewer) layoutFields(gtx layout.Context, th *widgets.Theme, editable bool) layout.Dimensions {
	return layout.Inset{Left: 14, Right: 6}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
		if v.histMode && v.hasSel {
			return v.layoutHistory(gtx, th)
		}
		if v.shown.err != nil && v.hasSel {
			l := th.Label(v.shown.err.Error())
			l.Color = th.Error
			return l.Layout(gtx)
		}
		if v.jsonMode {
			return jsonField(gtx, th, &v.jsonEd, editable)
		}
		return v.form.Layout(gtx, th)
	})
}

// layoutFooter lays out the last message and the action buttons.
func (v *viewer) layoutFooter(gtx layout.Context, th *widgets.Theme, acts actions) layout.Dimensions {
	return layout.Inset{Top: 8, Bottom: 8, Left: 14, Right: 14}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
		return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
			layout.Rigid(func(gtx layout.Context) layout.Dimensions {
				if v.msg == "" {
					return layout.Dimensions{}
				}
				l := th.Label(v.msg)
				l.MaxLines = 2
				if v.msgErr {
					l.Color = th.Error
				} else {
					l.Color = th.Muted
				}
				return layout.Inset{Bottom: 6}.Layout(gtx, l.Layout)
			}),
			layout.Rigid(func(gtx layout.Context) layout.Dimensions { return v.layoutActions(gtx, th, acts) }),
		)
	})
}

func (v *viewer) layoutActions(gtx layout.Context, th *widgets.Theme, a actions) layout.Dimensions {
	gap := layout.Rigid(func(gtx layout.Context) layout.Dimensions { return layout.Dimensions{Size: image.Pt(gtx.Dp(6), 0)} })
	if v.creating {
		return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
			layout.Rigid(func(gtx layout.Context) layout.Dimensions { return button(gtx, th, &v.saveBtn, "Create", a.save) }),
			gap,
			layout.Rigid(func(gtx layout.Context) layout.Dimensions { return button(gtx, th, &v.cancelBtn, "Cancel", !v.busy) }),
		)
	}
	return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return button(gtx, th, &v.saveBtn, "Save", a.save) }),
		gap,
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return button(gtx, th, &v.delBtn, "Delete", a.del) }),
		gap,
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			if v.shown.meta.Version != db.Draft {
				return layout.Dimensions{}
			}
			return layout.Inset{Right: 6}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
				return button(gtx, th, &v.relBtn, "Release", a.release)
			})
		}),
		layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
			return layout.Dimensions{Size: image.Pt(gtx.Constraints.Min.X, 0)}
		}),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			gtx.Constraints = layout.Exact(image.Pt(gtx.Dp(70), gtx.Dp(30)))
			return smallField(gtx, th, &v.stateEd, "state", !a.state)
		}),
		gap,
		layout.Rigid(func(gtx layout.Context) layout.Dimensions { return button(gtx, th, &v.stateBtn, "Set state", a.state) }),
	)
}

func (v *viewer) layoutMeta(gtx layout.Context, th *widgets.Theme, b db.BorrowState) layout.Dimensions {
	m := v.shown.meta
	when := func(t interface{ Format(string) string }) string { return t.Format("2006-01-02 15:04:05") }
	borrow := "free"
	bc := th.Muted
	switch {
	case b.Mine && b.Waiters != "":
		borrow, bc = "checked out by you · waiting for it: "+b.Waiters, th.Good
	case b.Mine && b.Queued > 0:
		borrow, bc = fmt.Sprintf("checked out by you · %s waiting for it", plural(b.Queued, "client")), th.Good
	case b.Mine:
		borrow, bc = "checked out by you", th.Good
	case b.Held && b.Waiting > 0:
		borrow, bc = fmt.Sprintf("held by %s · you are %d in the queue", b.Holder, b.Waiting), th.Warn
	case b.Held:
		borrow, bc = "held by "+b.Holder, th.Warn
	}
	if err := v.checkout.Err(); err != nil {
		borrow, bc = "check-out failed: "+err.Error(), th.Error
	}
	rows := [][2]string{
		{"version", fmt.Sprintf("%s · state %d · schema %s · %s", m.Version, m.State, m.Evolution, plural(int(m.Changes), "change"))},
		{"created", when(m.Created.Local()) + " by " + m.CreatedBy},
		{"modified", when(m.Modified.Local()) + " by " + m.ModifiedBy},
		{"borrow", borrow},
	}
	children := make([]layout.FlexChild, len(rows))
	for i, r := range rows {
		c := th.Fg
		if r[0] == "borrow" {
			c = bc
		}
		children[i] = layout.Rigid(func(gtx layout.Context) layout.Dimensions { return metaRow(gtx, th, r[0], r[1], c) })
	}
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx, children...)
}

func metaRow(gtx layout.Context, th *widgets.Theme, name, value string, c color.NRGBA) layout.Dimensions {
	return layout.Inset{Top: 2, Bottom: 2}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
		return layout.Flex{}.Layout(gtx,
			layout.Rigid(func(gtx layout.Context) layout.Dimensions {
				gtx.Constraints = layout.Exact(image.Pt(gtx.Dp(80), gtx.Dp(18)))
				return th.MutedLabel(name).Layout(gtx)
			}),
			layout.Flexed(1, func(gtx layout.Context) layout.Dimensions {
				l := th.Label(value)
				l.Color = c
				return l.Layout(gtx)
			}),
		)
	})
}

// button is a compact button, greyed out and inert when disabled.
func button(gtx layout.Context, th *widgets.Theme, c *widget.Clickable, label string, enabled bool) layout.Dimensions {
	b := material.Button(th.Theme, c, label)
	b.TextSize = th.TextSize
	b.CornerRadius = 4
	b.Inset = layout.Inset{Top: 7, Bottom: 7, Left: 12, Right: 12}
	if !enabled {
		gtx = gtx.Disabled()
	}
	return b.Layout(gtx)
}

// tab is a flat toggle button, underlined when selected.
func tab(gtx layout.Context, th *widgets.Theme, c *widget.Clickable, label string, selected bool) layout.Dimensions {
	return c.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
		return layout.Inset{Top: 4, Bottom: 4, Right: 16}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
			return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					l := th.Label(label)
					if selected {
						l.Font.Weight = 700
						l.Color = th.ContrastBg
					} else {
						l.Color = th.Muted
					}
					return l.Layout(gtx)
				}),
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					if !selected {
						return layout.Dimensions{Size: image.Pt(0, gtx.Dp(2))}
					}
					gtx.Constraints.Min.X = gtx.Dp(unit.Dp(len(label) * 8))
					sz := image.Pt(gtx.Constraints.Min.X, gtx.Dp(2))
					return widgets.Background(gtx, th.ContrastBg, func(gtx layout.Context) layout.Dimensions { return layout.Dimensions{Size: sz} })
				}),
			)
		})
	})
}

// jsonField is a multi-line editor for the record's JSON text.
func jsonField(gtx layout.Context, th *widgets.Theme, ed *widget.Editor, editable bool) layout.Dimensions {
	ed.ReadOnly = !editable
	return widget.Border{Color: th.Border, CornerRadius: 4, Width: 1}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
		gtx.Constraints.Min = gtx.Constraints.Max
		return layout.UniformInset(8).Layout(gtx, func(gtx layout.Context) layout.Dimensions {
			e := material.Editor(th.Theme, ed, "{}")
			e.Font.Typeface = "Go Mono"
			e.TextSize = th.TextSize - 1
			return e.Layout(gtx)
		})
	})
}

// smallField is a bordered one-line editor.
func smallField(gtx layout.Context, th *widgets.Theme, ed *widget.Editor, hint string, readOnly bool) layout.Dimensions {
	ed.ReadOnly = readOnly
	return widget.Border{Color: th.Border, CornerRadius: 4, Width: 1}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
		return layout.Inset{Top: 5, Bottom: 5, Left: 8, Right: 8}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
			e := material.Editor(th.Theme, ed, hint)
			e.TextSize = th.TextSize
			e.HintColor = th.Muted
			return e.Layout(gtx)
		})
	})
}

// plural writes "1 change", "2 changes".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
