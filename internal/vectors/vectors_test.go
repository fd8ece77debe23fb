package vectors

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vectorDirs returns the vendored copy of the interoperability vectors and,
// when SEALPOST_VECTORS names it, the shared folder (CI always sets it).
func vectorDirs(t *testing.T) []string {
	dirs := []string{filepath.Join("..", "..", "testdata", "vectors")}
	if d := os.Getenv("SEALPOST_VECTORS"); d != "" {
		dirs = append(dirs, d)
	} else if os.Getenv("CI") != "" {
		t.Fatal("CI must set SEALPOST_VECTORS to the shared vectors folder")
	}
	return dirs
}

// TestInteropVectors opens every vector of every file as its receiver.
func TestInteropVectors(t *testing.T) {
	for _, dir := range vectorDirs(t) {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		passed, failed := 0, 0
		for _, path := range files {
			if strings.HasPrefix(filepath.Base(path), "keys") {
				continue
			}
			keys, err := LoadKeys(filepath.Join(dir, "keys.json"))
			if err != nil {
				t.Fatal(err)
			}
			f, err := LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range Check(f, keys) {
				if r.Pass() {
					passed++
				} else {
					failed++
					t.Errorf("%s %s: expected %s, got %s", path, r.Name, r.Expected, r.Got)
				}
			}
		}
		if passed == 0 {
			t.Errorf("%s: no vectors found", dir)
		}
		t.Logf("vectors %s: %d passed, %d failed", dir, passed, failed)
	}
}

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
}
