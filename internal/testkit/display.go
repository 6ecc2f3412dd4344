package testkit

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Display starts a virtual X server (Xvfb, 1280×800, 24 bits) for the rest
// of the test and returns its display name (":N"). It returns once the
// server has completed the X connection setup with a real client, so a
// window opened next does not depend on how fast the server starts. For
// the rest of the test DISPLAY names it, WAYLAND_DISPLAY is unset and
// XDG_RUNTIME_DIR is a temporary directory, so the window library finds
// no Wayland compositor and uses X. The test is skipped when Xvfb is not
// installed; Display cannot be used by parallel tests (it sets the
// environment).
func Display(t testing.TB) string {
	t.Helper()
	return DisplayOfSize(t, 1280, 800)
}

// DisplayOfSize is Display with a screen of w×h pixels.
func DisplayOfSize(t testing.TB, w, h int) string {
	t.Helper()
	bin, err := exec.LookPath("Xvfb")
	if err != nil {
		t.Skip("Xvfb is not installed (apt-get install xvfb): the test needs an X display")
	}
	n, exited := startXvfb(t, bin, fmt.Sprintf("%dx%dx24", w, h))
	name := ":" + strconv.Itoa(n)
	if err := probeX(t, n, exited); err != nil {
		t.Fatalf("X display %s: %v", name, err)
	}
	t.Setenv("DISPLAY", name)
	t.Setenv("WAYLAND_DISPLAY", "") // restored at cleanup...
	os.Unsetenv("WAYLAND_DISPLAY")  // ...and unset meanwhile
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	return name
}

// startXvfb starts Xvfb on a display number it picks itself and returns
// the number, which Xvfb writes on a pipe (-displayfd) once it listens,
// and a channel closed when the process ends. Cleanup stops it.
func startXvfb(t testing.TB, bin, screen string) (int, <-chan struct{}) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	// -noreset: by default an X server resets when its last client
	// leaves, and refuses or drops connections meanwhile; the probe
	// below, a screenshot or a closed window would each be the last
	// client for a moment, and the next window would meet a reset.
	cmd := exec.Command(bin, "-displayfd", "3", "-screen", "0", screen, "-nolisten", "tcp", "-noreset")
	cmd.ExtraFiles = []*os.File{pw} // fd 3
	stderr := &LockedBuffer{}
	cmd.Stderr = stderr
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
		case <-time.After(Timeout):
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
	case s := <-got:
		n, err := strconv.Atoi(s)
		if err != nil {
			<-exited // the pipe closed without a number: Xvfb ended
			t.Fatalf("Xvfb named no display (%q): %s", s, stderr)
		}
		return n, exited
	case <-time.After(Timeout):
		t.Fatalf("Xvfb named no display in %v: %s", Timeout, stderr)
	}
	return 0, nil
}

// probeX connects to display n as an X client does and waits for the
// server to accept the connection setup; it tries again while the server
// still refuses, until Timeout, the test's end or Xvfb's exit.
func probeX(t testing.TB, n int, exited <-chan struct{}) error {
	deadline := time.Now().Add(Timeout)
	for {
		err := setupX(n, deadline)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("Xvfb exited: %w", err)
		case <-t.Context().Done():
			return t.Context().Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no X connection in %v: %w", Timeout, err)
		}
	}
}

// setupX makes one X connection to display n and checks that the server
// accepts the setup request.
func setupX(n int, deadline time.Time) error {
	c, _, err := dialX(n, deadline)
	if err == nil {
		c.Close()
	}
	return err
}

// dialX connects to display n over its Unix socket (or the abstract one),
// makes the connection setup and returns the connection with the setup
// reply's data (after its 8-byte header).
func dialX(n int, deadline time.Time) (net.Conn, []byte, error) {
	path := "/tmp/.X11-unix/X" + strconv.Itoa(n)
	c, err := net.DialTimeout("unix", path, time.Until(deadline))
	if err != nil {
		var aerr error
		if c, aerr = net.DialTimeout("unix", "@"+path, time.Until(deadline)); aerr != nil {
			return nil, nil, errors.Join(err, aerr)
		}
	}
	c.SetDeadline(deadline)
	fail := func(err error) (net.Conn, []byte, error) {
		c.Close()
		return nil, nil, err
	}
	// Connection setup, little-endian: protocol 11.0, no authorization.
	req := []byte{'l', 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if _, err := c.Write(req); err != nil {
		return fail(err)
	}
	var head [8]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return fail(fmt.Errorf("setup reply: %w", err))
	}
	data := make([]byte, 4*int(binary.LittleEndian.Uint16(head[6:])))
	if _, err := io.ReadFull(c, data); err != nil {
		return fail(fmt.Errorf("setup reply: %w", err))
	}
	switch head[0] {
	case 1: // Success
		return c, data, nil
	case 0: // Failed, with a reason
		return fail(fmt.Errorf("the server refused the connection: %s", data[:min(int(head[1]), len(data))]))
	case 2:
		return fail(errors.New("the server asks for authentication"))
	}
	return fail(fmt.Errorf("setup reply status %d", head[0]))
}

// Windows returns how many top-level windows the display named by
// DISPLAY (":N", as Display sets it) has: the children of the first
// screen's root window.
func Windows(t testing.TB) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimPrefix(os.Getenv("DISPLAY"), ":"))
	if err != nil {
		t.Fatalf("DISPLAY %q is not a local display", os.Getenv("DISPLAY"))
	}
	c, setup, err := dialX(n, time.Now().Add(Timeout))
	if err != nil {
		t.Fatalf("X display :%d: %v", n, err)
	}
	defer c.Close()
	// The setup data: 32 bytes of fixed fields, the vendor name padded
	// to 4 bytes, 8 bytes per pixmap format, then the screens, each
	// starting with its root window.
	if len(setup) < 32 {
		t.Fatalf("X setup data of %d bytes", len(setup))
	}
	vendor := int(binary.LittleEndian.Uint16(setup[16:]))
	formats := int(setup[21])
	off := 32 + (vendor+3)&^3 + 8*formats
	if len(setup) < off+4 {
		t.Fatalf("X setup data of %d bytes has no screen", len(setup))
	}
	root := binary.LittleEndian.Uint32(setup[off:])
	// QueryTree (opcode 15) of the root window.
	req := make([]byte, 8)
	req[0] = 15
	binary.LittleEndian.PutUint16(req[2:], 2) // length in 4-byte units
	binary.LittleEndian.PutUint32(req[4:], root)
	if _, err := c.Write(req); err != nil {
		t.Fatalf("X QueryTree: %v", err)
	}
	var reply [32]byte
	if _, err := io.ReadFull(c, reply[:]); err != nil {
		t.Fatalf("X QueryTree reply: %v", err)
	}
	if reply[0] != 1 {
		t.Fatalf("X QueryTree: error %d", reply[1])
	}
	return int(binary.LittleEndian.Uint16(reply[16:]))
}

// SignalStops starts the program newCmd makes, n times, on the display
// Display set up: each time it waits for the program's window, clicks at
// each point of clicks (with xdotool, when installed), sends SIGTERM, and
// fails the test unless the program exits with status 0 within 2 s and
// left its window nowhere, with nothing on stderr from the display
// libraries (Wayland or XDG_RUNTIME_DIR complaints on X11). With the race
// detector (a program several times slower) the limit is 5 s.
func SignalStops(t *testing.T, n int, newCmd func() *exec.Cmd, clicks ...[2]int) {
	t.Helper()
	xdotool, _ := exec.LookPath("xdotool")
	for i := range n {
		cmd := newCmd()
		stderr := &LockedBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		Until(t, "the program's window", func() bool {
			select {
			case err := <-exited:
				t.Fatalf("run %d: the program exited before its window opened: %v\n%s", i, err, stderr)
			default:
			}
			return Windows(t) > 0
		})
		for _, p := range clicks {
			if xdotool != "" {
				exec.Command(xdotool, "mousemove", strconv.Itoa(p[0]), strconv.Itoa(p[1]), "click", "1").Run()
			}
		}
		start := time.Now()
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("run %d: after SIGTERM: %v\n%s", i, err, stderr)
			}
			limit := 2 * time.Second
			if Race {
				limit = 5 * time.Second
			}
			if d := time.Since(start); d > limit {
				t.Fatalf("run %d: the program took %v to stop", i, d)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("run %d: the program did not stop on SIGTERM within 10 s\n%s", i, stderr)
		}
		if s := stderr.String(); strings.Contains(s, "XDG_RUNTIME_DIR") || strings.Contains(s, "wayland") {
			t.Fatalf("run %d: display noise on stderr:\n%s", i, s)
		}
		Until(t, "no window left", func() bool { return Windows(t) == 0 })
	}
}
