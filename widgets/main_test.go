package widgets

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// Headless rendering needs no X server with Mesa's surfaceless EGL
	// platform; set before the first headless.NewWindow.
	if os.Getenv("EGL_PLATFORM") == "" {
		os.Setenv("EGL_PLATFORM", "surfaceless")
	}
	code := m.Run()
	for _, bt := range benchTrees {
		bt.d.Close()
	}
	for _, dir := range benchDirs {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}
