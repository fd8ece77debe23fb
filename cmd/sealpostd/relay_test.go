package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRevocationsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "revoked")
	a := strings.Repeat("ab", 32)
	b := strings.Repeat("cd", 32)
	os.WriteFile(path, []byte("# revoked devices\n"+a+"\n\n"), 0o600)
	r := &revocations{path: path}
	if err := r.load(); err != nil {
		t.Fatal(err)
	}
	key := func(s string) (k [32]byte) {
		for i := range 32 {
			var v byte
			for _, c := range s[2*i : 2*i+2] {
				v = v<<4 | byte(strings.IndexRune("0123456789abcdef", c))
			}
			k[i] = v
		}
		return k
	}
	if !r.has(key(a)) || r.has(key(b)) {
		t.Fatal("first list")
	}
	// The file changes: the new list applies at the next check.
	time.Sleep(10 * time.Millisecond)
	os.WriteFile(path, []byte(b+"\n"), 0o600)
	os.Chtimes(path, time.Now().Add(time.Second), time.Now().Add(time.Second))
	if r.has(key(a)) || !r.has(key(b)) {
		t.Fatal("reloaded list")
	}
	// A broken file keeps the previous list.
	os.WriteFile(path, []byte("not hex\n"), 0o600)
	os.Chtimes(path, time.Now().Add(2*time.Second), time.Now().Add(2*time.Second))
	if !r.has(key(b)) {
		t.Fatal("a broken file dropped the list")
	}
	if err := (&revocations{path: path}).load(); err == nil {
		t.Fatal("broken file accepted at start")
	}
}
