package blobs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes *atomic.Int32
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestBatchedWrites: a write of many TLS records reaches the socket in one
// system call, a body sent with ReadFrom in one per 256 KiB, and the bytes
// arrive whole.
func TestBatchedWrites(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.StartTLS() // only for its certificate
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(tls.Server(c, srv.TLS.Clone()))
		received <- b
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int32
	under := &recordConn{Conn: countingConn{raw, &writes}}
	under.r = newReader(under.Conn)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tc := tls.Client(under, &tls.Config{RootCAs: pool, ServerName: "example.com"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c := &batchedConn{Conn: tc, under: under}

	one := bytes.Repeat([]byte("sealpost"), 200<<10/8) // 200 KiB: 13 records
	writes.Store(0)
	if n, err := c.Write(one); n != len(one) || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	if got := writes.Load(); got != 1 {
		t.Fatalf("a write of %d bytes made %d system calls, want 1", len(one), got)
	}
	body := make([]byte, 2*transportBuffer+1000)
	for i := range body {
		body[i] = byte(i * 7)
	}
	writes.Store(0)
	if n, err := c.ReadFrom(bytes.NewReader(body)); n != int64(len(body)) || err != nil {
		t.Fatalf("ReadFrom: %d, %v", n, err)
	}
	if got := writes.Load(); got != 3 {
		t.Fatalf("a body of %d bytes made %d system calls, want 3", len(body), got)
	}
	c.Close()
	if got := <-received; !bytes.Equal(got, append(one, body...)) {
		t.Fatalf("the server received %d bytes, not what was sent", len(got))
	}
}
