// Package vectors reads interoperability vector files in the schema of
// shared/vectors/README.md (copied to testdata/vectors/README.md) and the
// keys files that go with them.
//
// A vector file has a scheme ("pair", "pair-ec" or "mmcs-attachment"), a list
// of message vectors, and for pair-ec optionally signed prekeys. Each message
// vector names a sender and a receiver in a keys file and the outcome a
// receiver must reach: "ok" with the given plaintext, or the first check that
// fails ("malformed", "signature_invalid", "unwrap_failed", "tag_mismatch",
// "validator_mismatch"). [LoadFile] and [LoadDir] decode vector files,
// [LoadKeys] builds every party's keys and checks them against the values
// the keys file publishes, and [ReadKeyEntries] gives those values as
// written, for tests that want an expectation computed without the identity
// package.
//
// This package only reads; it imports identity and nothing of the schemes,
// so the in-package tests of pair and pairec can use it. Opening the vectors
// as a receiver is internal/vectorcheck. [Dirs] is the folder list every
// interoperability test reads (the vendored copy and $SEALPOST_VECTORS,
// which CI must set), and [LoadSets] reads the keys and vector files of
// each.
//
// It is for tests and the `sealpost vectors check` command, never for the
// network path. Everything here is safe for concurrent use: nothing is
// shared between calls.
package vectors

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sealpost/sealpost/identity"
)

// Party is one entry of a keys file: a device with all its keys.
type Party struct {
	Name string
	Keys *identity.Keys
}

// Keys maps party names to their keys.
type Keys map[string]*Party

// KeyEntry is one entry of a keys file as written: the PEM private keys
// and the values published for them, in hex ("" where the file leaves one
// out).
type KeyEntry struct {
	SigningPEM    string `json:"ids_signing_key_pem"`
	EncryptionPEM string `json:"ids_encryption_key_pem"`
	PublicHex     string `json:"public_message_identity_key_hex"`
	HashHex       string `json:"identity_hash_sha256_hex"`
	DevicePEM     string `json:"ngm_device_key_pem"`
	PrekeyPEM     string `json:"ngm_prekey_pem"`
	DeviceCompact string `json:"ngm_device_key_compact_hex"`
	PrekeyCompact string `json:"ngm_prekey_compact_hex"`
}

// prekeyEpoch is the time the vectors' prekeys were signed at; the signing
// time of a receiver's own prekey plays no part in opening payloads.
var prekeyEpoch = time.Unix(1700000000, 0)

// ReadKeyEntries reads a keys file as written, by party name, without
// building or checking any key.
func ReadKeyEntries(path string) (map[string]KeyEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw map[string]KeyEntry
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return raw, nil
}

// LoadKeys reads a keys file and checks that each party's published values
// (identity blob, identity hash, compact keys), where the file gives them,
// match its private keys.
func LoadKeys(path string) (Keys, error) {
	raw, err := ReadKeyEntries(path)
	if err != nil {
		return nil, err
	}
	out := make(Keys, len(raw))
	for name, e := range raw {
		k, err := e.keys()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		out[name] = &Party{Name: name, Keys: k}
	}
	return out, nil
}

func (e KeyEntry) keys() (*identity.Keys, error) {
	signing, err := parseEC(e.SigningPEM)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	device, err := parseEC(e.DevicePEM)
	if err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	prekey, err := parseEC(e.PrekeyPEM)
	if err != nil {
		return nil, fmt.Errorf("prekey: %w", err)
	}
	blk, _ := pem.Decode([]byte(e.EncryptionPEM))
	if blk == nil {
		return nil, errors.New("encryption key: no PEM block")
	}
	enc, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	k, err := identity.NewKeys(signing, enc, device, prekey, prekeyEpoch)
	if err != nil {
		return nil, err
	}
	hash, deviceX, prekeyX := k.Public().Hash(), k.DeviceKey(), k.SignedPrekey().Prekey
	for _, c := range []struct {
		what, want string
		got        []byte
	}{
		{"public identity", e.PublicHex, k.Public().Bytes()},
		{"identity hash", e.HashHex, hash[:]},
		{"compact device key", e.DeviceCompact, deviceX[:]},
		{"compact prekey", e.PrekeyCompact, prekeyX[:]},
	} {
		if c.want != "" && c.want != hex.EncodeToString(c.got) {
			return nil, fmt.Errorf("%s does not match the private keys", c.what)
		}
	}
	return k, nil
}

func parseEC(s string) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	if blk.Type == "EC PRIVATE KEY" {
		return x509.ParseECPrivateKey(blk.Bytes)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an EC key")
	}
	return ec, nil
}

// ParseEC decodes a PEM SEC 1 or PKCS #8 P-256 private key (for tests).
func ParseEC(s string) (*ecdsa.PrivateKey, error) { return parseEC(s) }

// File is a vector file.
type File struct {
	// Path is the file LoadFile read it from.
	Path    string   `json:"-"`
	Scheme  string   `json:"scheme"`
	Vectors []Vector `json:"vectors"`
	Prekeys []Prekey `json:"prekey_vectors"`
}

// Hex is a byte string written as hex in JSON.
type Hex []byte

// UnmarshalJSON decodes a hex string.
func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

// Vector is one message vector. Fields beyond those used here (other
// intermediates, provenance) are ignored.
type Vector struct {
	Name      string `json:"name"`
	Producer  string `json:"producer"`
	Sender    string `json:"sender"`
	Receiver  string `json:"receiver"`
	Expect    string `json:"expect"`
	Plaintext Hex    `json:"plaintext_hex"`
	Payload   Hex    `json:"payload_hex"`

	// pair intermediates
	Seed         Hex `json:"seed_88bit_hex"`
	HMACInput    Hex `json:"hmac_input_hex"`
	HMAC         Hex `json:"hmac_sha256_hex"`
	AESKey       Hex `json:"aes_key_hex"`
	Ciphertext   Hex `json:"aes_ctr_ciphertext_hex"`
	RSAPlaintext Hex `json:"rsa_oaep_plaintext_hex"`

	// pair-ec intermediates
	Counter      *uint32 `json:"counter"`
	ECDHSecret   Hex     `json:"ecdh_secret_hex"`
	AES256Key    Hex     `json:"aes256_key_hex"`
	IV           Hex     `json:"ctr_iv_hex"`
	InnerPadded  Hex     `json:"inner_padded_plaintext_hex"`
	EphemeralPEM string  `json:"ephemeral_key_pem"`

	// mmcs-attachment
	DecryptionKey   string   `json:"decryption_key_hex"`
	Encrypted       Hex      `json:"encrypted_hex"`
	MMCSSignature   string   `json:"mmcs_signature_hex"`
	ChunkSignatures []string `json:"chunk_signatures_hex"`
	FileSize        *int64   `json:"file_size"`
}

// Prekey is a signed-prekey vector.
type Prekey struct {
	Device   string   `json:"device"`
	Expect   string   `json:"expect"`
	Record   Hex      `json:"public_device_prekey_protobuf_hex"`
	Time     *float64 `json:"timestamp"`
	Name     string   `json:"name"`
	Producer string   `json:"producer"`
}

// LoadFile reads a vector file.
func LoadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch f.Scheme {
	case SchemePair, SchemePairEC, SchemeMMCS:
	default:
		return nil, fmt.Errorf("%s: unknown scheme %q", path, f.Scheme)
	}
	f.Path = path
	return &f, nil
}

// The schemes a vector file can name.
const (
	SchemePair   = "pair"
	SchemePairEC = "pair-ec"
	SchemeMMCS   = "mmcs-attachment"
)
