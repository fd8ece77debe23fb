package embedded

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
	"github.com/sealpost/sealpost/internal/relay/mailbox/mailboxtest"
)

func TestConformance(t *testing.T) {
	root := t.TempDir()
	mailboxtest.Run(t, mailboxtest.Harness{
		Open: func(t *testing.T, name string, now func() time.Time) mailbox.Mailbox {
			s, err := Open(filepath.Join(root, name), Options{Now: now, SegmentSize: 4 << 10})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Settle: func(t *testing.T, m mailbox.Mailbox) {
			s := m.(*Store)
			s.Sweep()
			if err := s.Compact(context.Background()); err != nil {
				t.Fatal(err)
			}
		},
	})
}

// The same suite on the power-loss file layer, with tiny segments so that
// rolls and compactions happen all the time.
func TestConformanceCrashFS(t *testing.T) {
	fs := NewCrashFS(1)
	mailboxtest.Run(t, mailboxtest.Harness{
		Open: func(t *testing.T, name string, now func() time.Time) mailbox.Mailbox {
			s, err := Open(name, Options{Now: now, FS: fs, SegmentSize: 1 << 10, CacheBytes: 1 << 10})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Settle: func(t *testing.T, m mailbox.Mailbox) {
			s := m.(*Store)
			s.Sweep()
			if err := s.Compact(context.Background()); err != nil {
				t.Fatal(err)
			}
		},
	})
}
