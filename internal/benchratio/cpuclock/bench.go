package cpuclock

import (
	"testing"
	"time"
)

// The metric names internal/benchratio reads; keep them as they are.
const (
	metricNsPerOp = "cpu-ns/op"
	metricMBPerS  = "cpu-MB/s"
)

// Meter measures the process CPU time of a benchmark's b.N operations and
// reports it next to the wall time.
type Meter struct {
	b          *testing.B
	bytesPerOp int64
	start      time.Duration
	ok         bool
}

// Start starts measuring CPU time for b: call it just before the timed
// loop (after b.ResetTimer, if the benchmark calls it). bytesPerOp is the
// size of one operation, for cpu-MB/s; 0 reports no throughput.
func Start(b *testing.B, bytesPerOp int64) *Meter {
	start, ok := Now()
	return &Meter{b: b, bytesPerOp: bytesPerOp, start: start, ok: ok}
}

// Stop reports the CPU time since Start per operation as "cpu-ns/op" and,
// for a Meter started with bytesPerOp > 0, the throughput per CPU second as
// "cpu-MB/s". It reports nothing where the platform has no CPU clock or
// b.N is 0, and no throughput when no CPU time passed.
func (m *Meter) Stop() {
	end, ok := Now()
	if !m.ok || !ok || m.b.N == 0 {
		return
	}
	cpu := end - m.start
	m.b.ReportMetric(float64(cpu.Nanoseconds())/float64(m.b.N), metricNsPerOp)
	if m.bytesPerOp > 0 && cpu > 0 {
		m.b.ReportMetric(float64(m.bytesPerOp)*float64(m.b.N)/cpu.Seconds()/1e6, metricMBPerS)
	}
}

// Loop runs f in a b.Loop with allocations reported and, next to the
// wall-clock ns/op, the process CPU time per iteration as cpu-ns/op. An
// error from f fails the benchmark.
func Loop(b *testing.B, f func() error) {
	b.ReportAllocs()
	m := Start(b, 0)
	for b.Loop() {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	m.Stop()
}
