package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/ids"
	"github.com/sealpost/sealpost/internal/pki"
)

// relayProc is sealpostd running as a real process, restarted at will.
type relayProc struct {
	t       *testing.T
	bin     string
	args    []string
	addr    string
	mu      sync.Mutex
	cmd     *exec.Cmd
	out     bytes.Buffer
	started time.Time
}

func (p *relayProc) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout = &p.out
	cmd.Stderr = &p.out
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd = cmd
	p.started = time.Now()
}

func (p *relayProc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

// output is what the process printed so far.
func (p *relayProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitServing polls until the relay completes a courier TLS handshake.
func (p *relayProc) waitServing(cfg *tls.Config) time.Duration {
	for {
		d := net.Dialer{Timeout: time.Second}
		c, err := tls.DialWithDialer(&d, "tcp", p.addr, cfg)
		if err == nil {
			c.Close()
			return time.Since(p.started)
		}
		if time.Since(p.started) > 30*time.Second {
			p.t.Fatalf("relay not serving after 30 s: %v\n%s", err, p.output())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// buildSealpostd builds the sealpostd binary into dir.
func buildSealpostd(t *testing.T, dir string) string {
	bin := filepath.Join(dir, "sealpostd")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/sealpost/sealpost/cmd/sealpostd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serverRoots waits for the server CA that a starting sealpostd writes to
// its data folder and returns the courier TLS configuration trusting it.
func serverRoots(t *testing.T, data string) *tls.Config {
	for range 3000 {
		if b, err := os.ReadFile(filepath.Join(data, "ca.pem")); err == nil {
			roots := x509.NewCertPool()
			if roots.AppendCertsFromPEM(b) {
				return &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{courier.ALPN}}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no server CA in %s", data)
	return nil
}

// r1Device is one of the test's devices: it sends its share of messages
// one at a time (retrying each with the same UUID until acknowledged) and
// receives, deduplicates by UUID and acknowledges.
type r1Device struct {
	i       int
	key     *device
	offline bool // goes offline at random

	mu      sync.Mutex
	conn    *courier.Conn
	node    int       // the relay node it uses: the next one when a dial fails
	since   time.Time // when conn connected
	stopped bool
	acks    chan [4]byte
	seen    map[[16]byte]bool // the device's dedup store ("fsynced" before acking)
	lastK   map[int]int       // per sender, the last message number shown
	shown   int
	raw     int // deliveries of a UUID already seen
	dups    int // shown twice (after dedup): must stay 0
	order   int // per-pair order violations
}

// traffic is R1's workload on one or more relay nodes: nDev devices
// (device i starts on node i mod len(nodes), and moves to the next node
// when its node does not answer), offline of them going offline at random;
// nSends messages, each device sending its share to random others one at a
// time, each resent with the same UUID until the relay acknowledges it
// (paced to last about 20 s). Devices deduplicate by UUID, check per-sender
// order, and acknowledge. faults runs beside the traffic (kills, restarts).
type traffic struct {
	nDev, nSends, offline int
	nodes                 []*relayProc
	cfg                   *tls.Config
	ca                    *pki.CA
	faults                func(devs []*r1Device, acked *atomic.Int64)
}

// trafficResult is what a run of traffic saw.
type trafficResult struct {
	acked, lost, shown, dups, raw, order int
}

func (r trafficResult) String() string {
	return fmt.Sprintf("acked=%d acked_lost=%d shown=%d visible_dups=%d raw_redeliveries=%d order_violations=%d",
		r.acked, r.lost, r.shown, r.dups, r.raw, r.order)
}

func (tr *traffic) run(t *testing.T) trafficResult {
	rng := mrand.New(mrand.NewPCG(7, 7))
	now := time.Now()
	devs := make([]*r1Device, tr.nDev)
	for i := range devs {
		k := keys(t)[i]
		devs[i] = &r1Device{i: i, key: &device{key: k, cert: issue(t, tr.ca, k, now.Add(-time.Hour), now.Add(time.Hour))},
			node: i % len(tr.nodes), acks: make(chan [4]byte, 16), seen: map[[16]byte]bool{}, lastK: map[int]int{}}
	}
	for _, i := range rng.Perm(tr.nDev)[:tr.offline] {
		devs[i].offline = true
	}
	// Register every device (tokens) on its first node before the faults.
	for _, d := range devs {
		c, err := courier.Dial(context.Background(), tr.nodes[d.node].addr, tr.cfg)
		if err != nil {
			t.Fatal(err)
		}
		ack, err := c.Connect(d.key.cert, d.key.key, nil)
		if err != nil || ack.Status != courier.StatusOK {
			t.Fatal("register", err)
		}
		d.key.token = ack.Token
		c.Close()
	}
	// Each device's messages, to random others.
	type msg struct {
		to   int
		k    int
		uuid [16]byte
	}
	plans := make([][]msg, tr.nDev)
	for s := range tr.nSends {
		from := s % tr.nDev
		to := rng.IntN(tr.nDev - 1)
		if to >= from {
			to++
		}
		m := msg{to: to, k: len(plans[from])}
		rand.Read(m.uuid[:])
		plans[from] = append(plans[from], m)
	}
	var acked sync.Map // uuid → recipient index
	var ackedN atomic.Int64
	stop := make(chan struct{})
	sendersDone := make(chan struct{})
	var senders sync.WaitGroup
	var online sync.WaitGroup

	// Connection keeper and reader of each device.
	forceOnline := make(chan struct{})
	for _, d := range devs {
		online.Go(func() {
			drng := mrand.New(mrand.NewPCG(uint64(d.i), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if d.offline {
					select {
					case <-forceOnline:
					case <-time.After(time.Duration(500+drng.IntN(2000)) * time.Millisecond):
					case <-stop:
						return
					}
				}
				d.mu.Lock()
				node := d.node
				d.mu.Unlock()
				c, err := courier.Dial(context.Background(), tr.nodes[node].addr, tr.cfg)
				if err != nil {
					d.mu.Lock()
					d.node = (node + 1) % len(tr.nodes)
					d.mu.Unlock()
					time.Sleep(20 * time.Millisecond)
					continue
				}
				ack, err := c.Connect(d.key.cert, d.key.key, d.key.token)
				if err != nil || ack.Status != courier.StatusOK || !bytes.Equal(ack.Token, d.key.token) {
					c.Close()
					time.Sleep(20 * time.Millisecond)
					continue
				}
				c.Filter(d.key.token, madrid)
				d.mu.Lock()
				if d.stopped {
					d.mu.Unlock()
					c.Close()
					return
				}
				d.conn, d.since = c, time.Now()
				d.mu.Unlock()
				if d.offline {
					select {
					case <-forceOnline:
					default:
						c.NetConn().SetReadDeadline(time.Now().Add(time.Duration(500+drng.IntN(2000)) * time.Millisecond))
					}
				}
				d.read(t, c)
				d.mu.Lock()
				d.conn = nil
				d.mu.Unlock()
				c.Close()
			}
		})
	}
	// Senders.
	for _, d := range devs {
		senders.Go(func() {
			srng := mrand.New(mrand.NewPCG(uint64(d.i), 2))
			for _, m := range plans[d.i] {
				o := &ids.Outgoing{Command: ids.CmdIMessage, Version: ids.Version, ID: uint32(m.k), UUID: m.uuid,
					Sender: fmt.Sprintf("mailto:d%d@example.com", d.i), Scheme: ids.SchemePairEC}
				o.Destinations = []ids.Destination{{Token: devs[m.to].key.token, Payload: binary.BigEndian.AppendUint32([]byte{byte(d.i)}, uint32(m.k))}}
				payload := o.Marshal()
				id := [4]byte(binary.BigEndian.AppendUint32(nil, uint32(m.k)))
				for {
					select {
					case <-stop:
						return
					default:
					}
					d.mu.Lock()
					c := d.conn
					d.mu.Unlock()
					if c == nil {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					// Drop acks of earlier attempts.
					for len(d.acks) > 0 {
						<-d.acks
					}
					if c.Send(madrid, d.key.token, payload, id) != nil {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					got := false
					timeout := time.After(3 * time.Second)
				wait:
					for {
						select {
						case a := <-d.acks:
							if a == id {
								got = true
								break wait
							}
						case <-timeout:
							break wait
						}
					}
					if got {
						acked.Store(m.uuid, m.to)
						ackedN.Add(1)
						break
					}
				}
				// Paced so that sending spans the faults (about 20 s).
				time.Sleep(time.Duration(50+srng.IntN(200)) * time.Millisecond)
			}
		})
	}
	go func() { senders.Wait(); close(sendersDone) }()

	tr.faults(devs, &ackedN)
	select {
	case <-sendersDone:
	case <-time.After(120 * time.Second):
		for _, n := range tr.nodes {
			t.Logf("relay output:\n%s", n.output())
		}
		t.Fatalf("senders stuck: %d of %d acknowledged", ackedN.Load(), tr.nSends)
	}
	close(forceOnline)
	// Wait until every acknowledged message has been shown to its recipient.
	deadline := time.Now().Add(60 * time.Second)
	var res trafficResult
	for {
		res.lost = 0
		acked.Range(func(k, v any) bool {
			d := devs[v.(int)]
			d.mu.Lock()
			if !d.seen[k.([16]byte)] {
				res.lost++
			}
			d.mu.Unlock()
			return true
		})
		if res.lost == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	for _, d := range devs {
		d.mu.Lock()
		d.stopped = true
		if d.conn != nil {
			d.conn.Close()
		}
		d.mu.Unlock()
	}
	online.Wait()
	res.acked = int(ackedN.Load())
	for _, d := range devs {
		res.raw += d.raw
		res.dups += d.dups
		res.order += d.order
		res.shown += d.shown
	}
	return res
}

func TestR1KillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("R1 runs the relay as a process and kills it 20 times")
	}
	const nKills = 20
	dir := t.TempDir()
	ca, err := pki.LoadOrCreate(dir, "test-device-ca", "R1 device CA")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	p := &relayProc{t: t, bin: buildSealpostd(t, dir), addr: freeAddr(t)}
	// The devices here are not in the directory: R1 is about the mailbox,
	// and the fan-out check (K6) has tests of its own.
	p.args = []string{"--data", data, "--listen", p.addr, "--device-ca", filepath.Join(dir, "test-device-ca.pem"), "--relay-fanout-check=false"}
	p.start()
	defer func() { p.kill() }()
	cfg := serverRoots(t, data)
	p.waitServing(cfg)

	var recov []time.Duration
	var ackedAtFirstKill, killsDoneAt int64
	tr := &traffic{nDev: 20, nSends: 2000, offline: 5, nodes: []*relayProc{p}, cfg: cfg, ca: ca,
		faults: func(_ []*r1Device, acked *atomic.Int64) {
			krng := mrand.New(mrand.NewPCG(3, 3))
			for i := range nKills {
				time.Sleep(time.Duration(200+krng.IntN(1800)) * time.Millisecond)
				if i == 0 {
					ackedAtFirstKill = acked.Load()
				}
				p.kill()
				p.start()
				recov = append(recov, p.waitServing(cfg))
			}
			killsDoneAt = acked.Load()
		}}
	res := tr.run(t)
	slices.Sort(recov)
	fmt.Printf("R1: sends=%d kills=%d acked_between_first_and_last_kill=%d %v recov_p50=%v recov_p99=%v\n",
		tr.nSends, nKills, killsDoneAt-ackedAtFirstKill, res,
		recov[len(recov)/2].Round(time.Millisecond), recov[len(recov)*99/100].Round(time.Millisecond))
	if res.lost != 0 || res.dups != 0 || res.order != 0 || res.acked != tr.nSends {
		t.Fatal("R1 failed")
	}
}

// read receives on c until it fails: deliveries are deduplicated by UUID,
// checked for per-sender order, recorded and acknowledged; the sender's
// acks go to the sending loop.
func (d *r1Device) read(t *testing.T, c *courier.Conn) {
	for {
		f, err := c.ReadFrame()
		if err != nil {
			return
		}
		switch f.Command {
		case courier.CmdSendMessageAck:
			if a, err := courier.ParseSendAck(f); err == nil && a.Status == courier.SendStored {
				select {
				case d.acks <- a.ID:
				default:
				}
			}
		case courier.CmdSendMessage:
			m, err := courier.ParseMessage(f)
			if err != nil {
				t.Errorf("delivery: %v", err)
				return
			}
			if m.ID[0]&0x80 == 0 { // a queued delivery, not an answer
				in, err := ids.ParseIncoming(m.Payload)
				if err != nil || len(in.Payload) != 5 {
					t.Errorf("incoming: %v", err)
					return
				}
				from, k := int(in.Payload[0]), int(binary.BigEndian.Uint32(in.Payload[1:]))
				d.mu.Lock()
				if d.seen[in.UUID] {
					d.raw++
				} else {
					d.seen[in.UUID] = true
					d.shown++
					if last, ok := d.lastK[from]; ok && k < last {
						d.order++
					}
					d.lastK[from] = k
				}
				d.mu.Unlock()
			}
			c.Ack(d.key.token, m.ID)
		}
	}
}
