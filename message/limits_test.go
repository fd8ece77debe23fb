package message

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"

	"howett.net/plist"
)

// Each limit is tried at limit-1 and limit (accepted) and limit+1 (refused
// with ErrTooLarge, naming the limit), through Encode where a Message can
// express it and through Decode of a plist built without our checks.

// edge runs f at limit-1, limit and limit+1 and checks the outcome.
func edge(t *testing.T, name string, limit int, f func(n int) error) {
	t.Helper()
	for _, n := range []int{limit - 1, limit, limit + 1} {
		err := f(n)
		if n <= limit && err != nil {
			t.Fatalf("%s at %d (limit %d): %v", name, n, limit, err)
		}
		if n > limit {
			wantErr(t, err, ErrTooLarge, name)
		}
	}
}

// viaEncode encodes the message mutate builds from a minimal one, then
// decodes the result.
func viaEncode(mutate func(*Message)) error {
	m := &Message{ID: testID, Participants: []string{"mailto:alice@example.com"}}
	mutate(m)
	b, err := Encode(m)
	if err != nil {
		return err
	}
	got, err := Decode(b)
	if err != nil {
		return fmt.Errorf("Decode of Encode output: %w", err)
	}
	if !sameMessage(got, m) {
		return fmt.Errorf("round trip changed the message")
	}
	return nil
}

// viaDecode decodes a plist with the keys of baseDict plus extra.
func viaDecode(t *testing.T, extra map[string]any) error {
	d := baseDict()
	for k, v := range extra {
		d[k] = v
	}
	_, err := Decode(mustPlist(t, d))
	return err
}

// xOf returns an x string for refs, built by the generator without checks.
func xOf(refs ...fileRef) string { return string(appendXHTML(nil, "", refs)) }

func mmcsRef() fileRef { return fileRef{Attachment: mmcsAttachment()} }

func inlineRef(key string) fileRef {
	a := inlineAttachment(nil)
	a.Size = 1
	return fileRef{Attachment: a, inlineKey: key}
}

func TestLimitDecompressedSize(t *testing.T) {
	// plistOfSize pads an unknown data key until the plist is n bytes.
	plistOfSize := func(n int) []byte {
		d := baseDict()
		pad := n - 200
		for range 4 {
			d["zz"] = make([]byte, pad)
			b := mustPlist(t, d)
			if len(b) == n {
				return b
			}
			pad += n - len(b)
		}
		t.Fatalf("cannot build a plist of %d bytes", n)
		return nil
	}
	edge(t, "MaxDecompressedSize", MaxDecompressedSize, func(n int) error {
		b := plistOfSize(n)
		_, errPlain := Decode(b)
		_, errGzip := Decode(gz(t, b))
		if (errPlain == nil) != (errGzip == nil) {
			t.Fatalf("plain: %v, gzip: %v", errPlain, errGzip)
		}
		return errGzip
	})
}

func TestLimitParticipants(t *testing.T) {
	list := func(n int) []string {
		var p []string
		for i := range n {
			p = append(p, fmt.Sprintf("tel:+1555000%04d", i))
		}
		return p
	}
	edge(t, "MaxParticipants", MaxParticipants, func(n int) error {
		return viaEncode(func(m *Message) { m.Participants = list(n) })
	})
	edge(t, "MaxParticipants", MaxParticipants, func(n int) error {
		return viaDecode(t, map[string]any{keyParticipants: list(n)})
	})
}

func TestLimitParticipantBytes(t *testing.T) {
	uri := func(n int) string {
		const domain = "@example.com"
		return schemeMailto + strings.Repeat("a", n-len(schemeMailto)-len(domain)) + domain
	}
	if MaxParticipantBytes != 261 {
		t.Fatalf("MaxParticipantBytes = %d, want 7 + 254", MaxParticipantBytes)
	}
	edge(t, "MaxParticipantBytes", MaxParticipantBytes, func(n int) error {
		return viaEncode(func(m *Message) { m.Participants = []string{uri(n)} })
	})
	edge(t, "MaxParticipantBytes", MaxParticipantBytes, func(n int) error {
		return viaDecode(t, map[string]any{keyParticipants: []string{"tel:+1555", uri(n)}})
	})
}

func TestLimitText(t *testing.T) {
	edge(t, "MaxTextBytes", MaxTextBytes, func(n int) error {
		return viaEncode(func(m *Message) { m.Text = strings.Repeat("é", n/2) + strings.Repeat("a", n%2) })
	})
	edge(t, "MaxTextBytes", MaxTextBytes, func(n int) error {
		return viaDecode(t, map[string]any{keyText: strings.Repeat("a", n)})
	})
}

func TestLimitXHTMLBytes(t *testing.T) {
	edge(t, "MaxXHTMLBytes", MaxXHTMLBytes, func(n int) error {
		const open, close = "<html><body>", "</body></html>"
		x := open + strings.Repeat("a", n-len(open)-len(close)) + close
		return viaDecode(t, map[string]any{keyXHTML: x})
	})
}

func TestLimitXHTMLDepth(t *testing.T) {
	edge(t, "MaxXHTMLDepth", MaxXHTMLDepth, func(n int) error {
		x := "<html>" + strings.Repeat("<a>", n-1) + strings.Repeat("</a>", n-1) + "</html>"
		return viaDecode(t, map[string]any{keyXHTML: x})
	})
}

func TestLimitIDBytes(t *testing.T) {
	edge(t, "MaxIDBytes", MaxIDBytes, func(n int) error {
		return viaEncode(func(m *Message) { m.GroupID = strings.Repeat("G", n) })
	})
	edge(t, "MaxIDBytes", MaxIDBytes, func(n int) error {
		return viaEncode(func(m *Message) { m.Effect = strings.Repeat("E", n) })
	})
	for _, key := range []string{keyGroupID, keyEffect, keyGV, keyV} {
		edge(t, "MaxIDBytes", MaxIDBytes, func(n int) error {
			return viaDecode(t, map[string]any{key: strings.Repeat("8", n)})
		})
	}
}

func TestLimitAttachments(t *testing.T) {
	edge(t, "MaxAttachments", MaxAttachments, func(n int) error {
		return viaEncode(func(m *Message) {
			for range n {
				m.Attachments = append(m.Attachments, mmcsAttachment())
			}
		})
	})
	edge(t, "MaxAttachments", MaxAttachments, func(n int) error {
		var refs []fileRef
		for range n {
			refs = append(refs, mmcsRef())
		}
		return viaDecode(t, map[string]any{keyXHTML: xOf(refs...)})
	})
}

func TestLimitInlineBytes(t *testing.T) {
	const first = MaxInlineBytes / 2
	edge(t, "MaxInlineBytes", MaxInlineBytes, func(n int) error {
		return viaEncode(func(m *Message) {
			m.Attachments = []Attachment{
				inlineAttachment(make([]byte, first)),
				mmcsAttachment(),
				inlineAttachment(make([]byte, n-first)),
			}
		})
	})
	edge(t, "MaxInlineBytes", MaxInlineBytes, func(n int) error {
		return viaDecode(t, map[string]any{
			keyXHTML: xOf(inlineRef("ia-0"), inlineRef("ia-1")),
			"ia-0":   make([]byte, first),
			"ia-1":   make([]byte, n-first),
		})
	})
}

func TestLimitElementAttrs(t *testing.T) {
	edge(t, "MaxElementAttrs", MaxElementAttrs, func(n int) error {
		x := `<html><body><FILE name="n" file-size="1" inline-attachment="ia-0"`
		for i := range n - 3 {
			x += fmt.Sprintf(` u%d="v"`, i)
		}
		x += `/></body></html>`
		return viaDecode(t, map[string]any{keyXHTML: x, "ia-0": []byte{1}})
	})
}

func TestLimitElementAttrsAnyElement(t *testing.T) {
	edge(t, "MaxElementAttrs", MaxElementAttrs, func(n int) error {
		x := `<html`
		for i := range n {
			x += fmt.Sprintf(` a%d="v"`, i)
		}
		return viaDecode(t, map[string]any{keyXHTML: x + `/>`})
	})
}

func TestLimitNameBytes(t *testing.T) {
	name := func(n int) string { return strings.Repeat("é", n/2) + strings.Repeat("a", n%2) }
	edge(t, "MaxNameBytes", MaxNameBytes, func(n int) error {
		return viaEncode(func(m *Message) {
			a := mmcsAttachment()
			a.Name = name(n)
			m.Attachments = []Attachment{a}
		})
	})
	edge(t, "MaxNameBytes", MaxNameBytes, func(n int) error {
		r := mmcsRef()
		r.Name = name(n)
		return viaDecode(t, map[string]any{keyXHTML: xOf(r)})
	})
}

func TestLimitAttrBytes(t *testing.T) {
	set := []func(a *Attachment, v string){
		func(a *Attachment, v string) { a.MimeType = v },
		func(a *Attachment, v string) { a.UTIType = v },
		func(a *Attachment, v string) { a.Owner = v },
	}
	for _, f := range set {
		edge(t, "MaxAttrBytes", MaxAttrBytes, func(n int) error {
			return viaEncode(func(m *Message) {
				a := mmcsAttachment()
				f(&a, strings.Repeat("&", n))
				m.Attachments = []Attachment{a}
			})
		})
		edge(t, "MaxAttrBytes", MaxAttrBytes, func(n int) error {
			r := mmcsRef()
			f(&r.Attachment, strings.Repeat("x", n))
			return viaDecode(t, map[string]any{keyXHTML: xOf(r)})
		})
	}
	edge(t, "MaxAttrBytes", MaxAttrBytes, func(n int) error {
		x := `<html><body><FILE name="n" file-size="1" inline-attachment="ia-0" unknown="` +
			strings.Repeat("v", n) + `"/></body></html>`
		return viaDecode(t, map[string]any{keyXHTML: x, "ia-0": []byte{1}})
	})
}

func TestLimitURLBytes(t *testing.T) {
	url := func(n int) string {
		const p = "https://example.com/"
		return p + strings.Repeat("a", n-len(p))
	}
	edge(t, "MaxURLBytes", MaxURLBytes, func(n int) error {
		return viaEncode(func(m *Message) {
			a := mmcsAttachment()
			a.URL = url(n)
			m.Attachments = []Attachment{a}
		})
	})
	edge(t, "MaxURLBytes", MaxURLBytes, func(n int) error {
		r := mmcsRef()
		r.URL = url(n)
		return viaDecode(t, map[string]any{keyXHTML: xOf(r)})
	})
}

// trailerObjects reads the object count from a binary plist trailer.
func trailerObjects(b []byte) int {
	return int(binary.BigEndian.Uint64(b[len(b)-24:]))
}

func TestLimitPlistObjects(t *testing.T) {
	edge(t, "MaxPlistObjects", MaxPlistObjects, func(n int) error {
		d := baseDict()
		k := n
		for range 4 {
			ints := make([]int64, k)
			for i := range ints {
				ints[i] = int64(i) + 1000
			}
			d["zz"] = ints
			b := mustPlist(t, d)
			if got := trailerObjects(b); got != n {
				k += n - got
				continue
			}
			_, err := Decode(b)
			return err
		}
		t.Fatalf("cannot build a plist of %d objects", n)
		return nil
	})
}

// countNodes counts the expanded tree of a decoded plist value: every
// container, key and value once per path. It is an independent count of
// what MaxPlistNodes caps.
func countNodes(v any) int {
	switch v := v.(type) {
	case map[string]any:
		n := 1
		for _, e := range v {
			n += 1 + countNodes(e)
		}
		return n
	case []any:
		n := 1
		for _, e := range v {
			n += countNodes(e)
		}
		return n
	}
	return 1
}

func TestLimitPlistNodes(t *testing.T) {
	edge(t, "MaxPlistNodes", MaxPlistNodes, func(n int) error {
		d := baseDict()
		k := n
		for range 4 {
			// One shared string referenced k times: few objects, many nodes.
			d["zz"] = make([]string, k)
			b := mustPlist(t, d)
			var v any
			if _, err := plist.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			if got := countNodes(v); got != n {
				k += n - got
				continue
			}
			if trailerObjects(b) > 20 {
				t.Fatalf("%d objects: strings not shared", trailerObjects(b))
			}
			_, err := Decode(b)
			return err
		}
		t.Fatalf("cannot build a plist of %d nodes", n)
		return nil
	})
}

func TestLimitPlistDepth(t *testing.T) {
	edge(t, "MaxPlistDepth", MaxPlistDepth, func(n int) error {
		// The top dictionary is depth 1; zz holds n-1 nested arrays.
		var v any = []any{}
		for range n - 2 {
			v = []any{v}
		}
		return viaDecode(t, map[string]any{"zz": v})
	})
}

// TestWorstCaseFitsCap: a Message with every content limit at its maximum,
// made of the characters that escape worst and stored as UTF-16, still
// encodes within MaxDecompressedSize and decodes back. This is what makes
// Decode's output always encodable.
func TestWorstCaseFitsCap(t *testing.T) {
	const nonASCII = "é" // forces UTF-16 for the whole string
	fill := func(n int, c string) string { return nonASCII + strings.Repeat(c, n-len(nonASCII)) }
	m := &Message{
		ID:      testID,
		Text:    fill(MaxTextBytes, "&"),
		GroupID: strings.Repeat("G", MaxIDBytes),
		Effect:  strings.Repeat("E", MaxIDBytes),
	}
	for i := range MaxParticipants {
		local := fmt.Sprintf("%02d", i) + fill(MaxParticipantBytes-len(schemeMailto)-2-len("@x"), "a")
		m.Participants = append(m.Participants, schemeMailto+local+"@x")
	}
	for i := range MaxAttachments {
		a := Attachment{
			Name:     fill(MaxNameBytes, `"`),
			MimeType: strings.Repeat("&", MaxAttrBytes),
			UTIType:  strings.Repeat("&", MaxAttrBytes),
			Size:     math.MaxInt64, Width: math.MaxInt32, Height: math.MaxInt32, MessagePart: math.MaxInt32,
		}
		if i == 0 {
			a.Inline = make([]byte, MaxInlineBytes)
		} else {
			a.Key, a.Signature = testKey, testSig
			a.Owner = strings.Repeat("&", MaxAttrBytes)
			a.URL = "https://h/" + strings.Repeat("&", MaxURLBytes-len("https://h/"))
		}
		m.Attachments = append(m.Attachments, a)
	}
	raw, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("worst case: %d bytes of %d", len(raw), MaxDecompressedSize)
	enc, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !sameMessage(got, m) {
		t.Fatal("worst case does not round-trip")
	}
	if len(got.XHTML) > MaxXHTMLBytes {
		t.Fatalf("generated x is %d bytes", len(got.XHTML))
	}
}
