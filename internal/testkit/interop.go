package testkit

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/vectors"
)

// InteropVectors runs check, as a subtest named dir<i>/<file>/<vector>, on
// every vector of scheme in the folders vectors.LoadSets reads for
// VectorDir (the vendored copy and $SEALPOST_VECTORS, which CI must set)
// that expects "ok" and for which want reports true, with the keys of the
// vector's sender and receiver. A vector naming a party its keys file lacks is an error. It
// returns how many vectors it checked.
func InteropVectors(t *testing.T, scheme string, want func(*vectors.Vector) bool,
	check func(t *testing.T, v *vectors.Vector, from, to *identity.Keys)) int {
	t.Helper()
	sets, err := vectors.LoadSets(VectorDir)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for di, set := range sets {
		for _, f := range set.Files {
			if f.Scheme != scheme {
				continue
			}
			for i := range f.Vectors {
				v := &f.Vectors[i]
				if v.Expect != "ok" || !want(v) {
					continue
				}
				from, to := set.Keys[v.Sender], set.Keys[v.Receiver]
				if from == nil || to == nil {
					t.Errorf("%s %s: unknown party %q or %q", f.Path, v.Name, v.Sender, v.Receiver)
					continue
				}
				t.Run(fmt.Sprintf("dir%d/%s/%s", di, filepath.Base(f.Path), v.Name), func(t *testing.T) {
					check(t, v, from.Keys, to.Keys)
				})
				checked++
			}
		}
	}
	return checked
}

// OKVectors returns the vectors of the file VectorDir/name, which must be
// of scheme, that expect "ok" and for which want reports true (those that
// record the intermediates a test needs). It fails tb if there are none.
func OKVectors(tb testing.TB, name, scheme string, want func(*vectors.Vector) bool) []vectors.Vector {
	tb.Helper()
	f := VectorFile(tb, name)
	if f.Scheme != scheme {
		tb.Fatalf("%s: scheme %q, want %q", name, f.Scheme, scheme)
	}
	var out []vectors.Vector
	for i := range f.Vectors {
		if v := &f.Vectors[i]; v.Expect == "ok" && want(v) {
			out = append(out, *v)
		}
	}
	if len(out) == 0 {
		tb.Fatalf("no positive %s vectors with intermediates", scheme)
	}
	return out
}

// KeyEntries reads VectorDir/keys.json as written (vectors.ReadKeyEntries:
// JSON only, no key is built), for expectations computed without the
// identity package.
func KeyEntries(tb testing.TB) map[string]vectors.KeyEntry {
	tb.Helper()
	m, err := vectors.ReadKeyEntries(filepath.Join(VectorDir, "keys.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
