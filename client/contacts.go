package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/sealpost/sealpost/internal/directory/dirapi"
	"github.com/sealpost/sealpost/message"
)

// Contact is a name for one or more handles.
type Contact struct {
	Name    string   `json:"name"`
	Handles []string `json:"handles"`
}

// Group is a conversation with several participants. ID travels in every
// message of the group (key gid); Name is this device's name for it (empty
// for a group someone else started, until named).
type Group struct {
	Name         string   `json:"name,omitempty"`
	ID           string   `json:"id"`
	Participants []string `json:"participants"`
}

// normalizeHandles parses each handle to its normal form.
func normalizeHandles(in []string) ([]string, error) {
	var out []string
	for _, s := range in {
		h, err := dirapi.ParseHandle(s)
		if err != nil {
			return nil, withHint(fmt.Errorf("%q: %v", s, err), "a handle is an e-mail address (alice@example.org) or an international number (+15551234567)")
		}
		if !slices.Contains(out, string(h)) {
			out = append(out, string(h))
		}
	}
	return out, nil
}

// AddContact adds handles to the contact name, creating it if needed.
// Names are matched without regard to case.
func (d *Device) AddContact(name string, handles ...string) (Contact, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Contact{}, errors.New("a contact needs a name")
	}
	if _, err := dirapi.ParseHandle(name); err == nil {
		return Contact{}, withHint(fmt.Errorf("contact name %q looks like a handle", name), "the name comes first: sealpost contacts add NAME HANDLE...")
	}
	if len(handles) == 0 {
		return Contact{}, errors.New("a contact needs at least one handle")
	}
	hs, err := normalizeHandles(handles)
	if err != nil {
		return Contact{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.addContactLocked(name, hs)
	return c, writeJSON(filepath.Join(d.home, fileContacts), d.contacts)
}

func (d *Device) addContactLocked(name string, hs []string) Contact {
	for i := range d.contacts {
		if strings.EqualFold(d.contacts[i].Name, name) {
			for _, h := range hs {
				if !slices.Contains(d.contacts[i].Handles, h) {
					d.contacts[i].Handles = append(d.contacts[i].Handles, h)
				}
			}
			return d.contacts[i]
		}
	}
	d.contacts = append(d.contacts, Contact{Name: name, Handles: hs})
	sort.Slice(d.contacts, func(i, j int) bool { return strings.ToLower(d.contacts[i].Name) < strings.ToLower(d.contacts[j].Name) })
	for _, c := range d.contacts {
		if c.Name == name {
			return c
		}
	}
	return Contact{}
}

// Contacts returns the contacts, sorted by name.
func (d *Device) Contacts() []Contact {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Contact, len(d.contacts))
	for i, c := range d.contacts {
		out[i] = Contact{Name: c.Name, Handles: append([]string(nil), c.Handles...)}
	}
	return out
}

// contactName returns the name of the contact that has handle, or "".
func (d *Device) contactName(handle string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.contacts {
		if slices.Contains(c.Handles, handle) {
			return c.Name
		}
	}
	return ""
}

// ContactName returns the contact name of a handle, or "".
func (d *Device) ContactName(handle string) string { return d.contactName(handle) }

// ImportResult says what a vCard import did.
type ImportResult struct {
	Added   []Contact // contacts added or extended
	Skipped []string  // cards or values that could not be used, and why
}

// ImportVCard adds the contacts of a vCard file (versions 2.1, 3.0 and
// 4.0): the FN (or N) of each card with its EMAIL and TEL values. Numbers
// must be in international form (+...); others are skipped and listed.
func (d *Device) ImportVCard(r io.Reader) (ImportResult, error) {
	cards, err := parseVCards(r)
	if err != nil {
		return ImportResult{}, err
	}
	var res ImportResult
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, c := range cards {
		name := c.name
		if name == "" {
			res.Skipped = append(res.Skipped, fmt.Sprintf("card %d: no name (FN or N)", i+1))
			continue
		}
		var hs []string
		for _, v := range c.values {
			h, err := dirapi.ParseHandle(v)
			if err != nil {
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s: %q: %v", name, v, err))
				continue
			}
			if !slices.Contains(hs, string(h)) {
				hs = append(hs, string(h))
			}
		}
		if len(hs) == 0 {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: no e-mail address or international number", name))
			continue
		}
		res.Added = append(res.Added, d.addContactLocked(name, hs))
	}
	if len(res.Added) > 0 {
		if err := writeJSON(filepath.Join(d.home, fileContacts), d.contacts); err != nil {
			return res, err
		}
	}
	return res, nil
}

type vcard struct {
	name   string
	values []string // EMAIL and TEL values
}

// parseVCards reads vCards: unfolds continuation lines, then reads FN, N,
// EMAIL and TEL properties (any group prefix and parameters).
func parseVCards(r io.Reader) ([]vcard, error) {
	sc := bufio.NewScanner(io.LimitReader(r, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var lines []string
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if len(lines) > 0 && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) {
			lines[len(lines)-1] += line[1:]
			continue
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var cards []vcard
	var cur *vcard
	var nName string
	inCard := false
	for _, line := range lines {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		params := strings.Split(key, ";")
		prop := strings.ToUpper(params[0])
		if i := strings.LastIndexByte(prop, '.'); i >= 0 {
			prop = prop[i+1:] // item1.EMAIL
		}
		switch {
		case prop == "BEGIN" && strings.EqualFold(strings.TrimSpace(value), "VCARD"):
			cur, nName, inCard = &vcard{}, "", true
		case prop == "END" && strings.EqualFold(strings.TrimSpace(value), "VCARD"):
			if inCard {
				if cur.name == "" {
					cur.name = nName
				}
				cards = append(cards, *cur)
			}
			inCard = false
		case !inCard:
		case prop == "FN":
			cur.name = strings.TrimSpace(vcardUnescape(value))
		case prop == "N":
			// N:Family;Given;Additional;Prefix;Suffix
			parts := strings.Split(value, ";")
			var given, family string
			if len(parts) > 1 {
				given = vcardUnescape(parts[1])
			}
			family = vcardUnescape(parts[0])
			nName = strings.TrimSpace(given + " " + family)
		case prop == "EMAIL" || prop == "TEL":
			v := strings.TrimSpace(vcardUnescape(value))
			v = strings.TrimPrefix(strings.TrimPrefix(v, "tel:"), "TEL:")
			if v != "" {
				cur.values = append(cur.values, v)
			}
		}
	}
	if len(cards) == 0 && len(bytes.TrimSpace([]byte(strings.Join(lines, "")))) > 0 {
		return nil, withHint(errors.New("no BEGIN:VCARD ... END:VCARD card in the file"), "export contacts as a .vcf file (vCard)")
	}
	return cards, nil
}

func vcardUnescape(s string) string {
	r := strings.NewReplacer(`\,`, ",", `\;`, ";", `\n`, " ", `\N`, " ", `\\`, `\`)
	return r.Replace(s)
}

// Groups returns the groups this device knows.
func (d *Device) Groups() []Group {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Group, len(d.groups))
	for i, g := range d.groups {
		out[i] = Group{Name: g.Name, ID: g.ID, Participants: append([]string(nil), g.Participants...)}
	}
	return out
}

// groupLocked finds a group by name (any case), id, or a prefix of its id
// of at least 8 characters that only it has (recv shows the first 8).
func (d *Device) groupLocked(nameOrID string) *Group {
	for i := range d.groups {
		if strings.EqualFold(d.groups[i].ID, nameOrID) || (d.groups[i].Name != "" && strings.EqualFold(d.groups[i].Name, nameOrID)) {
			return &d.groups[i]
		}
	}
	if len(nameOrID) < 8 {
		return nil
	}
	var found *Group
	for i := range d.groups {
		if len(d.groups[i].ID) >= len(nameOrID) && strings.EqualFold(d.groups[i].ID[:len(nameOrID)], nameOrID) {
			if found != nil {
				return nil
			}
			found = &d.groups[i]
		}
	}
	return found
}

// FindGroup finds a group by name, id, or unique id prefix (8 characters
// or more).
func (d *Device) FindGroup(nameOrID string) (Group, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.groupLocked(nameOrID)
	if g == nil {
		return Group{}, false
	}
	return Group{Name: g.Name, ID: g.ID, Participants: append([]string(nil), g.Participants...)}, true
}

// noteGroup records the participants of a group message received, adding
// the group if it is new. It returns the group's local name.
func (d *Device) noteGroup(id string, participants []string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := d.groupLocked(id)
	if g == nil {
		d.groups = append(d.groups, Group{ID: id, Participants: participants})
	} else if slices.Equal(g.Participants, participants) {
		return g.Name
	} else {
		g.Participants = participants
	}
	if err := writeJSON(filepath.Join(d.home, fileGroups), d.groups); err != nil {
		d.log.Warn("saving groups", "err", err.Error())
	}
	if g != nil {
		return g.Name
	}
	return ""
}

// NameGroup gives a local name to a group known by id.
func (d *Device) NameGroup(id, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if other := d.groupLocked(name); other != nil && other.ID != id {
		return fmt.Errorf("a group is already called %q", name)
	}
	g := d.groupLocked(id)
	if g == nil {
		return fmt.Errorf("no group with id %s", id)
	}
	g.Name = name
	return writeJSON(filepath.Join(d.home, fileGroups), d.groups)
}

// newGroupID returns a fresh group id (a UUID, as iMessage's).
func newGroupID() string { return message.NewID().String() }
