package natsjs

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// Test servers. SEALPOST_TEST_NATS points the tests at a running
// nats-server (v2.12 or later, JetStream with sync_interval: always), as
// .ci/setup.d/nats.sh starts it. Without it the tests start a server
// process of their own from the binary in SEALPOST_TEST_NATS_SERVER, or in
// the cache directory nats.sh installs it to; without either they skip,
// except under CI, where they fail.

const serverVersion = "v2.15.2" // what .ci/setup.d/nats.sh installs

var (
	sharedOnce sync.Once
	sharedURL  string
	sharedErr  error
	sharedProc *serverProc
)

// testURL returns the URL of a nats-server for tests that need one.
func testURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("SEALPOST_TEST_NATS"); u != "" {
		return u
	}
	sharedOnce.Do(func() {
		bin := serverBinary()
		if bin == "" {
			sharedErr = fmt.Errorf("no SEALPOST_TEST_NATS and no nats-server binary (SEALPOST_TEST_NATS_SERVER)")
			return
		}
		dir, err := os.MkdirTemp("", "natsjs-test-")
		if err != nil {
			sharedErr = err
			return
		}
		sharedProc, sharedErr = startServer(bin, dir, 0)
		if sharedErr == nil {
			sharedURL = sharedProc.url()
		}
	})
	if sharedErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("NATS needed under CI: %v", sharedErr)
		}
		t.Skipf("NATS not available: %v", sharedErr)
	}
	return sharedURL
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedProc != nil {
		sharedProc.kill()
		os.RemoveAll(sharedProc.dir)
	}
	os.Exit(code)
}

// serverBinary finds a current nats-server binary, or "".
func serverBinary() string {
	if b := os.Getenv("SEALPOST_TEST_NATS_SERVER"); b != "" {
		return b
	}
	if d, err := os.UserCacheDir(); err == nil {
		b := filepath.Join(d, "sealpost", "nats-server-"+serverVersion, "nats-server")
		if _, err := os.Stat(b); err == nil {
			return b
		}
	}
	return ""
}

// serverProc is a nats-server process with JetStream on a file store
// synced on every write.
type serverProc struct {
	bin, dir string
	port     int
	cmd      *exec.Cmd
	done     chan struct{}
}

func (p *serverProc) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", p.port) }

var readyRE = regexp.MustCompile(`Listening for client connections on 127\.0\.0\.1:(\d+)`)

// startServer starts nats-server with its store in dir, on port (0: any
// free port), and waits until it serves JetStream.
func startServer(bin, dir string, port int) (*serverProc, error) {
	conf := filepath.Join(dir, "nats.conf")
	cfg := fmt.Sprintf("listen: 127.0.0.1:%d\nserver_name: natsjs_test\njetstream {\n  store_dir: %q\n  sync_interval: always\n}\n",
		port, filepath.Join(dir, "store"))
	if port == 0 {
		cfg = strings.Replace(cfg, "listen: 127.0.0.1:0", "listen: 127.0.0.1:-1", 1)
	}
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-c", conf)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serverProc{bin: bin, dir: dir, cmd: cmd, done: make(chan struct{})}
	portc := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var log strings.Builder
		for sc.Scan() {
			if m := readyRE.FindStringSubmatch(sc.Text()); m != nil {
				n, _ := strconv.Atoi(m[1])
				portc <- n
			}
			if log.Len() < 1<<16 {
				log.WriteString(sc.Text() + "\n")
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	select {
	case p.port = <-portc:
	case <-p.done:
		return nil, fmt.Errorf("nats-server exited at start")
	case <-time.After(20 * time.Second):
		p.kill()
		return nil, fmt.Errorf("nats-server did not start")
	}
	// Wait until JetStream answers (it recovers streams first).
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := p.ping()
		if err == nil {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("nats-server JetStream not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *serverProc) ping() error {
	nc, err := nats.Connect(p.url(), nats.Timeout(time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

// kill sends SIGKILL and waits for the process to end.
func (p *serverProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// restart starts the server again on the same port and store.
func (p *serverProc) restart() error {
	q, err := startServer(p.bin, p.dir, p.port)
	if err != nil {
		return err
	}
	*p = *q
	return nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// uniq returns a random token for stream and subject names.
func uniq() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// testOptions returns Options for a store of its own on url.
func testOptions(url, name string) Options {
	return Options{
		URL:         url,
		Stream:      "T_" + name,
		Subject:     "t." + name,
		WakeSubject: "tw." + name,
	}
}

// dropStream deletes a test's stream.
func dropStream(t testing.TB, url, stream string) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	js.DeleteStream(ctx, stream)
}

// openStores opens n stores, as n relay nodes, on a stream of the test's
// own (named after name), with clock now if not nil; they are closed and
// the stream dropped when the test ends. The options are returned for
// opening more.
func openStores(t *testing.T, name string, now func() time.Time, n int) (Options, []*Store) {
	t.Helper()
	url := testURL(t)
	opt := testOptions(url, name+"_"+uniq())
	if now != nil {
		opt.Now = now
	}
	t.Cleanup(func() { dropStream(t, url, opt.Stream) })
	stores := make([]*Store, n)
	for i := range stores {
		s, err := Open(context.Background(), opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	return opt, stores
}

// watchWakes watches dev on s and returns a channel that receives (without
// blocking the store) at each wake-up; the watch ends with the test.
func watchWakes(t *testing.T, s *Store, dev mailbox.Token) chan struct{} {
	woke := make(chan struct{}, 64)
	t.Cleanup(s.Watch(dev, func() {
		select {
		case woke <- struct{}{}:
		default:
		}
	}))
	return woke
}
