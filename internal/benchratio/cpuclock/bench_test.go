package cpuclock

import (
	"crypto/sha256"
	"testing"
)

// TestReportedMetrics checks the metric names internal/benchratio parses:
// Loop reports cpu-ns/op only, a Meter with a size also cpu-MB/s.
func TestReportedMetrics(t *testing.T) {
	if _, ok := Now(); !ok {
		t.Skip("no CPU clock on this platform")
	}
	buf := make([]byte, 1<<16)
	loop := testing.Benchmark(func(b *testing.B) {
		Loop(b, func() error { sha256.Sum256(buf); return nil })
	})
	if _, ok := loop.Extra["cpu-ns/op"]; !ok || len(loop.Extra) != 1 {
		t.Errorf("Loop reported %v, want cpu-ns/op alone", loop.Extra)
	}
	meter := testing.Benchmark(func(b *testing.B) {
		m := Start(b, int64(len(buf)))
		for range b.N {
			sha256.Sum256(buf)
		}
		m.Stop()
	})
	if meter.Extra["cpu-ns/op"] <= 0 || meter.Extra["cpu-MB/s"] <= 0 || len(meter.Extra) != 2 {
		t.Errorf("Meter reported %v, want positive cpu-ns/op and cpu-MB/s", meter.Extra)
	}
}
