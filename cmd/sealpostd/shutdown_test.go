package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/internal/pki"
	"github.com/sealpost/sealpost/internal/testkit/services"
)

// inproc is sealpostd running in the test's process (run, as main calls
// it), with JSON logs read for its addresses.
type inproc struct {
	addr, admin string
	cancel      context.CancelFunc
	done        chan int
	mu          sync.Mutex
	logs        []string
}

func startInProcess(t *testing.T, args []string) *inproc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	n := &inproc{cancel: cancel, done: make(chan int, 1)}
	go func() {
		n.done <- run(ctx, append(args, "--log-format", "json"), nil, io.Discard, pw)
		pw.Close()
	}()
	up := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			var m struct{ Msg, Addr string }
			json.Unmarshal([]byte(line), &m)
			n.mu.Lock()
			n.logs = append(n.logs, line)
			switch {
			case m.Msg == "sealpostd serving":
				n.addr = m.Addr
				close(up)
			case strings.HasPrefix(m.Msg, "admin: serving"):
				n.admin = "http://" + m.Addr
			}
			n.mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	t.Cleanup(func() {
		cancel()
		if t.Failed() {
			n.mu.Lock()
			t.Log("sealpostd logs:\n" + strings.Join(n.logs, "\n"))
			n.mu.Unlock()
		}
	})
	select {
	case <-up:
	case code := <-n.done:
		t.Fatalf("sealpostd exited with %d before serving", code)
	case <-time.After(30 * time.Second):
		t.Fatal("sealpostd did not start")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.admin == "" {
		t.Fatal("no admin address logged")
	}
	return n
}

// stop shuts the inproc down as SIGTERM does and returns its exit status.
func (n *inproc) stop(t *testing.T) int {
	n.cancel()
	select {
	case code := <-n.done:
		return code
	case <-time.After(60 * time.Second):
		t.Fatal("sealpostd did not stop")
		return -1
	}
}

func (n *inproc) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(n.admin + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of an unlabelled sample of /metrics.
func (n *inproc) metric(t *testing.T, name string) float64 {
	t.Helper()
	_, body := n.get(t, "/metrics")
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s in\n%s", name, body)
	return 0
}

// device is a push certificate and its key, from a test CA that
// sealpostd trusts with --device-ca.
type pushDevice struct {
	key  *rsa.PrivateKey
	cert []byte
}

func newDevice(t *testing.T, dir string) (pushDevice, string) {
	ca, err := pki.LoadOrCreate(dir, "test-device-ca", "test device CA")
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c, err := ca.Sign(&x509.Certificate{Subject: pkix.Name{CommonName: "test device"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}, &key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pushDevice{key, c.Raw}, filepath.Join(dir, "test-device-ca.pem")
}

// connect opens a courier connection for d (a new token if token is nil).
func (n *inproc) connect(t *testing.T, data string, d pushDevice, token []byte) (*courier.Conn, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := courier.Dial(ctx, n.addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := c.Connect(d.cert, d.key, token)
	if err != nil || ack.Status != courier.StatusOK {
		t.Fatalf("connect: %v, status %d", err, ack.Status)
	}
	return c, ack.Token
}

var imessage = courier.TopicOf(courier.TopicIMessage)

// TestShutdownKeepsAcknowledgedSends shuts sealpostd down while four
// devices send to an offline one as fast as the relay answers, then starts
// it again on the same data folder: every send the relay acknowledged
// (SendMessageAck, status stored) is delivered to the receiver. Meanwhile
// it checks the admin address: ready while serving, 503 as soon as the
// shutdown begins (during --drain-delay, while traffic still flows), and
// metrics that agree with the traffic.
func TestShutdownKeepsAcknowledgedSends(t *testing.T) { testShutdown(t, nil, true) }

// TestShutdownKeepsAcknowledgedSendsScaleOut is the same with the
// scale-out backends: the directory in PostgreSQL (a schema of its own),
// the mailbox and the device tokens in NATS JetStream (a stream and a
// bucket of their own), blobs in S3 (a prefix of its own). /readyz probes
// all three.
func TestShutdownKeepsAcknowledgedSendsScaleOut(t *testing.T) {
	testShutdown(t, services.NewScaleOut(t, "sealpostd").Args(), false)
}

// testShutdown runs the test with extra flags; embedded says the mailbox
// is the embedded one, which reports its fsync latencies.
func testShutdown(t *testing.T, extra []string, embedded bool) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	dev, caFile := newDevice(t, dir)
	args := append([]string{"--data", data, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--device-ca", caFile, "--drain-delay", "1s"}, extra...)

	n1 := startInProcess(t, args)
	if code, body := n1.get(t, "/readyz"); code != 200 || !strings.Contains(body, "directory: ok\nmailbox: ok\nblob store: ok\n") {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	if code, _ := n1.get(t, "/livez"); code != 200 {
		t.Fatalf("/livez: %d", code)
	}
	recv, recvToken := n1.connect(t, data, dev, nil)
	recv.Close()

	const senders = 4
	var mu sync.Mutex
	acked := map[uint32]bool{}
	var wg sync.WaitGroup
	for i := range senders {
		c, tok := n1.connect(t, data, dev, nil)
		wg.Go(func() {
			defer c.Close()
			for seq := uint32(0); ; seq++ {
				id := uint32(i)<<24 | seq
				var idb [courier.IDSize]byte
				binary.BigEndian.PutUint32(idb[:], id)
				if c.Send(imessage, recvToken, idb[:], idb) != nil {
					return
				}
				for {
					f, err := c.ReadFrame()
					if err != nil {
						return // the relay closed the connection: shutdown
					}
					if f.Command != courier.CmdSendMessageAck {
						continue
					}
					a, err := courier.ParseSendAck(f)
					if err != nil || a.ID != idb || string(a.Token) != string(tok) {
						t.Errorf("sender %d: ack %+v, %v for id %x", i, a, err, idb)
						return
					}
					if a.Status != courier.SendStored {
						t.Errorf("sender %d: status %d", i, a.Status)
						return
					}
					mu.Lock()
					acked[id] = true
					mu.Unlock()
					break
				}
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	for deadline := time.Now().Add(30 * time.Second); count() < 300; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d sends acknowledged", count())
		}
	}
	if v := n1.metric(t, "sealpost_relay_connections"); v != senders {
		t.Errorf("sealpost_relay_connections %v, want %d", v, senders)
	}
	if v := n1.metric(t, "sealpost_mailbox_enqueued_total"); v < 300 {
		t.Errorf("sealpost_mailbox_enqueued_total %v, want at least 300", v)
	}
	if embedded {
		if v := n1.metric(t, "sealpost_mailbox_sync_duration_seconds_count"); v < 1 {
			t.Errorf("sealpost_mailbox_sync_duration_seconds_count %v", v)
		}
	}

	// Shut down mid-traffic; /readyz turns 503 while the senders go on.
	stopped := make(chan int, 1)
	go func() { stopped <- n1.stop(t) }()
	sawDraining := false
	for deadline := time.Now().Add(900 * time.Millisecond); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		resp, err := http.Get(n1.admin + "/readyz")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 503 && strings.Contains(string(body), "shutting down") {
			sawDraining = true
			break
		}
	}
	if !sawDraining {
		t.Error("/readyz did not turn 503 at the start of the shutdown")
	}
	if code := <-stopped; code != 0 {
		t.Fatalf("exit status %d", code)
	}
	wg.Wait()
	want := count()

	// Start again: everything acknowledged is still there.
	n2 := startInProcess(t, args)
	if q := n2.metric(t, "sealpost_mailbox_queued_deliveries"); int(q) < want {
		t.Errorf("sealpost_mailbox_queued_deliveries %v after the restart, want at least %d acknowledged", q, want)
	}
	if age := n2.metric(t, "sealpost_mailbox_oldest_delivery_age_seconds"); age <= 0 || age > 120 {
		t.Errorf("sealpost_mailbox_oldest_delivery_age_seconds %v", age)
	}
	c, _ := n2.connect(t, data, dev, recvToken)
	defer c.Close()
	if err := c.Filter(recvToken, imessage); err != nil {
		t.Fatal(err)
	}
	got := map[uint32]bool{}
	missing := func() int {
		k := 0
		for id := range acked {
			if !got[id] {
				k++
			}
		}
		return k
	}
	c.NetConn().SetReadDeadline(time.Now().Add(30 * time.Second))
	for missing() > 0 {
		f, err := c.ReadFrame()
		if err != nil {
			t.Fatalf("reading deliveries: %v; %d of %d acknowledged sends missing", err, missing(), want)
		}
		if f.Command != courier.CmdSendMessage {
			continue
		}
		m, err := courier.ParseMessage(f)
		if err != nil || len(m.Payload) != 4 {
			t.Fatalf("delivery %v: %v", f, err)
		}
		got[binary.BigEndian.Uint32(m.Payload)] = true
		c.Ack(recvToken, m.ID)
	}
	t.Logf("%d sends acknowledged before the shutdown, all delivered after the restart", want)
	// The receiver's acknowledgements are applied in the background (NATS:
	// one conditional write per acknowledgement, a device's in turn); a
	// Close that cannot apply them in time reports an error. Wait for
	// them, so that the exit status says whether the stores closed well.
	t0 := time.Now()
	for n2.metric(t, "sealpost_mailbox_acked_total") < float64(len(got)) {
		if time.Since(t0) > time.Minute {
			t.Fatalf("acknowledgements not applied after a minute: %v of %d", n2.metric(t, "sealpost_mailbox_acked_total"), len(got))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d acknowledgements applied %v after the last delivery", len(got), time.Since(t0).Round(time.Millisecond))
	if code := n2.stop(t); code != 0 {
		t.Fatalf("second run: exit status %d", code)
	}
	// No log line names the device token, in any encoding.
	for _, n := range []*inproc{n1, n2} {
		n.mu.Lock()
		for _, line := range n.logs {
			for _, enc := range []string{hex.EncodeToString(recvToken), base64.StdEncoding.EncodeToString(recvToken),
				base64.RawURLEncoding.EncodeToString(recvToken)} {
				if strings.Contains(line, enc) {
					t.Errorf("a log line holds the device token: %s", line)
				}
			}
		}
		n.mu.Unlock()
	}
}
