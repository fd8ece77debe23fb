package vectors

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLoadKeysRejectsMismatch checks that a keys file whose published
// values disagree with its private keys is refused.
func TestLoadKeysRejectsMismatch(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Swap alice's identity hash for bob's.
	s := strings.Replace(string(b), "d7aff24af042f4cbbdb39c9d6630f702f2773394ebcefaf91c25e9c9a9e0a095",
		"da6aa39c0f31c87a42252d10353facc7d5b944989c46450e8858ab02678a545c", 1)
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeys(path); err == nil {
		t.Fatal("LoadKeys accepted a keys file whose identity hash does not match its keys")
	}
	// ReadKeyEntries only reads: it gives the edited value as written.
	entries, err := ReadKeyEntries(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := entries["alice"].HashHex; got != "da6aa39c0f31c87a42252d10353facc7d5b944989c46450e8858ab02678a545c" {
		t.Errorf("ReadKeyEntries: alice's hash %s, want the edited value", got)
	}
}

// TestDirs checks the folder list of the interoperability tests: the
// vendored copy, the shared folder when SEALPOST_VECTORS names it, and an
// error under CI without it.
func TestDirs(t *testing.T) {
	const vendored = "../testdata/vectors"
	t.Setenv("SEALPOST_VECTORS", "")
	t.Setenv("CI", "")
	if d, err := Dirs(vendored); err != nil || !slices.Equal(d, []string{vendored}) {
		t.Errorf("no SEALPOST_VECTORS, no CI: %v, %v", d, err)
	}
	t.Setenv("CI", "true")
	if d, err := Dirs(vendored); err == nil || !strings.Contains(err.Error(), "SEALPOST_VECTORS") {
		t.Errorf("CI without SEALPOST_VECTORS: %v, %v; want an error naming SEALPOST_VECTORS", d, err)
	}
	t.Setenv("SEALPOST_VECTORS", "/shared/vectors")
	if d, err := Dirs(vendored); err != nil || !slices.Equal(d, []string{vendored, "/shared/vectors"}) {
		t.Errorf("CI with SEALPOST_VECTORS: %v, %v", d, err)
	}
}

// TestLoadDir checks that LoadDir reads every vector file of the vendored
// copy in name order, leaves out the keys file, and refuses a folder
// holding a file of an unknown scheme.
func TestLoadDir(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "vectors")
	files, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f.Path)+":"+f.Scheme)
	}
	want := []string{"mmcs_from_spec_python.json:" + SchemeMMCS, "pair_from_pypush.json:" + SchemePair,
		"pairec_from_spec_python.json:" + SchemePairEC}
	if !slices.Equal(got, want) {
		t.Errorf("LoadDir = %v, want %v", got, want)
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "other.json"), []byte(`{"scheme": "other", "vectors": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(bad); err == nil {
		t.Error("LoadDir accepted a file of an unknown scheme")
	}
}

// TestLoadSets checks that LoadSets reads the vendored folder's parties and
// vector files when SEALPOST_VECTORS is unset.
func TestLoadSets(t *testing.T) {
	t.Setenv("SEALPOST_VECTORS", "")
	t.Setenv("CI", "")
	dir := filepath.Join("..", "..", "testdata", "vectors")
	sets, err := LoadSets(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 1 || sets[0].Dir != dir || len(sets[0].Files) != 3 {
		t.Fatalf("LoadSets = %d sets; want the vendored folder with its 3 vector files", len(sets))
	}
	for _, name := range []string{"alice", "bob", "mallory"} {
		if p := sets[0].Keys[name]; p == nil || p.Name != name || p.Keys == nil {
			t.Errorf("no party %q", name)
		}
	}
}
