package vectorcheck

import (
	"path/filepath"
	"testing"

	"github.com/sealpost/sealpost/internal/vectors"
)

// TestInteropVectors opens every vector of every file as its receiver, in
// the vendored copy of the interoperability vectors and, when
// SEALPOST_VECTORS names it, the shared folder (CI always sets it).
func TestInteropVectors(t *testing.T) {
	sets, err := vectors.LoadSets(filepath.Join("..", "..", "testdata", "vectors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range sets {
		passed, failed := 0, 0
		for _, f := range set.Files {
			for _, r := range Check(f, set.Keys) {
				if r.Pass() {
					passed++
				} else {
					failed++
					t.Errorf("%s %s: expected %s, got %s", f.Path, r.Name, r.Expected, r.Got)
				}
			}
		}
		if passed == 0 {
			t.Errorf("%s: no vectors found", set.Dir)
		}
		t.Logf("vectors %s: %d passed, %d failed", set.Dir, passed, failed)
	}
}
