package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDemo builds the demo (-tags demo, which the ordinary build leaves
// out) and runs it: the transcript must show every step.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed for this test: %v", err)
	}
	out, err := exec.Command(goBin, "run", "-tags", "demo", ".", "demo").CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{
		`bob-phone    <- Alice: "Hi Bob! Lunch at noon?"`,
		`alice-laptop <- me (from my other device): "Hi Bob! Lunch at noon?"`,
		`receipt: message`,
		`carol-phone  <- Alice in a new group (3 people): "Carol, join us?"`,
		`alice-phone  <- Carol in lunch (3 people): "Yes! Where?"`,
		`attachment menu.jpg (3.0 MiB, sha256`,
		`identical: true`,
		`no device is registered for mailto:dave@example.org; nothing was sent`,
		`the server and the devices were temporary`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("transcript:\n%s", out)
	}
	// The ordinary build explains how to get the demo.
	if demoBuilt {
		return
	}
	var stdout, stderr strings.Builder
	if code := run([]string{"demo"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "hint: run the demo with: go run -tags demo ./cmd/sealpost demo") {
		t.Errorf("demo without the tag: exit %d, stderr %q", code, stderr.String())
	}
}
