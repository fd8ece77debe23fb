package testkit

import "runtime/metrics"

// Allocated returns the bytes the heap allocated while fn ran, for the
// fuzz targets' bound on what a parser may allocate. The runtime counts
// small allocations a span at a time, so the figure can include a few
// spans allocated just before the call; bounds need a fixed allowance.
func Allocated(fn func()) uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	fn()
	metrics.Read(s)
	return s[0].Value.Uint64() - before
}
