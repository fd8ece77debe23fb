package backend

import (
	"context"
	"path/filepath"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct{ dsn, kind, target string }{
		{"", "sqlite", "/data/directory.db"},
		{"sqlite:///var/lib/dir.db", "sqlite", "/var/lib/dir.db"},
		{"sqlite:dir/other.db", "sqlite", "/data/dir/other.db"},
		{"custom.db", "sqlite", "/data/custom.db"},
		{"/abs/x.db", "sqlite", "/abs/x.db"},
		{"postgres://u@h:5432/db?sslmode=disable", "postgres", "postgres://u@h:5432/db?sslmode=disable"},
		{"postgresql://u@h/db", "postgres", "postgresql://u@h/db"},
	} {
		kind, target, err := Parse(c.dsn, "/data")
		if err != nil || kind != c.kind || target != c.target {
			t.Errorf("Parse(%q) = %s %s %v; want %s %s", c.dsn, kind, target, err, c.kind, c.target)
		}
	}
	for _, bad := range []string{"mysql://x", "sqlite://", "x.db?mode=ro", "sqlite:a#b"} {
		if _, _, err := Parse(bad, "/data"); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestOpenDefault(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m, _ := filepath.Glob(filepath.Join(dir, DefaultFile)); len(m) != 1 {
		t.Fatalf("no %s in the data folder", DefaultFile)
	}
}
