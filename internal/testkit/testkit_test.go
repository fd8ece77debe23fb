package testkit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"go/parser"
	"go/token"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/openerr"
	"github.com/sealpost/sealpost/internal/vectors"
)

// TestOnlyTestsImport checks the package's promise: no file of the module
// but a _test.go file imports it.
func TestOnlyTestsImport(t *testing.T) {
	const self = "github.com/sealpost/sealpost/internal/testkit"
	root := filepath.Join("..", "..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return nil // does not build either; go vet reports it
		}
		checked++
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == self && f.Name.Name != "testkit" {
				t.Errorf("%s imports %s; only _test.go files may", path, self)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d non-test Go files found under %s", checked, root)
	}
}

// TestPlaintext checks the generator against a frozen known-answer vector
// of pair (testdata/kat/pair_kat.json, size_16).
func TestPlaintext(t *testing.T) {
	got := sha256.Sum256(Plaintext(1587609603, 16))
	if hex.EncodeToString(got[:]) != "5283bab1700634d0389536397a64783434d983e698a5373015da33ee5dbd49b8" {
		t.Errorf("SHA-256(Plaintext(1587609603, 16)) = %x, want the frozen value", got)
	}
	if len(Plaintext(1, 0)) != 0 || len(Plaintext(1, 65535)) != 65535 {
		t.Error("Plaintext does not return n bytes")
	}
}

func TestAllocated(t *testing.T) {
	var sink []byte
	if n := Allocated(func() { sink = make([]byte, 1<<20) }); n < 1<<20 {
		t.Errorf("Allocated = %d for a 1 MiB allocation", n)
	}
	_ = sink
}

// useRepoVectors points VectorDir at the vendored vectors from this
// package's folder, and leaves $SEALPOST_VECTORS out, for the test.
func useRepoVectors(t *testing.T) {
	old := VectorDir
	VectorDir = filepath.Join("..", "..", "testdata", "vectors")
	t.Cleanup(func() { VectorDir = old })
	t.Setenv("SEALPOST_VECTORS", "")
	t.Setenv("CI", "")
}

func TestParties(t *testing.T) {
	useRepoVectors(t)
	alice, bob, mallory := Parties(t)
	if alice == nil || bob == nil || mallory == nil || alice.Public().Equal(bob.Public()) {
		t.Fatal("Parties did not return three distinct parties")
	}
}

// TestTally checks the counts behind Check: an acceptance, an opaque
// refusal with an allowed reason, one with another reason, a non-opaque
// error, and a refusal that released bytes.
func TestTally(t *testing.T) {
	tl := NewTally(openerr.ErrCannotOpen)
	f := &Fault{Kind: "k", Payload: []byte{1, 2, 3}, Allowed: []openerr.Reason{openerr.TagMismatch}}
	tl.Add(f, true, 3, nil)
	tl.Add(f, false, 0, openerr.New(openerr.TagMismatch))
	tl.Add(f, false, 0, openerr.New(openerr.Malformed))
	tl.Add(f, false, 0, errors.New("other"))
	tl.Add(f, true, 7, openerr.New(openerr.TagMismatch))
	if tl.Attempts != 5 || tl.Accepted != 1 || tl.NonNil != 1 || tl.Released != 7 || tl.NotOpaque != 1 ||
		len(tl.External) != 2 || tl.Unexpected["k"] != 2 || tl.Kinds["k"] != 5 ||
		tl.Reasons[openerr.TagMismatch] != 2 || tl.Reasons["(no reason)"] != 1 || len(tl.Examples) != 3 {
		t.Errorf("tally %+v", tl)
	}
}

func TestParallel(t *testing.T) {
	const n = 1000
	var runs [n]atomic.Int32
	Parallel(t, n, func(_ T, i int) { runs[i].Add(1) })
	for i := range runs {
		if c := runs[i].Load(); c != 1 {
			t.Fatalf("item %d ran %d times", i, c)
		}
	}
}

func TestFlipAndE3Size(t *testing.T) {
	p := []byte{0, 0}
	if q := Flip(p, 1, 7); q[0] != 0 || q[1] != 0x80 || p[1] != 0 {
		t.Errorf("Flip(p, 1, 7) = %x, p = %x", q, p)
	}
	sizes := []int{0, 100, 5000}
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := range 20 {
		n := E3Size(i, rng, sizes)
		if i%2 == 0 && n != sizes[(i/2)%3] || i%2 == 1 && (n < 0 || n > 1024) {
			t.Errorf("E3Size(%d) = %d", i, n)
		}
	}
}

// TestVectorHelpers checks what InteropVectors, OKVectors and KeyEntries
// give for the vendored vectors: the 5 positive pair vectors, the pair-ec
// ones that record an ephemeral key, and the keys file as written.
func TestVectorHelpers(t *testing.T) {
	useRepoVectors(t)
	var names []string
	n := InteropVectors(t, vectors.SchemePair, func(v *vectors.Vector) bool { return true },
		func(t *testing.T, v *vectors.Vector, from, to *identity.Keys) {
			if v.Expect != "ok" || from == nil || to == nil {
				t.Errorf("%s: expect %s, parties %v %v", v.Name, v.Expect, from != nil, to != nil)
			}
			names = append(names, v.Name)
		})
	if n != 5 || len(names) != 5 {
		t.Errorf("InteropVectors checked %d pair vectors (%v), want the 5 positive ones", n, names)
	}
	ec := OKVectors(t, "pairec_from_spec_python.json", vectors.SchemePairEC,
		func(v *vectors.Vector) bool { return v.EphemeralPEM != "" })
	if len(ec) != 5 {
		t.Errorf("OKVectors gave %d pair-ec vectors, want 5", len(ec))
	}
	keys := KeyEntries(t)
	if e, ok := keys["bob"]; !ok || len(e.PrekeyCompact) != 64 || e.EncryptionPEM == "" {
		t.Errorf("KeyEntries: bob is %+v", e)
	}
}

func TestJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "f.json")
	in := map[string]int{"a": 1}
	WriteJSON(t, path, in)
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "{\n  \"a\": 1\n}\n" {
		t.Errorf("WriteJSON wrote %q, %v", b, err)
	}
	var out map[string]int
	ReadJSON(t, path, &out)
	if out["a"] != 1 || len(out) != 1 {
		t.Errorf("ReadJSON gave %v", out)
	}
}

func TestRequireOpaque(t *testing.T) {
	RequireOpaque(t, openerr.New(openerr.TagMismatch), openerr.ErrCannotOpen)
}

func TestUnhex(t *testing.T) {
	if got := Unhex(t, "00ff10"); string(got) != "\x00\xff\x10" {
		t.Errorf("Unhex = %x", got)
	}
}
