// Command sealpostd runs the Sealpost servers: the identity directory, the
// push relay and the blob store, in one process on one TLS address.
//
// With no flags it keeps its data in ./sealpost-data and listens on
// 127.0.0.1:7443. On first start it creates a local CA; clients trust
// <data>/ca.pem (sealpost init --ca).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sealpost/sealpost/internal/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// A part is one server component (directory, relay, blob store). Each
// lives in its own file of this command and registers itself from init:
// it adds its flags, then attaches to the assembled server.
type part struct {
	name string
	// flags adds the part's flags to fs.
	flags func(fs *flag.FlagSet)
	// attach registers the part's routes or courier handler on srv and
	// returns what to close at shutdown.
	attach func(srv *server.Server) (io.Closer, error)
}

var parts []part

type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(*l) }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("sealpostd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg server.Config
	var names stringList
	fs.StringVar(&cfg.DataDir, "data", server.DefaultDataDir, "data folder (CAs, embedded stores)")
	fs.StringVar(&cfg.Listen, "listen", server.DefaultListen, "TLS address for HTTP and the push protocol (ALPN apns-security-v3)")
	fs.Var(&names, "tls-name", "extra DNS name or IP for the server certificate (repeatable)")
	verbose := fs.Bool("v", false, "log debug messages")
	for _, p := range parts {
		p.flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.TLSNames = names
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.Logger = log

	srv, err := server.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "sealpostd: error: %v\n", err)
		return 1
	}
	for _, p := range parts {
		c, err := p.attach(srv)
		if err != nil {
			fmt.Fprintf(stderr, "sealpostd: error: %s: %v\n", p.name, err)
			return 1
		}
		defer c.Close()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() {
		errc <- srv.ListenAndServe(func(a net.Addr) {
			log.Info("sealpostd serving", "addr", a.String(),
				"ca", filepath.Join(srv.Config().DataDir, "ca.pem"))
		})
	}()
	select {
	case err := <-errc:
		if err != nil {
			fmt.Fprintf(stderr, "sealpostd: error: %v\n", err)
			return 1
		}
		return 0
	case <-ctx.Done():
	}
	log.Info("sealpostd shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "sealpostd: shutdown: %v\n", err)
		return 1
	}
	return 0
}
