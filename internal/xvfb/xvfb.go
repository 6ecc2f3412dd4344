// Package xvfb starts virtual X displays for tests that open windows.
package xvfb

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Start starts Xvfb on a display number it picks and points DISPLAY at it
// for the rest of the test. Xvfb names the number on a pipe once it accepts
// clients (-displayfd). The test is skipped when Xvfb is not installed.
func Start(t testing.TB) {
	t.Helper()
	n, err := strconv.Atoi(run(t, "-displayfd", "3"))
	if err != nil {
		t.Fatalf("Xvfb named no display number: %v", err)
	}
	Use(t, n)
}

// StartOn starts Xvfb on display :n and returns once it accepts clients;
// DISPLAY is left as it is.
func StartOn(t testing.TB, n int) {
	t.Helper()
	run(t, ":"+strconv.Itoa(n), "-displayfd", "3")
}

// FreeDisplay returns a display number no X server holds now.
func FreeDisplay(t testing.TB) int {
	t.Helper()
	for n := 500 + os.Getpid()%400; n < 2000; n += 7 {
		if _, err := os.Stat("/tmp/.X" + strconv.Itoa(n) + "-lock"); err != nil {
			return n
		}
	}
	t.Fatal("no free X display number")
	return 0
}

// Use points DISPLAY at :n for the rest of the test, with no Wayland.
func Use(t testing.TB, n int) {
	t.Setenv("DISPLAY", ":"+strconv.Itoa(n))
	t.Setenv("WAYLAND_DISPLAY", "")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("Xvfb")
	if err != nil {
		t.Skip("Xvfb is not installed (apt-get install xvfb): the test needs an X display")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd := exec.Command(bin, append(args, "-screen", "0", "1280x800x24", "-nolisten", "tcp")...)
	cmd.ExtraFiles = []*os.File{pw} // fd 3
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		pw.Close()
		t.Fatalf("Xvfb: %v", err)
	}
	pw.Close()
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// SIGTERM lets Xvfb remove its socket and lock file.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(pr).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case n := <-got:
		if n == "" {
			<-exited
			t.Fatalf("Xvfb gave no display: %s", stderr.String())
		}
		return n
	case <-time.After(20 * time.Second):
		t.Fatalf("Xvfb did not start in 20 s: %s", stderr.String())
	}
	return ""
}
