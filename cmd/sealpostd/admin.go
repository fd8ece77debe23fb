package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	blobstorage "github.com/sealpost/sealpost/internal/blobs/storage"
	dirstorage "github.com/sealpost/sealpost/internal/directory/storage"
	"github.com/sealpost/sealpost/internal/relay/mailbox"
	"github.com/sealpost/sealpost/internal/server"
)

// The admin address (--admin-listen, off by default): plain HTTP for the
// operator's tools, never for devices.
//
//	GET /metrics   Prometheus metrics (metrics.go)
//	GET /livez     200 while the process runs
//	GET /readyz    200 once every part is attached and the listener is up,
//	               while the directory's store, the mailbox and the blob
//	               store answer; 503 naming what is not ready, and 503
//	               from the start of a shutdown on
//
// It should stay on loopback or a private network: it needs no
// credentials, and its metrics, though they hold no handle, token or key,
// describe the node's traffic.
func init() {
	parts = append(parts, part{name: "admin", flags: adminFlags, attach: adminAttach})
}

var adminCfg struct {
	listen string
}

func adminFlags(fs *flag.FlagSet) {
	fs.StringVar(&adminCfg.listen, "admin-listen", "",
		"plain-HTTP address for /metrics, /livez and /readyz (e.g. 127.0.0.1:7444); empty: none")
}

// attachedBlobs is the blob store's storage once its part has attached,
// for the readiness check.
var attachedBlobs blobstorage.Store

// health is the node's state as /readyz reports it. main sets attached
// once every part has attached (after which the parts' attached…
// variables are only read), serving once the listener is up, draining
// when a shutdown begins.
var health struct {
	attached, serving, draining atomic.Bool
}

func resetHealth() {
	health.attached.Store(false)
	health.serving.Store(false)
	health.draining.Store(false)
}

// probeTimeout bounds each readiness check of a backend.
const probeTimeout = 2 * time.Second

func adminAttach(srv *server.Server) (io.Closer, error) {
	if adminCfg.listen == "" {
		return closerFunc(func() error { return nil }), nil
	}
	ln, err := net.Listen("tcp", adminCfg.listen)
	if err != nil {
		return nil, fmt.Errorf("--admin-listen: %w", err)
	}
	m := newMetrics()
	srv.ObserveRequests(m.observe)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", readyz)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	srv.Logger().Info("admin: serving /metrics, /livez, /readyz", "addr", ln.Addr().String())
	return closerFunc(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			return hs.Close()
		}
		return nil
	}), nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// readyz answers 200 when the node can serve, 503 otherwise, with one
// line per check.
func readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case health.draining.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready: shutting down\n"))
		return
	case !health.attached.Load() || !health.serving.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready: starting\n"))
		return
	}
	checks := []struct {
		name string
		ping func(context.Context) error
	}{
		{"directory", pingDirectory},
		{"mailbox", pingMailbox},
		{"blob store", pingBlobs},
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
			defer cancel()
			errs[i] = c.ping(ctx)
		})
	}
	wg.Wait()
	status, body := http.StatusOK, "ready\n"
	if errors.Join(errs...) != nil {
		status, body = http.StatusServiceUnavailable, "not ready\n"
	}
	for i, c := range checks {
		if errs[i] != nil {
			body += c.name + ": " + errs[i].Error() + "\n"
		} else {
			body += c.name + ": ok\n"
		}
	}
	w.WriteHeader(status)
	w.Write([]byte(body))
}

// pingDirectory looks up a push token no device has: a round trip to the
// directory's store.
func pingDirectory(ctx context.Context) error {
	d := attachedDirectory
	if d == nil {
		return errors.New("not attached")
	}
	_, err := d.DeviceByPushToken(ctx, make([]byte, mailbox.TokenSize))
	if errors.Is(err, dirstorage.ErrNotFound) {
		return nil
	}
	if err == nil {
		return errors.New("a device holds the all-zero push token")
	}
	return err
}

// pingMailbox asks the embedded mailbox whether a write failed (it then
// refuses every write until a restart); another backend is asked for the
// queue of a device that does not exist, a round trip to its server.
func pingMailbox(ctx context.Context) error {
	mb := attachedMailbox
	if mb == nil {
		return errors.New("not attached")
	}
	if e, ok := mb.(interface{ Err() error }); ok {
		return e.Err()
	}
	for _, err := range mb.Pending(ctx, mailbox.Token{}, 0) {
		return err
	}
	return nil
}

// pingBlobs reads a record that does not exist: a round trip to the blob
// store's storage.
func pingBlobs(ctx context.Context) error {
	st := attachedBlobs
	if st == nil {
		return errors.New("not attached")
	}
	_, err := st.GetRecord(ctx, "readyz_probe")
	if err == nil || errors.Is(err, blobstorage.ErrNotFound) {
		return nil
	}
	return err
}
