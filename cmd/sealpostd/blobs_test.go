package main

import "testing"

func TestParseBytes(t *testing.T) {
	good := map[string]int64{"1": 1, "2GiB": 2 << 30, "500MiB": 500 << 20, "7KiB": 7 << 10, "1TiB": 1 << 40, "10B": 10}
	for s, want := range good {
		if got, err := parseBytes(s, false); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	if got, err := parseBytes("off", true); err != nil || got != -1 {
		t.Errorf("off: %d %v", got, err)
	}
	for _, s := range []string{"", "0", "-1", "off", "2GB", "1.5GiB", "GiB", "99999999TiB"} {
		if _, err := parseBytes(s, false); err == nil {
			t.Errorf("parseBytes(%q) accepted", s)
		}
	}
}
