package identity

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/sealpost/sealpost/internal/atomicfile"
)

// Keys is everything private a device holds: the "pair" signing and
// encryption keys, and the pair-ec (NGM) device key and prekey with the
// prekey's signed record. Keys is immutable once built and safe for
// concurrent use.
type Keys struct {
	signing *ecdsa.PrivateKey
	enc     *rsa.PrivateKey
	device  *ecdsa.PrivateKey
	prekey  *ecdsa.PrivateKey

	public       *Public
	deviceKey    CompactKey
	prekeyECDH   *ecdh.PrivateKey
	signedPrekey *SignedPrekey
}

// Generate creates a new device: a P-256 signing key, an RSA-1280
// encryption key, and compactable P-256 device key and prekey, the prekey
// signed now.
func Generate() (*Keys, error) {
	signing, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	enc, err := rsa.GenerateKey(rand.Reader, RSABits)
	if err != nil {
		return nil, err
	}
	device, err := GenerateCompactable()
	if err != nil {
		return nil, err
	}
	prekey, err := GenerateCompactable()
	if err != nil {
		return nil, err
	}
	return NewKeys(signing, enc, device, prekey, time.Now())
}

// NewKeys assembles a device's keys and signs the prekey with the device key
// at time t. It checks every key: P-256 signing key, RSA-1280 with e = 65537,
// compactable P-256 device key and prekey.
func NewKeys(signing *ecdsa.PrivateKey, enc *rsa.PrivateKey, device, prekey *ecdsa.PrivateKey, t time.Time) (*Keys, error) {
	k, err := newKeys(signing, enc, device, prekey)
	if err != nil {
		return nil, err
	}
	if k.signedPrekey, err = SignPrekey(device, k.prekeyECDHPublic(), t); err != nil {
		return nil, err
	}
	return k, nil
}

func newKeys(signing *ecdsa.PrivateKey, enc *rsa.PrivateKey, device, prekey *ecdsa.PrivateKey) (*Keys, error) {
	if signing == nil || enc == nil || device == nil || prekey == nil {
		return nil, errors.New("identity: all four device keys are required")
	}
	if err := enc.Validate(); err != nil {
		return nil, fmt.Errorf("identity: invalid encryption key: %w", err)
	}
	pub, err := NewPublic(&signing.PublicKey, &enc.PublicKey)
	if err != nil {
		return nil, err
	}
	k := &Keys{signing: signing, enc: enc, device: device, prekey: prekey, public: pub}
	if k.deviceKey, err = CompactKeyOf(&device.PublicKey); err != nil {
		return nil, fmt.Errorf("identity: device key: %w", err)
	}
	if _, err = CompactKeyOf(&prekey.PublicKey); err != nil {
		return nil, fmt.Errorf("identity: prekey: %w", err)
	}
	if k.prekeyECDH, err = prekey.ECDH(); err != nil {
		return nil, fmt.Errorf("identity: prekey: %w", err)
	}
	return k, nil
}

func (k *Keys) prekeyECDHPublic() CompactKey {
	c, _ := CompactKeyOf(&k.prekey.PublicKey) // checked in newKeys
	return c
}

// Public returns the device's "pair" public identity.
func (k *Keys) Public() *Public { return k.public }

// DeviceKey returns the compact NGM device key (the pair-ec signing key).
func (k *Keys) DeviceKey() CompactKey { return k.deviceKey }

// SignedPrekey returns the signed prekey record to publish.
func (k *Keys) SignedPrekey() *SignedPrekey { return k.signedPrekey }

// SigningKey returns the "pair" ECDSA signing key.
func (k *Keys) SigningKey() *ecdsa.PrivateKey { return k.signing }

// EncryptionKey returns the "pair" RSA decryption key.
func (k *Keys) EncryptionKey() *rsa.PrivateKey { return k.enc }

// DeviceSigningKey returns the NGM device key, which signs pair-ec payloads.
func (k *Keys) DeviceSigningKey() *ecdsa.PrivateKey { return k.device }

// PrekeyECDH returns the prekey as an ECDH key, which opens pair-ec payloads.
func (k *Keys) PrekeyECDH() *ecdh.PrivateKey { return k.prekeyECDH }

// String never prints key material.
func (k *Keys) String() string { return "identity.Keys(" + k.public.String() + ")" }

// PEM block types of a saved key file, in the order Marshal writes them.
const (
	pemSigning      = "SEALPOST SIGNING KEY"
	pemEncryption   = "SEALPOST ENCRYPTION KEY"
	pemDevice       = "SEALPOST NGM DEVICE KEY"
	pemPrekey       = "SEALPOST NGM PREKEY"
	pemHeaderRecord = "Signed-Prekey"
)

// Marshal encodes the keys as four PEM blocks holding PKCS #8 keys. The
// prekey block carries the signed prekey record in a header, so loading
// gives back the exact published record.
func (k *Keys) Marshal() []byte {
	var buf bytes.Buffer
	for _, blk := range []struct {
		typ string
		key any
		hdr map[string]string
	}{
		{pemSigning, k.signing, nil},
		{pemEncryption, k.enc, nil},
		{pemDevice, k.device, nil},
		{pemPrekey, k.prekey, map[string]string{pemHeaderRecord: hex.EncodeToString(k.signedPrekey.Marshal())}},
	} {
		der, err := x509.MarshalPKCS8PrivateKey(blk.key)
		if err != nil {
			panic("identity: cannot encode a validated key: " + err.Error())
		}
		pem.Encode(&buf, &pem.Block{Type: blk.typ, Headers: blk.hdr, Bytes: der})
	}
	return buf.Bytes()
}

// ParseKeys decodes what Marshal wrote and checks every key again.
func ParseKeys(b []byte) (*Keys, error) {
	var keys [4]any
	var record []byte
	for i, typ := range []string{pemSigning, pemEncryption, pemDevice, pemPrekey} {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil || blk.Type != typ {
			return nil, fmt.Errorf("identity: key file: expected a %q block", typ)
		}
		key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("identity: key file: %s: %w", typ, err)
		}
		keys[i] = key
		if typ == pemPrekey {
			if record, err = hex.DecodeString(blk.Headers[pemHeaderRecord]); err != nil {
				return nil, errors.New("identity: key file: prekey record missing")
			}
		}
	}
	if len(bytes.TrimSpace(b)) != 0 {
		return nil, errors.New("identity: key file: trailing data")
	}
	signing, ok1 := keys[0].(*ecdsa.PrivateKey)
	enc, ok2 := keys[1].(*rsa.PrivateKey)
	device, ok3 := keys[2].(*ecdsa.PrivateKey)
	prekey, ok4 := keys[3].(*ecdsa.PrivateKey)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, errors.New("identity: key file: wrong key type")
	}
	k, err := newKeys(signing, enc, device, prekey)
	if err != nil {
		return nil, err
	}
	sp, err := ParseSignedPrekey(record)
	if err != nil {
		return nil, err
	}
	if !sp.Prekey.Equal(k.prekeyECDHPublic()) || sp.Verify(k.deviceKey) != nil {
		return nil, errors.New("identity: key file: prekey record does not match the keys")
	}
	k.signedPrekey = sp
	return k, nil
}

// Save writes the keys to path with mode 0600, atomically (temporary file,
// fsync, rename), so a crash leaves either the old file or the new one.
func (k *Keys) Save(path string) error {
	return atomicfile.WriteFile(path, k.Marshal(), 0o600)
}

// Load reads keys saved by Save. It refuses a file that others can read.
func Load(path string) (*Keys, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity: %s is readable by others (mode %s); run chmod 600 %s",
			path, info.Mode().Perm(), strconv.Quote(path))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseKeys(b)
}
