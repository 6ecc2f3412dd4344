//go:build !unix

package netsync

// freeSpace is unknown here: the store's own errors say when it is full.
var freeSpace func(dir string) (int64, error)
