package message

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode: any input gives a message or one of the package's errors,
// never a panic (the library's recovered panics included); a decoded message
// encodes, decodes to the same message, and encodes to the same bytes again.
// Seeds: testdata/fuzz/FuzzDecode and the messages below.
func FuzzDecode(f *testing.F) {
	for _, m := range []*Message{shortMessage(), richMessage()} {
		enc, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		raw, _ := Marshal(m)
		f.Add(enc)
		f.Add(raw)
	}
	if h, err := os.ReadFile("testdata/python_fixture.hex"); err == nil {
		b, _ := hex.DecodeString(strings.TrimSpace(string(h)))
		f.Add(b)
	}
	f.Add(minimalRaw(nil, nil).bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		panics := libraryPanics.Load()
		m, err := Decode(b)
		if libraryPanics.Load() != panics {
			t.Fatal("the plist library panicked past the structural check")
		}
		if err != nil {
			if !isOurs(err) {
				t.Fatalf("error %v is not one of the package's", err)
			}
			return
		}
		enc, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("encoded message does not decode: %v", err)
		}
		if !sameMessage(m, m2) {
			t.Fatalf("round trip changed the message:\n%s\n%s", dump(m), dump(m2))
		}
		enc2, err := Encode(m2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("second encoding differs (%v)", err)
		}
	})
}

// FuzzParseFileElements: the <FILE> parser gives refs or one of the
// package's errors; the refs survive generation and parsing again, with any
// text alongside, and generation is a fixed point.
// Seeds: testdata/fuzz/FuzzParseFileElements and the strings below.
func FuzzParseFileElements(f *testing.F) {
	f.Add(pythonFixtureX, "")
	f.Add(xOf(mmcsRef(), inlineRef("ia-3")), "a <b> & \"c\"\n")
	f.Add(`<html><body><FILE name="n" file-size="1" inline-attachment="ia-0"/></body></html>`, "\x00\r\n\uFFFE")
	f.Add(`<html xmlns="http://www.w3.org/1999/xhtml"><body>&nbsp;<FILE datasize="3" name="x" inline-attachment="ia-1"></FILE></body></html>`, "é")
	f.Fuzz(func(t *testing.T, x, text string) {
		refs, err := parseXHTML(x)
		if err != nil {
			if !isOurs(err) {
				t.Fatalf("error %v is not one of the package's", err)
			}
			return
		}
		// Second opinion: encoding/xml accepts what we accept and reads
		// the same FILE attributes.
		if goRefs, err := goXMLRefs(x); err != nil {
			t.Fatalf("encoding/xml refuses accepted x: %v", err)
		} else if len(refs) != 0 && !reflect.DeepEqual(refs, goRefs) {
			t.Fatalf("encoding/xml reads other FILE attributes:\n%+v\n%+v", refs, goRefs)
		}
		if !utf8.ValidString(text) || len(text) > MaxTextBytes {
			text = ""
		}
		out := appendXHTML(nil, text, refs)
		refs2, err := parseXHTML(string(out))
		if err != nil {
			t.Fatalf("generated x does not parse: %v\n%s", err, out)
		}
		if len(refs) == 0 {
			refs = nil
		}
		if !reflect.DeepEqual(refs, refs2) {
			t.Fatalf("refs changed:\n%+v\n%+v", refs, refs2)
		}
		if out2 := appendXHTML(nil, text, refs2); !bytes.Equal(out, out2) {
			t.Fatalf("generation is not a fixed point:\n%s\n%s", out, out2)
		}
	})
}

// goXMLRefs reads the FILE elements of x with encoding/xml (strict, HTML
// entities) and the same attribute checks.
func goXMLRefs(x string) ([]fileRef, error) {
	d := xml.NewDecoder(strings.NewReader(x))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	var refs []fileRef
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return refs, nil
		}
		if err != nil {
			return nil, err
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Space == "" && se.Name.Local == fileElement {
			r, err := parseFile(len(refs), se.Attr)
			if err != nil {
				return nil, err
			}
			refs = append(refs, r)
		}
	}
}

// TestGeneratedXHTMLEscapes: text with every character class comes back
// from encoding/xml as written, except the characters XML cannot carry,
// which become U+FFFD; attribute values likewise.
func TestGeneratedXHTMLEscapes(t *testing.T) {
	var all, want strings.Builder
	for r := rune(0); r < 0x300; r++ {
		all.WriteRune(r)
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			want.WriteRune(utf8.RuneError)
		} else {
			want.WriteRune(r)
		}
	}
	all.WriteString("\uFFFE\uFFFF\U0001F44B]]><!-- -->\xff")
	want.WriteString("\uFFFD\uFFFD\U0001F44B]]><!-- -->\uFFFD")
	r := mmcsRef()
	r.Name = `<"&'>` + "\t\u00e9"
	out := appendXHTML(nil, all.String(), []fileRef{r})

	d := xml.NewDecoder(bytes.NewReader(out))
	var text, name string
	inSpan := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			inSpan = tok.Name.Local == "span"
			for _, a := range tok.Attr {
				if a.Name.Local == attrName {
					name = a.Value
				}
			}
		case xml.EndElement:
			inSpan = false
		case xml.CharData:
			if inSpan {
				text += string(tok)
			}
		}
	}
	if text != want.String() {
		t.Fatalf("text %q\nwant %q", text, want.String())
	}
	if name != r.Name {
		t.Fatalf("name %q, want %q", name, r.Name)
	}
}
