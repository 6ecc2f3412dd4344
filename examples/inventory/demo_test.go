package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hillsdb/hills/internal/testkit"
)

// The demo as a user runs it (scripts/demo.sh, the README's command) on a
// 1920×1080 X display: it opens three windows side by side, each shows
// the seeded parts (read back from a screenshot with OCR), and SIGTERM
// stops everything with status 0 and removes the demo's data. Skipped
// with -short (it builds the programs and runs them for real).
// HILLS_LONG=1 runs it 20 times in a row.
func TestDemoScript(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the demo builds and runs the programs")
	}
	runs := 1
	if os.Getenv("HILLS_LONG") == "1" {
		runs = 20
	}
	for _, tool := range []string{"xdotool", "tesseract", "import", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: scripts/deps.sh installs it", tool)
		}
	}
	testkit.DisplayOfSize(t, 1920, 1080)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for i := range runs {
		t.Logf("run %d", i+1)
		runDemo(t, root)
	}
}

// runDemo runs scripts/demo.sh once on the display and stops it.
func runDemo(t *testing.T, root string) {
	t.Helper()
	cmd := exec.Command("bash", "scripts/demo.sh")
	cmd.Dir = root
	out := &testkit.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 10 * time.Second // the programs it started may hold its output open
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Signal(syscall.SIGTERM) // its cleanup stops what it started
			<-exited
		}
	}()
	deadline := time.Now().Add(4 * time.Minute) // it may build the programs first
	for !strings.Contains(out.String(), "windows laid out") {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("the demo ended: %v\n%s", err, out)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not lay out its windows:\n%s", out)
		}
	}
	if n := testkit.Windows(t); n != 3 {
		t.Fatalf("%d windows on the display, want 3 (alice, bob, the viewer)", n)
	}
	// Side by side: alice top left, bob top right, the viewer below.
	want := map[string][2]int{"Inventory.*alice$": {0, 0}, "Inventory.*bob$": {960, 0}, "^hills viewer$": {0, 540}}
	for name, pos := range want {
		x, y := windowAt(t, name)
		if x != pos[0] || y != pos[1] {
			t.Errorf("window %q at %d,%d, want %d,%d", name, x, y, pos[0], pos[1])
		}
	}
	// The seeded parts are on the screen: alice's and bob's windows search
	// STM32 and select STM32F103C8T6.
	png := filepath.Join(t.TempDir(), "demo.png")
	var text string
	testkit.Until(t, "the seeded parts on the screen", func() bool {
		if err := exec.Command("import", "-window", "root", png).Run(); err != nil {
			return false
		}
		b, err := exec.Command("tesseract", png, "-").Output()
		text = string(b)
		return err == nil && strings.Count(text, "STM32F103C8T6") >= 2 && strings.Contains(text, "STM32F411CEU6") &&
			strings.Contains(text, "parts")
	})

	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("the demo after SIGTERM: %v\n%s", err, out)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the demo did not stop on SIGTERM:\n%s", out)
	}
	t.Logf("the demo stopped in %v", time.Since(start))
	if n := testkit.Windows(t); n != 0 {
		t.Errorf("%d windows left after the demo stopped", n)
	}
	m := regexp.MustCompile(`removed (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the demo did not say it removed its data:\n%s", out)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("the demo's data %s is left: %v", m[1], err)
	}
}

// windowAt returns the position of the window whose name matches name.
func windowAt(t *testing.T, name string) (x, y int) {
	t.Helper()
	b, err := exec.Command("xdotool", "search", "--name", name, "getwindowgeometry", "--shell").Output()
	if err != nil {
		t.Fatalf("xdotool search %q: %v", name, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "X="); ok {
			x, _ = strconv.Atoi(v)
		}
		if v, ok := strings.CutPrefix(l, "Y="); ok {
			y, _ = strconv.Atoi(v)
		}
	}
	return x, y
}
