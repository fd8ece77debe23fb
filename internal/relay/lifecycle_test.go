package relay

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealpost/sealpost/courier"
)

func openFDs() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(es)
}

// settle waits until goroutines and descriptors stop falling.
func settle(t *testing.T, r *rig, wantG, wantFD int) (int, int) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		runtime.GC()
		g, fd := runtime.NumGoroutine(), openFDs()
		if (g <= wantG+5 && fd <= wantFD+5 && r.svc.Online() == 0) || time.Now().After(deadline) {
			return g, fd
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// R9: 10,000 connect/disconnect cycles of every kind leave goroutines and
// open files where they were.
func TestR9Leaks(t *testing.T) {
	r := newRig(t, func(o *Options) { o.ConnectTimeout = 2 * time.Second })
	cfg := r.tlsCfg.Clone()
	cfg.NextProtos = []string{courier.ALPN}
	cfg.CurvePreferences = []tls.CurveID{tls.X25519}
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(8) // resumed handshakes too
	devs := make([]*device, 4)
	for i := range devs {
		devs[i] = r.device(19 + i%4)
		r.connect(devs[i]).Close()
	}
	replay := mustConnect(t, devs[0], devs[0].token, time.Now())
	if st, _, _ := pipeConnect(r.svc, replay); st != courier.StatusOK {
		t.Fatal("the Connect to replay was refused")
	}
	// Warm up, then take the baseline.
	r.connect(devs[0]).Close()
	settle(t, r, 0, 0)
	baseG, baseFD := runtime.NumGoroutine(), openFDs()

	const cycles = 10000
	var n atomic.Int64
	var failures atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			d := devs[w]
			for {
				i := n.Add(1) - 1
				if i >= cycles {
					return
				}
				if err := cycle(r, cfg, d, replay, int(i)); err != nil {
					failures.Add(1)
					t.Logf("cycle %d: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	g, fd := settle(t, r, baseG, baseFD)
	fmt.Printf("R9: cycles=%d failures=%d goroutines_before=%d after=%d fds_before=%d after=%d online_after=%d\n",
		cycles, failures.Load(), baseG, g, baseFD, fd, r.svc.Online())
	if failures.Load() != 0 || g > baseG+5 || fd > baseFD+5 {
		t.Fatal("R9 failed")
	}
}

// cycle runs one connection of kind i%10 and closes it. Two in ten
// authenticate (a fresh RSA signature each, the slow part).
func cycle(r *rig, cfg *tls.Config, d *device, replay []byte, i int) error {
	switch i % 10 {
	case 0, 5: // authenticated: filter, a send to itself, then close (kind 5 without reading)
		tc, err := tls.Dial("tcp", r.addr, cfg)
		if err != nil {
			return err
		}
		defer tc.Close()
		tc.SetDeadline(time.Now().Add(30 * time.Second))
		c := courier.NewConn(tc)
		ack, err := c.Connect(d.cert, d.key, d.token)
		if err != nil || ack.Status != courier.StatusOK {
			return fmt.Errorf("connect: %v %d", err, ack.Status)
		}
		c.Filter(d.token, madrid)
		if i%10 == 5 {
			c.Send(madrid, d.token, []byte("x"), [4]byte{})
			return nil
		}
		c.KeepAlive()
		for {
			f, err := c.ReadFrame()
			if err != nil {
				return err
			}
			if f.Command == courier.CmdKeepAliveAck {
				return nil
			}
		}
	case 1, 6, 8: // a replayed Connect, refused
		tc, err := tls.Dial("tcp", r.addr, cfg)
		if err != nil {
			return err
		}
		defer tc.Close()
		tc.SetDeadline(time.Now().Add(30 * time.Second))
		tc.Write(replay)
		f, err := courier.NewConn(tc).ReadFrame()
		if err != nil {
			return err
		}
		if a, _ := courier.ParseConnectAck(f); a.Status != courier.StatusRefused {
			return fmt.Errorf("replay accepted")
		}
		return nil
	case 2, 7: // TLS, then gone
		tc, err := tls.Dial("tcp", r.addr, cfg)
		if err != nil {
			return err
		}
		return tc.Close()
	case 3: // TCP, then gone
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			return err
		}
		return c.Close()
	default: // half a Connect, then gone
		tc, err := tls.Dial("tcp", r.addr, cfg)
		if err != nil {
			return err
		}
		tc.Write(replay[:len(replay)/2])
		return tc.Close()
	}
}

// H7: connections that never finish their handshake (TLS, or the courier
// Connect) are closed after the timeout, while devices keep connecting.
func TestH7HalfOpen(t *testing.T) {
	const connectTimeout = 2 * time.Second
	const tlsTimeout = 10 * time.Second // internal/server's handshake timeout
	r := newRig(t, func(o *Options) { o.ConnectTimeout = connectTimeout })
	cfg := r.tlsCfg.Clone()
	cfg.NextProtos = []string{courier.ALPN}
	const half = 1000
	type result struct {
		kind   int
		closed time.Duration
	}
	results := make(chan result, half)
	var wg sync.WaitGroup
	for i := range half {
		wg.Go(func() {
			kind := i % 2
			var c net.Conn
			var err error
			if kind == 0 { // TCP only: the TLS handshake never starts
				c, err = net.Dial("tcp", r.addr)
			} else { // TLS done, no Connect
				c, err = tls.Dial("tcp", r.addr, cfg)
			}
			if err != nil {
				results <- result{kind, -1}
				return
			}
			// The timeout runs from when the server accepted the
			// connection, so measure from the end of the dial, not from
			// the start of the test: on a loaded machine, dialling 1,000
			// connections alone takes seconds.
			dialled := time.Now()
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(tlsTimeout + 20*time.Second))
			var b [1]byte
			for {
				if _, err := c.Read(b[:]); err != nil {
					results <- result{kind, time.Since(dialled)}
					return
				}
			}
		})
	}
	// Legitimate devices meanwhile.
	time.Sleep(200 * time.Millisecond)
	var lat []time.Duration
	legitFailed := 0
	for i := range 50 {
		d := r.device(i % 24)
		t0 := time.Now()
		c := r.dial()
		ack, err := c.Connect(d.cert, d.key, d.token)
		if err != nil || ack.Status != courier.StatusOK {
			legitFailed++
		} else {
			d.token = ack.Token
		}
		lat = append(lat, time.Since(t0))
		c.Close()
	}
	wg.Wait()
	close(results)
	var worst [2]time.Duration
	late := 0
	for res := range results {
		limit := tlsTimeout
		if res.kind == 1 {
			limit = connectTimeout
		}
		if res.closed < 0 || res.closed > limit+5*time.Second {
			late++
		}
		worst[res.kind] = max(worst[res.kind], res.closed)
	}
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	fmt.Printf("H7: half_open=%d closed_late=%d worst_tcp_only=%.1fs (timeout %v) worst_tls_no_connect=%.1fs (timeout %v) legit=%d legit_failed=%d legit_connect_p99=%v\n",
		half, late, worst[0].Seconds(), tlsTimeout, worst[1].Seconds(), connectTimeout, len(lat), legitFailed, p99.Round(time.Millisecond))
	if late != 0 || legitFailed != 0 {
		t.Fatal("H7 failed")
	}
}
