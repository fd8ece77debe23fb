package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testrig"
)

// TestFanoutCheckEndToEnd runs the real binaries: sealpostd with its
// defaults and three devices driven through the sealpost CLI. Alice writes
// to Bob, whose answer she caches (a day); then Bob adds a second device
// and Alice writes again from her stale cache. With the fan-out check
// (K6, on by default) the relay refuses the incomplete send, Alice's
// client looks Bob up again and both of Bob's devices get the message.
// With --relay-fanout-check=false the second device gets nothing, which
// shows the test can fail.
func TestFanoutCheckEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs sealpostd and sealpost")
	}
	bin := t.TempDir()
	for _, cmd := range []string{"sealpostd", "sealpost"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(bin, cmd), "github.com/sealpost/sealpost/cmd/"+cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", cmd, err, out)
		}
	}
	for _, tc := range []struct {
		name  string
		check bool
	}{{"checked", true}, {"unchecked", false}} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, bin, "--relay-fanout-check="+map[bool]string{true: "true", false: "false"}[tc.check])
			alice := n.device(t, "alice", "alice@example.org")
			bob1 := n.device(t, "bob1", "bob@example.org")
			n.cli(t, alice, "send", "bob@example.org", "-m", "one")
			if got := n.recv(t, bob1); len(got) != 1 || got[0] != "one" {
				t.Fatalf("bob1 got %q, want [one]", got)
			}
			bob2 := n.device(t, "bob2", "bob@example.org")
			n.cli(t, alice, "send", "bob@example.org", "-m", "two")
			if got := n.recv(t, bob1); len(got) != 1 || got[0] != "two" {
				t.Fatalf("bob1 got %q, want [two]", got)
			}
			got := n.recv(t, bob2)
			if tc.check && (len(got) != 1 || got[0] != "two") {
				t.Fatalf("bob's new device got %q, want [two]: the relay accepted an incomplete fan-out", got)
			}
			if !tc.check && len(got) != 0 {
				t.Fatalf("without the check bob's new device got %q; the checked case proves nothing", got)
			}
		})
	}
}

// node is one sealpostd process for a test.
type node struct {
	bin, data, url string
}

func startNode(t *testing.T, bin string, args ...string) *node {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	n := &node{bin: bin, data: filepath.Join(t.TempDir(), "data"), url: "https://" + addr}
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(bin, "sealpostd"), append([]string{"--data", n.data, "--listen", addr}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("sealpostd output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pem, err := os.ReadFile(filepath.Join(n.data, "ca.pem")); err == nil {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			if resp, err := hc.Get(n.url + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return n
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sealpostd did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// device sets up a device home and registers handle on it.
func (n *node) device(t *testing.T, name, handle string) string {
	home := filepath.Join(t.TempDir(), name)
	n.cli(t, home, "init", "--server", n.url, "--ca", filepath.Join(n.data, "ca.pem"), "--device-name", name)
	n.cli(t, home, "register", handle)
	code, err := testrig.ReadOutbox(n.data, handle)
	if err != nil {
		t.Fatal(err)
	}
	n.cli(t, home, "verify", handle, code)
	return home
}

func (n *node) cli(t *testing.T, home string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(n.bin, "sealpost"), append([]string{"--home", home}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sealpost %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// recv returns the texts of the messages waiting for the device.
func (n *node) recv(t *testing.T, home string) []string {
	var texts []string
	sc := bufio.NewScanner(strings.NewReader(n.cli(t, home, "recv", "--json", "--wait", "1s")))
	for sc.Scan() {
		var m struct{ Text string }
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("recv --json line %q: %v", sc.Text(), err)
		}
		texts = append(texts, m.Text)
	}
	return texts
}
