package client

import (
	"errors"
	"fmt"
	"strings"
)

// A Hinter is an error that knows what the user can do about it. The CLI
// prints the hint on a line of its own after the error.
type Hinter interface {
	Hint() string
}

// HintOf returns the hint of the first error in err's chain that has one.
func HintOf(err error) string {
	var h Hinter
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}

// hinted is an error with a hint.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }
func (h *hinted) Hint() string  { return h.hint }

// withHint attaches a hint to err (nil stays nil).
func withHint(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &hinted{err: err, hint: fmt.Sprintf(format, args...)}
}

// Errors a device returns.
var (
	// ErrNotInitialised: the home folder holds no device.
	ErrNotInitialised = errors.New("no device in this home folder")
	// ErrAlreadyInitialised: Init on a home folder that holds a device.
	ErrAlreadyInitialised = errors.New("this home folder already holds a device")
	// ErrNoHandle: sending needs a verified handle to send from.
	ErrNoHandle = errors.New("this device has no verified handle to send from")
	// ErrClosed: the device was closed.
	ErrClosed = errors.New("device closed")
	// ErrAttachmentsUnavailable: the server has no blob store, or this
	// build has no blob client.
	ErrAttachmentsUnavailable = errors.New("attachments and long texts need the blob store, which is not available")
)

// UnknownRecipientError reports a recipient that cannot be reached: a name
// that is neither a contact, a group nor a handle, or a handle (or every
// handle of a contact) with no registered device. Nothing was sent.
type UnknownRecipientError struct {
	// Recipient is what the caller named: a handle, contact name or group
	// member.
	Recipient string
	// Handles are the handles looked up for it (empty when the name did
	// not resolve to any).
	Handles []string
	// Group is the group the recipient is a member of, if any.
	Group string
}

func (e *UnknownRecipientError) Error() string {
	in := ""
	if e.Group != "" {
		in = fmt.Sprintf(" (member of group %q)", e.Group)
	}
	if len(e.Handles) == 0 {
		return fmt.Sprintf("unknown recipient %q%s: not a contact, a group or a handle; nothing was sent", e.Recipient, in)
	}
	if len(e.Handles) == 1 && e.Handles[0] == e.Recipient {
		return fmt.Sprintf("no device is registered for %s%s; nothing was sent", e.Recipient, in)
	}
	return fmt.Sprintf("no device is registered for %q%s (%s); nothing was sent", e.Recipient, in, strings.Join(e.Handles, ", "))
}

// Hint implements Hinter.
func (e *UnknownRecipientError) Hint() string {
	if len(e.Handles) == 0 {
		return "a handle is an e-mail address or a number like +15551234567; add a name with: sealpost contacts add NAME HANDLE..."
	}
	return "check the address, or ask them to register it: sealpost register HANDLE, then sealpost verify HANDLE CODE"
}
