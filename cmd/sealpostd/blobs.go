package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sealpost/sealpost/internal/blobs"
	"github.com/sealpost/sealpost/internal/blobs/storage"
	"github.com/sealpost/sealpost/internal/blobs/storage/backend"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
	dirstorage "github.com/sealpost/sealpost/internal/directory/storage"
	"github.com/sealpost/sealpost/internal/ratelimit"
	"github.com/sealpost/sealpost/internal/reqsign"
	"github.com/sealpost/sealpost/internal/server"
)

// The blob store: encrypted attachments and long texts under /v1/blobs and
// /v1/uploads/ (docs/api/blobs.md). Storage is files in <data>/blobs
// unless --blob-store names a folder or an S3 bucket. Uploads are signed by
// devices registered in the directory, which this part reaches through
// attachedDirectory when a request arrives (this file's part attaches
// before the directory's).
func init() {
	parts = append(parts, part{name: "blob store", flags: blobFlags, attach: blobAttach})
}

var blobCfg struct {
	store      string
	maxSize    string
	quota      string
	ttl        time.Duration
	uploadTTL  time.Duration
	publicURL  string
	presign    bool
	buffers    int
	createRate string
	addrRate   string
	noLimits   bool
}

// s3Buffers is --blob-buffers' default with S3: the SDK holds buffers of
// its own for each part in flight, and with more than 3 chunks at once the
// server's peak memory passed 64 MiB (65.6-67.2 MiB with 5, against 54-55
// with 3 or 4), for no faster uploads to versitygw on loopback.
const s3Buffers = 3

func blobFlags(fs *flag.FlagSet) {
	fs.StringVar(&blobCfg.store, "blob-store", "",
		"blob storage: empty for files in <data>/"+backend.DefaultDir+", a folder (/path or file:///path), or s3://KEY:SECRET@host[:port]/bucket[/prefix][?region=R&tls=false]")
	fs.StringVar(&blobCfg.maxSize, "blob-max-size", "2GiB", "largest blob (bytes, or with KiB, MiB, GiB, TiB)")
	fs.StringVar(&blobCfg.quota, "blob-quota", "20GiB", "bytes each account may have stored or uploading at once, or off")
	fs.DurationVar(&blobCfg.ttl, "blob-ttl", blobs.DefaultTTL, "how long a blob is kept after its upload completes")
	fs.DurationVar(&blobCfg.uploadTTL, "blob-upload-ttl", blobs.DefaultUploadTTL, "how long an unfinished upload is kept")
	fs.StringVar(&blobCfg.publicURL, "blob-url", "",
		"public base URL of this node for blob URIs (https://host[:port]); empty: the Host the client used")
	fs.BoolVar(&blobCfg.presign, "blob-presign", false, "answer downloads with a redirect to a presigned S3 URL (S3 only)")
	fs.IntVar(&blobCfg.buffers, "blob-buffers", 0,
		"chunks received, checked and stored at once, 5 MiB of memory each (0: "+strconv.Itoa(blobs.DefaultBuffers)+" with files, "+strconv.Itoa(s3Buffers)+" with S3)")
	fs.StringVar(&blobCfg.createRate, "blob-upload-limit", blobs.DefaultLimits.Create.String(),
		"uploads started per device: RATE:BURST (per second : bucket) or off")
	fs.StringVar(&blobCfg.addrRate, "blob-addr-limit", blobs.DefaultLimits.Addr.String(),
		"chunk, status and download requests per client address: RATE:BURST or off")
	fs.BoolVar(&blobCfg.noLimits, "blob-no-limits", false, "turn every blob store rate limit off (load tests on loopback only)")
}

// parseBytes reads a size: a number of bytes, optionally with a binary
// unit (KiB, MiB, GiB, TiB) or "off" (returned as -1) when offOK.
func parseBytes(s string, offOK bool) (int64, error) {
	if offOK && s == "off" {
		return -1, nil
	}
	num, mult := s, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q: want a positive number of bytes, e.g. 2GiB or 500MiB", s)
	}
	return n * mult, nil
}

// dirDevices answers the blob store's questions about devices from the
// attached directory.
type dirDevices struct{}

func (dirDevices) SigningKey(keyID string) (*ecdsa.PublicKey, error) {
	d := attachedDirectory
	if d == nil {
		return nil, reqsign.ErrUnknown
	}
	return d.SigningKey(keyID)
}

func (dirDevices) Account(ctx context.Context, keyID string) (string, error) {
	d := attachedDirectory
	if d == nil {
		return "", reqsign.ErrUnknown
	}
	id, derr := dirapi.ParseDeviceID(keyID)
	if derr != nil {
		return "", reqsign.ErrUnknown
	}
	dev, err := d.DeviceByIdentity(ctx, dirstorage.DeviceID(id))
	if errors.Is(err, dirstorage.ErrNotFound) {
		return "", reqsign.ErrUnknown
	}
	if err != nil {
		return "", err
	}
	return dev.Account, nil
}

type blobPart struct {
	svc   *blobs.Service
	store storage.Store
}

func (b *blobPart) Close() error { return errors.Join(b.svc.Close(), b.store.Close()) }

func blobAttach(srv *server.Server) (io.Closer, error) {
	log := srv.Logger()
	maxSize, err := parseBytes(blobCfg.maxSize, false)
	if err != nil {
		return nil, fmt.Errorf("--blob-max-size %v", err)
	}
	quota, err := parseBytes(blobCfg.quota, true)
	if err != nil {
		return nil, fmt.Errorf("--blob-quota %v", err)
	}
	limits := blobs.DefaultLimits
	if blobCfg.noLimits {
		limits = blobs.Limits{}
	} else {
		if limits.Create, err = ratelimit.ParseLimit(blobCfg.createRate); err != nil {
			return nil, fmt.Errorf("--blob-upload-limit: %w", err)
		}
		if limits.Addr, err = ratelimit.ParseLimit(blobCfg.addrRate); err != nil {
			return nil, fmt.Errorf("--blob-addr-limit: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, desc, err := backend.Open(ctx, blobCfg.store, srv.Config().DataDir)
	if err != nil {
		return nil, err
	}
	buffers := blobCfg.buffers
	if buffers == 0 {
		buffers = blobs.DefaultBuffers
		if sp, _ := backend.Parse(blobCfg.store, srv.Config().DataDir); sp.S3 != nil {
			buffers = s3Buffers
		}
	}
	svc, err := blobs.New(blobs.Config{
		Store: store, Devices: dirDevices{}, BaseURL: blobCfg.publicURL,
		MaxSize: maxSize, Quota: quota, TTL: blobCfg.ttl, UploadTTL: blobCfg.uploadTTL,
		Buffers: buffers, Limits: &limits, Presign: blobCfg.presign, Logger: log,
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	svc.Register(srv.Mux())
	attachedBlobs = store
	log.Info("blob store: serving /v1/blobs", "storage", desc, "max_size", maxSize, "quota", quota,
		"ttl", blobCfg.ttl.String(), "presign", blobCfg.presign)
	return &blobPart{svc: svc, store: store}, nil
}
