// Package pki is the small certificate authority a sealpostd node keeps in
// its data folder.
//
// On first start the node creates two CAs, each an ECDSA P-256 key and a
// self-signed certificate valid for ten years:
//
//   - the server CA (ca.pem, ca.key) signs the node's TLS certificate, which is
//     issued afresh at every start for the names the node serves. Clients pass
//     ca.pem to `sealpost init --ca`.
//   - the device CA (device-ca.pem, device-ca.key) signs the push certificates
//     devices present in the courier Connect command.
//
// Keys are written with mode 0600, certificates with 0644, each file
// atomically. Nodes of one deployment share the same CA files: copies, or
// one folder (sealpostd --ca-dir); creation holds a lock on the folder
// (flock on .ca.lock), so nodes starting together on an empty one create
// each CA once.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/sealpost/sealpost/internal/atomicfile"
)

const caValidity = 10 * 365 * 24 * time.Hour

// CA is a certificate authority: its certificate and signing key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// LoadOrCreate loads the CA stored as <dir>/<name>.pem and <name>.key, or
// creates it with the given common name when neither file exists (under
// the folder's lock; loading takes no lock, so a read-only folder that
// holds the CA works).
func LoadOrCreate(dir, name, commonName string) (*CA, error) {
	certPath := filepath.Join(dir, name+".pem")
	keyPath := filepath.Join(dir, name+".key")
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	if certErr == nil && keyErr == nil {
		return parseCA(certPEM, keyPEM)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("pki: locking %s: %w", dir, err)
	}
	defer unlock()
	if ca, err, found := load(certPath, keyPath); found {
		return ca, err // made by another node meanwhile, or damaged
	}
	return create(certPath, keyPath, commonName)
}

// Check reports, without creating anything, whether LoadOrCreate could
// use the CA <name> in dir: nil if both of its files exist, or neither
// (LoadOrCreate then makes them); an error if only one does. A half-made
// CA is looked at again under the folder's lock (where the lock can be
// taken), so that one another node is creating at that moment is not
// taken for a damaged one.
func Check(dir, name string) error {
	half := func() bool {
		_, certErr := os.Stat(filepath.Join(dir, name+".pem"))
		_, keyErr := os.Stat(filepath.Join(dir, name+".key"))
		return (certErr == nil) != (keyErr == nil)
	}
	if !half() {
		return nil
	}
	if unlock, err := lockDir(dir); err == nil {
		defer unlock()
		if !half() {
			return nil
		}
	}
	return fmt.Errorf("%s holds only one of %s.pem and %s.key", dir, name, name)
}

// load reads a CA's two files; found is false when neither exists.
func load(certPath, keyPath string) (ca *CA, err error, found bool) {
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		ca, err := parseCA(certPEM, keyPEM)
		return ca, err, true
	case errors.Is(certErr, os.ErrNotExist) && errors.Is(keyErr, os.ErrNotExist):
		return nil, nil, false
	case certErr != nil && !errors.Is(certErr, os.ErrNotExist):
		return nil, certErr, true
	case keyErr != nil && !errors.Is(keyErr, os.ErrNotExist):
		return nil, keyErr, true
	default:
		return nil, fmt.Errorf("pki: only one of %s and %s exists; restore the other or remove both to create a new CA", certPath, keyPath), true
	}
}

func parseCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("pki: CA files are not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok || !cert.IsCA {
		return nil, errors.New("pki: CA files do not hold a CA certificate and its key")
	}
	return &CA{Cert: cert, Key: signer}, nil
}

func create(certPath, keyPath, commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Sealpost"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// CertPEM returns the CA certificate in PEM form.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// ServerCertificate issues a TLS certificate for hosts (DNS names or IP
// addresses), valid for a year, with a fresh key.
func (ca *CA) ServerCertificate(hosts []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key}, nil
}

// Sign issues a certificate from tmpl for pub. The caller sets the subject,
// validity and usages; Sign sets the serial number.
func (ca *CA) Sign(tmpl *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error) {
	t := *tmpl
	t.SerialNumber = serial()
	der, err := x509.CreateCertificate(rand.Reader, &t, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}
