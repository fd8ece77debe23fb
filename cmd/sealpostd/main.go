// Command sealpostd runs the Sealpost servers: the identity directory, the
// push relay and the blob store, in one process on one TLS address.
//
// With no flags it keeps its data in ./sealpost-data and listens on
// 127.0.0.1:7443. On first start it creates a local CA; clients trust
// <data>/ca.pem (sealpost init --ca).
//
// Settings come from flags, SEALPOST_ environment variables and a TOML
// file (--config), in that order of precedence (config.go);
//
//	sealpostd checkconfig [--config FILE] [flags]
//
// validates them all without starting anything and prints every error
// (check.go). With --admin-listen, a plain-HTTP admin address serves
// Prometheus metrics and health endpoints (admin.go, metrics.go). On
// SIGTERM or SIGINT the node stops being ready, waits --drain-delay, then
// closes its listeners and connections and flushes its stores; a second
// signal ends it at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sealpost/sealpost/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// A part is one server component (directory, relay, blob store, admin
// address). Each lives in its own file of this command and registers
// itself from init: it adds its flags, then attaches to the assembled
// server. Its configuration is checked, before anything starts, by the
// function of the same name in partChecks (check.go).
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

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// mainCfg holds the settings of the node itself.
var mainCfg struct {
	config          string
	dataDir         string
	caDir           string
	listen          string
	tlsNames        stringList
	verbose         bool
	logLevel        string
	logFormat       string
	drainDelay      time.Duration
	shutdownTimeout time.Duration
}

func mainFlags(fs *flag.FlagSet) {
	fs.StringVar(&mainCfg.config, "config", "", "TOML configuration file: version = 1, then one key per flag (see README, Configuration)")
	fs.StringVar(&mainCfg.dataDir, "data", server.DefaultDataDir, "data folder (CAs, embedded stores)")
	fs.StringVar(&mainCfg.caDir, "ca-dir", "", "folder of the server and device CAs, shared by the nodes of a deployment (default: the data folder); created there on first start")
	fs.StringVar(&mainCfg.listen, "listen", server.DefaultListen, "TLS address for HTTP and the push protocol (ALPN apns-security-v3)")
	fs.Var(&mainCfg.tlsNames, "tls-name", "extra DNS name or IP for the server certificate (repeatable)")
	fs.BoolVar(&mainCfg.verbose, "v", false, "log debug messages (same as --log-level debug)")
	fs.StringVar(&mainCfg.logLevel, "log-level", "info", "least important log messages written: debug, info, warn or error")
	fs.StringVar(&mainCfg.logFormat, "log-format", "text", "log format: text (key=value) or json (one object per line)")
	fs.DurationVar(&mainCfg.drainDelay, "drain-delay", 0,
		"at shutdown, how long /readyz answers 503 before the listeners close (e.g. 5s behind a load balancer)")
	fs.DurationVar(&mainCfg.shutdownTimeout, "shutdown-timeout", 30*time.Second,
		"at shutdown, how long to wait for requests and connections in flight")
}

// newFlagSet returns sealpostd's flags: the node's and every part's.
func newFlagSet(stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sealpostd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: sealpostd [flags]\n       sealpostd checkconfig [flags]\n\n"+
			"Every flag may also be set as SEALPOST_<NAME> in the environment or as a key of the --config file.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	mainFlags(fs)
	for _, p := range parts {
		p.flags(fs)
	}
	fs.VisitAll(resetList) // repeatable flags start empty, also on a second run in one process (tests)
	return fs
}

// run is sealpostd: it serves until ctx ends (main cancels it on SIGTERM
// or SIGINT), or checks the configuration for "checkconfig". It returns
// the exit status: 0, 1 for a failure, 2 for bad settings.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	checkOnly := len(args) > 0 && args[0] == "checkconfig"
	if checkOnly {
		args = args[1:]
	}
	fs := newFlagSet(stderr)
	st, errs, err := loadSettings(fs, args, env)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil { // a command-line syntax error, printed with the usage
		if checkOnly {
			return 1
		}
		return 2
	}
	errs = append(errs, checkSettings(fs, st)...)
	if checkOnly {
		return reportCheck(stdout, stderr, fs, st, errs)
	}
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintf(stderr, "sealpostd: error: %v\n", e)
		}
		fmt.Fprintf(stderr, "sealpostd: %d configuration error(s); nothing was started\n", len(errs))
		return 2
	}
	return serve(ctx, stderr)
}

// newLogger returns the logger the settings ask for; checkSettings has
// validated them.
func newLogger(w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(mainCfg.logLevel))
	if mainCfg.verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if mainCfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(ctx context.Context, stderr io.Writer) int {
	log := newLogger(stderr)
	resetHealth()
	srv, err := server.New(server.Config{DataDir: mainCfg.dataDir, CADir: mainCfg.caDir, Listen: mainCfg.listen, TLSNames: mainCfg.tlsNames, Logger: log})
	if err != nil {
		log.Error("sealpostd: cannot start", "err", err)
		return 1
	}
	var closers []namedCloser
	closeAll := func() int {
		status := 0
		for _, c := range slices.Backward(closers) {
			if err := c.Close(); err != nil {
				log.Error("sealpostd: closing "+c.name, "err", err)
				status = 1
			}
		}
		return status
	}
	for _, p := range parts {
		c, err := p.attach(srv)
		if err != nil {
			log.Error("sealpostd: cannot start "+p.name, "err", err)
			closeAll()
			return 1
		}
		closers = append(closers, namedCloser{p.name, c})
	}
	health.attached.Store(true)
	errc := make(chan error, 1)
	go func() {
		errc <- srv.ListenAndServe(func(a net.Addr) {
			health.serving.Store(true)
			log.Info("sealpostd serving", "addr", a.String(), "ca", filepath.Join(srv.Config().CADir, "ca.pem"))
		})
	}()
	select {
	case err := <-errc:
		log.Error("sealpostd: serving", "err", err)
		closeAll()
		return 1
	case <-ctx.Done():
	}
	// Not ready from now on; after the drain delay the listeners close,
	// the relay closes its connections (no send is answered after that,
	// and every send answered before was durable), HTTP requests in
	// flight finish, and the parts close their stores, which flush.
	health.draining.Store(true)
	log.Info("sealpostd shutting down", "drain_delay", mainCfg.drainDelay.String(), "timeout", mainCfg.shutdownTimeout.String())
	if mainCfg.drainDelay > 0 {
		time.Sleep(mainCfg.drainDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), mainCfg.shutdownTimeout)
	defer cancel()
	status := 0
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("sealpostd: shutdown", "err", err)
		status = 1
	}
	if <-errc != nil {
		status = 1
	}
	if closeAll() != 0 {
		status = 1
	}
	log.Info("sealpostd stopped")
	return status
}

type namedCloser struct {
	name string
	io.Closer
}
