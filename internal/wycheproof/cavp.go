package wycheproof

import (
	"bufio"
	"compress/bzip2"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// DebianPackage ships NIST CAVP response files (AES, SHA, ECDSA SigVer) and
// other published vectors under cryptography_vectors/.
// .ci/install-test-deps installs it.
const DebianPackage = "python3-cryptography-vectors"

var debianOnce = sync.OnceValues(findDebian)

// DebianDir returns the cryptography_vectors folder installed by
// DebianPackage, as listed by `dpkg -L`. The error wraps ErrNoVectors when
// the package is not installed.
func DebianDir() (string, error) { return debianOnce() }

func findDebian() (string, error) {
	out, err := exec.Command("dpkg", "-L", DebianPackage).Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w (dpkg -L: %v)", DebianPackage, ErrNoVectors, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if filepath.Base(line) != "cryptography_vectors" {
			continue
		}
		if fi, err := os.Stat(line); err == nil && fi.IsDir() {
			return line, nil
		}
	}
	return "", fmt.Errorf("%s: %w (no cryptography_vectors folder in dpkg -L)", DebianPackage, ErrNoVectors)
}

// RequireDebian returns the path of rel (e.g. "hashes/SHA1/SHA1Monte.rsp")
// inside DebianDir. A missing package skips the test (fails it in CI); a
// package without that file always fails it.
func RequireDebian(tb testing.TB, rel string) string {
	tb.Helper()
	dir, err := DebianDir()
	if err != nil {
		Unavailable(tb, "%v; install it with `sudo .ci/install-test-deps` (or apt-get install %s)", err, DebianPackage)
	}
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("%s: %v", DebianPackage, err)
	}
	return p
}

// Record is one block of a CAVP response file: the "KEY = value" lines
// between blank lines, under the last "[section]" header seen.
type Record struct {
	Section string            // the text inside the last [brackets], e.g. "P-256,SHA-1" or "ENCRYPT"
	Line    int               // the line the record starts on
	Fields  map[string]string // values as written (hex is left undecoded)
}

// ParseRSP reads a CAVP response file. Comments (#) are dropped; a header line
// starts a new section; a record ends at a blank line or a header.
func ParseRSP(r io.Reader) ([]Record, error) {
	var (
		out     []Record
		section string
		cur     *Record
	)
	flush := func() {
		if cur != nil && len(cur.Fields) > 0 {
			out = append(out, *cur)
		}
		cur = nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24) // LongMsg lines are long
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			flush()
			section = line[1 : len(line)-1]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("line %d: not KEY = value: %q", n, line)
			}
			if cur == nil {
				cur = &Record{Section: section, Line: n, Fields: map[string]string{}}
			}
			cur.Fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	flush()
	return out, nil
}

// ReadRSP parses the CAVP response file at path; a name ending in .bz2 is
// decompressed first.
func ReadRSP(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".bz2") {
		r = bzip2.NewReader(f)
	}
	recs, err := ParseRSP(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return recs, nil
}
