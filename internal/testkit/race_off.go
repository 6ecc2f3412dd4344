//go:build !race

package testkit

// Race reports whether the race detector is on: it slows a program down
// several times, which deadlines in tests allow for.
const Race = false
