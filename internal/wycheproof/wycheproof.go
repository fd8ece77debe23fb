// Package wycheproof finds and decodes the external test vectors that the
// conformance tests (C1–C8 in shared/docs/testing.md) run Sealpost's
// primitives over. It is for tests only; nothing on the network path imports
// it.
//
// Two sources:
//
//   - Project Wycheproof (github.com/C2SP/wycheproof), fetched as a Go module
//     at a pinned version through the Go module proxy with `go mod download`,
//     so it needs no entry in go.mod and lands in the module cache like any
//     dependency. [Load] decodes one of its JSON files (testvectors_v1/) into
//     the typed structures below and checks the file's test count.
//   - NIST CAVP response files (.rsp) shipped by Debian's
//     python3-cryptography-vectors package (see cavp.go) or in GOROOT.
//
// When a source is missing, [Require] and [RequireDebian] skip the test on a
// developer machine and fail it in CI (when $CI is set), telling how to
// install it.
//
// Dir and DebianDir run their command once per process and are safe for
// concurrent use.
package wycheproof

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// The Wycheproof module and the version the tests are pinned to.
const (
	Module  = "github.com/C2SP/wycheproof"
	Version = "v0.0.0-20250901140545-b51abcfb8daf"
)

// vectorsDir is the folder of the module that holds the v1 JSON files.
const vectorsDir = "testvectors_v1"

// Results a Wycheproof test can expect.
const (
	Valid      = "valid"
	Invalid    = "invalid"
	Acceptable = "acceptable"
)

// Unavailable stops tb because an external vector source is missing: a skip
// on a developer machine, a failure in CI ($CI non-empty), where every
// conformance test must run.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s (CI is set, so this is a failure)", msg)
	}
	tb.Skip(msg)
}

// GoTool returns the path of the go command: the one of the toolchain that
// runs the test ($GOROOT/bin/go, which `go test` sets), else the first on
// PATH.
func GoTool() (string, error) {
	for _, root := range []string{os.Getenv("GOROOT"), runtime.GOROOT()} {
		if root == "" {
			continue
		}
		p := filepath.Join(root, "bin", "go")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return exec.LookPath("go")
}

// GoEnv returns `go env name`, e.g. GoEnv("GOROOT").
func GoEnv(name string) (string, error) {
	gotool, err := GoTool()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(gotool, "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return string(bytes.TrimSpace(out)), nil
}

var dirOnce = sync.OnceValues(download)

// Dir returns the directory of the pinned Wycheproof module, downloading it
// into the module cache through the Go module proxy if it is not there yet.
func Dir() (string, error) { return dirOnce() }

func download() (string, error) {
	gotool, err := GoTool()
	if err != nil {
		return "", fmt.Errorf("no go command: %w", err)
	}
	// Run outside any module, so the download neither reads nor touches this
	// project's go.mod and go.sum.
	tmp, err := os.MkdirTemp("", "wycheproof-download-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command(gotool, "mod", "download", "-json", Module+"@"+Version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOWORK=off", "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var info struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(out, &info); err != nil && runErr == nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", Module, Version, err)
	}
	switch {
	case info.Error != "":
		return "", fmt.Errorf("go mod download %s@%s: %s", Module, Version, info.Error)
	case runErr != nil:
		return "", fmt.Errorf("go mod download %s@%s: %w: %s", Module, Version, runErr, bytes.TrimSpace(stderr.Bytes()))
	case info.Dir == "":
		return "", fmt.Errorf("go mod download %s@%s: no Dir in its output", Module, Version)
	}
	if _, err := os.Stat(filepath.Join(info.Dir, vectorsDir)); err != nil {
		return "", fmt.Errorf("%s@%s: %w", Module, Version, err)
	}
	return info.Dir, nil
}

// Load decodes the Wycheproof file name (e.g. "hmac_sha256_test.json") into
// v, normally a *File[G] with G one of the group types below. It fails if the
// file's numberOfTests disagrees with the tests it holds.
func Load(name string, v any) error {
	dir, err := Dir()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(dir, vectorsDir, name))
	if err != nil {
		return err
	}
	var count struct {
		NumberOfTests int `json:"numberOfTests"`
		TestGroups    []struct {
			Tests []json.RawMessage `json:"tests"`
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(b, &count); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	n := 0
	for _, g := range count.TestGroups {
		n += len(g.Tests)
	}
	if n == 0 || n != count.NumberOfTests {
		return fmt.Errorf("%s: holds %d tests, says numberOfTests=%d", name, n, count.NumberOfTests)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Require loads the Wycheproof file name into v for a test. A module that
// cannot be downloaded skips the test (fails it in CI); a file that is
// missing or does not decode always fails it.
func Require(tb testing.TB, name string, v any) {
	tb.Helper()
	if _, err := Dir(); err != nil {
		Unavailable(tb, "Wycheproof vectors unavailable (%v); fetch them with `go mod download %s@%s`", err, Module, Version)
	}
	if err := Load(name, v); err != nil {
		tb.Fatalf("wycheproof: %v", err)
	}
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
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// File is one Wycheproof JSON file with test groups of type G.
type File[G any] struct {
	Algorithm     string          `json:"algorithm"`
	Schema        string          `json:"schema"`
	NumberOfTests int             `json:"numberOfTests"`
	Notes         map[string]Note `json:"notes"`
	TestGroups    []G             `json:"testGroups"`
}

// Note explains a flag.
type Note struct {
	BugType     string `json:"bugType"`
	Description string `json:"description"`
}

// Test holds the fields every test case has.
type Test struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  string   `json:"result"`
}

// HasFlag reports whether t carries flag.
func (t *Test) HasFlag(flag string) bool {
	for _, f := range t.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

// String names the case for failure messages.
func (t *Test) String() string {
	return fmt.Sprintf("tcId %d (%s; %q; %v)", t.TcID, t.Result, t.Comment, t.Flags)
}

// RSAOAEPGroup is a group of rsaes_oaep_decrypt_schema_v1.json.
type RSAOAEPGroup struct {
	KeySize         int           `json:"keySize"`
	SHA             string        `json:"sha"`
	MGF             string        `json:"mgf"`
	MGFSHA          string        `json:"mgfSha"`
	PrivateKeyPKCS8 Hex           `json:"privateKeyPkcs8"`
	PrivateKeyPEM   string        `json:"privateKeyPem"`
	Tests           []RSAOAEPTest `json:"tests"`
}

// RSAOAEPTest is one OAEP decryption case.
type RSAOAEPTest struct {
	Test
	Msg   Hex `json:"msg"`
	CT    Hex `json:"ct"`
	Label Hex `json:"label"`
}

// ECPublicKey is the publicKey object of the EC schemas.
type ECPublicKey struct {
	Curve        string `json:"curve"`
	KeySize      int    `json:"keySize"`
	Uncompressed Hex    `json:"uncompressed"`
	Wx           Hex    `json:"wx"`
	Wy           Hex    `json:"wy"`
}

// ECDSAGroup is a group of ecdsa_verify_schema_v1.json (DER signatures) or
// ecdsa_p1363_verify_schema_v1.json (raw r ‖ s).
type ECDSAGroup struct {
	PublicKey    ECPublicKey     `json:"publicKey"`
	PublicKeyDER Hex             `json:"publicKeyDer"`
	SHA          string          `json:"sha"`
	Tests        []SignatureTest `json:"tests"`
}

// SignatureTest is one signature verification case.
type SignatureTest struct {
	Test
	Msg Hex `json:"msg"`
	Sig Hex `json:"sig"`
}

// ECDHGroup is a group of ecdh_test_schema_v1.json (public keys as X.509
// SubjectPublicKeyInfo) or ecdh_ecpoint_test_schema_v1.json (public keys as
// bare encoded points).
type ECDHGroup struct {
	Curve    string     `json:"curve"`
	Encoding string     `json:"encoding"`
	Tests    []ECDHTest `json:"tests"`
}

// ECDHTest is one key agreement case.
type ECDHTest struct {
	Test
	Public  Hex `json:"public"`
	Private Hex `json:"private"`
	Shared  Hex `json:"shared"`
}

// MACGroup is a group of mac_test_schema_v1.json.
type MACGroup struct {
	KeySize int       `json:"keySize"`
	TagSize int       `json:"tagSize"`
	Tests   []MACTest `json:"tests"`
}

// MACTest is one MAC case; Tag may be a truncated tag (TagSize bits).
type MACTest struct {
	Test
	Key Hex `json:"key"`
	Msg Hex `json:"msg"`
	Tag Hex `json:"tag"`
}

// HKDFGroup is a group of hkdf_test_schema_v1.json.
type HKDFGroup struct {
	KeySize int        `json:"keySize"`
	Tests   []HKDFTest `json:"tests"`
}

// HKDFTest is one HKDF case.
type HKDFTest struct {
	Test
	IKM  Hex `json:"ikm"`
	Salt Hex `json:"salt"`
	Info Hex `json:"info"`
	Size int `json:"size"`
	OKM  Hex `json:"okm"`
}

// ErrNoVectors is wrapped by errors about a vector source that is not
// installed.
var ErrNoVectors = errors.New("vectors not installed")
