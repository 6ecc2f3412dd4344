package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-dir", dir}, &out); err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("opened %s: tree \"parts\" holds 0 parts", dir),
		"created 1.0 RC0603FR-0710KL",
		"created 2.0 GRM188R71H104KA93D",
		"created 3.0 STM32F103C8T6",
		"updated 1.0 RC0603FR-0710KL: 4750 left, changed 2 times by bench-3",
		"   1.0  RC0603FR-0710KL      Yageo      4750  A1",
		"   2.0  GRM188R71H104KA93D   Murata     4000  A2",
		"   3.0  STM32F103C8T6        ST          120  C4",
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), strings.Join(want, "\n"))
	}

	// A second run on the same directory finds the first run's records.
	out.Reset()
	if err := run(context.Background(), []string{"-dir", dir}, &out); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"holds 3 parts", "created 4.0 RC0603FR-0710KL", "updated 4.0 RC0603FR-0710KL: 4750 left, changed 2 times",
		"   1.0  RC0603FR-0710KL      Yageo      4750  A1", "   6.0  STM32F103C8T6"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("second run's output lacks %q:\n%s", s, out.String())
		}
	}
}

func TestRunBadFlag(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-nope"}, &out); err == nil {
		t.Fatal("run with an unknown flag succeeded")
	}
}

// Without -dir it opens parts.db in the working directory, as the
// README's snippet does.
func TestRunDefaultDir(t *testing.T) {
	t.Chdir(t.TempDir())
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), `opened parts.db: tree "parts" holds 0 parts`) || !strings.Contains(out.String(), "created 3.0") {
		t.Fatalf("output:\n%s", out.String())
	}
	if fi, err := os.Stat("parts.db"); err != nil || !fi.IsDir() {
		t.Fatalf("parts.db: %v", err)
	}
}
