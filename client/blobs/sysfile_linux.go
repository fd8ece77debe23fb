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
