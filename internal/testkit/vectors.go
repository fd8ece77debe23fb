package testkit

import (
	"path/filepath"
	"testing"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/vectors"
)

// VectorDir is the vendored copy of the interoperability vectors, relative
// to a package at the repository root.
var VectorDir = filepath.Join("..", "testdata", "vectors")

// VectorKeys loads every party of VectorDir/keys.json with
// vectors.LoadKeys, which checks the published identity blob, identity
// hash and compact keys against the keys.
func VectorKeys(tb testing.TB) vectors.Keys {
	tb.Helper()
	keys, err := vectors.LoadKeys(filepath.Join(VectorDir, "keys.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return keys
}

// VectorFile loads the vector file VectorDir/name with vectors.LoadFile.
func VectorFile(tb testing.TB, name string) *vectors.File {
	tb.Helper()
	f, err := vectors.LoadFile(filepath.Join(VectorDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// Parties returns alice, bob and mallory of VectorKeys, and fails tb if
// one of them is missing.
func Parties(tb testing.TB) (alice, bob, mallory *identity.Keys) {
	tb.Helper()
	keys := VectorKeys(tb)
	for _, n := range []string{"alice", "bob", "mallory"} {
		if keys[n] == nil {
			tb.Fatalf("keys.json has no %q", n)
		}
	}
	return keys["alice"].Keys, keys["bob"].Keys, keys["mallory"].Keys
}
