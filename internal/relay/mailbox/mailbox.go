// Package mailbox is the relay's store of deliveries: one queue per
// device, holding the deliveries the device has not acknowledged yet.
//
// The relay splits every send into one Delivery per receiving device and
// hands them to Enqueue; Enqueue returns once they are durable, and only
// then does the relay answer the sender. A device that is online is woken
// through Watch and reads its queue with Pending; its acknowledgement
// deletes the delivery (Ack). A delivery nobody acknowledges expires at
// its Expires time (the relay sets it to the acceptance time plus the
// queue TTL, 30 days by default) and is deleted unseen.
//
// Backends: internal/relay/mailbox/embedded (files in the data folder, the
// default) and, later, NATS JetStream. Every backend passes the
// conformance suite in internal/relay/mailbox/mailboxtest.
//
// # The contract
//
//   - Durable on return. When Enqueue returns nil, every delivery it was
//     given survives a crash of the process or of the machine (it was
//     fsynced, or replicated to a quorum that fsyncs). When it returns an
//     error, some, all or none of them may be stored; retrying with the
//     same deliveries is always safe (next point).
//   - Idempotent enqueue. A delivery is identified by (Device, UUID). A
//     second Enqueue of the same pair, at any time until the first one's
//     Expires — whether it is still queued, was delivered and acknowledged,
//     or is in flight in a concurrent Enqueue — stores nothing and returns
//     the first one's Seq with Duplicate set. The window is the whole
//     retention, not a few minutes.
//   - Oldest first. Seq is assigned by Enqueue, strictly increasing within
//     a device in the order deliveries became durable, and never reused
//     while a delivery with that Seq is queued. Pending yields a device's
//     queued deliveries in increasing Seq. Two deliveries for one device in
//     one Enqueue call get increasing Seqs in slice order; deliveries whose
//     Enqueue calls overlap in time are ordered by the backend.
//   - Delete on ack. Ack(device, seq) deletes that delivery of that device
//     only: an ack never touches another device's queue, and acking an
//     unknown or already deleted Seq is a no-op. After Ack returns the
//     delivery is no longer yielded by Pending in this process; the
//     deletion itself becomes durable shortly after (a crash right after an
//     Ack may deliver it once more: at-least-once, deduplicated by the
//     device on UUID). Deleted payload bytes are eventually removed from
//     storage (compaction), not just marked.
//   - Expire after the TTL. A delivery whose Expires has passed is never
//     yielded again, and is deleted; its dedup key is forgotten at the same
//     time.
//   - Wake-ups. Watch(device, wake) calls wake, without blocking and from
//     any goroutine, after new deliveries for device have become durable.
//     Wake-ups may be spurious or coalesced; a watcher reads Pending to
//     learn what is new.
//   - Concurrency. All methods are safe for concurrent use. Deliveries
//     yielded by Pending are the caller's, but their Payload must not be
//     modified.
//   - Limits. Payload is at most MaxPayload bytes, Sender at most
//     MaxSender, Scheme at most MaxScheme; larger values are refused with
//     an error and nothing of that call is stored.
//
// Ephemeral messages (typing indicators) never reach a Mailbox: the relay
// delivers them to online devices only.
package mailbox

import (
	"context"
	"errors"
	"iter"
	"time"
)

// Sizes.
const (
	TokenSize = 32
	UUIDSize  = 16
	TopicSize = 20

	MaxPayload = 64 << 10
	MaxSender  = 1024
	MaxScheme  = 255
)

// Token is a device token issued by the relay.
type Token [TokenSize]byte

// UUID identifies a message; with the device token it is a delivery's
// idempotency key.
type UUID [UUIDSize]byte

// Topic is the SHA-1 of a topic name.
type Topic [TopicSize]byte

// Delivery is one message for one device, as stored: the payload and the
// unencrypted metadata that travels with it.
type Delivery struct {
	Device  Token  // the receiving device
	UUID    UUID   // the message; (Device, UUID) is unique
	Seq     uint64 // assigned by Enqueue; ignored on input
	Topic   Topic
	Time    time.Time // when the relay accepted the message
	Expires time.Time // deleted unseen after this; required
	// MessageExpiry says that Expires was set by the sender (IDS "eX")
	// rather than by the queue TTL; the relay then tells the device.
	MessageExpiry bool
	Sender        string // the sender's handle URI, when known
	SenderToken   Token  // the sending device
	Scheme        string // "pair", "pair-ec", or "" for a direct send
	Payload       []byte // what the device receives
}

// Result is what Enqueue did with one delivery.
type Result struct {
	Seq       uint64
	Duplicate bool // already stored (or delivered and acknowledged) earlier
}

// Mailbox is a durable per-device delivery queue. See the package
// documentation for the contract every implementation keeps.
type Mailbox interface {
	// Enqueue stores ds durably and returns one Result per delivery, in
	// order. It returns only once every new delivery is durable.
	Enqueue(ctx context.Context, ds []Delivery) ([]Result, error)
	// Pending yields the queued, unexpired deliveries of device with Seq
	// greater than after, oldest first. The sequence reflects the queue as
	// it is while being read: deliveries acknowledged meanwhile may or may
	// not appear, deliveries enqueued meanwhile may appear. An error ends
	// the sequence.
	Pending(ctx context.Context, device Token, after uint64) iter.Seq2[Delivery, error]
	// Ack deletes device's delivery seq.
	Ack(ctx context.Context, device Token, seq uint64) error
	// Watch calls wake after new deliveries for device become durable,
	// until stop is called.
	Watch(device Token, wake func()) (stop func())
	// Close flushes what is buffered (acknowledgements) and releases the
	// store. Calls after Close return ErrClosed.
	Close() error
}

// Errors.
var (
	ErrClosed  = errors.New("mailbox: closed")
	ErrInvalid = errors.New("mailbox: invalid delivery")
)

// Check validates a delivery against the limits; backends call it.
func (d *Delivery) Check() error {
	switch {
	case len(d.Payload) > MaxPayload:
		return errors.Join(ErrInvalid, errors.New("payload too large"))
	case len(d.Sender) > MaxSender:
		return errors.Join(ErrInvalid, errors.New("sender too long"))
	case len(d.Scheme) > MaxScheme:
		return errors.Join(ErrInvalid, errors.New("scheme too long"))
	case d.Expires.IsZero():
		return errors.Join(ErrInvalid, errors.New("no expiry"))
	}
	return nil
}
