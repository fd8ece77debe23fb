// Package natsjs is the relay mailbox on NATS JetStream, for several
// sealpostd nodes sharing one NATS server (or cluster): any node can
// enqueue for any device, and the node the device is connected to is woken
// at once through core NATS.
//
//	s, err := natsjs.Open(ctx, natsjs.Options{URL: "nats://127.0.0.1:4222", TTL: 30 * 24 * time.Hour})
//	...
//	defer s.Close()
//
// It keeps every clause of the contract in package mailbox and passes the
// conformance suite in mailboxtest. It needs nats-server 2.12 or later
// (MinServerVersion) with JetStream, and durability rests on the server:
// run it with sync_interval: always (every write synced before its PubAck,
// as .ci/setup.d/nats.sh does), since Replicas must be 1 for now.
//
// # Stream and subjects
//
// One stream (Options.Stream, "SEALPOST_MAILBOX") on file storage owns
// <prefix>.> (Options.Subject, "sealpost.mbx"), with MaxAge = TTL + Slack
// (30 days + 1 hour by default), MaxMsgsPerSubject = 1, discard old,
// direct gets allowed. A device's records all live under
// <prefix>.<device token, hex>:
//
//	<prefix>.<device>.q.<UUID>   a queued delivery (record Q: metadata and payload)
//	<prefix>.<device>.k.<UUID>   the dedup record of a delivery that left the queue (K)
//	<prefix>.<device>.h          a head marker, written only for idle watched devices (H)
//
// Message bodies are binary records (record.go); every one carries the
// device's head, the largest Seq given to the device so far.
//
// # Writes: one conditional message each
//
// Every write to a device is published with Nats-Expected-Last-Subject-
// Sequence = the stream sequence of the device's last record and
// Nats-Expected-Last-Subject-Sequence-Subject = <prefix>.<device>.>: the
// server stores it only if nothing of that device was written since this
// process read it. That makes each of these read-check-write steps atomic
// across nodes, and each is one message, so there is no crash window
// between a check and its write:
//
//   - Enqueue reads the device's last record (its head) and the last
//     record on <prefix>.<device>.*.<UUID>, both at once. The head is
//     cached per device after this process's own writes and from other
//     nodes' wake-ups (below); once another node's write has refused one
//     of this process's (other nodes write to the stream), the cache is
//     used only while the device is watched here, and the head of other
//     devices is read afresh. A Q or K record whose Expires has not
//     passed makes the delivery a duplicate: its Seq is returned. Else the
//     delivery is published as Q with Seq = head + 1. A refused condition
//     (another node wrote to the device) is retried after a fresh read.
//     Seq is thus per device, strictly increasing in the order the
//     deliveries became durable, and small (it fits the relay's 4-byte
//     delivery ids).
//   - Ack writes the K record (Seq, UUID, Expires, and the head) under the
//     same condition, then deletes the Q message by stream sequence. (It
//     finds the Q message where Pending saw it in this process, or by a
//     scan of the device's queue.) A crash
//     in between leaves the delivery queued, delivered once more; its key
//     is never lost. Acks are applied by background workers: Ack returns at
//     once, and this process stops yielding the delivery at once. Only the
//     K write holds the device's lock: the delete changes no device's last
//     record, and an enqueue to the device need not wait for it.
//   - Expired deliveries that Pending meets are removed the same way.
//
// Idempotency therefore lasts as long as the Q or K record of a (device,
// UUID) exists: until MaxAge after its last write, which is after the
// delivery's Expires. JetStream's own Nats-Msg-Id window (2 minutes by
// default) is not used. A retry after Expires stores the delivery again.
//
// Enqueue is complete when the server's PubAck is in: the message was
// stored and synced. A lost PubAck (timeout, connection cut) returns an
// error although the delivery may be stored; the caller's retry then finds
// it and answers Duplicate with its Seq.
//
// Deliveries for several devices in one Enqueue are written concurrently
// (up to 256 devices at once, pipelined on the connection); deliveries for
// one device one after the other, in slice order. Reads are direct gets on
// separate connections (ReadConns): the server answers a direct get in the
// asking connection's read loop while it waits for the store, which a synced
// write holds.
//
// # Reads
//
// Pending reads <prefix>.<device>.q.* with batched direct gets (256 per
// batch). Since a device's Q records are written in Seq order, it starts at
// the stream sequence of the last Seq this process saw, or at the first Q
// record. Deliveries acknowledged in this process are skipped until their
// deletion is done; expired ones are skipped and removed.
//
// # Wake-ups
//
// After an Enqueue's PubAcks are in, the Store publishes a core NATS
// message on <wake prefix>.<device> (Options.WakeSubject,
// "sealpost.wake"), also after an error (a delivery may have been stored).
// Its body announces the device's head as the sender knows it ('H' ‖
// stream sequence u64 ‖ head u64; empty after an error): the watching node
// caches it, so that its acknowledgements, written under the same
// condition as every write, are not refused for a head that other nodes'
// enqueues made stale (three nodes, before: about one enqueue in four and
// one ack in nine refused and retried; see BENCHMARKS.md). It is a hint;
// the conditional write alone decides.
// A Store subscribes to that subject while the device has watchers in it
// (all such subscriptions feed one channel and one dispatcher goroutine),
// so the node a device is connected to is woken without polling, whichever
// node enqueued. After a reconnection to NATS, or if the dispatcher fell
// behind and NATS dropped wake-ups, every watcher is woken once.
//
// # Deletion and space
//
// Ack deletes the delivery's message; nats-server then keeps its bytes in
// the block file until the block is compacted (when less than half of it
// is live) or removed (when all of it is gone: at the latest MaxAge after
// its newest message). So a deleted payload leaves the disk within MaxAge,
// usually much sooner (in TestPayloadLeavesDisk, 126 of 200 acknowledged
// 32 KiB payloads were gone from the files at once, all 200 at MaxAge);
// the K record that replaces it holds no payload.
// MaxAge removes expired records and their space without any sweep.
//
// # The head
//
// A device's next Seq comes from its last record, so the head lives as
// long as the device has any record: MaxAge after its last write. A device
// with no write for that long has nothing queued and no dedup key left; its
// Seq starts again at 1. Only a connection that has watched the device all
// along could hold an older Seq as its cursor, so a keeper rewrites the
// head marker of watched devices whose last record is older than MaxAge/2
// (checked every KeepEvery, MaxAge/8 by default).
//
// # Device tokens
//
// Store.Tokens is the relay's token registry (relay.TokenStore) for the
// same nodes: a key-value bucket (Options.TokenBucket, "SEALPOST_TOKENS")
// on the same connection, so that a device can take the token one node
// issued to any other node. See Tokens for its records.
//
// # Concurrency and lock order
//
// All methods are safe for concurrent use. A striped per-device mutex
// serializes this process's writes to one device (so they do not defeat
// each other's conditions); Store.mu (caches, watchers, acked sets) is
// taken inside it and is a leaf. No lock is held while calling a wake-up
// function. Other nodes are kept in order by the conditional writes alone.
package natsjs
