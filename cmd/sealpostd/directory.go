package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/sealpost/sealpost/internal/directory"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
	"github.com/sealpost/sealpost/internal/directory/storage"
	"github.com/sealpost/sealpost/internal/directory/storage/backend"
	"github.com/sealpost/sealpost/internal/ratelimit"
	"github.com/sealpost/sealpost/internal/server"
)

// The identity directory: handles, devices and their public keys, under
// /v1/codes, /v1/registrations, /v1/lookup, /v1/account, /v1/devices/
// (docs/api/directory.md). Storage is SQLite in the data folder unless
// --directory-dsn names PostgreSQL.
func init() {
	parts = append(parts, part{name: "directory", flags: directoryFlags, attach: directoryAttach})
}

var directoryCfg struct {
	dsn        string
	smtp       string
	outbox     string
	maxDevices int
	lookup     string
	lookupAddr string
	noLimits   bool
	sessionTTL time.Duration
}

func directoryFlags(fs *flag.FlagSet) {
	fs.StringVar(&directoryCfg.dsn, "directory-dsn", "",
		"directory storage: empty for SQLite at <data>/"+backend.DefaultFile+", sqlite:///path/file.db, or postgres://user@host:5432/db")
	fs.StringVar(&directoryCfg.smtp, "smtp", "",
		"send e-mail verification codes through this SMTP server: smtp://[user:pass@]host[:port][?from=addr&tls=starttls|opportunistic|none] or smtps://...; empty writes them to the outbox")
	fs.StringVar(&directoryCfg.outbox, "directory-outbox", "",
		"folder where codes are written when no SMTP server (or no SMS gateway, for tel: handles) is configured (default <data>/outbox)")
	fs.IntVar(&directoryCfg.maxDevices, "directory-max-devices", dirapi.DefaultMaxDevices, "most devices per account")
	fs.StringVar(&directoryCfg.lookup, "directory-lookup-limit", directory.DefaultLimits.LookupDevice.String(),
		"handle lookups per device: RATE:BURST (handles per second : bucket) or off")
	fs.StringVar(&directoryCfg.lookupAddr, "directory-lookup-addr-limit", directory.DefaultLimits.LookupAddr.String(),
		"handle lookups per client address: RATE:BURST or off")
	fs.BoolVar(&directoryCfg.noLimits, "directory-no-limits", false,
		"turn every directory rate limit off (load tests on loopback only)")
	fs.DurationVar(&directoryCfg.sessionTTL, "directory-session-ttl", directory.DefaultSessionTTL, "lifetime of the session tokens in lookup answers")
}

// attachedDirectory is the directory service once its part has attached
// (nil before, or if it failed). Parts attach in the order of their files'
// names, so parts in later files (relay.go) can use it in their attach:
// DeviceByPushToken, DeviceByIdentity, SigningKey (a reqsign.KeyFunc) and
// CheckSessionToken; attachedDirectoryStore is its storage (the relay's
// fan-out check reads it).
var (
	attachedDirectory      *directory.Service
	attachedDirectoryStore storage.Store
)

type directoryPart struct {
	svc   *directory.Service
	store storage.Store
}

func (d *directoryPart) Close() error {
	return errors.Join(d.svc.Close(), d.store.Close())
}

func directoryAttach(srv *server.Server) (io.Closer, error) {
	log := srv.Logger()
	dataDir := srv.Config().DataDir
	limits := directory.DefaultLimits
	var err error
	if directoryCfg.noLimits {
		limits = directory.Limits{}
	} else {
		if limits.LookupDevice, err = ratelimit.ParseLimit(directoryCfg.lookup); err != nil {
			return nil, fmt.Errorf("--directory-lookup-limit: %w", err)
		}
		if limits.LookupAddr, err = ratelimit.ParseLimit(directoryCfg.lookupAddr); err != nil {
			return nil, fmt.Errorf("--directory-lookup-addr-limit: %w", err)
		}
	}
	outboxDir := directoryCfg.outbox
	if outboxDir == "" {
		outboxDir = filepath.Join(dataDir, "outbox")
	}
	outbox := directory.Outbox{Dir: outboxDir, Log: log}
	sender := directory.ByKind{Mail: outbox, Phone: outbox}
	if directoryCfg.smtp != "" {
		s, err := directory.ParseSMTP(directoryCfg.smtp)
		if err != nil {
			return nil, fmt.Errorf("--smtp: %w", err)
		}
		s.Log = log
		sender.Mail = s
		log.Info("directory: e-mail codes go through SMTP; phone codes to the outbox", "smtp", s.String(), "outbox", outboxDir)
	} else {
		log.Info("directory: verification codes go to the outbox", "outbox", outboxDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kind, _, err := backend.Parse(directoryCfg.dsn, dataDir)
	if err != nil {
		return nil, err
	}
	store, err := backend.Open(ctx, directoryCfg.dsn, dataDir)
	if err != nil {
		return nil, err
	}
	svc, err := directory.New(ctx, directory.Config{
		Store: store, Sender: sender, Logger: log,
		MaxDevices: directoryCfg.maxDevices, SessionTTL: directoryCfg.sessionTTL, Limits: &limits,
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	svc.Register(srv.Mux())
	attachedDirectory, attachedDirectoryStore = svc, store
	log.Info("directory: serving /v1/", "storage", kind, "max_devices", directoryCfg.maxDevices,
		"lookup_limit", limits.LookupDevice.String(), "lookup_addr_limit", limits.LookupAddr.String())
	return &directoryPart{svc: svc, store: store}, nil
}
