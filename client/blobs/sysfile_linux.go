package blobs

import (
	"os"
	"syscall"
)

// startWriteback asks Linux to start writing [off, off+n) of f to disk
// (sync_file_range with SYNC_FILE_RANGE_WRITE: it does not wait, and it
// promises nothing; the final fsync does).
func startWriteback(f *os.File, off, n int64) {
	const syncFileRangeWrite = 2 // SYNC_FILE_RANGE_WRITE
	syscall.SyncFileRange(int(f.Fd()), off, n, syncFileRangeWrite)
}

// setDirect turns direct I/O (O_DIRECT: writes go from the caller's buffer
// to the device, not through the page cache) on or off for f, and reports
// whether f is now in that mode. File systems without direct I/O refuse it.
// (The server's fs backend has the same helper; the SDK does not link it.)
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
