package fs

import (
	"os"
	"syscall"
)

// setDirect turns direct I/O (O_DIRECT: writes go from the caller's buffer
// to the device, not through the page cache) on or off for f, and reports
// whether f is now in that mode. File systems without direct I/O (tmpfs on
// older kernels) refuse it; the caller then writes through the page cache.
func setDirect(f *os.File, on bool) bool {
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
