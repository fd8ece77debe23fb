package client

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sealpost/sealpost/envelope"
	"github.com/sealpost/sealpost/message"
)

// store is the device's message store: messages.jsonl, one record per
// message received or sent, and seen.log, the IDs of received messages
// with the time they were sent, so that a message delivered twice (the
// relay redelivers what was not acknowledged) shows once, across restarts.
// Both files are appended and synced before a delivery is acknowledged.
// seen.log is rewritten without expired IDs when it is opened.
type store struct {
	mu      sync.Mutex
	replay  *envelope.Replay
	known   map[message.ID]struct{} // the IDs in replay, for a lookup without recording
	seen    *os.File
	history *os.File
	home    string
}

// Record is one line of messages.jsonl.
type Record struct {
	// Dir is "in" for a message received, "out" for one sent from this
	// device.
	Dir          string       `json:"dir"`
	ID           string       `json:"id"`
	From         string       `json:"from"`
	To           []string     `json:"to,omitempty"`
	Group        string       `json:"group,omitempty"`
	Participants []string     `json:"participants"`
	Text         string       `json:"text"`
	At           time.Time    `json:"at"`
	Attachments  []Attachment `json:"attachments,omitempty"`
}

func openStore(home string, now func() time.Time) (*store, error) {
	s := &store{replay: envelope.NewReplay(envelope.DefaultHorizon, now), home: home, known: map[message.ID]struct{}{}}
	seenPath := filepath.Join(home, fileSeen)
	live, total, err := s.loadSeen(seenPath, now())
	if err != nil {
		return nil, err
	}
	if total > 2*live+1024 {
		// Compact: write the live entries to a new file.
		var b bytes.Buffer
		s.replay.Entries(func(id message.ID, sent time.Time) {
			fmt.Fprintf(&b, "%s %d\n", id, sent.UnixNano())
		})
		if err := writeFileAtomic(seenPath, b.Bytes()); err != nil {
			return nil, err
		}
	}
	if s.seen, err = os.OpenFile(seenPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err != nil {
		return nil, err
	}
	if s.history, err = os.OpenFile(filepath.Join(home, fileHistory), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err != nil {
		s.seen.Close()
		return nil, err
	}
	return s, nil
}

// loadSeen reads seen.log into the replay set, skipping expired and
// damaged lines (a torn last line after a crash).
func (s *store) loadSeen(path string, now time.Time) (live, total int, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	horizon := now.Add(-envelope.DefaultHorizon)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		total++
		idText, tsText, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		id, err := message.ParseID(idText)
		if err != nil {
			continue
		}
		ns, err := strconv.ParseInt(tsText, 10, 64)
		if err != nil {
			continue
		}
		t := time.Unix(0, ns)
		if t.Before(horizon) {
			continue
		}
		s.replay.Add(id, t)
		s.known[id] = struct{}{}
		live++
	}
	return live, total, nil
}

// has reports whether id was received before.
func (s *store) has(id message.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.known[id]
	return ok
}

// received records a received message durably: its ID in seen.log and
// its record in messages.jsonl, both synced. It returns
// envelope.ErrDuplicate if the ID was recorded already.
func (s *store) received(id message.ID, sent time.Time, rec *Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.replay.Check(id, sent); err != nil {
		return err
	}
	s.known[id] = struct{}{}
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := s.history.Write(append(line, '\n')); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.seen, "%s %d\n", id, sent.UnixNano()); err != nil {
		return err
	}
	if err := s.history.Sync(); err != nil {
		return err
	}
	return s.seen.Sync()
}

// sent records a message sent from this device.
func (s *store) sent(rec *Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	// Not synced: the relay holds the message durably once Send returns;
	// a crash may lose this line of the local history only.
	_, err = s.history.Write(append(line, '\n'))
	return err
}

func (s *store) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.seen.Close(), s.history.Close())
}

// History returns the records of messages.jsonl for which keep returns
// true (all if keep is nil), oldest first.
func (d *Device) History(keep func(*Record) bool) ([]Record, error) {
	b, err := os.ReadFile(filepath.Join(d.home, fileHistory))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []Record
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		var r Record
		if json.Unmarshal(line, &r) != nil {
			continue
		}
		if keep == nil || keep(&r) {
			out = append(out, r)
		}
	}
	return out, nil
}
