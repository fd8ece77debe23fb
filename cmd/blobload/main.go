// Command blobload measures the blob store: the upload and download
// throughput of one large object over HTTPS on loopback, through the
// client SDK (client/blobs, over blobs.NewTransport), so the figures
// include the client's work: the encryption pass for the signature and
// chunk checksums and the second, AES-only one while sending on the way
// up; the one pass that decrypts and checks the signature, the plaintext
// file and its fsync on the way down. It also reports the peak resident
// memory (VmHWM) and the CPU time of the client (this process) and of the
// server (a separate sealpostd process), over each phase.
//
// It starts its own sealpostd (--sealpostd BIN, a fresh data folder on
// --dir's file system, --store as its --blob-store), registers a device
// through the directory (reading the code from the outbox), writes a
// random --size file, uploads it, downloads it and compares the SHA-256 of
// the two files:
//
//	go build -o /tmp/sealpostd ./cmd/sealpostd
//	go run ./cmd/blobload --sealpostd /tmp/sealpostd                    # files in the data folder
//	go run ./cmd/blobload --sealpostd /tmp/sealpostd --store "$SEALPOST_TEST_S3"
//
// Or against a running node: --url, --ca and --outbox (no server memory
// figure then).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/sealpost/sealpost/client/blobs"
	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
)

type config struct {
	sealpostd string
	store     string
	url       string
	ca        string
	outbox    string
	size      int64
	parallel  int
	dir       string
	http2     bool
	keep      bool
	rounds    int
	noPrims   bool
	profile   string
	sprofile  string
}

func main() {
	var c config
	var size string
	flag.StringVar(&c.sealpostd, "sealpostd", "", "start this sealpostd binary with a fresh data folder (instead of --url)")
	flag.StringVar(&c.store, "store", "", "with --sealpostd: its --blob-store (default: files in its data folder)")
	flag.StringVar(&c.url, "url", "", "target a running server, e.g. https://127.0.0.1:7443")
	flag.StringVar(&c.ca, "ca", "", "with --url: the server CA (PEM)")
	flag.StringVar(&c.outbox, "outbox", "", "with --url: the server's outbox folder")
	flag.StringVar(&size, "size", "1GiB", "object size (bytes, or with KiB, MiB, GiB)")
	flag.IntVar(&c.parallel, "parallel", blobs.DefaultParallel, "chunks in flight")
	flag.StringVar(&c.dir, "dir", "", "folder for the test files and the server's data (default: the system's temporary folder)")
	flag.BoolVar(&c.http2, "http2", false, "use HTTP/2 (one connection, a plain http.Transport) instead of blobs.NewTransport's HTTP/1.1 connections")
	flag.BoolVar(&c.keep, "keep", false, "keep the files and the server's data folder")
	flag.IntVar(&c.rounds, "rounds", 1, "upload and download this many times (a fresh object each round)")
	flag.BoolVar(&c.noPrims, "no-primitives", false, "do not measure the primitives (AES-CTR, SHA-1, SHA-256, AES-GCM over 1 GiB each) before the transfers")
	flag.StringVar(&c.profile, "cpuprofile", "", "write the client's CPU profile to this file")
	flag.StringVar(&c.sprofile, "server-cpuprofile", "", "with --sealpostd: write the server's CPU profile to this file (its --relay-cpuprofile, the whole process)")
	flag.Parse()
	var err error
	if c.size, err = parseSize(size); err != nil {
		fmt.Fprintf(os.Stderr, "blobload: error: --size %v\n", err)
		os.Exit(2)
	}
	if err := run(c, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "blobload: error: %v\n", err)
		os.Exit(1)
	}
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		s string
		m int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, u.s) {
			s, mult = strings.TrimSuffix(s, u.s), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q: want a number of bytes, e.g. 1GiB", s)
	}
	return n * mult, nil
}

type server struct {
	pid  int
	stop func()
}

func run(c config, out io.Writer) error {
	if c.dir == "" {
		c.dir = os.TempDir()
	}
	work, err := os.MkdirTemp(c.dir, "blobload-")
	if err != nil {
		return err
	}
	if !c.keep {
		defer os.RemoveAll(work)
	} else {
		defer fmt.Fprintf(out, "blobload: kept %s\n", work)
	}
	var srv *server
	if c.sealpostd != "" {
		if srv, err = startServer(&c, work); err != nil {
			return err
		}
		defer srv.stop()
	}
	if c.url == "" || c.ca == "" || c.outbox == "" {
		return errors.New("give --sealpostd, or --url, --ca and --outbox")
	}
	hc, err := httpClient(c.ca, c.http2)
	if err != nil {
		return err
	}
	ctx := context.Background()
	keys, err := register(ctx, c, hc)
	if err != nil {
		return fmt.Errorf("registering a device: %w", err)
	}
	client := &blobs.Client{BaseURL: c.url, HTTP: hc, Keys: keys, Parallel: c.parallel}
	backendName := "fs"
	if strings.HasPrefix(c.store, "s3://") {
		backendName = "s3"
	} else if c.sealpostd == "" {
		backendName = "external"
	}
	proto := "http/1.1"
	if c.http2 {
		proto = "h2"
	}
	fmt.Fprintf(out, "blobload: backend=%s size=%d parallel=%d proto=%s GOMAXPROCS=%d cpus=%d dir=%s\n",
		backendName, c.size, client.Parallel, proto, runtime.GOMAXPROCS(0), runtime.NumCPU(), c.dir)
	if !c.noPrims {
		measurePrimitives().report(out, runtime.NumCPU())
	}
	if c.profile != "" {
		f, err := os.Create(c.profile)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	for round := range c.rounds {
		if err := oneRound(ctx, c, out, client, srv, work, uint64(round)); err != nil {
			return err
		}
	}
	return nil
}

func oneRound(ctx context.Context, c config, out io.Writer, client *blobs.Client, srv *server, work string, seed uint64) error {
	src := filepath.Join(work, "source")
	dest := filepath.Join(work, "received")
	os.Remove(dest)
	want, err := writeRandom(src, c.size, seed)
	if err != nil {
		return err
	}

	resetPeak(os.Getpid())
	if srv != nil {
		resetPeak(srv.pid)
	}
	cpu0c, cpu0s := cpuTime(0), srvCPU(srv)
	var encDone time.Time
	t0 := time.Now()
	up, err := client.UploadFile(ctx, src, &blobs.UploadOptions{Progress: func(p blobs.Progress) {
		if p.Phase == blobs.PhaseEncrypt && p.Done == p.Total {
			encDone = time.Now()
		}
	}})
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	upTime := time.Since(t0)
	upClient, upServer := peak(os.Getpid()), int64(-1)
	if srv != nil {
		upServer = peak(srv.pid)
	}

	cpu1c, cpu1s := cpuTime(0), srvCPU(srv)
	resetPeak(os.Getpid())
	if srv != nil {
		resetPeak(srv.pid)
	}
	var dlDone time.Time
	t1 := time.Now()
	err = client.DownloadFile(ctx, up.URI, up.Key, up.Signature, up.Size, dest, &blobs.DownloadOptions{Progress: func(p blobs.Progress) {
		if p.Phase == blobs.PhaseDownload && p.Done == p.Total {
			dlDone = time.Now()
		}
	}})
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	downTime := time.Since(t1)
	cpu2c, cpu2s := cpuTime(0), srvCPU(srv)
	downClient, downServer := peak(os.Getpid()), int64(-1)
	if srv != nil {
		downServer = peak(srv.pid)
	}
	got, err := fileSHA256(dest)
	if err != nil {
		return err
	}
	if got != want {
		return errors.New("the downloaded file differs from the uploaded one")
	}
	mbps := func(d time.Duration) float64 { return float64(c.size) / 1e6 / d.Seconds() }
	encTime := time.Duration(0)
	if !encDone.IsZero() {
		encTime = encDone.Sub(t0)
	}
	fetchTime := time.Duration(0)
	if !dlDone.IsZero() {
		fetchTime = dlDone.Sub(t1)
	}
	fmt.Fprintf(out, "blobload: upload   %7.1f MB/s  %6.2fs (first encryption pass %.2fs, send and complete %.2fs)  peak RSS client %s server %s  CPU client %.2fs server %s\n",
		mbps(upTime), upTime.Seconds(), encTime.Seconds(), (upTime - encTime).Seconds(), mib(upClient), mib(upServer), (cpu1c - cpu0c).Seconds(), secs(cpu0s, cpu1s))
	fmt.Fprintf(out, "blobload: download %7.1f MB/s  %6.2fs (fetch, decrypt and verify %.2fs, then sync and rename %.2fs)  peak RSS client %s server %s  CPU client %.2fs server %s\n",
		mbps(downTime), downTime.Seconds(), fetchTime.Seconds(), (downTime - fetchTime).Seconds(), mib(downClient), mib(downServer), (cpu2c - cpu1c).Seconds(), secs(cpu1s, cpu2s))
	fmt.Fprintf(out, "blobload: sha256 of the received file matches (%s...)\n", want[:16])
	return nil
}

func secs(a, b time.Duration) string {
	if a < 0 || b < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fs", (b - a).Seconds())
}

func srvCPU(srv *server) time.Duration {
	if srv == nil {
		return -1
	}
	return cpuTime(srv.pid)
}

// cpuTime returns the user+system CPU time of a process (0: this one) from
// /proc/<pid>/stat, or -1.
func cpuTime(pid int) time.Duration {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	// Fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(ut+st) * (time.Second / clockTicks)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on Linux.
const clockTicks = 100

func mib(b int64) string {
	if b < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// writeRandom writes size pseudo-random bytes to path, streamed, and
// returns their SHA-256.
func writeRandom(path string, size int64, seed uint64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var s [32]byte
	rand.Read(s[:8])
	s[8] = byte(seed)
	r := mrand.NewChaCha8(s)
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		b := buf[:min(int64(len(buf)), left)]
		r.Read(b)
		h.Write(b)
		if _, err := f.Write(b); err != nil {
			return "", err
		}
		left -= int64(len(b))
	}
	// Synced, so that writing it back does not compete for the disk with
	// the upload that is about to be measured: a file to send is rarely
	// one that was written a moment ago.
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// resetPeak resets the peak resident set size (VmHWM) of a process
// (Linux: clear_refs 5); elsewhere it does nothing.
func resetPeak(pid int) {
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// peak returns VmHWM of a process in bytes, or -1.
func peak(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

// startServer starts sealpostd on a free loopback port with a fresh data
// folder inside work, and fills in c.url, c.ca, c.outbox.
func startServer(c *config, work string) (*server, error) {
	dir := filepath.Join(work, "sealpost-data")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{"--data", dir, "--listen", addr, "--directory-no-limits", "--blob-no-limits", "--blob-quota", "off",
		"--blob-max-size", strconv.FormatInt(max(c.size, 1), 10)}
	if c.store != "" {
		args = append(args, "--blob-store", c.store)
	}
	if c.sprofile != "" {
		args = append(args, "--relay-cpuprofile", c.sprofile)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cmd := exec.Command(c.sealpostd, args...)
	logf, err := os.Create(filepath.Join(work, "sealpostd.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	srv := &server{pid: cmd.Process.Pid}
	srv.stop = func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		logf.Close()
	}
	c.url, c.ca, c.outbox = "https://"+addr, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "outbox")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(c.ca); err == nil {
			if hc, err := httpClient(c.ca, false); err == nil {
				if resp, err := hc.Get(c.url + "/healthz"); err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						return srv, nil
					}
				}
			}
		}
		if time.Now().After(deadline) {
			srv.stop()
			log, _ := os.ReadFile(filepath.Join(work, "sealpostd.log"))
			return nil, fmt.Errorf("sealpostd did not come up:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpClient(caFile string, h2 bool) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	tlsCfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	if !h2 {
		return &http.Client{Transport: blobs.NewTransport(tlsCfg)}, nil
	}
	tlsCfg.NextProtos = []string{"h2"}
	tr := &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute,
		WriteBufferSize: 256 << 10, ReadBufferSize: 256 << 10}
	return &http.Client{Transport: tr}, nil
}

// register makes a device and registers it with the directory through
// the verification-code flow.
func register(ctx context.Context, c config, hc *http.Client) (*identity.Keys, error) {
	keys, err := identity.Generate()
	if err != nil {
		return nil, err
	}
	var r [4]byte
	rand.Read(r[:])
	handle := "mailto:blobload-" + hex.EncodeToString(r[:]) + "@example.org"
	cl := &dirapi.Client{BaseURL: c.url, HTTP: hc, Keys: keys}
	cr, err := cl.RequestCode(ctx, handle)
	if err != nil {
		return nil, err
	}
	code, err := os.ReadFile(filepath.Join(c.outbox, cr.Handle))
	if err != nil {
		return nil, fmt.Errorf("reading the code from the outbox: %w", err)
	}
	tok := make([]byte, 32)
	rand.Read(tok)
	_, err = cl.Register(ctx, cr.Handle, string(bytes.TrimSpace(code)), dirapi.NewDeviceFields(keys, tok, "blobload", 16384))
	return keys, err
}
