package blobs

import (
	"context"
	"io"

	"github.com/sealpost/sealpost/internal/blobs/storage"
)

// objectReaderAt is an io.ReaderAt over a committed object, for
// attachment.Verify. Verify reads front to back, so one stream from the
// store serves every call; a read elsewhere reopens it there.
type objectReaderAt struct {
	ctx   context.Context
	store storage.Store
	id    string
	size  int64
	r     io.ReadCloser
	pos   int64
}

func (o *objectReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= o.size {
		return 0, io.EOF
	}
	if o.r == nil || off != o.pos {
		o.Close()
		r, err := o.store.Open(o.ctx, o.id, off, o.size-off)
		if err != nil {
			return 0, err
		}
		o.r, o.pos = r, off
	}
	want := min(int64(len(p)), o.size-off)
	n, err := io.ReadFull(o.r, p[:want])
	o.pos += int64(n)
	if err != nil {
		o.Close()
		return n, err
	}
	if want < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

func (o *objectReaderAt) Close() error {
	if o.r == nil {
		return nil
	}
	err := o.r.Close()
	o.r = nil
	return err
}
