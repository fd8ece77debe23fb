package main

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/directory"
	"github.com/sealpost/sealpost/internal/directory/storage/sqlite"
	"github.com/sealpost/sealpost/internal/server"
)

// TestRunAgainstServer runs a short dirload against an in-process node
// (the directory on SQLite, limits off) through its --url mode.
func TestRunAgainstServer(t *testing.T) {
	dir := t.TempDir()
	srv, err := server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	outbox := filepath.Join(dir, "outbox")
	svc, err := directory.New(context.Background(), directory.Config{Store: store, Sender: directory.Outbox{Dir: outbox}, Limits: &directory.Limits{}})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	svc.Register(srv.Mux())
	addr := make(chan net.Addr, 1)
	go srv.ListenAndServe(func(a net.Addr) { addr <- a })
	defer srv.Shutdown(context.Background())
	a := <-addr
	err = run(config{
		url: "https://" + a.String(), ca: filepath.Join(dir, "ca.pem"), outbox: outbox,
		handles: 4, devices: 3, batch: 2, concurrency: 2,
		duration: 300 * time.Millisecond, warmup: 50 * time.Millisecond, half: true,
	})
	if err != nil {
		t.Fatal(err)
	}
}
