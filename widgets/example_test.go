package widgets_test

import (
	"fmt"

	"github.com/hillsdb/hills/widgets"
)

// A watcher asks for one frame however many changes arrive before it.
func ExampleWatcher() {
	frames := 0
	w := widgets.NewWatcher(func() { frames++ }) // e.g. window.Invalidate
	defer w.Close()
	w.Notify()
	w.Notify()
	w.Notify()
	fmt.Println(frames, w.Frame()) // the frame starts: re-arm
	w.Notify()
	fmt.Println(frames)
	// Output:
	// 1 true
	// 2
}
