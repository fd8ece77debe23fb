package relay

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/pki"
	"github.com/sealpost/sealpost/internal/ratelimit"
	"github.com/sealpost/sealpost/internal/reqsign"
)

// CertificatePath is the route of push-certificate issuance.
const CertificatePath = "/v1/push/certificate"

// Defaults of issuance.
const (
	// DeviceCertValidity is how long a push certificate is valid.
	DeviceCertValidity = 365 * 24 * time.Hour
	maxCertRequest     = 16 << 10
)

// DefaultCertRate is the default per-address issuance limit: a burst of 10
// and one more every 100 seconds.
var DefaultCertRate = ratelimit.Limit{Rate: 0.01, Burst: 10}

// CertRequest is the JSON body of POST /v1/push/certificate.
type CertRequest struct {
	// Identity is the device's 249-byte public identity (protocol.md
	// §2.1); its signing key signs the request (package reqsign), proving
	// possession.
	Identity []byte `json:"identity"`
	// CSR is a PKCS #10 request (DER) for the device's RSA push key, 2048
	// to 8192 bits, signed with that key.
	CSR []byte `json:"csr"`
}

// CertResponse is the answer.
type CertResponse struct {
	Certificate []byte `json:"certificate"` // DER
	CA          []byte `json:"ca"`          // DER of the issuing device CA
}

// Issuer issues device push certificates over HTTP.
//
// Threat model, honestly: any party that generates an identity key pair
// can obtain a push certificate; the request signature only proves it
// holds the identity's signing key, and the certificate binds the push key
// to that identity (its hash is the certificate's common name). What a
// certificate gives is a token and an empty queue, nothing more: messages
// reach a token only through senders who learned it from the directory.
// The per-address limit bounds how fast one address mints certificates;
// once the directory lands, issuance can require the identity to be
// registered there.
type Issuer struct {
	CA      *pki.CA
	Limiter *ratelimit.Limiter
	Verify  *reqsign.Verifier
	Now     func() time.Time
}

// NewIssuer returns an issuer with the given CA and per-address limit.
func NewIssuer(ca *pki.CA, limit ratelimit.Limit, now func() time.Time) *Issuer {
	if now == nil {
		now = time.Now
	}
	return &Issuer{CA: ca, Limiter: ratelimit.New(limit, now), Verify: reqsign.NewVerifier(0, now), Now: now}
}

func (is *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ok, wait := is.Limiter.Allow("push-cert:" + host); !ok {
		w.Header().Set("Retry-After", ratelimit.RetryAfter(wait))
		http.Error(w, "too many certificate requests from this address", http.StatusTooManyRequests)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCertRequest+1))
	if err != nil || len(body) > maxCertRequest {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	var req CertRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "body is not a certificate request: "+err.Error(), http.StatusBadRequest)
		return
	}
	id, err := identity.ParsePublic(req.Identity)
	if err != nil {
		http.Error(w, "identity: "+err.Error(), http.StatusBadRequest)
		return
	}
	hash := id.Hash()
	keyID := hex.EncodeToString(hash[:])
	if _, err := is.Verify.Verify(r, body, func(k string) (*ecdsa.PublicKey, error) {
		if k != keyID {
			return nil, reqsign.ErrUnknown
		}
		return id.SigningKey(), nil
	}); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	cert, err := is.issue(req.CSR, keyID)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(CertResponse{Certificate: cert.Raw, CA: is.CA.Cert.Raw})
}

func (is *Issuer) issue(csrDER []byte, keyID string) (*x509.Certificate, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, errors.New("csr does not parse")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, errors.New("csr signature does not verify")
	}
	pub, ok := csr.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() < minRSABits || pub.N.BitLen() > maxRSABits {
		return nil, errors.New("push key must be RSA of 2048 to 8192 bits")
	}
	now := is.Now()
	return is.CA.Sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "sealpost-device " + keyID, Organization: []string{"Sealpost"}},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(DeviceCertValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, pub)
}
