package blobs

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a log sink safe for the service's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A blob's ID is the capability to download it: the logs of an upload, a
// refused upload and a removal name blobs by their tag only.
func TestLogsHoldNoBlobID(t *testing.T) {
	var logs lockedBuffer
	e := newEnv(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	good := newBlob(t, 1, 6<<20)
	up := e.upload(e.dev, good)
	bad := newBlob(t, 2, 1<<20)
	bad.sum.Signature[len(bad.sum.Signature)-1] ^= 1
	up2 := e.create(e.dev, bad)
	e.putChunk(up2, 0, bad.chunk(0))
	if r := e.complete(up2); r.status == 200 {
		t.Fatal("a blob with a wrong signature completed")
	}
	out := logs.String()
	for _, id := range []string{up.ID, up2.ID} {
		if strings.Contains(out, id) {
			t.Fatalf("the logs hold a blob ID:\n%s", out)
		}
		if !strings.Contains(out, logID(id).Value.String()) {
			t.Fatalf("the logs do not name blob %s by its tag:\n%s", logID(id).Value, out)
		}
	}
}
