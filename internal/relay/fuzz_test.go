package relay

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"iter"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/ids"
	"github.com/sealpost/sealpost/internal/pki"
	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// memMailbox is a minimal in-memory mailbox for the fuzz target (no
// durability; the real backends have their own tests).
type memMailbox struct {
	mu   sync.Mutex
	next uint64
	q    map[mailbox.Token][]mailbox.Delivery
	keys map[[48]byte]uint64
}

func (m *memMailbox) Enqueue(ctx context.Context, ds []mailbox.Delivery) ([]mailbox.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := make([]mailbox.Result, len(ds))
	for i, d := range ds {
		if err := d.Check(); err != nil {
			return nil, err
		}
		var k [48]byte
		copy(k[:], d.Device[:])
		copy(k[32:], d.UUID[:])
		if s, ok := m.keys[k]; ok {
			res[i] = mailbox.Result{Seq: s, Duplicate: true}
			continue
		}
		m.next++
		d.Seq = m.next
		m.keys[k] = d.Seq
		m.q[d.Device] = append(m.q[d.Device], d)
		res[i] = mailbox.Result{Seq: d.Seq}
	}
	return res, nil
}

func (m *memMailbox) Pending(ctx context.Context, dev mailbox.Token, after uint64) iter.Seq2[mailbox.Delivery, error] {
	return func(yield func(mailbox.Delivery, error) bool) {
		m.mu.Lock()
		var out []mailbox.Delivery
		for _, d := range m.q[dev] {
			if d.Seq > after {
				out = append(out, d)
			}
		}
		m.mu.Unlock()
		for _, d := range out {
			if !yield(d, nil) {
				return
			}
		}
	}
}

func (m *memMailbox) Ack(ctx context.Context, dev mailbox.Token, seq uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.q[dev]
	for i := range q {
		if q[i].Seq == seq {
			m.q[dev] = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	return nil
}

func (m *memMailbox) Watch(dev mailbox.Token, wake func()) func() { return func() {} }
func (m *memMailbox) Close() error                                { return nil }

var (
	fuzzOnce sync.Once
	fuzzSvc  *Service
	fuzzMe   mailbox.Token
	fuzzPeer mailbox.Token
)

func fuzzService(t testing.TB) *Service {
	fuzzOnce.Do(func() {
		dir, err := tempDir()
		if err != nil {
			panic(err)
		}
		ca, err := pki.LoadOrCreate(dir, "ca", "fuzz CA")
		if err != nil {
			panic(err)
		}
		tokens, err := OpenTokens(filepath.Join(dir, "tokens"))
		if err != nil {
			panic(err)
		}
		fuzzMe, _ = tokens.Issue(context.Background(), [32]byte{1}, 0)
		fuzzPeer, _ = tokens.Issue(context.Background(), [32]byte{2}, 0)
		fuzzSvc, err = New(Options{DeviceCAs: []*x509.Certificate{ca.Cert}, Tokens: tokens,
			Mailbox: &memMailbox{q: map[mailbox.Token][]mailbox.Delivery{}, keys: map[[48]byte]uint64{}}})
		if err != nil {
			panic(err)
		}
	})
	return fuzzSvc
}

// FuzzConnFrames feeds arbitrary bytes to an authenticated connection:
// the relay must neither panic nor hang, whatever the frames.
func FuzzConnFrames(f *testing.F) {
	svc := fuzzService(f)
	frame := func(cmd byte, fields ...courier.Field) []byte {
		fr := courier.Frame{Command: cmd, Fields: fields}
		return fr.Marshal()
	}
	o := &ids.Outgoing{Command: ids.CmdIMessage, Version: ids.Version, Sender: "mailto:a@example.com",
		Destinations: []ids.Destination{{Token: fuzzPeer[:], Payload: []byte("x")}, {Token: make([]byte, 32), Payload: []byte("y")}}}
	rand.Read(o.UUID[:])
	m := courier.TopicOf(courier.TopicIMessage)
	f.Add(frame(courier.CmdKeepAlive))
	f.Add(frame(courier.CmdFilter, courier.Field{ID: 1, Value: fuzzMe[:]}, courier.Field{ID: 2, Value: m[:]}))
	f.Add(frame(courier.CmdSendMessage, courier.Field{ID: 1, Value: m[:]}, courier.Field{ID: 2, Value: fuzzPeer[:]},
		courier.Field{ID: 3, Value: []byte("direct")}, courier.Field{ID: 4, Value: []byte{0, 0, 0, 1}}))
	f.Add(frame(courier.CmdSendMessage, courier.Field{ID: 1, Value: m[:]}, courier.Field{ID: 2, Value: fuzzMe[:]},
		courier.Field{ID: 3, Value: o.Marshal()}, courier.Field{ID: 4, Value: []byte{0, 0, 0, 2}}))
	f.Add(frame(courier.CmdSendMessageAck, courier.Field{ID: 4, Value: []byte{0, 0, 0, 1}}, courier.Field{ID: 8, Value: []byte{0}}))
	f.Add(frame(courier.CmdConnect))
	f.Add([]byte{courier.CmdFilter, 0, 0, 0, 9, 1, 0, 32})
	f.Fuzz(func(t *testing.T, b []byte) {
		cl, sv := net.Pipe()
		c := &conn{s: svc, nc: sv, token: fuzzMe, authed: true}
		svc.mu.Lock()
		svc.all[c] = struct{}{}
		svc.mu.Unlock()
		done := make(chan struct{})
		go func() {
			c.loop()
			c.close()
			close(done)
		}()
		go func() { // the device reads whatever comes back
			buf := make([]byte, 4096)
			for {
				if _, err := cl.Read(buf); err != nil {
					return
				}
			}
		}()
		cl.SetWriteDeadline(time.Now().Add(5 * time.Second))
		cl.Write(b)
		// Give the relay's pump, if any, a moment, then hang up.
		time.Sleep(time.Millisecond)
		cl.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("connection did not end after the device hung up")
		}
	})
}

func tempDir() (string, error) { return os.MkdirTemp("", "relayfuzz") }
