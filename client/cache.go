package client

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/sealpost/sealpost/envelope"
	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
)

// Lookup cache lifetimes (protocol.md §5, Beeper's policy): a handle's
// devices are looked up again a day after the last answer, an empty
// answer after an hour, and any answer whose session tokens are about to
// expire. A send never fails on a cached empty answer: it looks the
// handle up again first.
const (
	PositiveTTL     = 24 * time.Hour
	NegativeTTL     = time.Hour
	sessionMargin   = 5 * time.Minute
	cacheDiscardAge = 7 * 24 * time.Hour
	// senderRefreshFloor: a message from an unknown device of a handle
	// looks the handle up again only if the cached answer is older.
	senderRefreshFloor = 5 * time.Second
)

// cacheEntry is one handle's answer as stored in lookup-cache.json.
type cacheEntry struct {
	Fetched time.Time             `json:"fetched"`
	Devices []dirapi.LookupDevice `json:"devices"`
}

type lookupCache struct {
	d       *Device
	mu      sync.Mutex
	entries map[string]cacheEntry
	parsed  map[string][]remoteDevice // parsed devices of entries, by handle
}

// remoteDevice is a device of another handle (or of our own account) as a
// sender needs it: where to send, and the keys to seal to and verify with.
type remoteDevice struct {
	ID           string
	Handle       string // the handle it was looked up under
	Name         string
	PushToken    []byte
	SessionToken []byte
	Keys         envelope.Device
	Scheme       string // the scheme to seal with
	MaxPayload   int
}

func newLookupCache(d *Device) *lookupCache {
	return &lookupCache{d: d, entries: map[string]cacheEntry{}, parsed: map[string][]remoteDevice{}}
}

func (c *lookupCache) path() string { return filepath.Join(c.d.home, fileCache) }

func (c *lookupCache) load() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := readJSON(c.path(), &c.entries); err != nil {
		return err
	}
	if c.entries == nil {
		c.entries = map[string]cacheEntry{}
	}
	now := c.d.now()
	for h, e := range c.entries {
		if now.Sub(e.Fetched) > cacheDiscardAge {
			delete(c.entries, h)
		}
	}
	return nil
}

func (c *lookupCache) saveLocked() error {
	return writeJSON(c.path(), c.entries)
}

// forget drops a handle's cached answer.
func (c *lookupCache) forget(handle string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[handle]; ok {
		delete(c.entries, handle)
		delete(c.parsed, handle)
		c.saveLocked()
	}
}

// fresh reports whether e can be used at now.
func fresh(e cacheEntry, now time.Time) bool {
	age := now.Sub(e.Fetched)
	if age < 0 {
		return false
	}
	if len(e.Devices) == 0 {
		return age < NegativeTTL
	}
	if age >= PositiveTTL {
		return false
	}
	for _, dv := range e.Devices {
		if dv.SessionTokenExpires != 0 && time.Unix(dv.SessionTokenExpires, 0).Before(now.Add(sessionMargin)) {
			return false
		}
	}
	return true
}

// devices returns the devices of each handle, from the cache when fresh
// and from the directory otherwise. Handles in refresh are looked up
// whatever the cache holds; so are cached empty answers if refreshEmpty.
func (c *lookupCache) devices(ctx context.Context, handles []string, refresh map[string]bool, refreshEmpty bool) (map[string][]remoteDevice, error) {
	now := c.d.now()
	out := make(map[string][]remoteDevice, len(handles))
	var need []string
	c.mu.Lock()
	for _, h := range handles {
		if _, dup := out[h]; dup || slices.Contains(need, h) {
			continue
		}
		e, ok := c.entries[h]
		if ok && fresh(e, now) && !refresh[h] && !(refreshEmpty && len(e.Devices) == 0) {
			out[h] = c.parsedLocked(h, e)
			continue
		}
		need = append(need, h)
	}
	c.mu.Unlock()
	for len(need) > 0 {
		batch := need[:min(len(need), dirapi.MaxLookupHandles)]
		need = need[len(batch):]
		resp, err := c.d.dir.Lookup(ctx, batch)
		if err != nil {
			return nil, c.d.serverError(err)
		}
		if len(resp.Results) != len(batch) {
			return nil, fmt.Errorf("directory answered %d results for %d handles", len(resp.Results), len(batch))
		}
		c.mu.Lock()
		for i, r := range resp.Results {
			h := batch[i]
			e := cacheEntry{Fetched: now, Devices: r.Devices}
			c.entries[h] = e
			delete(c.parsed, h)
			out[h] = c.parsedLocked(h, e)
		}
		err = c.saveLocked()
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		c.d.log.Debug("looked up handles", "count", len(batch))
	}
	return out, nil
}

func (c *lookupCache) parsedLocked(h string, e cacheEntry) []remoteDevice {
	if p, ok := c.parsed[h]; ok {
		return p
	}
	var out []remoteDevice
	for _, ld := range e.Devices {
		rd, err := parseLookupDevice(h, ld)
		if err != nil {
			c.d.log.Warn("ignoring a device the directory listed", "handle", h, "device", ld.ID, "reason", err.Error())
			continue
		}
		out = append(out, rd)
	}
	c.parsed[h] = out
	return out
}

// parseLookupDevice checks a directory answer: the identity blob parses
// and hashes to the id, and the pair-ec prekey verifies under the device
// key (else the device gets "pair" only, if it takes it).
func parseLookupDevice(handle string, ld dirapi.LookupDevice) (remoteDevice, error) {
	rd := remoteDevice{ID: ld.ID, Handle: handle, Name: ld.Name, PushToken: ld.PushToken,
		SessionToken: ld.SessionToken, MaxPayload: ld.Capabilities.MaxPayload}
	pub, err := identity.ParsePublic(ld.Identity)
	if err != nil {
		return rd, err
	}
	hash := pub.Hash()
	if fmt.Sprintf("%x", hash[:]) != ld.ID {
		return rd, fmt.Errorf("identity does not hash to the device id")
	}
	if len(ld.PushToken) != 32 {
		return rd, fmt.Errorf("push token is %d bytes", len(ld.PushToken))
	}
	rd.Keys.Identity = pub
	pairOK := slices.Contains(ld.Capabilities.Schemes, dirapi.SchemePair)
	// The device key verifies what the device sends in pair-ec; the prekey,
	// only if its signature verifies, is what we seal to.
	if dk, err := identity.ParseCompactKey(ld.DeviceKey); err == nil {
		rd.Keys.DeviceKey = dk
		if sp, err := identity.ParseSignedPrekey(ld.SignedPrekey); err == nil && sp.Verify(dk) == nil {
			rd.Keys.Prekey = sp.Prekey
		}
	}
	switch {
	case rd.Keys.Scheme() == envelope.SchemePairEC && slices.Contains(ld.Capabilities.Schemes, dirapi.SchemePairEC):
		rd.Scheme = envelope.SchemePairEC
	case pairOK:
		rd.Scheme = envelope.SchemePair
	default:
		return rd, fmt.Errorf("no usable scheme among %v", ld.Capabilities.Schemes)
	}
	return rd, nil
}

// senderDevice finds the device of handle whose push token is token,
// looking the handle up again if the cache does not have it (a new
// device, or a cache from before it registered).
func (c *lookupCache) senderDevice(ctx context.Context, handle string, token []byte) (remoteDevice, bool, error) {
	for _, refresh := range []bool{false, true} {
		if refresh {
			// Someone sending with a token we do not know must not make us
			// hammer the directory: one fresh look every few seconds.
			c.mu.Lock()
			e, ok := c.entries[handle]
			c.mu.Unlock()
			if ok && c.d.now().Sub(e.Fetched) < senderRefreshFloor {
				break
			}
		}
		devs, err := c.devices(ctx, []string{handle}, map[string]bool{handle: refresh}, refresh)
		if err != nil {
			return remoteDevice{}, false, err
		}
		for _, rd := range devs[handle] {
			if bytes.Equal(rd.PushToken, token) {
				return rd, true, nil
			}
		}
	}
	return remoteDevice{}, false, nil
}
