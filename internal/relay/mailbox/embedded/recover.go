package embedded

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// recover rebuilds the index from the segment files, oldest first. A
// segment whose tail is cut short or damaged (a crash in the middle of a
// write) is truncated after its last intact record; nothing acknowledged
// to a sender can be in that tail, since it was never synced.
func (s *Store) recover() error {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return err
	}
	var ids []uint64
	for _, n := range names {
		hex, ok := strings.CutSuffix(n, ".seg")
		if !ok || len(hex) != 16 {
			continue
		}
		id, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	now := s.now().UnixNano()
	pending := make(map[mailbox.Token]map[uint64]*entry)
	for _, id := range ids {
		f, err := s.fs.Open(s.segPath(id))
		if err != nil {
			return err
		}
		size, err := f.Size()
		if err != nil {
			f.Close()
			return err
		}
		sg := &segment{id: id, f: f}
		s.segs = append(s.segs, sg)
		s.nextID = id + 1
		end, err := scanSegment(f, size, func(r record, off int64, raw []byte) error {
			dv := s.device(r.d.Device)
			dv.next = max(dv.next, r.d.Seq+1)
			q := pending[r.d.Device]
			switch r.typ {
			case recEnq:
				if r.expires <= now {
					return nil
				}
				if e := q[r.d.Seq]; e != nil {
					e.seg, e.off = sg, off // a copy carried forward
					return nil
				}
				if v, ok := dv.dedup[r.d.UUID]; ok && v.seq == r.d.Seq && v.seg != nil {
					return nil // already acknowledged
				}
				d := r.d
				d.Payload = nil
				if q == nil {
					q = make(map[uint64]*entry)
					pending[r.d.Device] = q
				}
				q[d.Seq] = &entry{d: d, seg: sg, off: off, size: int32(len(raw))}
				if dv.dedup == nil {
					dv.dedup = make(map[mailbox.UUID]dedupVal)
				}
				dv.dedup[d.UUID] = dedupVal{expires: r.expires, seq: d.Seq}
			case recAck:
				if e := q[r.d.Seq]; e != nil {
					delete(q, r.d.Seq)
					if v, ok := dv.dedup[e.d.UUID]; ok && v.seq == r.d.Seq {
						v.seg = e.seg
						dv.dedup[e.d.UUID] = v
					}
				}
			case recDedup:
				if r.expires <= now {
					return nil
				}
				if e := q[r.d.Seq]; e != nil && e.d.UUID == r.d.UUID {
					delete(q, r.d.Seq)
				}
				if dv.dedup == nil {
					dv.dedup = make(map[mailbox.UUID]dedupVal)
				}
				dv.dedup[r.d.UUID] = dedupVal{expires: r.expires, seq: r.d.Seq, seg: sg}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("embedded: reading segment %d: %w", id, err)
		}
		if end < size {
			s.log.Warn("mailbox: cutting a torn or damaged tail", "segment", id, "offset", end, "bytes", size-end)
			s.stats.DamagedBytes += size - end
			if err := f.Truncate(end); err != nil {
				return err
			}
			if err := f.Sync(); err != nil {
				return err
			}
		}
		sg.size = end
	}
	for tok, q := range pending {
		dv := s.devs[tok]
		for _, e := range q {
			dv.pending = append(dv.pending, e)
			e.seg.pendingBytes += int64(e.size)
		}
		slices.SortFunc(dv.pending, func(a, b *entry) int { return cmp.Compare(a.d.Seq, b.d.Seq) })
	}
	for _, dv := range s.devs {
		for _, v := range dv.dedup {
			if v.seg != nil {
				v.seg.dedupCount++
			}
		}
	}
	return nil
}
