package testrig

import (
	"log/slog"

	"github.com/sealpost/sealpost/internal/server"
)

// attachBlobs attaches the blob store part. The blob store is not in the
// tree yet; the rig runs without it.
func (r *Rig) attachBlobs(srv *server.Server, dataDir string, log *slog.Logger) error {
	return nil
}

// HasBlobs reports whether the rig serves a blob store.
func (r *Rig) HasBlobs() bool { return false }
