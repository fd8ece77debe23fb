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
			p.t.Fatalf("relay not serving after 30 s: %v\n%s", err, p.out.String())
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

// r1Device is one of the test's devices: it sends its share of messages
// one at a time (retrying each with the same UUID until acknowledged) and
// receives, deduplicates by UUID and acknowledges.
type r1Device struct {
	i       int
	key     *device
	offline bool // goes offline at random

	mu      sync.Mutex
	conn    *courier.Conn
	stopped bool
	acks    chan [4]byte
	seen    map[[16]byte]bool // the device's dedup store ("fsynced" before acking)
	lastK   map[int]int       // per sender, the last message number shown
	shown   int
	raw     int // deliveries of a UUID already seen
	dups    int // shown twice (after dedup): must stay 0
	order   int // per-pair order violations
	ackedAt map[[16]byte]bool
}

func TestR1KillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("R1 runs the relay as a process and kills it 20 times")
	}
	const (
		nDev    = 20
		nSends  = 2000
		nKills  = 20
		offline = 5
	)
	dir := t.TempDir()
	bin := filepath.Join(dir, "sealpostd")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/sealpost/sealpost/cmd/sealpostd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ca, err := pki.LoadOrCreate(dir, "test-device-ca", "R1 device CA")
	if err != nil {
		t.Fatal(err)
	}
	caPath := filepath.Join(dir, "test-device-ca.pem")
	data := filepath.Join(dir, "data")
	p := &relayProc{t: t, bin: bin, addr: freeAddr(t)}
	// The devices here are not in the directory: R1 is about the mailbox,
	// and the fan-out check (K6) has tests of its own.
	p.args = []string{"--data", data, "--listen", p.addr, "--device-ca", caPath, "--relay-fanout-check=false"}
	p.start()
	defer func() { p.kill() }()
	// The server CA exists once the process has started.
	var roots *x509.CertPool
	for range 3000 {
		if b, err := os.ReadFile(filepath.Join(data, "ca.pem")); err == nil {
			roots = x509.NewCertPool()
			if roots.AppendCertsFromPEM(b) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	cfg := &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{courier.ALPN}}
	p.waitServing(cfg)

	rng := mrand.New(mrand.NewPCG(7, 7))
	now := time.Now()
	devs := make([]*r1Device, nDev)
	for i := range devs {
		k := keys(t)[i]
		devs[i] = &r1Device{i: i, key: &device{key: k, cert: issue(t, ca, k, now.Add(-time.Hour), now.Add(time.Hour))},
			acks: make(chan [4]byte, 16), seen: map[[16]byte]bool{}, lastK: map[int]int{}}
	}
	for _, i := range rng.Perm(nDev)[:offline] {
		devs[i].offline = true
	}
	// Register every device (tokens) before the kill loop.
	for _, d := range devs {
		c, err := courier.Dial(context.Background(), p.addr, cfg)
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
	// Each device's messages: 100 to random others.
	type msg struct {
		to   int
		k    int
		uuid [16]byte
	}
	plans := make([][]msg, nDev)
	for s := range nSends {
		from := s % nDev
		to := rng.IntN(nDev - 1)
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
				c, err := courier.Dial(context.Background(), p.addr, cfg)
				if err != nil {
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
				d.conn = c
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
				// Paced so that sending spans the kill loop (about 22 s).
				time.Sleep(time.Duration(50+srng.IntN(200)) * time.Millisecond)
			}
		})
	}
	go func() { senders.Wait(); close(sendersDone) }()

	// The kill loop.
	var recov []time.Duration
	krng := mrand.New(mrand.NewPCG(3, 3))
	var ackedAtFirstKill int64
	for i := range nKills {
		time.Sleep(time.Duration(200+krng.IntN(1800)) * time.Millisecond)
		if i == 0 {
			ackedAtFirstKill = ackedN.Load()
		}
		p.kill()
		p.start()
		recov = append(recov, p.waitServing(cfg))
	}
	killsDoneAt := ackedN.Load()
	select {
	case <-sendersDone:
	case <-time.After(120 * time.Second):
		t.Fatalf("senders stuck: %d of %d acknowledged\n%s", ackedN.Load(), nSends, p.out.String())
	}
	close(forceOnline)
	// Wait until every acknowledged message has been shown to its recipient.
	deadline := time.Now().Add(60 * time.Second)
	lost := 0
	for {
		lost = 0
		acked.Range(func(k, v any) bool {
			d := devs[v.(int)]
			d.mu.Lock()
			if !d.seen[k.([16]byte)] {
				lost++
			}
			d.mu.Unlock()
			return true
		})
		if lost == 0 || time.Now().After(deadline) {
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
	raw, dups, order, shown := 0, 0, 0, 0
	for _, d := range devs {
		raw += d.raw
		dups += d.dups
		order += d.order
		shown += d.shown
	}
	slices.Sort(recov)
	fmt.Printf("R1: sends=%d kills=%d acked=%d acked_between_first_and_last_kill=%d acked_lost=%d shown=%d visible_dups=%d raw_redeliveries=%d order_violations=%d recov_p50=%v recov_p99=%v\n",
		nSends, nKills, ackedN.Load(), killsDoneAt-ackedAtFirstKill, lost, shown, dups, raw, order,
		recov[len(recov)/2].Round(time.Millisecond), recov[len(recov)*99/100].Round(time.Millisecond))
	if lost != 0 || dups != 0 || order != 0 || ackedN.Load() != nSends {
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
