package main

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testrig"
)

// BenchmarkCLISendToRecv measures what a person sees: the time from
// starting "sealpost send" (open the device, connect to the relay, seal,
// send) to the line "sealpost recv --wait" prints on the receiving device,
// which is online all along. Run with -benchtime=1000x; it reports p50 and
// p99 in ms. Both commands run in this process (run), against testrig.
func BenchmarkCLISendToRecv(b *testing.B) {
	newPushKey = testrig.NextPushKey
	rig := testrig.Start(b, testrig.Options{})
	work := b.TempDir()
	sh := func(dev string, args ...string) string {
		var out, errb strings.Builder
		if code := run(append([]string{"--home", filepath.Join(work, dev)}, args...), &out, &errb); code != 0 {
			b.Fatalf("sealpost %s %v: %s", dev, args, errb.String())
		}
		return out.String()
	}
	for _, d := range []struct{ dev, handle string }{{"alice", "alice@example.org"}, {"bob", "bob@example.org"}} {
		sh(d.dev, "init", "--server", rig.URL, "--ca", rig.CAPath)
		sh(d.dev, "register", d.handle)
		code, err := rig.Code(d.handle)
		if err != nil {
			b.Fatal(err)
		}
		sh(d.dev, "verify", d.handle, code)
	}
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		var errb strings.Builder
		done <- run([]string{"--home", filepath.Join(work, "bob"), "recv", "--wait", "2s"}, pw, &errb)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	wait := func(text string) {
		for lines.Scan() {
			if strings.HasSuffix(lines.Text(), ": "+text) {
				return
			}
		}
		b.Fatalf("recv ended before %q", text)
	}
	sh("alice", "send", "bob@example.org", "-m", "warm-up")
	wait("warm-up")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		text := fmt.Sprintf("message %d", i)
		start := time.Now()
		sh("alice", "send", "bob@example.org", "-m", text)
		wait(text)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	go io.Copy(io.Discard, pr)
	<-done
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}
