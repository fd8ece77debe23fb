package blobs

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// transportBuffer is the size of each of NewTransport's buffers.
const transportBuffer = 256 << 10

// NewTransport returns an HTTP transport tuned for moving blobs over TLS
// (a Client works with any *http.Client; this one is faster):
//
//   - HTTP/1.1 only, several connections (one per chunk in flight): Go's
//     HTTP/2 multiplexes everything over one connection with flow-control
//     windows, which is slower for bulk transfers;
//   - 256 KiB read and write buffers in HTTP, and request bodies read in
//     pieces of 256 KiB;
//   - under TLS, a 256 KiB read buffer, so that the socket is read in
//     large pieces and not one TLS record (16 KiB at most) per system
//     call, and the records of one write gathered into one system call
//     (which also makes larger packets on the way).
//
// cfg is the TLS configuration (nil: the system's roots); the transport
// uses a copy with NextProtos set to http/1.1. The transport dials
// directly: it ignores proxy settings. Its connections are not *tls.Conn,
// so responses carry no TLS connection state (Response.TLS is nil). Each
// connection holds about 1 MiB of buffers while it moves a body.
func NewTransport(cfg *tls.Config) *http.Transport {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		TLSClientConfig: cfg,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			raw, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			c := cfg.Clone()
			if c.ServerName == "" {
				if host, _, err := net.SplitHostPort(addr); err == nil {
					c.ServerName = host
				}
			}
			under := &recordConn{Conn: raw, r: newReader(raw)}
			tc := tls.Client(under, c)
			if err := tc.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, err
			}
			return &batchedConn{Conn: tc, under: under}, nil
		},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		WriteBufferSize:     transportBuffer,
		ReadBufferSize:      transportBuffer,
	}
}

// recordConn is the TCP connection under TLS. A read returns what its
// buffer holds, or reads the socket once (as much as has arrived, up to
// the buffer's size): it never waits for more than the connection would.
// Between begin and end, writes (TLS records) are gathered, and end sends
// them in one system call.
type recordConn struct {
	net.Conn
	r *bufio.Reader

	mu       sync.Mutex
	batching bool
	out      []byte
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReaderSize(c, transportBuffer) }

func (c *recordConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *recordConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching {
		return c.Conn.Write(p)
	}
	c.out = append(c.out, p...)
	return len(p), nil
}

func (c *recordConn) begin() {
	c.mu.Lock()
	c.batching = true
	c.mu.Unlock()
}

// end sends what was gathered since begin.
func (c *recordConn) end() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = false
	if len(c.out) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.out)
	c.out = c.out[:0]
	return err
}

// batchedConn is a TLS connection whose writes go out in one system call
// each, whatever the number of records.
type batchedConn struct {
	*tls.Conn
	under *recordConn
}

func (c *batchedConn) Write(p []byte) (int, error) {
	c.under.begin()
	n, err := c.Conn.Write(p)
	if ferr := c.under.end(); err == nil && ferr != nil {
		n, err = 0, ferr
	}
	return n, err
}

// bodyBufs are the pieces ReadFrom reads request bodies in.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, transportBuffer); return &b }}

// ReadFrom sends what r gives, read in pieces of transportBuffer bytes (one
// Read each, so that a slow reader is not waited for). The HTTP transport
// copies request bodies with it.
func (c *batchedConn) ReadFrom(r io.Reader) (int64, error) {
	bp := bodyBufs.Get().(*[]byte)
	defer bodyBufs.Put(bp)
	// Only the Reader and Writer methods: io.CopyBuffer must neither hand
	// r a WriterTo's single write nor call this ReadFrom again.
	return io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{r}, *bp)
}
