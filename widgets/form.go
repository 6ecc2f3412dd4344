package widgets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"gioui.org/layout"
	"gioui.org/op/clip"
	"gioui.org/unit"
	"gioui.org/widget"
	"gioui.org/widget/material"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/schema"
)

// Form is a record editor generated from a tree's schema: a text field per
// string, number, time, key reference (with a picker listing the records
// of the referenced tree), a check box per bool, sections for nested
// structs, and lists whose elements can be added and removed. Maps and
// values the schema does not describe are edited as JSON text.
//
// The form reads and writes the record's JSON text (OpaqueTree.Text and
// Update). Text validates every field and sets a message next to each one
// that is wrong. ReadOnly forms (a record not checked out) show the values
// without letting them change. Methods must be called from the window's
// goroutine.
type Form struct {
	Schema db.Schema
	// DB resolves key references for the pickers; nil: no picker.
	DB *db.DB
	// ReadOnly shows the values without letting them change.
	ReadOnly bool
	// OnAdd, when set, gives each counter field (Field.Counter) a − and a
	// + button, also when the form is ReadOnly (a delta needs no
	// check-out): a click calls it with the field's name and -1 or +1.
	// It is called on the window's goroutine and must not block: run the
	// write (OpaqueTree.Add) elsewhere and show the record again with
	// SetCounters. Counter fields are never edited as text.
	OnAdd func(field string, delta int64)
	// OmitCounters leaves the counter fields out of Text, for an update:
	// the record keeps its counters (see OpaqueTree.Update). A new record
	// needs them (false, the default).
	OmitCounters bool

	root   *node
	list   widget.List
	rows   []formRow
	picker *node // the reference whose picker is open
	pick   picker
	base   string // state() when filled, for Changed
}

type node struct {
	name  string
	typ   *db.Type
	ed    widget.Editor
	check widget.Bool
	kids  []*node
	extra []extraMember // struct: members the schema does not know, kept as they are
	msg   string

	add, remove, pickBtn widget.Clickable
	parent               *node

	counter     *db.Field // a counter field of the record
	minus, plus widget.Clickable
}

type extraMember struct {
	name string
	raw  json.RawMessage
}

type formRow struct {
	n     *node
	depth int
	elem  int // index within a list parent, or -1
}

// NewForm returns an empty form for records of schema s.
func NewForm(s db.Schema, d *db.DB) *Form {
	f := &Form{Schema: s, DB: d}
	f.list.Axis = layout.Vertical
	f.root = f.build("", &f.Schema.Type, nil, nil)
	f.base = f.state()
	return f
}

// SetText fills the form from a record's JSON text. An empty text gives
// the zero record.
func (f *Form) SetText(text string) error {
	var raw json.RawMessage
	if strings.TrimSpace(text) != "" {
		if err := json.Unmarshal([]byte(text), &raw); err != nil {
			return fmt.Errorf("widgets: record text: %w", err)
		}
	}
	f.root = f.build("", &f.Schema.Type, raw, nil)
	f.picker = nil
	f.base = f.state()
	return nil
}

// Changed reports whether the user changed a field since the form was
// filled (NewForm or SetText). Counters, moved by deltas, do not count.
func (f *Form) Changed() bool { return f.state() != f.base }

// state writes what the user can change in the form: every field's text,
// box and list length.
func (f *Form) state() string {
	var b strings.Builder
	var walk func(n *node)
	walk = func(n *node) {
		switch {
		case n.counter != nil:
		case n.typ.Kind == db.KindBool || n.typ.Kind == db.KindPointer:
			b.WriteString(strconv.FormatBool(n.check.Value))
		case len(n.kids) == 0:
			b.WriteString(n.ed.Text())
		}
		fmt.Fprintf(&b, "\x00%d\x00", len(n.kids))
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(f.root)
	return b.String()
}

// build makes the node of a value of type t from its JSON (nil or null:
// the zero value), one method per kind of value.
func (f *Form) build(name string, t *db.Type, raw json.RawMessage, parent *node) *node {
	n := &node{name: name, typ: t, parent: parent}
	n.ed.SingleLine = true
	isNull := len(raw) == 0 || string(raw) == "null"
	switch t.Kind {
	case db.KindStruct:
		f.buildStruct(n, raw, isNull)
	case db.KindSlice, db.KindArray:
		f.buildList(n, raw, isNull)
	case db.KindPointer:
		f.buildPointer(n, raw, isNull)
	case db.KindBool:
		n.check.Value = string(raw) == "true"
	case db.KindMap, db.KindRaw:
		buildJSONText(n, raw, isNull)
	case db.KindTime:
		n.ed.SetText(timeText(scalarText(raw)))
	default:
		n.ed.SetText(scalarText(raw))
	}
	return n
}

// timeText is the text of a time field: the zero time is empty.
func timeText(s string) string {
	if tm, err := time.Parse(time.RFC3339Nano, s); err == nil && tm.IsZero() {
		return ""
	}
	return s
}

// dateLayout is the plain date a time field also takes, as midnight UTC.
const dateLayout = "2006-01-02"

// timeInput is the RFC 3339 text of a time field's input: a plain date
// is midnight UTC; anything else is left for ParseScalar to judge.
func timeInput(s string) string {
	if d, err := time.Parse(dateLayout, s); err == nil {
		return d.Format(time.RFC3339)
	}
	return s
}

// buildStruct adds a kid per schema field and keeps the members the
// schema does not know, sorted by name.
func (f *Form) buildStruct(n *node, raw json.RawMessage, isNull bool) {
	var m map[string]json.RawMessage
	if !isNull {
		_ = json.Unmarshal(raw, &m)
	}
	for i := range n.typ.Fields {
		fl := &n.typ.Fields[i]
		k := f.build(fl.Name, &fl.Type, m[fl.Name], n)
		if fl.Counter && n.parent == nil {
			k.counter = fl
		}
		n.kids = append(n.kids, k)
		delete(m, fl.Name)
	}
	for k, v := range m {
		n.extra = append(n.extra, extraMember{k, v})
	}
	sort.Slice(n.extra, func(i, j int) bool { return n.extra[i].name < n.extra[j].name })
}

// buildList adds a kid per element; an array has at least its length.
func (f *Form) buildList(n *node, raw json.RawMessage, isNull bool) {
	t := n.typ
	var elems []json.RawMessage
	if !isNull {
		_ = json.Unmarshal(raw, &elems)
	}
	if t.Kind == db.KindArray {
		for len(elems) < t.Len {
			elems = append(elems, nil)
		}
	}
	for _, e := range elems {
		n.kids = append(n.kids, f.build("", t.Elem, e, n))
	}
}

// buildPointer checks the box when the value is set, and always builds
// the pointed-to value so that checking it shows fields to fill.
func (f *Form) buildPointer(n *node, raw json.RawMessage, isNull bool) {
	n.check.Value = !isNull
	if n.typ.Elem != nil {
		n.kids = []*node{f.build("", n.typ.Elem, raw, n)}
	}
}

// buildJSONText shows a map or raw value as indented JSON text.
func buildJSONText(n *node, raw json.RawMessage, isNull bool) {
	n.ed.SingleLine = false
	if isNull {
		n.ed.SetText("")
		return
	}
	var b bytes.Buffer
	_ = json.Indent(&b, raw, "", "  ")
	n.ed.SetText(b.String())
}

// scalarText is the text of a JSON scalar in a text field: strings
// unquoted, anything else as written.
func scalarText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// ErrInvalid is returned by Form.Text when a field does not validate; the
// form shows the reasons next to the fields.
var ErrInvalid = errors.New("widgets: the form has invalid fields")

// Text validates the form and returns the record's JSON text. When a field
// is invalid it returns ErrInvalid with the number of invalid fields, and
// each of them shows its message.
func (f *Form) Text() (string, error) {
	var b bytes.Buffer
	bad := f.encode(&b, f.root)
	if bad > 0 {
		return "", fmt.Errorf("%w: %d", ErrInvalid, bad)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		return "", err
	}
	return out.String(), nil
}

// Messages returns the validation messages by field path ("a.b[2]"), as
// of the last call of Text.
func (f *Form) Messages() map[string]string {
	m := map[string]string{}
	var walk func(n *node, path string)
	walk = func(n *node, path string) {
		if n.msg != "" {
			m[path] = n.msg
		}
		for i, k := range n.kids {
			p := path
			switch {
			case n.typ.Kind == db.KindPointer:
			case k.name != "" && p != "":
				p += "." + k.name
			case k.name != "":
				p = k.name
			default:
				p += fmt.Sprintf("[%d]", i)
			}
			walk(k, p)
		}
	}
	walk(f.root, "")
	return m
}

// SetField sets the text of the field at path (as in Messages) for tools
// and tests; bools take "true" or "false". It reports whether the field
// exists.
func (f *Form) SetField(path, text string) bool {
	n := f.find(path)
	if n == nil {
		return false
	}
	if n.typ.Kind == db.KindBool || n.typ.Kind == db.KindPointer {
		n.check.Value = text == "true"
	} else {
		n.ed.SetText(text)
	}
	return true
}

func (f *Form) find(path string) *node {
	n := f.root
	for path != "" {
		if n.typ.Kind == db.KindPointer && len(n.kids) == 1 {
			n = n.kids[0]
			continue
		}
		if path[0] == '[' {
			end := strings.IndexByte(path, ']')
			i, err := strconv.Atoi(path[1:max(1, end)])
			if end < 0 || err != nil || i < 0 || i >= len(n.kids) {
				return nil
			}
			n, path = n.kids[i], strings.TrimPrefix(path[end+1:], ".")
			continue
		}
		name := path
		if i := strings.IndexAny(path, ".["); i >= 0 {
			name, path = path[:i], strings.TrimPrefix(path[i:], ".")
		} else {
			path = ""
		}
		var next *node
		for _, k := range n.kids {
			if k.name == name {
				next = k
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

// encode writes n's JSON value and returns the number of invalid fields,
// one method per kind of value.
func (f *Form) encode(b *bytes.Buffer, n *node) int {
	n.msg = ""
	switch n.typ.Kind {
	case db.KindStruct:
		return f.encodeStruct(b, n)
	case db.KindSlice, db.KindArray:
		return f.encodeList(b, n)
	case db.KindPointer:
		return f.encodePointer(b, n)
	case db.KindBool:
		b.WriteString(strconv.FormatBool(n.check.Value))
		return 0
	}
	return encodeScalar(b, n)
}

// encodeStruct writes the schema's fields in order, then the members the
// schema does not know as they were read.
func (f *Form) encodeStruct(b *bytes.Buffer, n *node) int {
	bad := 0
	b.WriteByte('{')
	written := 0
	for _, k := range n.kids {
		if k.counter != nil && f.OmitCounters {
			continue
		}
		if written > 0 {
			b.WriteByte(',')
		}
		written++
		writeMemberName(b, k.name)
		bad += f.encode(b, k)
	}
	for i, e := range n.extra {
		if i > 0 || written > 0 {
			b.WriteByte(',')
		}
		writeMemberName(b, e.name)
		b.Write(e.raw)
	}
	b.WriteByte('}')
	return bad
}

// writeMemberName writes `"name":`.
func writeMemberName(b *bytes.Buffer, name string) {
	q, _ := json.Marshal(name)
	b.Write(q)
	b.WriteByte(':')
}

func (f *Form) encodeList(b *bytes.Buffer, n *node) int {
	bad := 0
	b.WriteByte('[')
	for i, k := range n.kids {
		if i > 0 {
			b.WriteByte(',')
		}
		bad += f.encode(b, k)
	}
	b.WriteByte(']')
	return bad
}

// encodePointer writes null when the box is not checked.
func (f *Form) encodePointer(b *bytes.Buffer, n *node) int {
	if !n.check.Value || len(n.kids) == 0 {
		b.WriteString("null")
		return 0
	}
	return f.encode(b, n.kids[0])
}

// encodeScalar validates a text field; an invalid one is written as null
// and shows its message.
func encodeScalar(b *bytes.Buffer, n *node) int {
	v, err := scalarJSON(n.typ, n.ed.Text())
	if err != nil {
		n.msg = err.Error()
		b.WriteString("null")
		return 1
	}
	b.Write(v)
	return 0
}

// scalarJSON validates a text field of type t and returns its JSON value.
// Scalars follow the record text's rules (schema.ParseScalar), written
// back as the record text writes them; an empty field other than a string
// is the zero value. Maps and raw values are JSON text.
func scalarJSON(t *db.Type, s string) ([]byte, error) {
	if t.Kind == db.KindMap || t.Kind == db.KindRaw {
		return jsonField(s)
	}
	if t.Kind != db.KindString {
		if s = strings.TrimSpace(s); s == "" {
			s = zeroText(t)
		}
	}
	if t.Kind == db.KindTime {
		s = timeInput(s)
	}
	v, err := schema.ParseScalar(t, s)
	if err != nil {
		return nil, errors.New(fieldHint(t))
	}
	return schema.ScalarJSON(t, v)
}

// zeroText is the text of the zero value of the scalar type t.
func zeroText(t *db.Type) string {
	switch t.Kind {
	case db.KindTime:
		s, _ := schema.FormatScalar(t, time.Time{})
		return s
	case db.KindRef:
		return "0.0"
	case db.KindBytes: // [Len]byte: Len zero bytes
		s, _ := schema.FormatScalar(t, make([]byte, t.Len))
		return s
	}
	return "0"
}

// fieldHint says what a text field of type t takes.
func fieldHint(t *db.Type) string {
	switch t.Kind {
	case db.KindInt, db.KindEnum:
		if t.Kind == db.KindInt || t.Signed {
			return fmt.Sprintf("not a whole number of %d bits", t.Bits)
		}
		return fmt.Sprintf("not a whole number from 0 to %d", uint64(math.MaxUint64)>>(64-t.Bits))
	case db.KindUint:
		return fmt.Sprintf("not a whole number from 0 to %d", uint64(math.MaxUint64)>>(64-t.Bits))
	case db.KindFloat:
		return "not a number"
	case db.KindTime:
		return "not a time like 2026-01-02T15:04:05Z or a date like 2026-01-02"
	case db.KindRef:
		return "not a key like 42.0"
	case db.KindBytes:
		if t.Len > 0 {
			return fmt.Sprintf("not %d bytes in standard base64", t.Len)
		}
		return "not standard base64"
	}
	return "not valid"
}

// jsonField validates a field of JSON text; empty is null.
func jsonField(s string) ([]byte, error) {
	trim := strings.TrimSpace(s)
	if trim == "" {
		return []byte("null"), nil
	}
	if !json.Valid([]byte(trim)) {
		return nil, errors.New("not valid JSON")
	}
	var c bytes.Buffer
	_ = json.Compact(&c, []byte(trim))
	return c.Bytes(), nil
}

// flatten lists the form's rows in order.
func (f *Form) flatten(n *node, depth, elem int) {
	if n != f.root {
		f.rows = append(f.rows, formRow{n: n, depth: depth, elem: elem})
		depth++
	}
	switch n.typ.Kind {
	case db.KindStruct, db.KindSlice, db.KindArray:
		f.flattenKids(n, depth)
	case db.KindPointer:
		// A set pointer shows what it points to in its place.
		if n.check.Value && len(n.kids) == 1 {
			if k := n.kids[0]; hasKids(k) {
				f.flattenKids(k, depth)
			} else {
				f.flatten(k, depth, -1)
			}
		}
	}
}

// hasKids reports whether n's rows are its fields or elements.
func hasKids(n *node) bool {
	switch n.typ.Kind {
	case db.KindStruct, db.KindSlice, db.KindArray:
		return true
	}
	return false
}

// flattenKids lists the rows of n's fields, or of its elements with their
// index.
func (f *Form) flattenKids(n *node, depth int) {
	for i, k := range n.kids {
		e := -1
		if n.typ.Kind != db.KindStruct {
			e = i
		}
		f.flatten(k, depth, e)
	}
}

// update handles the form's buttons: each row's, then the open picker's.
func (f *Form) update(gtx layout.Context) {
	for _, r := range f.rows {
		f.updateRow(gtx, r.n)
	}
	if f.picker != nil {
		if k, ok := f.pick.update(gtx); ok {
			f.picker.ed.SetText(k.String())
			f.picker = nil
		}
	}
}

// updateRow handles the add, remove and pick buttons and the check box
// of one row.
func (f *Form) updateRow(gtx layout.Context, n *node) {
	if n.counter != nil && f.OnAdd != nil {
		if n.minus.Clicked(gtx) {
			f.OnAdd(n.name, -1)
		}
		if n.plus.Clicked(gtx) {
			f.OnAdd(n.name, 1)
		}
	}
	if n.add.Clicked(gtx) && !f.ReadOnly {
		n.kids = append(n.kids, f.build("", n.typ.Elem, nil, n))
	}
	if n.remove.Clicked(gtx) && !f.ReadOnly && n.parent != nil {
		n.parent.removeKid(n)
	}
	if n.pickBtn.Clicked(gtx) {
		f.togglePicker(n)
	}
	if f.ReadOnly {
		return
	}
	if n.typ.Kind == db.KindBool || n.typ.Kind == db.KindPointer {
		n.check.Update(gtx)
	}
}

// removeKid removes kid k from p.
func (p *node) removeKid(k *node) {
	for i, c := range p.kids {
		if c == k {
			p.kids = append(p.kids[:i:i], p.kids[i+1:]...)
			return
		}
	}
}

// togglePicker opens the picker of reference n, or closes it when it is
// the open one.
func (f *Form) togglePicker(n *node) {
	if f.picker == n {
		f.picker = nil
		return
	}
	f.picker = n
	f.pick.open(f.DB, n.typ.Ref)
}

// Layout lays out the form as a scrolling list of labelled fields.
func (f *Form) Layout(gtx layout.Context, th *Theme) layout.Dimensions {
	f.rows = f.rows[:0]
	f.flatten(f.root, 0, -1)
	f.update(gtx)
	f.rows = f.rows[:0]
	f.flatten(f.root, 0, -1)
	return material.List(th.Theme, &f.list).Layout(gtx, len(f.rows), func(gtx layout.Context, i int) layout.Dimensions {
		return layout.Inset{Top: 3, Bottom: 3, Right: 8}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
			return f.layoutRow(gtx, th, f.rows[i])
		})
	})
}

func (f *Form) layoutRow(gtx layout.Context, th *Theme, r formRow) layout.Dimensions {
	n := r.n
	label := n.name
	if n.counter != nil {
		label += " ±"
	}
	if r.elem >= 0 {
		label = fmt.Sprintf("[%d]", r.elem)
	}
	indent := unit.Dp(16 * r.depth)
	labelW := gtx.Dp(150)
	return layout.Flex{Axis: layout.Vertical}.Layout(gtx,
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			return layout.Flex{Alignment: layout.Baseline}.Layout(gtx,
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					gtx.Constraints.Min.X, gtx.Constraints.Max.X = labelW, labelW
					gtx.Constraints.Min.Y = 0
					return layout.Inset{Left: indent, Right: 8}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
						l := th.Label(label)
						if n.typ.Kind == db.KindStruct || n.typ.Kind == db.KindSlice || n.typ.Kind == db.KindArray {
							l.Font.Weight = 600
						} else {
							l.Color = th.Muted
						}
						return l.Layout(gtx)
					})
				}),
				layout.Flexed(1, func(gtx layout.Context) layout.Dimensions { return f.layoutControl(gtx, th, n) }),
				layout.Rigid(func(gtx layout.Context) layout.Dimensions {
					if r.elem < 0 || f.ReadOnly || n.parent == nil || n.parent.typ.Kind != db.KindSlice {
						return layout.Dimensions{}
					}
					return layout.Inset{Left: 6}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
						return smallButton(gtx, th, &n.remove, "Remove")
					})
				}),
			)
		}),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			if n.msg == "" {
				return layout.Dimensions{}
			}
			return layout.Inset{Left: unit.Dp(150), Top: 2}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
				l := th.Label(n.msg)
				l.Color = th.Error
				return l.Layout(gtx)
			})
		}),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			if f.picker != n {
				return layout.Dimensions{}
			}
			return layout.Inset{Left: unit.Dp(150), Top: 4}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
				return f.pick.layout(gtx, th)
			})
		}),
	)
}

func (f *Form) layoutControl(gtx layout.Context, th *Theme, n *node) layout.Dimensions {
	t := n.typ
	switch t.Kind {
	case db.KindStruct:
		return th.MutedLabel(structTitle(t)).Layout(gtx)
	case db.KindSlice, db.KindArray:
		return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
			layout.Rigid(func(gtx layout.Context) layout.Dimensions {
				return th.MutedLabel(fmt.Sprintf("%s, %d items", t.String(), len(n.kids))).Layout(gtx)
			}),
			layout.Rigid(func(gtx layout.Context) layout.Dimensions {
				if f.ReadOnly || t.Kind == db.KindArray {
					return layout.Dimensions{}
				}
				return layout.Inset{Left: 8}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
					return smallButton(gtx, th, &n.add, "Add")
				})
			}),
		)
	case db.KindBool:
		return checkBox(gtx, th, &n.check, "", f.ReadOnly)
	case db.KindPointer:
		return checkBox(gtx, th, &n.check, "set ("+t.String()+")", f.ReadOnly)
	}
	if n.counter != nil {
		return f.layoutCounter(gtx, th, n)
	}
	hint := t.String()
	if t.Kind == db.KindTime {
		hint = "2026-01-02 or 2026-01-02T15:04:05Z; empty: none"
	}
	field := func(gtx layout.Context) layout.Dimensions { return textField(gtx, th, &n.ed, hint, f.ReadOnly) }
	if t.Kind != db.KindRef || f.DB == nil || t.Ref == "" {
		return field(gtx)
	}
	return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
		layout.Flexed(1, field),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			if f.ReadOnly {
				return layout.Dimensions{}
			}
			return layout.Inset{Left: 6}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
				return smallButton(gtx, th, &n.pickBtn, "Pick "+t.Ref)
			})
		}),
	)
}

// layoutCounter shows a counter's value, never editable as text, with
// its − and + buttons when the form has OnAdd.
func (f *Form) layoutCounter(gtx layout.Context, th *Theme, n *node) layout.Dimensions {
	hint := "counter"
	if n.counter.Min != nil {
		hint = fmt.Sprintf("counter, at least %d", *n.counter.Min)
	}
	field := func(gtx layout.Context) layout.Dimensions { return textField(gtx, th, &n.ed, hint, true) }
	if f.OnAdd == nil {
		return field(gtx)
	}
	return layout.Flex{Alignment: layout.Middle}.Layout(gtx,
		layout.Flexed(1, field),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			return layout.Inset{Left: 6}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
				return smallButton(gtx, th, &n.minus, "−")
			})
		}),
		layout.Rigid(func(gtx layout.Context) layout.Dimensions {
			return layout.Inset{Left: 4}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
				return smallButton(gtx, th, &n.plus, "+")
			})
		}),
	)
}

// SetCounters shows the counter values of a record's JSON text, keeping
// every other field as it is (and may be being edited).
func (f *Form) SetCounters(text string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		return fmt.Errorf("widgets: record text: %w", err)
	}
	for _, k := range f.root.kids {
		if k.counter != nil {
			k.ed.SetText(scalarText(m[k.name]))
		}
	}
	return nil
}

func structTitle(t *db.Type) string {
	if t.Name != "" {
		return t.Name
	}
	return "struct"
}

// textField is a bordered one-line editor; read-only fields have a tinted
// background.
func textField(gtx layout.Context, th *Theme, ed *widget.Editor, hint string, readOnly bool) layout.Dimensions {
	ed.ReadOnly = readOnly
	bg := th.Bg
	if readOnly {
		bg = th.Stripe
	}
	return Focused(gtx, th, gtx.Focused(ed), func(gtx layout.Context) layout.Dimensions {
		return border(gtx, th, bg, func(gtx layout.Context) layout.Dimensions {
			return layout.Inset{Top: 5, Bottom: 5, Left: 8, Right: 8}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
				gtx.Constraints.Min.X = gtx.Constraints.Max.X
				e := material.Editor(th.Theme, ed, hint)
				e.TextSize = th.TextSize
				e.HintColor = th.Muted
				return e.Layout(gtx)
			})
		})
	})
}

// border draws w on bg inside a one-pixel rounded border.
func border(gtx layout.Context, th *Theme, bg color.NRGBA, w layout.Widget) layout.Dimensions {
	return widget.Border{Color: th.Border, CornerRadius: 4, Width: 1}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
		return layout.Background{}.Layout(gtx, func(gtx layout.Context) layout.Dimensions {
			r := gtx.Dp(4)
			defer clip.UniformRRect(image.Rectangle{Max: gtx.Constraints.Min}, r).Push(gtx.Ops).Pop()
			return fill(gtx, bg)
		}, w)
	})
}

func checkBox(gtx layout.Context, th *Theme, b *widget.Bool, label string, readOnly bool) layout.Dimensions {
	c := material.CheckBox(th.Theme, b, label)
	c.TextSize = th.TextSize
	c.Size = 20
	if readOnly {
		gtx = gtx.Disabled()
	}
	return c.Layout(gtx) // material's check box shows its own focus
}

// smallButton is a compact outlined button.
func smallButton(gtx layout.Context, th *Theme, c *widget.Clickable, label string) layout.Dimensions {
	b := material.Button(th.Theme, c, label)
	b.TextSize = th.TextSize - 1
	b.Inset = layout.Inset{Top: 5, Bottom: 5, Left: 10, Right: 10}
	b.Background = th.Header
	b.Color = th.Fg
	b.CornerRadius = 4
	return Focused(gtx, th, gtx.Focused(c), b.Layout)
}
