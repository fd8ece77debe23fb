package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies guards the dependency graph: the SDK and the device
// binary never link a database driver, a server part or the test server.
// The demo build (-tags demo), which embeds a server on purpose, must link
// them, which shows the check can fail.
func TestDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed for this test: %v", err)
	}
	const mod = "github.com/sealpost/sealpost/"
	forbidden := func(p string) bool {
		for _, prefix := range []string{"modernc.org/sqlite", "github.com/jackc/pgx", "github.com/nats-io/nats-server",
			"github.com/lib/pq", "github.com/mattn/go-sqlite3"} {
			if strings.HasPrefix(p, prefix) {
				return true
			}
		}
		rest, ok := strings.CutPrefix(p, mod)
		if !ok {
			return false
		}
		switch {
		case rest == "internal/directory/dirapi" || rest == "internal/blobs/blobapi":
			return false // the wire types: what a client must speak
		case rest == "internal/directory" || strings.HasPrefix(rest, "internal/directory/"),
			rest == "internal/relay" || strings.HasPrefix(rest, "internal/relay/"),
			rest == "internal/blobs" || strings.HasPrefix(rest, "internal/blobs/"),
			rest == "internal/server" || strings.HasPrefix(rest, "internal/server/"),
			rest == "internal/testrig":
			return true
		}
		return false
	}
	deps := func(tags string, pkgs ...string) []string {
		args := []string{"list", "-deps"}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		out, err := exec.Command(goBin, append(args, pkgs...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	for _, pkg := range []string{mod + "client", mod + "cmd/sealpost"} {
		list := deps("", pkg)
		if len(list) < 10 {
			t.Fatalf("%s: go list gave only %d packages", pkg, len(list))
		}
		for _, p := range list {
			if forbidden(p) {
				t.Errorf("%s links %s", pkg, p)
			}
		}
	}
	bad := 0
	for _, p := range deps("demo", mod+"cmd/sealpost") {
		if forbidden(p) {
			bad++
		}
	}
	if bad == 0 {
		t.Errorf("the demo build links no server package: the check above could not fail")
	}
}
