// Package embedded is the default mailbox backend: an append-only log of
// segment files in the data folder (<data>/relay/mailbox), with group
// commit, an in-memory index, and compaction that rewrites the oldest
// segment and deletes it.
//
// # Pipeline
//
//	Enqueue ──▶ queue ─┐                     ┌─▶ index: queues visible ─▶ Enqueue returns
//	Ack ──▶ index ──▶ acks ─┤  writer goroutine  │   wake-ups (Watch)
//	compactor ──▶ copies ───┘  one group:        │
//	                           dedup + seq,      │
//	                           encode, write(),  │
//	                           fdatasync() ──────┘
//
// One writer goroutine takes everything queued since its last group —
// acknowledgements, every waiting Enqueue, records carried forward by
// compaction — writes it with one write() to the active segment and syncs
// once (fdatasync). Only then are the new deliveries made visible to
// Pending and the Enqueue calls answered: a sender is acknowledged only
// for what is on disk. Many senders share one sync (group commit): while
// one group is being synced the next one gathers.
//
// # Files
//
// Segment files are named by a 16-digit hex number, in order; the last is
// the active one, the others are sealed. A new segment starts when the
// active one reaches SegmentSize, at every Open, and on Compact; its
// creation is made durable (directory sync) before anything written to it
// is acknowledged. A segment is a sequence of records:
//
//	u32 BE length of body ‖ u32 BE CRC-32C of body ‖ body
//
//	E (enqueue)  'E' ‖ device 32 ‖ seq u64 ‖ UUID 16 ‖ topic 20 ‖ time i64 ns ‖ expires i64 ns ‖
//	             flags 1 ‖ sender token 32 ‖ scheme (u8 len ‖ bytes) ‖ sender (u16 len ‖ bytes) ‖
//	             payload (u32 len ‖ bytes)
//	A (ack)      'A' ‖ device 32 ‖ seq u64
//	D (dedup)    'D' ‖ device 32 ‖ seq u64 ‖ UUID 16 ‖ expires i64 ns
//
// Integers are big-endian. At Open the segments are read oldest first to
// rebuild the index; a record cut short or failing its checksum ends its
// segment, which is truncated there (only an unsynced tail can be torn).
//
// # Index and limits
//
// The index is in memory: per device, the queued deliveries in seq order
// and the dedup keys (UUID → expiry) of every delivery stored within its
// retention, queued or acknowledged. That is about 150 bytes per queued
// delivery plus about 50 bytes per remembered UUID (a million messages a
// day kept for 30 days: about 1.5 GB). Payloads of recent deliveries are
// kept in memory up to CacheBytes for delivery to online devices; the
// others are read back from their segment.
//
// # Deletion and compaction
//
// Ack removes a delivery from the index at once and queues an A record for
// the next group (acks are not synced on their own: a crash right after an
// ack can deliver that message once more, which the device deduplicates).
// Expired deliveries and dedup keys leave the index in a sweep
// (SweepEvery). The compactor rewrites the oldest sealed segment when less
// than half of it is still needed, or when the sealed segments are more
// than twice what is needed: the writer carries its queued deliveries
// forward whole and the dedup keys of acknowledged ones as D records, in a
// synced group, and then the segment file is deleted. So the bytes of an
// acknowledged or expired payload leave the data folder when the segment
// holding them is compacted (test R5), and only the oldest segment is ever
// rewritten, which keeps every A record after the record it acknowledges.
//
// # Failure
//
// A failed write or sync makes the store refuse every later write with that
// error (a sync is never retried: the kernel may have dropped the data).
// The process must be restarted; recovery then reads what is on disk.
//
// # Monitoring
//
// Stats returns counters since Open, with a histogram of sync durations
// (SyncHistogram, buckets SyncBounds); Queue returns the number of queued
// deliveries and the time of the oldest; Err returns the error that
// stopped the store, if one did. sealpostd exports them as Prometheus
// metrics and asks Err for its readiness.
//
// # Concurrency and lock order
//
// All methods are safe for concurrent use. Locks, in the order they may be
// taken: compactMu (one compaction at a time), mu (the index), qmu (the
// writer's queue); segMu (segment
// files against removal while read) and watchMu (watchers) are leaves,
// never held while taking another. Wake-up functions are called with no
// lock held. The writer does its I/O with no lock held.
package embedded
