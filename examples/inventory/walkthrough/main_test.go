package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestWalkthrough runs the demo's headless walk-through end to end: a
// real server on loopback and two replicas.
func TestWalkthrough(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	for _, s := range []string{
		"1. server: listening on 127.0.0.1:",
		"2. alice: connected; seeded 300 parts and 4 BOMs",
		"3. bob: connected; his replica holds 300 parts",
		"5. alice checks STM32F103C8T6 out; bob sees it held by \"alice\"",
		"6. bob tries to edit it without the check-out: refused",
		"7. bob asks for the check-out: he waits, number 1 in the queue",
		"at C2-07 (last change by alice)",
		"12. alice sees the new quantity",
		"-25 by bob (board 1 of PCB-1004)",
		"13. alice revises released BOM 1.0: draft 1.1",
		"done:",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q", s)
		}
	}
}

func TestBadFlag(t *testing.T) {
	if err := run(context.Background(), []string{"-nope"}, &bytes.Buffer{}); err == nil {
		t.Fatal("bad flag accepted")
	}
}
