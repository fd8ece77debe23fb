package testkit

import (
	"encoding/binary"
	"flag"
	mrand "math/rand/v2"
)

// Plaintext returns the first n bytes of math/rand/v2 ChaCha8 keyed with
// LE64(seed) ‖ 24 zero bytes: the plaintexts of the frozen known-answer
// files, which store the seed and the plaintext's SHA-256.
func Plaintext(seed uint64, n int) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	b := make([]byte, n)
	mrand.NewChaCha8(s).Read(b)
	return b
}

// BoolFlag defines a boolean command-line flag, or reuses the one of that
// name if another test file of the same test binary already defined it (a
// second flag.Bool of the same name would panic at init). Call it from a
// package-level variable initializer and the returned function in tests.
func BoolFlag(name, usage string) func() bool {
	if f := flag.Lookup(name); f != nil {
		return func() bool { return f.Value.String() == "true" }
	}
	p := flag.Bool(name, false, usage)
	return func() bool { return *p }
}

// Filler returns n bytes of a fixed pattern (byte i is 7i+3 mod 256), for
// benchmark inputs whose content plays no part in the cost.
func Filler(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	return p
}
