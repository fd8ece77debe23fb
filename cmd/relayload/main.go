// Command relayload is the push relay's load generator. It starts
// sealpostd as a child process (or uses a running one), connects devices
// over the courier protocol and measures:
//
//   - deliver: deliveries per second end to end (sender → relay → online
//     receiver → ack) with -devices connected devices and -payload byte
//     payloads, and the latency from send to receipt (p50/p99), at full
//     speed or at a fixed -rate;
//   - enqueue: durable enqueues per second to offline devices (fan-out
//     sends of -fanout destinations each, acknowledged by the relay only
//     once durable);
//   - idle: resident memory of the relay per idle connection, with -conns
//     authenticated connections.
//
// Usage (from the repository root):
//
//	go build -o /tmp/sealpostd ./cmd/sealpostd
//	go run ./cmd/relayload -sealpostd /tmp/sealpostd -mode deliver -devices 1000 -duration 20s
//	go run ./cmd/relayload -sealpostd /tmp/sealpostd -mode deliver -devices 1000 -rate 20000
//	go run ./cmd/relayload -sealpostd /tmp/sealpostd -mode enqueue -senders 64 -fanout 10
//	go run ./cmd/relayload -sealpostd /tmp/sealpostd -mode idle -conns 19900
//	go run ./cmd/relayload -sealpostd /tmp/sealpostd -nodes 3 -sealpostd-args "--mailbox nats://127.0.0.1:14222"
//	go run ./cmd/relayload -sealpostd /tmp/sealpostd -fanout-check -nodes 3 -sealpostd-args "--mailbox nats://127.0.0.1:14222 --directory-dsn postgres://..."
//
// Device keys (RSA-2048, slow to make: about 160 ms each) are cached in
// -keys; one key serves up to 100 devices (the relay's default
// --tokens-per-key). The devices' certificates come from a CA of the load
// generator's own, passed to sealpostd with --device-ca. By default they
// are not registered in the directory, and the sealpostd it starts runs
// with --relay-fanout-check=false; with -fanout-check every device is
// registered under a handle of its own (a fresh identity each, codes read
// from the outbox, --directory-no-limits) and the relay checks every send
// against the directory, as it does by default. A destination the relay
// refuses is counted (refused=) in every mode.
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/ids"
	"github.com/sealpost/sealpost/internal/pki"
)

var (
	flagBin      = flag.String("sealpostd", "", "sealpostd binary to start (a fresh data folder each run)")
	flagArgs     = flag.String("sealpostd-args", "", "extra arguments for sealpostd, space-separated")
	flagWork     = flag.String("work", "", "work folder: data folder, CA (default: a new temporary folder)")
	flagKeys     = flag.String("keys", filepath.Join(os.TempDir(), "relayload-keys.pem"), "cache of RSA-2048 device keys")
	flagMode     = flag.String("mode", "deliver", "deliver, enqueue or idle")
	flagDevices  = flag.Int("devices", 1000, "deliver: connected devices (each sends and receives)")
	flagPayload  = flag.Int("payload", 1024, "payload bytes per delivery")
	flagDuration = flag.Duration("duration", 20*time.Second, "measurement time (after a warm-up of a fifth of it)")
	flagRate     = flag.Int("rate", 0, "deliver: target sends per second in total (0: as fast as the relay answers)")
	flagSenders  = flag.Int("senders", 64, "enqueue: sending connections")
	flagFanout   = flag.Int("fanout", 10, "enqueue: destinations per send")
	flagOffline  = flag.Int("offline", 1000, "enqueue: offline destination devices")
	flagConns    = flag.Int("conns", 19900, "idle: connections to hold")
	flagDial     = flag.Int("dialers", 2*runtime.GOMAXPROCS(0), "parallel connection set-ups")
	flagProfile  = flag.String("cpuprofile", "", "write the load generator's own CPU profile here")
	flagCourier  = flag.Bool("courier-listen", false, "connect devices to a --courier-listen address of their own instead of the main --listen one")
	flagCheck    = flag.Bool("fanout-check", false, "register every device in the directory and leave the relay's fan-out check on (K6: one directory lookup per send); with -nodes > 1 the nodes must share the directory (-sealpostd-args '--directory-dsn postgres://...')")
	flagNodes    = flag.Int("nodes", 1, "sealpostd nodes to start, sharing the CAs; device i uses node i mod nodes (more than one needs a shared mailbox: -sealpostd-args '--mailbox nats://...')")
)

const tokensPerKey = 100

var madrid = courier.TopicOf(courier.TopicIMessage)

func main() {
	flag.Parse()
	raiseNoFile()
	if *flagBin == "" {
		fatal("-sealpostd is required (go build -o /tmp/sealpostd ./cmd/sealpostd)")
	}
	work := *flagWork
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "relayload"); err != nil {
			fatal(err.Error())
		}
		defer os.RemoveAll(work)
	}
	r := startRelay(work)
	defer r.stop()
	if *flagProfile != "" {
		f, err := os.Create(*flagProfile)
		if err != nil {
			fatal(err.Error())
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	switch *flagMode {
	case "deliver":
		runDeliver(r)
	case "enqueue":
		runEnqueue(r)
	case "idle":
		runIdle(r)
	default:
		fatal("unknown -mode " + *flagMode)
	}
}

// children are the started sealpostd processes, stopped on a fatal error
// too.
var children []*exec.Cmd

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "relayload: error:", msg)
	for _, c := range children {
		c.Process.Kill()
		c.Wait()
	}
	os.Exit(1)
}

// raiseNoFile lifts the descriptor limit to the hard limit (Go does this
// at start-up too; done here explicitly since the idle test needs it).
func raiseNoFile() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// relay is the sealpostd node or nodes under test.
type relay struct {
	nodes []*node
	// natsURL, stream and bucket: the run's own JetStream stream and
	// token bucket, removed at the end (see scratchNATS).
	natsURL, stream, bucket string
	cfg                     *tls.Config
	ca                      *pki.CA
	keys                    []*rsa.PrivateKey
	cert                    map[*rsa.PrivateKey][]byte
	used                    int // devices made so far: device i uses key i / tokensPerKey
}

// node is one sealpostd process.
type node struct {
	cmd  *exec.Cmd
	addr string // where devices connect
	http string // its HTTP API
	data string // its data folder
}

func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err.Error())
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startRelay(work string) *relay {
	if *flagNodes < 1 {
		fatal("-nodes must be at least 1")
	}
	if *flagNodes > 1 && !strings.Contains(*flagArgs, "--mailbox nats://") && !strings.Contains(*flagArgs, "--mailbox tls://") {
		fatal("-nodes > 1 needs a mailbox the nodes share: -sealpostd-args '--mailbox nats://host:port'")
	}
	if *flagNodes > 1 && *flagCheck && !strings.Contains(*flagArgs, "--directory-dsn postgres://") {
		fatal("-nodes > 1 with -fanout-check needs a directory the nodes share: -sealpostd-args '--directory-dsn postgres://...'")
	}
	ca, err := pki.LoadOrCreate(work, "relayload-ca", "relayload device CA")
	if err != nil {
		fatal(err.Error())
	}
	// The nodes share the server and device CAs: made here once, copied
	// into each node's data folder.
	caDir := filepath.Join(work, "cas")
	if err := os.MkdirAll(caDir, 0o700); err != nil {
		fatal(err.Error())
	}
	for _, name := range []string{"ca", "device-ca"} {
		if _, err := pki.LoadOrCreate(caDir, name, "relayload "+name); err != nil {
			fatal(err.Error())
		}
	}
	roots := x509.NewCertPool()
	if b, err := os.ReadFile(filepath.Join(caDir, "ca.pem")); err != nil || !roots.AppendCertsFromPEM(b) {
		fatal(fmt.Sprintf("server CA: %v", err))
	}
	extra := strings.Fields(*flagArgs)
	r := &relay{ca: ca, cert: map[*rsa.PrivateKey][]byte{},
		cfg: &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{courier.ALPN},
			ClientSessionCache: tls.NewLRUClientSessionCache(64)}}
	r.scratchNATS(extra)
	for i := range *flagNodes {
		data := filepath.Join(work, fmt.Sprintf("data%d", i))
		if err := os.MkdirAll(data, 0o700); err != nil {
			fatal(err.Error())
		}
		for _, f := range []string{"ca.pem", "ca.key", "device-ca.pem", "device-ca.key"} {
			b, err := os.ReadFile(filepath.Join(caDir, f))
			if err == nil {
				err = os.WriteFile(filepath.Join(data, f), b, 0o600)
			}
			if err != nil {
				fatal(err.Error())
			}
		}
		addr := freePort()
		args := []string{"--data", data, "--listen", addr, "--device-ca", filepath.Join(work, "relayload-ca.pem")}
		if *flagCheck {
			args = append(args, "--directory-no-limits")
		} else {
			args = append(args, "--relay-fanout-check=false")
		}
		courierAddr := addr
		if *flagCourier {
			courierAddr = freePort()
			args = append(args, "--courier-listen", courierAddr)
		}
		args = append(args, extra...)
		cmd := exec.Command(*flagBin, args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			fatal(err.Error())
		}
		children = append(children, cmd)
		deadline := time.Now().Add(30 * time.Second)
		for {
			if c, err := tls.Dial("tcp", courierAddr, r.cfg); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				fatal("sealpostd did not start")
			}
			time.Sleep(20 * time.Millisecond)
		}
		r.nodes = append(r.nodes, &node{cmd: cmd, addr: courierAddr, http: addr, data: data})
	}
	return r
}

// scratchNATS gives a NATS mailbox in the sealpostd arguments a stream and
// a token bucket of the run's own, unless the URL names a stream, so that
// runs do not see each other's deliveries or use up the cached device
// keys' tokens (tokens are bound to a key for life); stop removes them.
func (r *relay) scratchNATS(args []string) {
	for i, a := range args {
		if a != "--mailbox" || i+1 == len(args) || strings.Contains(args[i+1], "stream=") ||
			!(strings.HasPrefix(args[i+1], "nats://") || strings.HasPrefix(args[i+1], "tls://")) {
			continue
		}
		var b [4]byte
		rand.Read(b[:])
		run := hex.EncodeToString(b[:])
		base, query, _ := strings.Cut(args[i+1], "?")
		r.natsURL, r.stream, r.bucket = base, "RELAYLOAD_"+run, "RELAYLOAD_TOKENS_"+run
		sep := "?"
		if query != "" {
			sep = "&"
		}
		args[i+1] += sep + "stream=" + r.stream + "&subject=rl" + run + "&wake=rlw" + run + "&tokens=" + r.bucket
	}
}

func (r *relay) stop() {
	defer r.dropNATS()
	var wg sync.WaitGroup
	for _, n := range r.nodes {
		wg.Go(func() {
			n.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { n.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				n.cmd.Process.Kill()
			}
		})
	}
	wg.Wait()
}

func (r *relay) dropNATS() {
	if r.stream == "" {
		return
	}
	nc, err := nats.Connect(r.natsURL)
	if err != nil {
		fmt.Fprintf(os.Stderr, "relayload: removing stream %s: %v\n", r.stream, err)
		return
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err == nil {
		err = errors.Join(js.DeleteStream(ctx, r.stream), js.DeleteKeyValue(ctx, r.bucket))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "relayload: removing stream %s and bucket %s: %v\n", r.stream, r.bucket, err)
	}
}

// rss returns the nodes' resident memory in bytes, summed.
func (r *relay) rss() int64 {
	var sum int64
	for _, n := range r.nodes {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
		if err != nil {
			return -1
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				f := strings.Fields(v)
				k, _ := strconv.ParseInt(f[0], 10, 64)
				sum += k << 10
			}
		}
	}
	return sum
}

// cpu returns each node's CPU time so far.
func (r *relay) cpu() []time.Duration {
	out := make([]time.Duration, len(r.nodes))
	for i, n := range r.nodes {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.cmd.Process.Pid))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[i] = time.Duration(ut+st) * time.Second / 100 // USER_HZ
	}
	return out
}

// cpuUse formats the CPU the nodes used between two cpu readings over
// secs seconds: the total in cores, and per node when there are several.
// It also returns the total CPU time.
func cpuUse(before, after []time.Duration, secs float64) (string, time.Duration) {
	var total time.Duration
	per := make([]string, len(before))
	for i := range before {
		d := after[i] - before[i]
		total += d
		per[i] = fmt.Sprintf("%.2f", d.Seconds()/secs)
	}
	s := fmt.Sprintf("%.2f cores", total.Seconds()/secs)
	if len(per) > 1 {
		s += " (per node " + strings.Join(per, "/") + ")"
	}
	return s, total
}

// loadKeys returns n device keys from the cache, making the missing ones.
func (r *relay) loadKeys(n int) {
	b, _ := os.ReadFile(*flagKeys)
	var keys []*rsa.PrivateKey
	for len(keys) < n {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
			if rk, ok := k.(*rsa.PrivateKey); ok {
				keys = append(keys, rk)
			}
		}
	}
	if missing := n - len(keys); missing > 0 {
		fmt.Fprintf(os.Stderr, "relayload: making %d RSA-2048 keys (cached in %s)\n", missing, *flagKeys)
		var mu sync.Mutex
		var wg sync.WaitGroup
		var left atomic.Int64
		left.Store(int64(missing))
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for left.Add(-1) >= 0 {
					k, err := rsa.GenerateKey(rand.Reader, 2048)
					if err != nil {
						fatal(err.Error())
					}
					mu.Lock()
					keys = append(keys, k)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		var out []byte
		for _, k := range keys {
			der, _ := x509.MarshalPKCS8PrivateKey(k)
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
		}
		if err := os.WriteFile(*flagKeys, out, 0o600); err != nil {
			fatal(err.Error())
		}
	}
	r.keys = keys[:n]
	now := time.Now()
	for _, k := range r.keys {
		if r.cert[k] != nil {
			continue
		}
		c, err := r.ca.Sign(&x509.Certificate{Subject: pkix.Name{CommonName: "relayload device"}, NotBefore: now.Add(-time.Hour),
			NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}, &k.PublicKey)
		if err != nil {
			fatal(err.Error())
		}
		r.cert[k] = c.Raw
	}
}

// dev is a connected device.
type dev struct {
	c      *courier.Conn
	tls    *tls.Conn
	token  []byte
	handle string // in the directory, with -fanout-check
}

// connectAll connects n devices (new tokens), -dialers at a time.
func (r *relay) connectAll(n int, filter bool) []*dev {
	base := r.used
	r.used += n
	r.loadKeys((r.used + tokensPerKey - 1) / tokensPerKey)
	out := make([]*dev, n)
	forEach(n, 2000, "connected", func(i int) {
		k := r.keys[(base+i)/tokensPerKey]
		addr := r.nodes[(base+i)%len(r.nodes)].addr
		d, err := r.connect(addr, k, nil)
		for try := 0; err != nil && try < 3; try++ {
			time.Sleep(100 * time.Millisecond)
			d, err = r.connect(addr, k, nil)
		}
		if err != nil {
			fatal(fmt.Sprintf("device %d: %v", i, err))
		}
		if filter {
			d.c.Filter(d.token, madrid)
		}
		out[i] = d
	})
	if *flagCheck {
		r.register(out)
	}
	return out
}

// forEach runs f(0) to f(n-1), -dialers at a time, and reports progress
// on stderr every `every` items ("relayload: 2000 connected (…/s)").
func forEach(n, every int, done string, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *flagDial {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
				if (i+1)%every == 0 {
					fmt.Fprintf(os.Stderr, "relayload: %d %s (%.0f/s)\n", i+1, done, float64(i+1)/time.Since(start).Seconds())
				}
			}
		})
	}
	wg.Wait()
}

// refused counts the destinations the relay refused (a c = 255 answer
// with a status other than accepted), in every mode: a figure with
// refusals is wrong.
var refused atomic.Int64

// countRefusal reads a frame the relay pushed: if it is a c = 255 answer
// refusing a destination, it is counted.
func countRefusal(m courier.Message) {
	if a, err := ids.ParseServerAck(m.Payload); err == nil && a.Status != ids.StatusAccepted {
		if refused.Add(1) == 1 {
			fmt.Fprintf(os.Stderr, "relayload: the relay refused a destination (status %d); figures are wrong\n", a.Status)
		}
	}
}

func (r *relay) connect(addr string, k *rsa.PrivateKey, token []byte) (*dev, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := courier.Dial(ctx, addr, r.cfg)
	if err != nil {
		return nil, err
	}
	ack, err := c.Connect(r.cert[k], k, token)
	if err != nil {
		c.Close()
		return nil, err
	}
	if ack.Status != courier.StatusOK {
		c.Close()
		return nil, fmt.Errorf("connect refused")
	}
	return &dev{c: c, tls: c.NetConn().(*tls.Conn), token: ack.Token}, nil
}
