//go:build !linux

package fs

import "os"

// setDirect reports that direct I/O is not used: outside Linux chunks are
// written through the page cache.
func setDirect(f *os.File, on bool) bool { return false }
