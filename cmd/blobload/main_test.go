package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/internal/blobs"
	"github.com/sealpost/sealpost/internal/blobs/storage/fs"
	"github.com/sealpost/sealpost/internal/directory"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
	dirstorage "github.com/sealpost/sealpost/internal/directory/storage"
	"github.com/sealpost/sealpost/internal/directory/storage/sqlite"
	"github.com/sealpost/sealpost/internal/reqsign"
	srvpkg "github.com/sealpost/sealpost/internal/server"
)

// directoryDevices adapts the in-process directory for the blob store.
type directoryDevices struct{ *directory.Service }

func (d directoryDevices) Account(ctx context.Context, keyID string) (string, error) {
	return accountOf(ctx, d.Service, keyID)
}

// TestRunAgainstServer runs blobload with a small object against an
// in-process node (directory on SQLite, blob store on files) through its
// --url mode.
func TestRunAgainstServer(t *testing.T) {
	dir := t.TempDir()
	srv, err := srvpkg.New(srvpkg.Config{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	outbox := filepath.Join(dir, "outbox")
	dsvc, err := directory.New(context.Background(), directory.Config{Store: store, Sender: directory.Outbox{Dir: outbox}, Limits: &directory.Limits{}})
	if err != nil {
		t.Fatal(err)
	}
	defer dsvc.Close()
	dsvc.Register(srv.Mux())
	bstore, err := fs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	bsvc, err := blobs.New(blobs.Config{Store: bstore, Devices: directoryDevices{dsvc}, Limits: &blobs.Limits{}, SweepEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer bsvc.Close()
	bsvc.Register(srv.Mux())
	addr := make(chan net.Addr, 1)
	go srv.ListenAndServe(func(a net.Addr) { addr <- a })
	defer srv.Shutdown(context.Background())
	a := <-addr
	var out bytes.Buffer
	err = run(config{url: "https://" + a.String(), ca: filepath.Join(dir, "ca.pem"), outbox: outbox,
		size: 2*5<<20 + 3, parallel: 2, dir: t.TempDir(), rounds: 2, noPrims: true}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "sha256 of the received file matches") != 2 {
		t.Fatalf("output:\n%s", out.String())
	}
	t.Log(out.String())
}

func accountOf(ctx context.Context, d *directory.Service, keyID string) (string, error) {
	id, derr := dirapi.ParseDeviceID(keyID)
	if derr != nil {
		return "", reqsign.ErrUnknown
	}
	dev, err := d.DeviceByIdentity(ctx, dirstorage.DeviceID(id))
	if errors.Is(err, dirstorage.ErrNotFound) {
		return "", reqsign.ErrUnknown
	}
	return dev.Account, err
}

// TestFloors: the floor of each direction counts each primitive the
// transfer cannot avoid once per pass over the data.
func TestFloors(t *testing.T) {
	p := primitives{ctr: 1, sha1: 10, sha256: 100, gcmSeal: 1000, gcmOpen: 10000}
	up, down := p.floors()
	// Up: client AES, SHA-1, SHA-256; TLS seal and open; server SHA-256 and SHA-1.
	// Down: TLS seal and open; client AES and SHA-1.
	if up != 1+2*10+2*100+1000+10000 || down != 1000+10000+1+10 {
		t.Fatalf("floors %d, %d", up, down)
	}
}
