package directory

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/sealpost/sealpost/internal/directory/storage"
)

// The lookup answer is the hot path of the directory: 20 handles × their
// devices, each device record ~700 bytes of base64. Everything in a
// record except the session token and its expiry is fixed until the device
// changes, so each record is encoded once into two fragments (before and
// after the token) and cached by device id and update time. The output is
// the JSON encoding/json would produce for dirapi.LookupResponse
// (TestLookupEncodingMatches checks that).

type fragment struct {
	updated    time.Time
	head, tail []byte
}

type fragmentCache struct {
	mu sync.RWMutex
	m  map[storage.DeviceID]*fragment
}

const fragmentCacheMax = 50_000

func (c *fragmentCache) get(d *storage.Device) *fragment {
	c.mu.RLock()
	f := c.m[d.ID]
	c.mu.RUnlock()
	if f != nil && f.updated.Equal(d.Updated) {
		return f
	}
	f = encodeFragment(d)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= fragmentCacheMax {
		c.m = make(map[storage.DeviceID]*fragment)
	}
	c.m[d.ID] = f
	c.mu.Unlock()
	return f
}

func appendB64(b, data []byte) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, data)
	return append(b, '"')
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // never fails for a string
	return append(b, q...)
}

func encodeFragment(d *storage.Device) *fragment {
	f := &fragment{updated: d.Updated}
	h := make([]byte, 0, 128)
	h = append(h, `{"id":"`...)
	h = hex.AppendEncode(h, d.ID[:])
	h = append(h, `","push_token":`...)
	h = appendB64(h, d.PushToken)
	h = append(h, `,"session_token":`...)
	f.head = h
	t := make([]byte, 0, 640)
	t = append(t, `,"identity":`...)
	t = appendB64(t, d.Identity)
	t = append(t, `,"device_key":`...)
	t = appendB64(t, d.DeviceKey)
	t = append(t, `,"signed_prekey":`...)
	t = appendB64(t, d.SignedPrekey)
	t = append(t, `,"capabilities":{"schemes":`...)
	if d.Schemes == nil {
		t = append(t, "null"...)
	} else {
		t = append(t, '[')
		for i, s := range d.Schemes {
			if i > 0 {
				t = append(t, ',')
			}
			t = appendJSONString(t, s)
		}
		t = append(t, ']')
	}
	t = append(t, `,"max_payload":`...)
	t = strconv.AppendInt(t, int64(d.MaxPayload), 10)
	t = append(t, `},"name":`...)
	t = appendJSONString(t, d.Name)
	t = append(t, '}')
	f.tail = t
	return f
}

// encodeLookup writes the answer to a lookup of handles by sender.
func (s *Service) encodeLookup(handles []string, found map[string][]storage.Device, sender storage.DeviceID, expires time.Time) []byte {
	tokens := map[storage.DeviceID][]byte{}
	exp := strconv.AppendInt(nil, expires.Unix(), 10)
	b := make([]byte, 0, 1024*len(handles))
	b = append(b, `{"results":[`...)
	for i, h := range handles {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"handle":`...)
		b = appendJSONString(b, h)
		b = append(b, `,"devices":[`...)
		for j := range found[h] {
			d := &found[h][j]
			if j > 0 {
				b = append(b, ',')
			}
			f := s.fragments.get(d)
			tok, ok := tokens[d.ID]
			if !ok {
				tok = s.session.mint(sender, d.ID, expires)
				tokens[d.ID] = tok
			}
			b = append(b, f.head...)
			b = appendB64(b, tok)
			b = append(b, `,"session_token_expires":`...)
			b = append(b, exp...)
			b = append(b, f.tail...)
		}
		b = append(b, "]}"...)
	}
	return append(b, "]}"...)
}
