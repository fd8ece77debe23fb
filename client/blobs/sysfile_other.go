//go:build !linux

package blobs

import "os"

// startWriteback does nothing where sync_file_range does not exist; the
// final fsync writes everything.
func startWriteback(f *os.File, off, n int64) {}

// setDirect reports that direct I/O is not used: outside Linux the
// plaintext is written through the page cache.
func setDirect(f *os.File, on bool) bool { return false }
