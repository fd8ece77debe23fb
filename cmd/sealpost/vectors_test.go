package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVectorsCheck(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "vectors")
	files := []string{
		filepath.Join(dir, "pair_from_pypush.json"),
		filepath.Join(dir, "pairec_from_spec_python.json"),
		filepath.Join(dir, "mmcs_from_spec_python.json"),
	}
	var out, errOut bytes.Buffer
	if code := run(append([]string{"vectors", "check"}, files...), &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; last != "20 passed, 0 failed" {
		t.Errorf("last line %q, want %q", last, "20 passed, 0 failed")
	}
	if len(lines) != 21 {
		t.Errorf("%d lines, want one per vector plus the summary", len(lines))
	}

	// A vector whose expectation is wrong must fail the command.
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(b), `"expect": "tag_mismatch"`, `"expect": "ok"`, 1)
	if bad == string(b) {
		t.Fatal("fixture edit did not apply")
	}
	tmp := t.TempDir()
	badPath := filepath.Join(tmp, "bad.json")
	if err := os.WriteFile(badPath, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code := run([]string{"vectors", "check", "--keys", filepath.Join(dir, "keys.json"), badPath}, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "FAIL pair neg_tampered_resigned_by_sender: expected ok, got tag_mismatch") ||
		!strings.HasSuffix(strings.TrimSpace(out.String()), "7 passed, 1 failed") {
		t.Errorf("exit %d, output:\n%s", code, out.String())
	}

	// A missing keys file is a readable error with a hint.
	errOut.Reset()
	if code := run([]string{"vectors", "check", badPath}, &out, &errOut); code != 1 ||
		!strings.HasPrefix(errOut.String(), "sealpost: error: ") || !strings.Contains(errOut.String(), "hint:") {
		t.Errorf("missing keys: exit %d, stderr %q", code, errOut.String())
	}
}
