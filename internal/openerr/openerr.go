// Package openerr is the one opaque failure of the per-device payload schemes.
//
// pair and pairec return [ErrCannotOpen] (wrapped in an *Error) for every
// reason a payload cannot be opened: bad framing, a signature that does not
// verify, a key that does not unwrap, a tag or validator mismatch. Callers
// outside Sealpost see only that one error and its one message, so a peer can
// never learn which check failed (the 2016 iMessage format oracle).
//
// The exact reason stays inside the module: tests, the vectors checker and
// local debug logs read it with [ReasonOf].
package openerr

import "errors"

// ErrCannotOpen is the only error a caller can observe when a payload fails
// to open, whatever the reason.
var ErrCannotOpen = errors.New("sealpost: cannot open message")

// Reason names the first check that failed, in the vocabulary of the
// interoperability vectors (shared/vectors/README.md).
type Reason string

// The failure classes, in the order a receiver runs its checks.
const (
	Malformed         Reason = "malformed"
	SignatureInvalid  Reason = "signature_invalid"
	UnwrapFailed      Reason = "unwrap_failed"
	TagMismatch       Reason = "tag_mismatch"
	ValidatorMismatch Reason = "validator_mismatch"
	// ContentInvalid: the payload authenticated, but the message inside
	// does not decode (bad gzip or plist, over a size cap).
	ContentInvalid Reason = "content_invalid"
)

// Error carries a Reason but prints and matches as ErrCannotOpen.
type Error struct{ reason Reason }

// New returns an opaque error for reason r.
func New(r Reason) error { return &Error{reason: r} }

// Error returns the same text for every reason.
func (e *Error) Error() string { return ErrCannotOpen.Error() }

// Is makes errors.Is(err, ErrCannotOpen) true.
func (e *Error) Is(target error) bool { return target == ErrCannotOpen }

// ReasonOf returns the reason carried by err, if err came from this package.
func ReasonOf(err error) (Reason, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.reason, true
	}
	return "", false
}
