package relay

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/pki"
	"github.com/sealpost/sealpost/internal/testkit/services"
)

// TestClusterKillNode is the scale-out cluster test: three sealpostd
// processes on one PostgreSQL (directory), one NATS JetStream server
// (mailbox and device tokens) and one S3-compatible server (blob store),
// on loopback. R1's traffic runs with 20 devices spread over the nodes, so
// most messages cross from one node to another; after a third of the
// messages are acknowledged one node is killed with SIGKILL, and its
// devices reconnect to the next node. Bar: every message acknowledged to
// its sender shown to its recipient, none shown twice, per-pair order
// kept, and the killed node's devices served again elsewhere with p99
// under 5 s (on loopback a killed process's sockets close at once, so this
// measures reconnection and re-authentication, not failure detection).
func TestClusterKillNode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three sealpostd processes")
	}
	// The directory's schema, the mailbox's stream and token bucket and
	// the blob store's prefix are the test's own.
	so := services.NewScaleOut(t, "cluster")

	// Nodes share the CAs (one --ca-dir, empty at first: the nodes start
	// together and the first to take the folder's lock makes them) and
	// nothing else but the three services.
	dir := t.TempDir()
	caDir := filepath.Join(dir, "cas")
	devCA, err := pki.LoadOrCreate(dir, "test-device-ca", "cluster test devices")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildSealpostd(t, dir)
	nodes := make([]*relayProc, 3)
	for i := range nodes {
		p := &relayProc{t: t, bin: bin, addr: freeAddr(t)}
		// The test's devices speak the courier protocol only and are
		// not in the directory, so the fan-out check (K6, tested on its
		// own) is off.
		p.args = []string{"--data", filepath.Join(dir, fmt.Sprintf("node%d", i)), "--ca-dir", caDir, "--listen", p.addr,
			"--device-ca", filepath.Join(dir, "test-device-ca.pem"), "--relay-fanout-check=false"}
		p.args = append(p.args, so.Args()...)
		nodes[i] = p
	}
	for _, p := range nodes {
		p.start()
	}
	defer func() {
		for _, p := range nodes {
			p.kill()
		}
	}()
	cfg := serverRoots(t, caDir)
	for _, p := range nodes {
		p.waitServing(cfg)
	}

	const victim = 1
	var moved []time.Duration
	tr := &traffic{nDev: 20, nSends: 2000, offline: 5, nodes: nodes, cfg: cfg, ca: devCA,
		faults: func(devs []*r1Device, acked *atomic.Int64) {
			for acked.Load() < 2000/3 {
				time.Sleep(10 * time.Millisecond)
			}
			var onVictim []*r1Device
			for _, d := range devs {
				d.mu.Lock()
				if !d.offline && d.conn != nil && d.node == victim {
					onVictim = append(onVictim, d)
				}
				d.mu.Unlock()
			}
			killed := time.Now()
			nodes[victim].kill()
			deadline := killed.Add(30 * time.Second)
			for _, d := range onVictim {
				for {
					d.mu.Lock()
					back, since := d.conn != nil && d.node != victim, d.since
					d.mu.Unlock()
					if back {
						moved = append(moved, since.Sub(killed))
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("device %d not served again 30 s after its node was killed", d.i)
						break
					}
					time.Sleep(2 * time.Millisecond)
				}
			}
		}}
	res := tr.run(t)
	slices.Sort(moved)
	if len(moved) == 0 {
		t.Fatal("no online device was on the killed node")
	}
	p99 := moved[(len(moved)*99+99)/100-1]
	fmt.Printf("cluster: nodes=3 devices=%d sends=%d killed=1 moved_devices=%d %v reconnect_p50=%v reconnect_p99=%v\n",
		tr.nDev, tr.nSends, len(moved), res, moved[len(moved)/2].Round(time.Millisecond), p99.Round(time.Millisecond))
	if res.lost != 0 || res.dups != 0 || res.order != 0 || res.acked != tr.nSends {
		for _, p := range nodes {
			t.Logf("node output:\n%s", p.output())
		}
		t.Fatal("cluster test failed")
	}
	if p99 > 5*time.Second {
		t.Fatalf("reconnect p99 %v, goal under 5 s", p99)
	}
}
