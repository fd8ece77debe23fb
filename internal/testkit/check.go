package testkit

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealpost/sealpost/internal/openerr"
)

// RequireOpaque fails t unless err is the scheme's one opaque error (it
// matches opaque with errors.Is and prints the same text) and carries an
// internal reason (openerr.ReasonOf), as every refusal of Open must.
func RequireOpaque(t testing.TB, err, opaque error) {
	t.Helper()
	if !errors.Is(err, opaque) || err.Error() != opaque.Error() {
		t.Fatalf("error %v is not the opaque ErrCannotOpen", err)
	}
	if _, ok := openerr.ReasonOf(err); !ok {
		t.Fatalf("error %v carries no reason", err)
	}
}

// ReadJSON decodes the JSON file at path into v, and fails tb otherwise;
// a missing file's message says how to generate it (-update).
func ReadJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (generate with -update)", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatal(err)
	}
}

// WriteJSON writes v to path as JSON indented by two spaces with a final
// newline, creating the folder, for the -update mode of known-answer
// tests.
func WriteJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// Unhex decodes the hex string s, and fails tb if it is not hex.
func Unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
