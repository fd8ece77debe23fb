// Package directio turns Linux direct I/O (O_DIRECT) on and off for an open
// file: writes then go from the caller's buffer to the device, not through
// the page cache, which saves a copy per byte for large sequential files
// (the blob store's chunks, a downloaded attachment). Buffers, offsets and
// lengths must then be aligned to the device's logical block size (4096
// is safe); the caller switches direct I/O off for an unaligned tail.
// Outside Linux, and on file systems without direct I/O, Set reports false
// and the caller writes through the page cache as usual.
package directio

import (
	"os"
	"syscall"
)

// Set turns direct I/O on or off for f and reports whether f is now in
// direct mode.
func Set(f *os.File, on bool) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	rc.Control(func(fd uintptr) {
		flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		if errno != 0 {
			return
		}
		if on {
			flags |= syscall.O_DIRECT
		} else {
			flags &^= syscall.O_DIRECT
		}
		_, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETFL, flags)
		ok = errno == 0
	})
	return ok && on
}
