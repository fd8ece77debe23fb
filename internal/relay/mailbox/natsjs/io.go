package natsjs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// stored is one message read from the stream.
type stored struct {
	seq     uint64    // stream sequence
	subject string    // its subject
	time    time.Time // when the server stored it
	rec     record
}

var errConflict = errors.New("natsjs: concurrent write to the device")

// getRequest is the body of a direct get ($JS.API.DIRECT.GET.<stream>).
type getRequest struct {
	Seq      uint64 `json:"seq,omitempty"`
	LastFor  string `json:"last_by_subj,omitempty"`
	NextFor  string `json:"next_by_subj,omitempty"`
	Batch    int    `json:"batch,omitempty"`
	MaxBytes int    `json:"max_bytes,omitempty"`
}

// decode turns a direct-get reply into a stored message; ok is false for
// "no message" (404).
func decodeDirect(m *nats.Msg) (st stored, ok bool, err error) {
	if status := m.Header.Get("Status"); status != "" {
		if status == "404" {
			return st, false, nil
		}
		return st, false, fmt.Errorf("natsjs: direct get: status %s %s", status, m.Header.Get("Description"))
	}
	st.subject = m.Header.Get(jetstream.SubjectHeader)
	st.seq, err = strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil || st.seq == 0 || st.subject == "" {
		return st, false, errors.New("natsjs: direct get: reply without sequence or subject")
	}
	if ts := m.Header.Get(jetstream.TimeStampHeaer); ts != "" {
		st.time, _ = time.Parse(time.RFC3339Nano, ts)
	}
	st.rec, err = parseRecord(m.Data)
	if err != nil {
		return st, false, fmt.Errorf("natsjs: stream sequence %d (%s): %w", st.seq, st.subject, err)
	}
	return st, true, nil
}

// last returns the last message whose subject matches filter (which may
// have wildcards).
func (s *Store) last(ctx context.Context, filter string) (stored, bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	body, _ := json.Marshal(getRequest{LastFor: filter})
	m, err := s.reader().RequestWithContext(ctx, s.apiGet, body)
	if err != nil {
		return stored{}, false, fmt.Errorf("natsjs: direct get: %w", err)
	}
	return decodeDirect(m)
}

// readBatch reads up to one batch of the messages matching filter from
// stream sequence from on, in order. It returns the sequence to continue
// at and whether there may be more.
func (s *Store) readBatch(ctx context.Context, filter string, from uint64) (ms []stored, next uint64, more bool, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if from == 0 {
		from = 1
	}
	nc := s.reader()
	inbox := nc.NewRespInbox()
	ch := make(chan *nats.Msg, readBatch+1)
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, 0, false, err
	}
	defer sub.Unsubscribe()
	body, _ := json.Marshal(getRequest{Seq: from, NextFor: filter, Batch: readBatch, MaxBytes: readMaxBytes})
	if err := nc.PublishRequest(s.apiGet, inbox, body); err != nil {
		return nil, 0, false, err
	}
	next = from
	for {
		var m *nats.Msg
		select {
		case m = <-ch:
		case <-ctx.Done():
			return nil, next, false, fmt.Errorf("natsjs: direct get batch: %w", ctx.Err())
		}
		if m.Header.Get("Status") == "204" { // end of batch
			pending, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
			return ms, next, pending > 0 && len(ms) > 0, nil
		}
		st, ok, err := decodeDirect(m)
		if err != nil {
			return nil, next, false, err
		}
		if !ok { // nothing at or after from
			return ms, next, false, nil
		}
		ms = append(ms, st)
		next = st.seq + 1
	}
}

// scan calls f with every message matching filter from stream sequence
// from on, in order, until f returns false. f runs between batches, with
// no request outstanding.
func (s *Store) scan(ctx context.Context, filter string, from uint64, f func(stored) bool) error {
	for {
		ms, next, more, err := s.readBatch(ctx, filter, from)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if !f(m) {
				return nil
			}
		}
		if !more {
			return nil
		}
		from = next
	}
}

// publish stores body on subject if the device's last record (any subject
// matching cas) is still at stream sequence expect (0: none). It returns
// the new message's stream sequence, or errConflict.
func (s *Store) publish(ctx context.Context, subject string, body []byte, cas string, expect uint64) (uint64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	m := &nats.Msg{Subject: subject, Data: body}
	ack, err := s.js.PublishMsg(ctx, m,
		jetstream.WithExpectStream(s.opt.Stream),
		jetstream.WithExpectLastSequenceForSubject(expect, cas),
		jetstream.WithRetryAttempts(0))
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return 0, errConflict
		}
		return 0, fmt.Errorf("natsjs: publish: %w", err)
	}
	return ack.Sequence, nil
}

// deleteSeq deletes one message by stream sequence; a message already
// gone is not an error.
func (s *Store) deleteSeq(ctx context.Context, seq uint64) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	body, _ := json.Marshal(struct {
		Seq     uint64 `json:"seq"`
		NoErase bool   `json:"no_erase"`
	}{seq, true})
	m, err := s.nc.RequestWithContext(ctx, s.apiDel, body)
	if err != nil {
		return fmt.Errorf("natsjs: delete: %w", err)
	}
	var resp struct {
		Success bool                `json:"success"`
		Error   *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return fmt.Errorf("natsjs: delete: %w", err)
	}
	if resp.Error != nil {
		switch {
		case resp.Error.ErrorCode == jsErrNoMessageFound, resp.Error.ErrorCode == jsErrSequenceNotFound,
			resp.Error.ErrorCode == jsErrMsgDeleteFailed && (strings.Contains(resp.Error.Description, "no message found") ||
				strings.Contains(resp.Error.Description, "stream store EOF")): // beyond the last sequence
			return nil
		}
		return fmt.Errorf("natsjs: delete: %w", resp.Error)
	}
	return nil
}

// Server error codes not exported by nats.go.
const (
	jsErrNoMessageFound   jetstream.ErrorCode = 10037
	jsErrSequenceNotFound jetstream.ErrorCode = 10043
	jsErrMsgDeleteFailed  jetstream.ErrorCode = 10057 // with the store's reason
)
