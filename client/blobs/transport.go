package blobs

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
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
//   - 256 KiB read and write buffers in HTTP;
//   - a 256 KiB read buffer under TLS, so that the socket is read in large
//     pieces and not one TLS record (16 KiB at most) per system call.
//
// cfg is the TLS configuration (nil: the system's roots); the transport
// uses a copy with NextProtos set to http/1.1. The transport dials
// directly: it ignores proxy settings. Each connection holds about
// 768 KiB of buffers.
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
			tc := tls.Client(&readBufferedConn{Conn: raw, r: bufio.NewReaderSize(raw, transportBuffer)}, c)
			if err := tc.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, err
			}
			return tc, nil
		},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		WriteBufferSize:     transportBuffer,
		ReadBufferSize:      transportBuffer,
	}
}

// readBufferedConn reads its connection through a buffer. A read returns
// what the buffer holds, or reads the socket once (as much as has
// arrived, up to the buffer's size): it never waits for more than the
// connection would.
type readBufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *readBufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
