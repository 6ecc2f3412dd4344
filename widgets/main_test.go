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
	os.Exit(m.Run())
}
