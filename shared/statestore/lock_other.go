//go:build !unix && !windows

package statestore

import "os"

// Platforms without file locks in the standard library (Plan 9, WASI, js)
// protect a folder within one process only (stripeMu).
func lockFile(*os.File) error   { return nil }
func unlockFile(*os.File) error { return nil }
