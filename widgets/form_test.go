package widgets

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gioui.org/layout"

	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/demo"
	"github.com/hillsdb/hills/internal/schema"
)

func TestFormRoundTripAndValidation(t *testing.T) {
	d, pt := mustDemo(t, 3, nil)
	o, err := d.Opaque("parts")
	if err != nil {
		t.Fatal(err)
	}
	k := db.OpaqueKey{Tree: "parts", ID: 2}
	text, err := o.Text(k)
	if err != nil {
		t.Fatal(err)
	}
	f := NewForm(o.Schema(), d)
	if err := f.SetText(text); err != nil {
		t.Fatal(err)
	}
	out, err := f.Text()
	if err != nil {
		t.Fatal(err)
	}
	if out != text {
		t.Fatalf("form text differs from the record:\n%s\nwant\n%s", out, text)
	}

	// Bad values get messages by field, and nothing is produced.
	f.SetField("quantity", "many")
	f.SetField("size.w", "1,5")
	f.SetField("added", "yesterday")
	f.SetField("supplier", "x")
	f.SetField("tags[1]", "ok")
	_, err = f.Text()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Text with bad fields: %v, want ErrInvalid", err)
	}
	msgs := f.Messages()
	for _, p := range []string{"quantity", "size.w", "added", "supplier"} {
		if msgs[p] == "" {
			t.Errorf("no message for %s (messages %v)", p, msgs)
		}
	}
	if len(msgs) != 4 {
		t.Errorf("messages %v, want 4", msgs)
	}
	big := f.find("quantity")
	big.ed.SetText("3000000000")
	if _, err := f.Text(); err == nil || !strings.Contains(f.Messages()["quantity"], "32 bits") {
		t.Fatalf("int32 overflow: %v %v", err, f.Messages())
	}

	// Valid edits are written through the opaque tree.
	f.SetField("quantity", "42")
	f.SetField("size.w", "2.5")
	f.SetField("added", "2026-03-04T05:06:07Z")
	f.SetField("supplier", "1.0")
	f.SetField("active", "false")
	out, err = f.Text()
	if err != nil {
		t.Fatalf("Text: %v (%v)", err, f.Messages())
	}
	if err := o.CheckOut(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if err := o.Update(k, out); err != nil {
		t.Fatal(err)
	}
	p, _, err := pt.Get(db.Key[demo.Part]{ID: 2})
	if err != nil {
		t.Fatal(err)
	}
	if p.Quantity != 42 || p.Size.W != 2.5 || p.Added.Month() != 3 || p.Supplier.ID != 1 || p.Active || p.Tags[1] != "ok" {
		t.Fatalf("stored after form edit: %+v", p)
	}
}

func TestFormListsAndReadOnly(t *testing.T) {
	d, _ := mustDemo(t, 2, nil)
	o, _ := d.Opaque("parts")
	text, _ := o.Text(db.OpaqueKey{Tree: "parts", ID: 2})
	f := NewForm(o.Schema(), d)
	f.SetText(text)
	th := NewTheme()
	u := newUI(500, 900)
	draw := func() { u.frame(func(gtx layout.Context) { f.Layout(gtx, th) }) }
	f.ReadOnly = true
	draw()
	tags := f.find("tags")
	active := f.find("active")
	if !active.check.Value {
		t.Fatal("active not set from the record")
	}
	// In read-only mode the buttons and boxes do nothing.
	tags.add.Click()
	draw()
	if len(tags.kids) != 2 {
		t.Fatalf("read-only form added a list element: %d", len(tags.kids))
	}
	f.ReadOnly = false
	tags.add.Click()
	draw()
	if len(tags.kids) != 3 {
		t.Fatalf("Add: %d elements, want 3", len(tags.kids))
	}
	f.SetField("tags[2]", "new")
	tags.kids[0].remove.Click()
	draw()
	out, err := f.Text()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"tags": [
    "bin-1",
    "new"
  ]`) {
		t.Fatalf("tags after add and remove:\n%s", out)
	}

	// The key picker lists the referenced tree and fills the field.
	sup := f.find("supplier")
	sup.pickBtn.Click()
	draw()
	if f.picker != sup || len(f.pick.keys) != 5 || f.pick.names[1] != "Mouser" {
		t.Fatalf("picker: open %v, %d keys, names %v", f.picker == sup, len(f.pick.keys), f.pick.names)
	}
	f.pick.btns[3].Click()
	draw()
	if sup.ed.Text() != "4.0" || f.picker != nil {
		t.Fatalf("picked %q, picker open %v", sup.ed.Text(), f.picker != nil)
	}
}

// TestFormScalarRulesAreTheRecordText checks that the form accepts a
// field's text exactly when the record's JSON text accepts it: base64
// only in its strict standard form, as FromText.
func TestFormScalarRulesAreTheRecordText(t *testing.T) {
	s := db.Schema{Tree: "blobs", Type: db.Type{Kind: db.KindStruct, Fields: []db.Field{
		{Name: "b", Type: db.Type{Kind: db.KindBytes}},
		{Name: "id", Type: db.Type{Kind: db.KindBytes, Len: 2}},
		{Name: "f", Type: db.Type{Kind: db.KindFloat, Bits: 64}},
	}}}
	for _, c := range []struct{ field, text string }{
		{"b", "AQI="}, {"b", "AQJ="}, {"b", "AQI"}, {"b", "AQ=="}, {"b", "AQ="}, {"b", "A Q I ="},
		{"id", "AQI="}, {"id", "AQJ="}, {"id", "AQID"},
		{"f", "1.5"}, {"f", "NaN"}, {"f", "+1"}, {"f", ".5"}, {"f", "inf"},
	} {
		f := NewForm(s, nil)
		f.SetField(c.field, c.text)
		out, formErr := f.Text()
		if formErr != nil && !errors.Is(formErr, ErrInvalid) {
			t.Fatalf("%s %q: %v", c.field, c.text, formErr)
		}
		value, _ := schema.ScalarJSON(&db.Type{Kind: db.KindString}, c.text)
		if c.field == "f" && c.text != "NaN" {
			value = []byte(c.text)
		}
		_, textErr := schema.FromText(`{"`+c.field+`": `+string(value)+`}`, &s.Type, nil)
		if (formErr == nil) != (textErr == nil) {
			t.Errorf("%s %q: form %v (%v), record text %v", c.field, c.text, formErr, f.Messages(), textErr)
			continue
		}
		if formErr != nil {
			if msg := f.Messages()[c.field]; msg == "" {
				t.Errorf("%s %q refused without a message", c.field, c.text)
			}
			continue
		}
		if _, err := schema.FromText(out, &s.Type, nil); err != nil {
			t.Errorf("%s %q: the form's text is refused: %v\n%s", c.field, c.text, err, out)
		}
	}
}

// A time field shows the zero time empty and takes a plain date; Changed
// follows the user's edits, not a refill.
func TestFormTimeAndChanged(t *testing.T) {
	d, _ := mustDemo(t, 1, nil)
	o, err := d.Opaque("parts")
	if err != nil {
		t.Fatal(err)
	}
	f := NewForm(o.Schema(), d)
	if err := f.SetText(`{"number": "T-1", "added": "0001-01-01T00:00:00Z", "tags": ["a"]}`); err != nil {
		t.Fatal(err)
	}
	if got := f.find("added").ed.Text(); got != "" {
		t.Fatalf("the zero time shown as %q", got)
	}
	if f.Changed() {
		t.Fatal("changed right after SetText")
	}
	text, err := f.Text()
	if err != nil || !strings.Contains(text, `"added": "0001-01-01T00:00:00Z"`) {
		t.Fatalf("the empty time written as %v:\n%s", err, text)
	}
	f.SetField("added", "2026-03-04")
	if !f.Changed() {
		t.Fatal("an edited time is not a change")
	}
	if text, err = f.Text(); err != nil || !strings.Contains(text, `"added": "2026-03-04T00:00:00Z"`) {
		t.Fatalf("a date written as %v:\n%s", err, text)
	}
	f.SetField("added", "")
	if f.Changed() {
		t.Fatal("an edit undone is still a change")
	}
	if !f.SetField("tags[0]", "x") || !f.Changed() {
		t.Fatal("a list element edited is not a change")
	}
}
