package testkit

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDisplayAcceptsClients(t *testing.T) {
	name := Display(t)
	if got := os.Getenv("DISPLAY"); got != name {
		t.Fatalf("DISPLAY %q, want %q", got, name)
	}
	if v, ok := os.LookupEnv("WAYLAND_DISPLAY"); ok {
		t.Fatalf("WAYLAND_DISPLAY is set: %q", v)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(name, ":"))
	if err != nil {
		t.Fatal(err)
	}
	// Clients that come and go are accepted at once, each time: the
	// server does not reset when its last client leaves.
	for i := range 50 {
		if err := setupX(n, time.Now().Add(5*time.Second)); err != nil {
			t.Fatalf("connection %d: %v", i+2, err)
		}
	}
	if w := Windows(t); w != 0 {
		t.Fatalf("a new display has %d windows", w)
	}
}

// The probe fails on a display nobody serves.
func TestSetupXWithoutServer(t *testing.T) {
	for n := 3000; n < 3100; n++ {
		if _, err := os.Stat("/tmp/.X" + strconv.Itoa(n) + "-lock"); err == nil {
			continue
		}
		if err := setupX(n, time.Now().Add(time.Second)); err == nil {
			t.Fatalf("setup on display :%d with no server succeeded", n)
		}
		return
	}
}

func TestLockedBuffer(t *testing.T) {
	var b LockedBuffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("x"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := len(b.String()); n != 400 {
		t.Fatalf("%d bytes, want 400", n)
	}
}

func TestUntil(t *testing.T) {
	start := time.Now()
	Until(t, "a moment", func() bool { return time.Since(start) > 20*time.Millisecond })
}
