package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hillsdb/hills/app"
	"github.com/hillsdb/hills/db"
	"github.com/hillsdb/hills/internal/demo"
	"github.com/hillsdb/hills/internal/testkit"
	"github.com/hillsdb/hills/internal/testkit/testnet"
	"github.com/hillsdb/hills/netsync"
)

// localViewer opens a standalone database seeded with n parts and a
// viewer on it, showing the parts.
func localViewer(t *testing.T, n int) (*app.App, *viewer, *frames) {
	t.Helper()
	a, err := app.Open(app.Config{Dir: t.TempDir(), Name: "ana", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Seed(a.DB, n); err != nil {
		t.Fatal(err)
	}
	v := newViewer(a)
	t.Cleanup(func() { v.Close(); a.Close() })
	f := &frames{v: v}
	v.openTree("parts")
	f.until(t, "the table", func() bool { return v.table != nil && v.table.Len() == n })
	return a, v, f
}

// selectShown selects key s and waits until the panel shows it.
func selectShown(t *testing.T, v *viewer, f *frames, s string) {
	t.Helper()
	if err := v.selectKey(s); err != nil {
		t.Fatal(err)
	}
	f.until(t, "the record shown", func() bool { return !v.reading && v.shown.key == v.sel && v.shown.text != "" })
}

// Buttons act only when their action is allowed: nothing before the
// check-out (a click on the disabled Delete deletes nothing), Save only
// once something changed.
func TestViewerButtonsFollowCheckOut(t *testing.T) {
	a, v, f := localViewer(t, 2)
	selectShown(t, v, f, "1.0")
	o, _ := a.DB.Opaque("parts")
	k := v.sel
	acts := v.allowed()
	if acts.save || acts.del || acts.release || acts.state || acts.why != "read-only: check out to edit" {
		t.Fatalf("before the check-out: %+v", acts)
	}
	v.delBtn.Click()
	v.stateEd.SetText("9")
	v.stateBtn.Click()
	f.draw()
	f.draw()
	if v.busy {
		t.Fatal("a disabled button started a write")
	}
	if m, err := o.Meta(k); err != nil || m.State == 9 {
		t.Fatalf("after clicks on disabled buttons: meta %+v, %v", m, err)
	}

	v.checkout.Click()
	f.until(t, "the check-out", func() bool { return o.Borrow(k).Mine })
	f.draw()
	acts = v.allowed()
	if acts.save || !acts.del || !acts.state {
		t.Fatalf("checked out, nothing changed: %+v", acts)
	}
	v.saveBtn.Click()
	f.draw()
	if v.busy {
		t.Fatal("Save with nothing changed started a write")
	}
	v.form.SetField("name", "changed")
	if !v.allowed().save {
		t.Fatal("Save disabled after an edit")
	}
	v.tabJSON.Click()
	f.draw()
	if v.allowed().save {
		t.Fatal("the JSON tab shows the edit but Save is disabled") // the edit carried over: changed
	}
}

// After a save the editor shows the record as stored, pretty-printed,
// unless the user typed meanwhile.
func TestViewerReformatsAfterSave(t *testing.T) {
	a, v, f := localViewer(t, 1)
	selectShown(t, v, f, "1.0")
	o, _ := a.DB.Opaque("parts")
	k := v.sel
	v.checkout.Click()
	f.until(t, "the check-out", func() bool { return o.Borrow(k).Mine })
	v.tabJSON.Click()
	f.draw()
	var m map[string]any
	if err := json.Unmarshal([]byte(v.jsonEd.Text()), &m); err != nil {
		t.Fatal(err)
	}
	m["name"] = "compact"
	b, _ := json.Marshal(m)
	v.jsonEd.SetText(string(b)) // one line, as typed or pasted
	v.saveBtn.Click()
	f.until(t, "the saved record shown as stored", func() bool {
		s, _ := o.Text(k)
		return strings.Contains(s, `"compact"`) && !v.busy && !v.reading && strings.Contains(v.jsonEd.Text(), "\n  \"name\": \"compact\"")
	})
	if v.allowed().save {
		t.Fatal("Save enabled right after the save")
	}
}

// A time field shows the zero time as empty and saves an empty field as
// the zero time; it takes a plain date as midnight UTC.
func TestViewerTimeFields(t *testing.T) {
	a, v, f := localViewer(t, 1)
	o, _ := a.DB.Opaque("parts")
	selectShown(t, v, f, "1.0")
	k := v.sel
	v.checkout.Click()
	f.until(t, "the check-out", func() bool { return o.Borrow(k).Mine })
	added := func() string {
		s, err := o.Text(k)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(s), &m)
		return m["added"].(string)
	}
	save := func(what string) {
		t.Helper()
		v.saveBtn.Click()
		f.until(t, what, func() bool { return !v.busy && !v.reading })
		if v.msgErr {
			t.Fatalf("%s: %s", what, v.msg)
		}
	}
	v.form.SetField("added", "2026-03-04")
	save("the date saved")
	if got := added(); got != "2026-03-04T00:00:00Z" {
		t.Fatalf("a date saved as %q", got)
	}
	v.form.SetField("added", "")
	save("the empty time saved")
	if got := added(); got != "0001-01-01T00:00:00Z" {
		t.Fatalf("an empty time saved as %q, want the zero time", got)
	}
	// Shown empty again once read back.
	v.selectRecord(db.OpaqueKey{}, false)
	selectShown(t, v, f, "1.0")
	v.form.Text()
	if !strings.Contains(v.jsonEd.Text(), `"added": "0001-01-01T00:00:00Z"`) {
		t.Fatalf("JSON:\n%s", v.jsonEd.Text())
	}
	if !v.form.SetField("added", "") || v.form.Changed() {
		t.Fatal("the zero time is not shown as an empty field")
	}
	v.form.SetField("added", "4 March")
	if _, err := v.form.Text(); err == nil || !strings.Contains(v.form.Messages()["added"], "date like 2026-01-02") {
		t.Fatalf("a bad time: %v, messages %v", err, v.form.Messages())
	}
}

// Filtering out the selected record deselects it, saying so.
func TestViewerPanelFollowsFilter(t *testing.T) {
	_, v, f := localViewer(t, 3)
	selectShown(t, v, f, "1.0")
	v.filter.SetText("00002")
	v.table.SetFilter("00002")
	f.until(t, "the record deselected", func() bool { return !v.hasSel })
	if v.table.Len() != 1 || !strings.Contains(v.msg, "parts/1.0 is filtered out") {
		t.Fatalf("%d rows, message %q", v.table.Len(), v.msg)
	}
	// A record the filter keeps stays selected.
	selectShown(t, v, f, v.table.Key(0).String())
	v.table.SetFilter("0000")
	f.until(t, "the new filter applied", func() bool { _, _, busy := v.table.Busy(); return !busy && v.table.Len() == 3 })
	f.draw()
	if !v.hasSel {
		t.Fatal("a record the filter keeps was deselected")
	}
}

// Export… writes the shown tree as CSV and as JSON lines.
func TestViewerExport(t *testing.T) {
	_, v, f := localViewer(t, 3)
	v.export.btn.Click()
	f.draw()
	if !v.export.open || v.export.path.Text() != filepath.Join("~", "parts.csv") {
		t.Fatalf("form open %v, path %q", v.export.open, v.export.path.Text())
	}
	dir := t.TempDir()
	v.export.path.SetText(filepath.Join(dir, "parts.csv"))
	v.export.run.Click()
	f.until(t, "the CSV export", func() bool { return !v.export.busy && v.export.msg != "" && !strings.HasSuffix(v.export.msg, "…") })
	if v.export.isErr || v.export.msg != "exported 3 records of parts to "+filepath.Join(dir, "parts.csv") {
		t.Fatalf("message %q", v.export.msg)
	}
	lines := readLines(t, filepath.Join(dir, "parts.csv"))
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "_id,") || !strings.Contains(lines[0], "number") {
		t.Fatalf("CSV:\n%s", strings.Join(lines, "\n"))
	}

	v.export.jsonl.Click()
	f.draw()
	if v.export.path.Text() != filepath.Join(dir, "parts.jsonl") {
		t.Fatalf("path after choosing JSON lines: %q", v.export.path.Text())
	}
	v.export.run.Click()
	f.until(t, "the JSON lines export", func() bool { return !v.export.busy && strings.HasPrefix(v.export.msg, "exported") })
	lines = readLines(t, filepath.Join(dir, "parts.jsonl"))
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["number"] == nil || m["_id"] == nil {
			t.Fatalf("line %q: %v", l, err)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("%d JSON lines", len(lines))
	}

	// A directory that does not exist: said, nothing written.
	v.export.path.SetText(filepath.Join(dir, "nosuch", "x.csv"))
	v.export.run.Click()
	f.until(t, "the failed export", func() bool { return !v.export.busy && v.export.isErr })
	if !strings.Contains(v.export.msg, "export failed") {
		t.Fatalf("message %q", v.export.msg)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("%d files in the export directory, want 2", len(ents))
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// The history tab of a standalone database says why there is none.
func TestViewerHistoryStandalone(t *testing.T) {
	_, v, f := localViewer(t, 1)
	selectShown(t, v, f, "1.0")
	v.tabHist.Click()
	f.draw()
	if !v.histMode || !strings.Contains(v.historyUnavailable(), "standalone") {
		t.Fatalf("history tab %v: %q", v.histMode, v.historyUnavailable())
	}
}

// With a server: the holder sees who waits, a waiting client that gives
// up is told it left the queue, and the history tab lists the changes
// with the fields they moved and the check-outs.
func TestViewerReplicaQueueAndHistory(t *testing.T) {
	const appID = "hills-viewer-test"
	srv, stop := testnet.Start(t, t.TempDir(), "", &netsync.ServerOptions{AppID: appID, Open: true})
	addr := srv.Addr().String()
	open := func(name string) *app.App {
		a, err := app.Open(app.Config{AppID: appID, Server: addr, Dir: t.TempDir(), Name: name, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	ana, bob := open("ana"), open("bob")
	_, parts, err := demo.Open(ana.DB)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := parts.CreateWait(testkit.Context(t), demo.NewPart(i, db.Key[demo.Supplier]{})); err != nil {
			t.Fatal(err)
		}
	}
	ob := func() db.OpaqueTree {
		var o db.OpaqueTree
		testkit.Until(t, "bob's copy of the parts", func() bool {
			var err error
			o, err = bob.DB.Opaque("parts")
			return err == nil && o.Len() == 2
		})
		return o
	}()
	v := newViewer(ana)
	t.Cleanup(v.Close)
	f := &frames{v: v}
	v.openTree("parts")
	f.until(t, "the table", func() bool { return v.table != nil && v.table.Len() == 2 })
	selectShown(t, v, f, "1.0")
	k := v.sel
	v.checkout.Click()
	f.until(t, "ana's check-out", func() bool { return v.tree.Borrow(k).Mine })

	// bob waits for it: ana sees so.
	ctx, cancel := context.WithCancel(testkit.Context(t))
	defer cancel()
	go ob.CheckOut(ctx, k)
	f.until(t, "ana told that bob waits", func() bool { return v.checkout.Label(v.tree.Borrow(k)) == "Check in · bob waiting" })
	if b := v.tree.Borrow(k); b.Waiters != "bob" || b.Queued != 1 {
		t.Errorf("borrow state %+v, want bob waiting", b)
	}
	cancel()

	// An edit, then the history.
	v.form.SetField("name", "Resistor 22k")
	v.saveBtn.Click()
	f.until(t, "the save", func() bool { return !v.busy && !v.reading })
	v.tabHist.Click()
	deadline := time.Now().Add(20 * time.Second)
	f.until(t, "the edit in the history", func() bool {
		if !v.hist.loading && time.Now().Before(deadline) {
			v.hist.refresh.Click() // the server may not have the edit yet
		}
		for _, r := range v.hist.rows {
			for _, l := range r.lines {
				if strings.HasPrefix(l, `name: "Resistor 10k" → "Resistor 22k"`) {
					return true
				}
			}
		}
		return false
	})
	heads := make([]string, len(v.hist.rows))
	for i, r := range v.hist.rows {
		heads[i] = r.head
	}
	all := strings.Join(heads, "\n")
	for _, want := range []string{"ana  created", "ana  checked out", "ana  updated"} {
		if !strings.Contains(strings.ToLower(all), want) {
			t.Fatalf("history lacks %q:\n%s", want, all)
		}
	}

	// bob holds 2.0; ana waits for it, then gives up.
	k2 := db.OpaqueKey{Tree: "parts", ID: 2}
	if err := ob.CheckOut(testkit.Context(t), k2); err != nil {
		t.Fatal(err)
	}
	selectShown(t, v, f, "2.0")
	f.until(t, "bob's check-out seen", func() bool { return v.tree.Borrow(k2).Held })
	v.checkout.Click()
	f.until(t, "ana in the queue", func() bool { return v.tree.Borrow(k2).Waiting == 1 })
	v.checkout.Click()
	f.until(t, "the queue left", func() bool { return v.tree.Borrow(k2).Waiting == 0 && !v.checkout.Busy() })
	if v.msg != "left the queue for parts/2.0 (held by bob)" {
		t.Fatalf("message %q", v.msg)
	}

	// Offline: the tab says why it shows nothing.
	stop()
	f.until(t, "the history tab offline", func() bool {
		return strings.Contains(v.historyUnavailable(), "this replica is offline")
	})
}

// A client the server lets only read sees the record read-only, saying
// why, and cannot start a new record.
func TestViewerFollowsGrants(t *testing.T) {
	const appID = "hills-viewer-grants"
	srv := testnet.ServerWith(t, &netsync.ServerOptions{AppID: appID})
	all := netsync.Grant{Tree: "*", Access: netsync.Read | netsync.Create | netsync.Edit | netsync.Release}
	enroll := func(name string, g netsync.Grant) *app.App {
		tok, err := srv.AddClient(name, g)
		if err != nil {
			t.Fatal(err)
		}
		a, err := app.Open(app.Config{AppID: appID, Server: srv.Addr().String(), Dir: t.TempDir(), Name: name, Token: tok, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	writer := enroll("writer", all)
	_, parts, err := demo.Open(writer.DB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parts.CreateWait(testkit.Context(t), demo.NewPart(0, db.Key[demo.Supplier]{})); err != nil {
		t.Fatal(err)
	}
	reader := enroll("reader", netsync.Grant{Tree: "*", Access: netsync.Read})
	v := newViewer(reader)
	t.Cleanup(v.Close)
	f := &frames{v: v}
	f.until(t, "the parts", func() bool { return v.openTree("parts") && v.tree.Len() == 1 })
	f.until(t, "the reader's grants", func() bool { return !reader.DB.Allows("parts", "create") })
	selectShown(t, v, f, "1.0")
	if why := v.allowed().why; why != "read-only: your grants allow no edits in parts" {
		t.Fatalf("why read-only: %q", why)
	}
	v.newBtn.Click()
	f.draw()
	if v.creating {
		t.Fatal("New record opened a form for a client that may not create")
	}
}
