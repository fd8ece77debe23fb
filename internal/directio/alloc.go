package directio

import "unsafe"

// Align is the alignment Alloc gives, and the one callers keep for offsets
// and lengths of direct writes: the usual logical block size, or a multiple
// of it.
const Align = 4096

// Alloc returns n zero bytes starting at a multiple of Align, so that they
// can be written in direct mode. The slice's capacity is n.
func Alloc(n int) []byte {
	b := make([]byte, n+Align)
	skip := (Align - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%Align)) % Align
	return b[skip : skip+n : skip+n]
}

// Aligned reports whether b starts at a multiple of Align and its length
// is a multiple of Align: whether it can be written in direct mode as it
// is.
func Aligned(b []byte) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%Align == 0 && len(b)%Align == 0
}
