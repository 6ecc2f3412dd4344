package main

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// history shows a record's changes and check-outs, from a running server
// through its socket and from a stopped one's store, as a table and as
// JSON; a force-return shows who and why.
func TestHistoryCommand(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--open", "--history-keep", "100")
	s.await(t, dir)
	a := newReplica(t, "lathe-2", s.info.Addr, "")
	k := a.create(t, Part{Number: "p0"})
	a.sync(t)
	ctx := t.Context()
	if err := a.parts.CheckOut(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := a.parts.Update(k, func(p *Part) error { p.Number = "p1"; return nil }); err != nil {
		t.Fatal(err)
	}
	a.sync(t)
	if _, stderr, code := runCmd(t, "borrows", "return", "parts", k.String(), "--reason", "stock audit", "--data", dir); code != 0 {
		t.Fatalf("borrows return: %s", stderr)
	}

	running, stderr, code := runCmd(t, "history", "parts", k.String(), "--data", dir)
	if code != 0 {
		t.Fatalf("history on a running server: %d %s", code, stderr)
	}
	t.Logf("history:\n%s", running)
	lines := strings.Split(strings.TrimSpace(running), "\n")
	wantRows := [][]string{
		{"SEQ", "AT", "BY", "WHAT", "DETAIL"},
		{"lathe-2", "created", `{"number":"p0"}`},
		{"lathe-2", "checked out"},
		{"lathe-2", "updated", `number: "p0" → "p1"`},
		{osUser(), "force-returned", "from lathe-2: stock audit"},
	}
	if len(lines) != len(wantRows) {
		t.Fatalf("history table:\n%s", running)
	}
	for i, w := range wantRows {
		for _, part := range w {
			if !strings.Contains(lines[i], part) {
				t.Fatalf("history row %d lacks %q:\n%s", i, part, running)
			}
		}
	}

	out, stderr, code := runCmd(t, "history", "parts", k.String(), "--json", "--data", dir)
	if code != 0 {
		t.Fatalf("history --json: %d %s", code, stderr)
	}
	var rows []changeJSON
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("history --json: %v\n%s", err, out)
	}
	if len(rows) != 4 || rows[2].Kind != "updated" || rows[3].Borrow != "force-returned" || rows[3].Reason != "stock audit" {
		t.Fatalf("history --json: %+v", rows)
	}
	var before, after Part
	if json.Unmarshal(rows[2].Old, &before) != nil || json.Unmarshal(rows[2].New, &after) != nil ||
		before.Number != "p0" || after.Number != "p1" || rows[2].Seq <= rows[0].Seq || rows[2].At.Before(rows[0].At) {
		t.Fatalf("history --json update row: %+v", rows[2])
	}

	if _, stderr, code := runCmd(t, "history", "nosuch", "1.0", "--data", dir); code != 1 || !strings.Contains(stderr, "no such tree") && !strings.Contains(stderr, "nosuch") {
		t.Fatalf("history of an unknown tree: %d %s", code, stderr)
	}
	if _, _, code := runCmd(t, "history", "parts", "--data", dir); code != 2 {
		t.Fatalf("history without KEY: exit %d, want 2", code)
	}
	if out, _, code := runCmd(t, "history", "parts", "999.0", "--data", dir); code != 0 || !strings.Contains(out, "no history of parts/999.0") {
		t.Fatalf("history of a record never made: %d %s", code, out)
	}

	s.stop(t)
	stopped, stderr, code := runCmd(t, "history", "parts", k.String(), "--data", dir)
	if code != 0 || stopped != running {
		t.Fatalf("history of a stopped store: %d %s\n%s\nwant\n%s", code, stderr, stopped, running)
	}
}

func TestHistoryFlags(t *testing.T) {
	t.Setenv("HILLS_HISTORY_KEEP", "50")
	t.Setenv("HILLS_HISTORY_MAX_AGE", "720h")
	c, err := parseServe(nil, io.Discard)
	if err != nil || c.historyKeep != 50 || c.historyMaxAge != 720*time.Hour {
		t.Fatalf("from the environment: %+v %v", c.historyFlags, err)
	}
	c, err = parseServe([]string{"--history-keep", "7", "--history-max-age", "1h"}, io.Discard)
	if err != nil || c.historyKeep != 7 || c.historyMaxAge != time.Hour {
		t.Fatalf("flags over the environment: %+v %v", c.historyFlags, err)
	}
	for _, args := range [][]string{{"--history-max-age", "-1h"}, {"--history-keep", "lots"}} {
		if _, err := parseServe(args, io.Discard); err == nil {
			t.Fatalf("%v accepted", args)
		}
	}
	t.Setenv("HILLS_HISTORY_KEEP", "many")
	if _, err := parseServe(nil, io.Discard); err == nil || !strings.Contains(err.Error(), "HILLS_HISTORY_KEEP") {
		t.Fatalf("a bad HILLS_HISTORY_KEEP: %v", err)
	}
}
