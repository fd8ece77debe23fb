package dirapi

import (
	"strings"
	"testing"
)

func TestParseHandle(t *testing.T) {
	good := map[string]string{
		"mailto:alice@example.org":         "mailto:alice@example.org",
		"MAILTO:Alice@Example.ORG":         "mailto:alice@example.org",
		"Alice@Example.org":                "mailto:alice@example.org",
		"a.b+tag@sub.example.co.uk":        "mailto:a.b+tag@sub.example.co.uk",
		"o'brien@example.org":              "mailto:o'brien@example.org",
		"x@a-b.example":                    "mailto:x@a-b.example",
		"tel:+15551234567":                 "tel:+15551234567",
		"TEL:+1 (555) 123-4567":            "tel:+15551234567",
		"+44 20 7946 0958":                 "tel:+442079460958",
		"+12345678":                        "tel:+12345678",
		"+123456789012345":                 "tel:+123456789012345",
		"tel:+49.30.1234567":               "tel:+49301234567",
		strings.Repeat("a", 64) + "@x.org": "mailto:" + strings.Repeat("a", 64) + "@x.org",
	}
	for in, want := range good {
		h, err := ParseHandle(in)
		if err != nil || string(h) != want {
			t.Errorf("ParseHandle(%q) = %q, %v; want %q", in, h, err, want)
			continue
		}
		// Normalising is idempotent.
		if h2, err := ParseHandle(string(h)); err != nil || h2 != h {
			t.Errorf("ParseHandle(%q) = %q, %v; not idempotent", h, h2, err)
		}
	}
	bad := []string{"", "alice", "mailto:", "tel:", "tel:+1234567", "tel:+1234567890123456", "tel:+0123456789",
		"tel:5551234567", "+", "sms:+15551234567", "mailto:a@b", "mailto:a@@b.c", "mailto:.a@b.c",
		"mailto:a..b@c.d", "mailto:a@-b.c", "mailto:ä@b.c", "mailto:a b@c.d", "a/b@c.d", strings.Repeat("x", 321),
		strings.Repeat("a", 65) + "@x.org", "mailto:a@" + strings.Repeat("b", 64) + ".org"}
	for _, in := range bad {
		h, err := ParseHandle(in)
		if err == nil {
			t.Errorf("ParseHandle(%q) = %q, want an error", in, h)
			continue
		}
		if e, ok := err.(*Error); !ok || e.Code != CodeInvalidHandle || e.Message == "" {
			t.Errorf("ParseHandle(%q): error %v is not an invalid_handle API error", in, err)
		}
	}
	h, _ := ParseHandle("tel:+15551234567")
	if h.Kind() != "tel" || h.Address() != "+15551234567" {
		t.Fatalf("Kind/Address: %s %s", h.Kind(), h.Address())
	}
}

func TestCodesHaveStatuses(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Codes {
		if seen[c] {
			t.Errorf("code %s listed twice", c)
		}
		seen[c] = true
		if s := StatusOf(c); s < 400 || s > 599 {
			t.Errorf("code %s has status %d", c, s)
		}
	}
}
