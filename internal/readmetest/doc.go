// Package readmetest has no code: its tests run the commands the README
// gives, from the repository's root, so the README stays true. They build
// the commands with the go tool on PATH.
package readmetest
