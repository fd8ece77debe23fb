package message

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	// howett.net/plist is the binary plist codec: maintained, pure Go,
	// BSD-licensed, and it writes the same layout as CoreFoundation and
	// Python's plistlib (uniqued strings, sorted keys, minimal integer
	// sizes). Writing our own would be one more parser to get right; its
	// weaknesses on hostile input are covered by scanBinaryPlist (bplist.go).
	"howett.net/plist"
)

// Encode returns m as iMessage sends it: the binary plist of Marshal,
// gzip-compressed with an empty header (modification time 0).
func Encode(m *Message) ([]byte, error) {
	b, err := Marshal(m)
	if err != nil {
		return nil, err
	}
	return gzipBytes(b), nil
}

// Marshal returns m as an uncompressed binary plist dictionary. It checks m
// first (see the package documentation) and fails with ErrInvalid or
// ErrTooLarge rather than write something Decode would refuse.
func Marshal(m *Message) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil message", ErrInvalid)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	d := map[string]any{
		keyID:           m.ID.String(),
		keyParticipants: m.Participants,
		keyPV:           valuePV,
		keyGV:           valueGV,
		keyV:            valueV,
	}
	if m.Text != "" {
		d[keyText] = m.Text
	}
	if m.GroupID != "" {
		d[keyGroupID] = m.GroupID
	}
	if m.Effect != "" {
		d[keyEffect] = m.Effect
	}
	if len(m.Attachments) > 0 {
		refs := make([]fileRef, len(m.Attachments))
		n := 0
		for i, a := range m.Attachments {
			refs[i].Attachment = a
			refs[i].Inline = nil
			if a.IsInline() {
				refs[i].inlineKey = inlineKey(n)
				d[refs[i].inlineKey] = a.Inline
				n++
			}
		}
		x := appendXHTML(nil, m.Text, refs)
		if len(x) > MaxXHTMLBytes {
			return nil, fmt.Errorf("%w: x longer than MaxXHTMLBytes (%d)", ErrTooLarge, MaxXHTMLBytes)
		}
		d[keyXHTML] = string(x)
	}
	b, err := plist.Marshal(d, plist.BinaryFormat)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(b) > MaxDecompressedSize {
		return nil, fmt.Errorf("%w: plist longer than MaxDecompressedSize (%d)", ErrTooLarge, MaxDecompressedSize)
	}
	return b, nil
}

// Decode parses an inner message: gzip-compressed when b starts with 1f 8b,
// otherwise a bare binary plist. It applies every limit and check of the
// package documentation and returns a Message that Marshal accepts.
//
// Decode must only be given plaintext that pair or pairec has already
// authenticated: it is the first code to look inside the payload, and the
// decompressor and parsers are attack surface that a forger must not reach.
func Decode(b []byte) (*Message, error) {
	decodeCalls.Add(1)
	raw := b
	if isGzip(b) {
		var err error
		if raw, err = gunzip(b); err != nil {
			return nil, err
		}
	} else if len(b) > MaxDecompressedSize {
		return nil, fmt.Errorf("%w: plist longer than MaxDecompressedSize (%d)", ErrTooLarge, MaxDecompressedSize)
	}
	p, err := scanBinaryPlist(raw)
	if err != nil {
		return nil, err
	}
	if err := p.checkKinds(); err != nil {
		return nil, err
	}
	env := reflect.New(envelopeType)
	if err := unmarshalPlist(raw, env.Interface()); err != nil {
		return nil, err
	}
	return p.message(env.Elem())
}

// The envelope is the struct the library decodes into: one field per known
// key, plus ia-0 ... ia-(MaxAttachments-1). Unknown keys are never
// materialised. It is built with reflect.StructOf so that the ia-N fields
// follow MaxAttachments.
const (
	envText = iota
	envXHTML
	envParticipants
	envID
	envGroupID
	envPV
	envGV
	envV
	envEffect
	envInline // ia-N is field envInline+N
)

var envelopeKeys = [...]struct {
	key  string
	kind byte // kindASCII stands for either string kind
	typ  reflect.Type
}{
	envText:         {keyText, kindASCII, reflect.TypeFor[string]()},
	envXHTML:        {keyXHTML, kindASCII, reflect.TypeFor[string]()},
	envParticipants: {keyParticipants, kindArray, reflect.TypeFor[[]string]()},
	envID:           {keyID, kindASCII, reflect.TypeFor[string]()},
	envGroupID:      {keyGroupID, kindASCII, reflect.TypeFor[string]()},
	envPV:           {keyPV, kindInt, reflect.TypeFor[int64]()},
	envGV:           {keyGV, kindASCII, reflect.TypeFor[string]()},
	envV:            {keyV, kindASCII, reflect.TypeFor[string]()},
	envEffect:       {keyEffect, kindASCII, reflect.TypeFor[string]()},
}

var envelopeType = func() reflect.Type {
	var fields []reflect.StructField
	for i, k := range envelopeKeys {
		fields = append(fields, reflect.StructField{
			Name: "F" + strconv.Itoa(i),
			Type: k.typ,
			Tag:  reflect.StructTag(`plist:"` + k.key + `"`),
		})
	}
	for n := range MaxAttachments {
		fields = append(fields, reflect.StructField{
			Name: "IA" + strconv.Itoa(n),
			Type: reflect.TypeFor[[]byte](),
			Tag:  reflect.StructTag(`plist:"` + inlineKey(n) + `"`),
		})
	}
	return reflect.StructOf(fields)
}()

// checkKinds checks the type of every known key of the top dictionary, and
// the elements of p, before the library decodes them.
func (p *bplist) checkKinds() error {
	for i, k := range envelopeKeys {
		obj, ok := p.top[k.key]
		if !ok {
			continue
		}
		if err := p.wantKind(k.key, obj, k.kind); err != nil {
			return err
		}
		if i == envParticipants {
			o := &p.objs[obj]
			if o.count > MaxParticipants {
				return fmt.Errorf("%w: more than MaxParticipants (%d) participants", ErrTooLarge, MaxParticipants)
			}
			for e := range o.count {
				if err := p.wantKind(k.key+" element", p.ref(obj, e), kindASCII); err != nil {
					return err
				}
			}
		}
	}
	for n := range MaxAttachments {
		if obj, ok := p.top[inlineKey(n)]; ok {
			if err := p.wantKind(inlineKey(n), obj, kindData); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *bplist) wantKind(what string, obj int, want byte) error {
	have := p.kindOf(obj)
	if have == want || (want == kindASCII && have == kindUTF16) {
		return nil
	}
	return fmt.Errorf("%w: key %s: want %s, have %s", ErrInvalid, what, kindName(want), kindName(have))
}

// libraryPanics counts panics recovered from the plist library. The
// structural check is meant to make them impossible; the fuzz test asserts
// that the count stays zero.
var libraryPanics atomic.Uint64

func unmarshalPlist(raw []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			libraryPanics.Add(1)
			err = fmt.Errorf("%w: binary plist: parser failure", ErrMalformed)
		}
	}()
	if _, err := plist.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: binary plist: %v", ErrMalformed, err)
	}
	return nil
}

// message builds and checks the Message from the decoded envelope.
func (p *bplist) message(env reflect.Value) (*Message, error) {
	str := func(i int) string { return strings.Clone(env.Field(i).String()) }
	for _, i := range []int{envGroupID, envGV, envV, envEffect} {
		if env.Field(i).Len() > MaxIDBytes {
			return nil, fmt.Errorf("%w: key %s longer than MaxIDBytes (%d)", ErrTooLarge, envelopeKeys[i].key, MaxIDBytes)
		}
	}
	if _, ok := p.top[keyID]; !ok {
		return nil, fmt.Errorf("%w: no key %s (message ID)", ErrInvalid, keyID)
	}
	if _, ok := p.top[keyParticipants]; !ok {
		return nil, fmt.Errorf("%w: no key %s (participants)", ErrInvalid, keyParticipants)
	}
	id, err := ParseID(env.Field(envID).String())
	if err != nil {
		return nil, err
	}
	m := &Message{
		ID:      id,
		Text:    str(envText),
		GroupID: str(envGroupID),
		Effect:  str(envEffect),
		XHTML:   str(envXHTML),
	}
	for _, s := range env.Field(envParticipants).Interface().([]string) {
		m.Participants = append(m.Participants, strings.Clone(s))
	}
	if m.XHTML != "" {
		refs, err := parseXHTML(m.XHTML)
		if err != nil {
			return nil, err
		}
		used := make([]bool, MaxAttachments)
		for i, r := range refs {
			a := r.Attachment
			if r.inlineKey != "" {
				n, _ := inlineIndex(r.inlineKey)
				if used[n] {
					return nil, invalidFile(i, "inline-attachment %s named twice", r.inlineKey)
				}
				used[n] = true
				if _, ok := p.top[r.inlineKey]; !ok {
					return nil, invalidFile(i, "no key %s for its inline bytes", r.inlineKey)
				}
				data := env.Field(envInline + n).Bytes()
				if len(data) == 0 {
					return nil, invalidFile(i, "key %s is empty", r.inlineKey)
				}
				a.Inline = bytes.Clone(data)
			}
			m.Attachments = append(m.Attachments, a)
		}
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// validate checks m against the rules and limits of the package.
func (m *Message) validate() error {
	if m.ID.IsZero() {
		return fmt.Errorf("%w: zero message ID", ErrInvalid)
	}
	if len(m.Participants) == 0 {
		return fmt.Errorf("%w: no participants", ErrInvalid)
	}
	if len(m.Participants) > MaxParticipants {
		return fmt.Errorf("%w: more than MaxParticipants (%d) participants", ErrTooLarge, MaxParticipants)
	}
	for i, s := range m.Participants {
		if len(s) > MaxParticipantBytes {
			return fmt.Errorf("%w: participant %d longer than MaxParticipantBytes (%d)", ErrTooLarge, i, MaxParticipantBytes)
		}
		if !validParticipant(s) {
			return fmt.Errorf("%w: participant %d is not a tel:+E.164 or mailto: URI", ErrInvalid, i)
		}
		for j := range i {
			if m.Participants[j] == s {
				return fmt.Errorf("%w: participants %d and %d are the same", ErrInvalid, j, i)
			}
		}
	}
	if len(m.Text) > MaxTextBytes {
		return fmt.Errorf("%w: text longer than MaxTextBytes (%d)", ErrTooLarge, MaxTextBytes)
	}
	if !utf8.ValidString(m.Text) {
		return fmt.Errorf("%w: text is not valid UTF-8", ErrInvalid)
	}
	for _, f := range []struct{ name, v string }{{"group ID", m.GroupID}, {"effect", m.Effect}} {
		if len(f.v) > MaxIDBytes {
			return fmt.Errorf("%w: %s longer than MaxIDBytes (%d)", ErrTooLarge, f.name, MaxIDBytes)
		}
		if !printableASCII(f.v, false) {
			return fmt.Errorf("%w: %s is not printable ASCII without spaces", ErrInvalid, f.name)
		}
	}
	if len(m.Attachments) > MaxAttachments {
		return fmt.Errorf("%w: more than MaxAttachments (%d) attachments", ErrTooLarge, MaxAttachments)
	}
	inline := 0
	for i := range m.Attachments {
		a := &m.Attachments[i]
		if err := validateAttachment(i, a, a.IsInline()); err != nil {
			return err
		}
		inline += len(a.Inline)
	}
	if inline > MaxInlineBytes {
		return fmt.Errorf("%w: inline attachments larger than MaxInlineBytes (%d) together", ErrTooLarge, MaxInlineBytes)
	}
	return nil
}

// validParticipant accepts "tel:+" and an E.164 number (1 to 15 digits, the
// first not 0), or "mailto:" and local@domain (UTF-8, one @, both sides
// non-empty, no spaces or control characters).
func validParticipant(s string) bool {
	if num, ok := strings.CutPrefix(s, schemeTel+"+"); ok {
		if len(num) < 1 || len(num) > 15 || num[0] == '0' {
			return false
		}
		for _, c := range []byte(num) {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	addr, ok := strings.CutPrefix(s, schemeMailto)
	if !ok || !utf8.ValidString(addr) {
		return false
	}
	at := strings.IndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || strings.IndexByte(addr[at+1:], '@') >= 0 {
		return false
	}
	return strings.IndexFunc(addr, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) < 0
}
