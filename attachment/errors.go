package attachment

import "errors"

// ErrCannotOpen is the one error returned for every verification failure:
// a signature or chunk checksum that does not match, a ciphertext of the
// wrong length, a ciphertext that changed while it was being decrypted. The
// reason is deliberately not told to callers (a "why did it fail" answer is
// an oracle); tests see it through the unexported failure values below.
var ErrCannotOpen = errors.New("attachment: cannot open attachment")

// failure is the internal, reason-carrying form of ErrCannotOpen. It never
// leaves the package: the exported functions turn it into ErrCannotOpen with
// opaque.
type failure string

func (f failure) Error() string { return "attachment: cannot open attachment: " + string(f) }

const (
	failSignature failure = "signature mismatch"
	failChanged   failure = "ciphertext changed between verification and decryption"
	failShort     failure = "ciphertext shorter than its stated size"
	failLong      failure = "ciphertext longer than its stated size"
	failSize      failure = "negative size"
	failChunk     failure = "chunk checksum mismatch"
	failChunkSize failure = "chunk empty or larger than ChunkSize"
)

// opaque hides the reason of a verification failure; other errors (I/O
// errors of the caller's reader or writer) pass through.
func opaque(err error) error {
	if _, ok := err.(failure); ok {
		return ErrCannotOpen
	}
	return err
}
