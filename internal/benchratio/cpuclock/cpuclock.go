// Package cpuclock reads the CPU time the process has used, so that
// benchmarks can report CPU time per operation ("cpu-ns/op") next to wall
// time. On a shared machine wall time includes the time other processes
// held the CPU; CPU time does not, so ratios of CPU times stay meaningful
// when ratios of wall times are swamped by noise. CPU time counts every
// thread of the process, so garbage collection caused by an operation is
// charged to it.
//
// Benchmarks report it with [Loop] (a b.Loop whose function may fail), or
// with [Start] and [Meter.Stop] around a loop of their own, which can also
// report the throughput per CPU second ("cpu-MB/s"). internal/benchratio
// reads those metric names.
//
// Use it only in benchmarks: nothing in Sealpost times itself, and since
// bench.go imports testing, only _test.go files import this package.
package cpuclock

import "time"

// Now returns the user plus system CPU time used by the process so far,
// and false where the platform does not provide it.
func Now() (time.Duration, bool) { return now() }
