// Command dirload is the identity directory's load generator. It registers
// one account with several handles and 3 devices (through the real
// verification flow, reading codes from the server's outbox), then drives
// signed lookups over HTTPS and reports handle lookups per second, requests
// per second and latency percentiles.
//
// Two phases:
//
//  1. max: a closed loop of --concurrency workers, each sending its next
//     lookup as soon as the last one is answered, for --duration;
//  2. half: an open loop at half the handle-lookup rate phase 1 reached
//     (or at --rate), with latency measured from each request's scheduled
//     start, so a stalled server cannot hide its queue (no coordinated
//     omission).
//
// It can start its own sealpostd (--sealpostd BIN, with a fresh data
// folder, the directory's rate limits off and --dsn as its storage) or
// target a running one (--url, --ca, --outbox; its lookup limits must
// allow the load, e.g. --directory-no-limits).
//
//	go build -o /tmp/sealpostd ./cmd/sealpostd
//	go run ./cmd/dirload --sealpostd /tmp/sealpostd                      # SQLite
//	go run ./cmd/dirload --sealpostd /tmp/sealpostd --dsn postgres://...  # PostgreSQL
//
// The client reads every answer in full but parses only a sample of them
// (the first, and one in 500) to check their shape: 3 devices per handle,
// each with its keys and a session token.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
)

type config struct {
	sealpostd   string
	dsn         string
	url         string
	ca          string
	outbox      string
	handles     int
	devices     int
	batch       int
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	rate        float64
	half        bool
	keep        bool
}

func main() {
	var c config
	flag.StringVar(&c.sealpostd, "sealpostd", "", "start this sealpostd binary with a fresh data folder (instead of --url)")
	flag.StringVar(&c.dsn, "dsn", "", "with --sealpostd: its --directory-dsn (default SQLite in the data folder)")
	flag.StringVar(&c.url, "url", "", "target a running server, e.g. https://127.0.0.1:7443")
	flag.StringVar(&c.ca, "ca", "", "with --url: the server CA (PEM), e.g. sealpost-data/ca.pem")
	flag.StringVar(&c.outbox, "outbox", "", "with --url: the server's outbox folder, e.g. sealpost-data/outbox")
	flag.IntVar(&c.handles, "handles", 20, "handles registered on the looked-up account")
	flag.IntVar(&c.devices, "devices", 3, "devices on that account")
	flag.IntVar(&c.batch, "batch", 20, "handles per lookup request (1 to 20)")
	flag.IntVar(&c.concurrency, "concurrency", 32, "requests in flight (closed loop) and HTTP connections")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each measured phase")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured load before each phase")
	flag.Float64Var(&c.rate, "rate", 0, "skip the max phase and run the open loop at this many handle lookups per second")
	flag.BoolVar(&c.half, "half", true, "after the max phase, run the open loop at half its handle-lookup rate")
	flag.BoolVar(&c.keep, "keep", false, "with --sealpostd: keep its data folder")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintf(os.Stderr, "dirload: error: %v\n", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if c.batch < 1 || c.batch > dirapi.MaxLookupHandles || c.batch > c.handles {
		return fmt.Errorf("--batch must be 1 to %d and at most --handles", dirapi.MaxLookupHandles)
	}
	if c.sealpostd != "" {
		stop, err := startServer(&c)
		if err != nil {
			return err
		}
		defer stop()
	}
	if c.url == "" || c.ca == "" || c.outbox == "" {
		return errors.New("give --sealpostd, or --url, --ca and --outbox")
	}
	hc, err := httpClient(c.ca, c.concurrency)
	if err != nil {
		return err
	}
	ctx := context.Background()
	t0 := time.Now()
	handles, sender, err := setup(ctx, c, hc)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	storage := "sqlite"
	if strings.HasPrefix(c.dsn, "postgres") {
		storage = "postgres"
	}
	if c.sealpostd == "" {
		storage = "external"
	}
	fmt.Printf("dirload: storage=%s handles=%d devices_per_handle=%d batch=%d concurrency=%d duration=%s GOMAXPROCS=%d cpus=%d setup=%.1fs\n",
		storage, len(handles), c.devices, c.batch, c.concurrency, c.duration, runtimeProcs(), runtimeCPUs(), time.Since(t0).Seconds())
	l := &loader{c: c, hc: hc, sender: sender, handles: handles}
	rate := c.rate
	if rate == 0 {
		l.closedLoop(c.warmup)
		r := l.closedLoop(c.duration)
		r.print("max")
		if !c.half {
			return r.err()
		}
		if err := r.err(); err != nil {
			return err
		}
		rate = r.handleRate() / 2
	}
	l.openLoop(rate, c.warmup)
	r := l.openLoop(rate, c.duration)
	r.print(fmt.Sprintf("open@%.0f", rate))
	return r.err()
}

func runtimeProcs() int { return goMaxProcs() }

// startServer starts sealpostd on a free loopback port with a fresh data
// folder and fills in c.url, c.ca, c.outbox.
func startServer(c *config) (func(), error) {
	dir, err := os.MkdirTemp("", "dirload-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{"--data", dir, "--listen", addr, "--directory-no-limits"}
	if c.dsn != "" {
		args = append(args, "--directory-dsn", c.dsn)
	}
	cmd := exec.Command(c.sealpostd, args...)
	logf, err := os.Create(filepath.Join(dir, "sealpostd.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		logf.Close()
		if !c.keep {
			os.RemoveAll(dir)
		} else {
			fmt.Printf("dirload: kept %s\n", dir)
		}
	}
	c.url, c.ca, c.outbox = "https://"+addr, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "outbox")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(c.ca); err == nil {
			if hc, err := httpClient(c.ca, 1); err == nil {
				if resp, err := hc.Get(c.url + "/healthz"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						return stop, nil
					}
				}
			}
		}
		if time.Now().After(deadline) {
			stop()
			log, _ := os.ReadFile(filepath.Join(dir, "sealpostd.log"))
			return nil, fmt.Errorf("sealpostd did not come up:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpClient(caFile string, conns int) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"}},
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     time.Minute,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// setup registers the account (c.handles handles, c.devices devices) and
// a sender device on an account of its own.
func setup(ctx context.Context, c config, hc *http.Client) ([]string, *dirapi.Client, error) {
	run := make([]byte, 4)
	rand.Read(run)
	prefix := "load-" + hex.EncodeToString(run)
	keys := make([]*identity.Keys, c.devices+1)
	var wg sync.WaitGroup
	var kerr error
	for i := range keys {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			k, err := identity.Generate()
			if err != nil {
				kerr = err
			}
			keys[i] = k
		}(i)
	}
	wg.Wait()
	if kerr != nil {
		return nil, nil, kerr
	}
	verify := func(cl *dirapi.Client, handle, name string) error {
		cr, err := cl.RequestCode(ctx, handle)
		if err != nil {
			return err
		}
		code, err := os.ReadFile(filepath.Join(c.outbox, cr.Handle))
		if err != nil {
			return fmt.Errorf("reading the code from the outbox: %w", err)
		}
		tok := make([]byte, 32)
		rand.Read(tok)
		_, err = cl.Register(ctx, cr.Handle, strings.TrimSpace(string(code)), dirapi.NewDeviceFields(cl.Keys, tok, name, 16384))
		return err
	}
	var handles []string
	for i := 0; i < c.handles; i++ {
		handles = append(handles, fmt.Sprintf("mailto:%s-%02d@example.org", prefix, i))
	}
	owner := &dirapi.Client{BaseURL: c.url, HTTP: hc, Keys: keys[0]}
	for _, h := range handles {
		if err := verify(owner, h, "device 0"); err != nil {
			return nil, nil, fmt.Errorf("device 0, %s: %w", h, err)
		}
	}
	for i := 1; i < c.devices; i++ {
		cl := &dirapi.Client{BaseURL: c.url, HTTP: hc, Keys: keys[i]}
		if err := verify(cl, handles[0], fmt.Sprintf("device %d", i)); err != nil {
			return nil, nil, fmt.Errorf("device %d: %w", i, err)
		}
	}
	sender := &dirapi.Client{BaseURL: c.url, HTTP: hc, Keys: keys[c.devices]}
	if err := verify(sender, "mailto:"+prefix+"-sender@example.org", "sender"); err != nil {
		return nil, nil, fmt.Errorf("sender: %w", err)
	}
	res, err := sender.Lookup(ctx, handles[:1])
	if err != nil {
		return nil, nil, err
	}
	if n := len(res.Results[0].Devices); n != c.devices {
		return nil, nil, fmt.Errorf("lookup found %d devices, want %d", n, c.devices)
	}
	return handles, sender, nil
}

type loader struct {
	c       config
	hc      *http.Client
	sender  *dirapi.Client
	handles []string
	seq     atomic.Uint64
}

// body returns the next lookup body: batch handles, rotating.
func (l *loader) body() ([]byte, uint64) {
	n := l.seq.Add(1)
	start := int(n) % len(l.handles)
	hs := make([]string, l.c.batch)
	for i := range hs {
		hs[i] = l.handles[(start+i)%len(l.handles)]
	}
	b, _ := json.Marshal(dirapi.LookupRequest{Handles: hs})
	return b, n
}

// one sends one lookup and checks its answer.
func (l *loader) one(ctx context.Context) error {
	body, n := l.body()
	resp, err := l.sender.DoRaw(ctx, "POST", dirapi.PathLookup, body, false)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return dirapi.ResponseError(resp, data)
	}
	if n == 1 || n%500 == 0 {
		return l.check(data)
	}
	if !bytes.HasPrefix(data, []byte(`{"results":[`)) {
		return fmt.Errorf("unexpected answer %.80q", data)
	}
	return nil
}

func (l *loader) check(data []byte) error {
	var res dirapi.LookupResponse
	if err := json.Unmarshal(data, &res); err != nil {
		return err
	}
	if len(res.Results) != l.c.batch {
		return fmt.Errorf("%d results, want %d", len(res.Results), l.c.batch)
	}
	for _, r := range res.Results {
		if len(r.Devices) != l.c.devices {
			return fmt.Errorf("%s: %d devices, want %d", r.Handle, len(r.Devices), l.c.devices)
		}
		for _, d := range r.Devices {
			if len(d.Identity) != identity.PublicSize || len(d.SessionToken) == 0 || len(d.PushToken) != 32 {
				return fmt.Errorf("%s: incomplete device record", r.Handle)
			}
		}
	}
	return nil
}

type result struct {
	batch   int
	elapsed time.Duration
	lat     []time.Duration
	errs    int
	first   error
}

func (r *result) handleRate() float64 {
	return float64(len(r.lat)*r.batch) / r.elapsed.Seconds()
}

func (r *result) err() error {
	if r.errs > 0 {
		return fmt.Errorf("%d requests failed; first: %v", r.errs, r.first)
	}
	return nil
}

func (r *result) print(phase string) {
	slices.Sort(r.lat)
	pct := func(p float64) float64 {
		if len(r.lat) == 0 {
			return 0
		}
		i := int(p * float64(len(r.lat)-1))
		return float64(r.lat[i].Microseconds()) / 1000
	}
	n := len(r.lat)
	fmt.Printf("%-10s requests=%d req/s=%.0f handle_lookups/s=%.0f p50=%.2fms p99=%.2fms max=%.2fms errors=%d\n",
		phase, n, float64(n)/r.elapsed.Seconds(), r.handleRate(), pct(0.50), pct(0.99), pct(1), r.errs)
}

// closedLoop runs concurrency workers back to back for d.
func (l *loader) closedLoop(d time.Duration) *result {
	ctx := context.Background()
	end := time.Now().Add(d)
	res := &result{batch: l.c.batch}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < l.c.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			errs := 0
			var first error
			for time.Now().Before(end) {
				t := time.Now()
				if err := l.one(ctx); err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errs += errs
			if res.first == nil {
				res.first = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// openLoop sends lookups at handleRate handle lookups per second for d,
// each timed from its scheduled start.
func (l *loader) openLoop(handleRate float64, d time.Duration) *result {
	ctx := context.Background()
	reqRate := handleRate / float64(l.c.batch)
	interval := time.Duration(float64(time.Second) / reqRate)
	total := int(d.Seconds() * reqRate)
	tickets := make(chan time.Time, total+1)
	res := &result{batch: l.c.batch}
	var mu sync.Mutex
	var wg sync.WaitGroup
	workers := l.c.concurrency * 4
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sched := range tickets {
				err := l.one(ctx)
				lat := time.Since(sched)
				mu.Lock()
				if err != nil {
					res.errs++
					if res.first == nil {
						res.first = err
					}
				} else {
					res.lat = append(res.lat, lat)
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < total; i++ {
		sched := start.Add(time.Duration(i) * interval)
		if wait := time.Until(sched); wait > 0 {
			time.Sleep(wait)
		}
		tickets <- sched
	}
	close(tickets)
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}
