package relay

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/reqsign"
)

// Item 2: a device obtains its push certificate for a key it generated
// (CSR in, certificate out) through a request signed by its identity key,
// then connects with it.
func TestCertificateIssuance(t *testing.T) {
	r := newRig(t, nil)
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	key := keys(t)[23]
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: r.tlsCfg}}
	hash := id.Public().Hash()
	keyID := hex.EncodeToString(hash[:])
	post := func(body []byte, sign bool, tamper bool) *http.Response {
		req, _ := http.NewRequest("POST", "https://"+r.addr+CertificatePath, bytes.NewReader(body))
		if sign {
			if err := reqsign.Sign(req, body, id.SigningKey(), keyID, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if tamper {
			body = append(bytes.Clone(body[:len(body)-1]), ' ', '}')
			req, _ = http.NewRequest("POST", "https://"+r.addr+CertificatePath, bytes.NewReader(body))
			reqsign.Sign(req, []byte("other"), id.SigningKey(), keyID, time.Now())
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	body, _ := json.Marshal(CertRequest{Identity: id.Public().Bytes(), CSR: csr})
	resp := post(body, true, false)
	if resp.StatusCode != 200 {
		t.Fatalf("issuance: %s", resp.Status)
	}
	var cr CertResponse
	json.NewDecoder(resp.Body).Decode(&cr)
	resp.Body.Close()
	cert, err := x509.ParseCertificate(cr.Certificate)
	if err != nil || cert.Subject.CommonName != "sealpost-device "+keyID || !bytes.Equal(cr.CA, r.srv.DeviceCA().Cert.Raw) {
		t.Fatalf("certificate: %v %q", err, cert.Subject.CommonName)
	}
	d := &device{key: key, cert: cr.Certificate}
	c := r.connect(d)
	c.Close()
	if len(d.token) != courier.TokenSize {
		t.Fatal("no token")
	}
	// Refusals: unsigned, signed over another body, a weak key, and the
	// per-address limit (burst 10).
	for name, resp := range map[string]*http.Response{
		"unsigned": post(body, false, false),
		"tampered": post(body, false, true),
		"weak CSR": func() *http.Response {
			csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, loadKey(t, "testdata/weak1024.pem"))
			b, _ := json.Marshal(CertRequest{Identity: id.Public().Bytes(), CSR: csr})
			return post(b, true, false)
		}(),
	} {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("%s: issued", name)
		}
	}
	limited := 0
	for range 12 {
		resp := post(body, true, false)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
	}
	if limited == 0 {
		t.Fatal("no rate limit after 16 requests")
	}
}
