package testrig

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"log/slog"
	"time"

	"github.com/sealpost/sealpost/internal/blobs"
	"github.com/sealpost/sealpost/internal/blobs/storage/backend"
	"github.com/sealpost/sealpost/internal/directory"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
	dirstorage "github.com/sealpost/sealpost/internal/directory/storage"
	"github.com/sealpost/sealpost/internal/reqsign"
	"github.com/sealpost/sealpost/internal/server"
)

// attachBlobs attaches the blob store: files in <data>/blobs, uploads
// signed by devices the directory knows, limits as the rig's.
func (r *Rig) attachBlobs(srv *server.Server, dataDir string, log *slog.Logger, defaultLimits bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, _, err := backend.Open(ctx, "", dataDir)
	if err != nil {
		return err
	}
	limits := blobs.Limits{}
	if defaultLimits {
		limits = blobs.DefaultLimits
	}
	svc, err := blobs.New(blobs.Config{Store: store, Devices: blobDevices{r.dir}, Limits: &limits, Logger: log})
	if err != nil {
		store.Close()
		return err
	}
	svc.Register(srv.Mux())
	r.closers = append(r.closers, store, svc) // closed in reverse: the service, then its store
	r.blobs = true
	return nil
}

// blobDevices answers the blob store's questions from the directory.
type blobDevices struct{ dir *directory.Service }

func (b blobDevices) SigningKey(keyID string) (*ecdsa.PublicKey, error) {
	return b.dir.SigningKey(keyID)
}

func (b blobDevices) Account(ctx context.Context, keyID string) (string, error) {
	id, derr := dirapi.ParseDeviceID(keyID)
	if derr != nil {
		return "", reqsign.ErrUnknown
	}
	dev, err := b.dir.DeviceByIdentity(ctx, dirstorage.DeviceID(id))
	if errors.Is(err, dirstorage.ErrNotFound) {
		return "", reqsign.ErrUnknown
	}
	if err != nil {
		return "", err
	}
	return dev.Account, nil
}

// HasBlobs reports whether the rig serves a blob store.
func (r *Rig) HasBlobs() bool { return r.blobs }
