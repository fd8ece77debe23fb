package message

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// parseXHTML returns the <FILE> elements of x in document order.
//
// x must be one well-formed XML element, optionally preceded by an XML
// declaration (version 1.0, UTF-8), a DOCTYPE without internal subset,
// comments and processing instructions, at most MaxXHTMLBytes long and
// MaxXHTMLDepth deep. The parser is a small strict one written for this:
// ASCII names with at most one colon, quoted attribute values, no duplicate
// attributes and at most MaxElementAttrs per element, references limited to
// the XML and HTML named entities and numeric references to XML characters.
// FILE elements (at most MaxAttachments) have no child elements. Everything
// else in x (other elements, text, comments) is checked and then ignored:
// the text of a message is its t key. It allocates only for the FILE
// attributes it returns, so hostile markup costs time linear in len(x) and
// no memory (encoding/xml, used by the fuzz test as a second opinion,
// allocates per token: 14 MiB for 512 KiB of tiny elements).
func parseXHTML(x string) ([]fileRef, error) {
	if len(x) > MaxXHTMLBytes {
		return nil, fmt.Errorf("%w: x longer than MaxXHTMLBytes (%d)", ErrTooLarge, MaxXHTMLBytes)
	}
	for i, r := range x {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(x[i:]); size == 1 {
				return nil, fmt.Errorf("%w: x is not valid UTF-8", ErrInvalid)
			}
		}
		if !isXMLChar(r) {
			return nil, fmt.Errorf("%w: x: character not allowed in XML at byte %d", ErrInvalid, i)
		}
	}
	p := &xhtmlParser{s: x}
	return p.document()
}

// xmlAttr is an attribute as written: name and value, references undecoded.
type xmlAttr struct{ name, raw string }

type xhtmlParser struct {
	s     string
	i     int
	attrs []xmlAttr // of the current element, reused
}

func (p *xhtmlParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: x: %s at byte %d", ErrInvalid, fmt.Sprintf(format, args...), p.i)
}

func (p *xhtmlParser) document() ([]fileRef, error) {
	var (
		refs    []fileRef
		stack   []string // names of the open elements
		root    bool     // the root element has started
		doctype bool
		s       = p.s
	)
	if strings.HasPrefix(s, "<?xml") && len(s) > 5 && isXMLSpace(s[5]) {
		if err := p.xmlDecl(); err != nil {
			return nil, err
		}
	}
	for p.i < len(s) {
		rest := s[p.i:]
		if rest[0] != '<' {
			n := strings.IndexByte(rest, '<')
			if n < 0 {
				n = len(rest)
			}
			text := rest[:n]
			if len(stack) == 0 {
				if strings.TrimLeft(text, " \t\r\n") != "" {
					return nil, p.errorf("text outside the root element")
				}
			} else if strings.Contains(text, "]]>") {
				// XML 1.0 §2.4: "]]>" may not appear in character data.
				return nil, p.errorf("\"]]>\" in text")
			} else if _, err := p.unescape(text, false); err != nil {
				return nil, err
			}
			p.i += n
			continue
		}
		switch {
		case strings.HasPrefix(rest, "<!--"):
			n := strings.Index(rest[4:], "--")
			if n < 0 || !strings.HasPrefix(rest[4+n:], "-->") {
				return nil, p.errorf("bad comment")
			}
			p.i += 4 + n + 3
		case strings.HasPrefix(rest, "<?"):
			n := strings.Index(rest, "?>")
			p.i += 2
			target := p.name()
			if n < 0 || target == "" || strings.EqualFold(target, "xml") || !(strings.HasPrefix(s[p.i:], "?>") || p.space()) {
				return nil, p.errorf("bad processing instruction")
			}
			p.i = len(s) - len(rest) + n + 2
		case strings.HasPrefix(rest, "<![CDATA["):
			n := strings.Index(rest, "]]>")
			if n < 0 || len(stack) == 0 {
				return nil, p.errorf("bad CDATA section")
			}
			p.i += n + 3
		case strings.HasPrefix(rest, "<!DOCTYPE"):
			n := strings.IndexByte(rest, '>')
			if n < 0 || root || doctype || strings.ContainsAny(rest[2:n], "[<\"'") {
				return nil, p.errorf("bad DOCTYPE")
			}
			doctype = true
			p.i += n + 1
		case strings.HasPrefix(rest, "<!"):
			return nil, p.errorf("unsupported markup")
		case strings.HasPrefix(rest, "</"):
			p.i += 2
			name := p.name()
			p.space()
			if name == "" || !p.consume('>') {
				return nil, p.errorf("bad end tag")
			}
			if len(stack) == 0 || stack[len(stack)-1] != name {
				return nil, p.errorf("end tag does not match its start tag")
			}
			stack = stack[:len(stack)-1]
		default:
			if len(stack) > 0 && stack[len(stack)-1] == fileElement {
				return nil, fmt.Errorf("%w: x: FILE %d has a child element", ErrInvalid, len(refs)-1)
			}
			if len(stack) == 0 && root {
				return nil, p.errorf("more than one root element")
			}
			if len(stack) == MaxXHTMLDepth {
				return nil, fmt.Errorf("%w: x nests deeper than MaxXHTMLDepth (%d)", ErrTooLarge, MaxXHTMLDepth)
			}
			p.i++
			name := p.name()
			if name == "" {
				return nil, p.errorf("bad start tag")
			}
			empty, err := p.attributes()
			if err != nil {
				return nil, err
			}
			root = true
			if name == fileElement {
				if len(refs) == MaxAttachments {
					return nil, fmt.Errorf("%w: x has more than MaxAttachments (%d) FILE elements", ErrTooLarge, MaxAttachments)
				}
				r, err := p.file(len(refs))
				if err != nil {
					return nil, err
				}
				refs = append(refs, r)
			}
			if !empty {
				stack = append(stack, name)
			}
		}
	}
	if len(stack) != 0 {
		return nil, p.errorf("unclosed element")
	}
	if !root {
		return nil, p.errorf("no root element")
	}
	return refs, nil
}

// xmlDecl reads <?xml version="1.0" [encoding="UTF-8"] [standalone="yes|no"]?>
// at the start of the document.
func (p *xhtmlParser) xmlDecl() error {
	p.i = len("<?xml")
	for k, param := range []struct {
		name string
		ok   func(string) bool
	}{
		{"version", func(v string) bool { return v == "1.0" }},
		{"encoding", func(v string) bool { return strings.EqualFold(v, "utf-8") }},
		{"standalone", func(v string) bool { return v == "yes" || v == "no" }},
	} {
		save := p.i
		if !p.space() || !strings.HasPrefix(p.s[p.i:], param.name) {
			if k == 0 {
				return p.errorf("bad XML declaration")
			}
			p.i = save
			continue
		}
		p.i += len(param.name)
		v, ok := p.value()
		if !ok || !param.ok(v) {
			return p.errorf("bad XML declaration")
		}
	}
	p.space()
	if !strings.HasPrefix(p.s[p.i:], "?>") {
		return p.errorf("bad XML declaration")
	}
	p.i += 2
	return nil
}

// value reads Eq and a quoted value, returning it as written.
func (p *xhtmlParser) value() (string, bool) {
	p.space()
	if !p.consume('=') {
		return "", false
	}
	p.space()
	if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\'') {
		return "", false
	}
	q := p.s[p.i]
	n := strings.IndexByte(p.s[p.i+1:], q)
	if n < 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+n]
	p.i += n + 2
	return v, true
}

// attributes reads the attributes of a start tag up to > or />, reporting
// whether the element is empty (/>).
func (p *xhtmlParser) attributes() (empty bool, err error) {
	p.attrs = p.attrs[:0]
	for {
		spaced := p.space()
		if p.i >= len(p.s) {
			return false, p.errorf("unclosed start tag")
		}
		if p.consume('>') {
			return false, nil
		}
		if strings.HasPrefix(p.s[p.i:], "/>") {
			p.i += 2
			return true, nil
		}
		if !spaced {
			return false, p.errorf("no space before an attribute")
		}
		if len(p.attrs) == MaxElementAttrs {
			return false, fmt.Errorf("%w: x: element with more than MaxElementAttrs (%d) attributes", ErrTooLarge, MaxElementAttrs)
		}
		name := p.name()
		if name == "" {
			return false, p.errorf("bad attribute name")
		}
		raw, ok := p.value()
		if !ok || strings.IndexByte(raw, '<') >= 0 {
			return false, p.errorf("bad attribute value")
		}
		if _, err := p.unescape(raw, false); err != nil {
			return false, err
		}
		for _, a := range p.attrs {
			if a.name == name {
				return false, p.errorf("duplicate attribute")
			}
		}
		p.attrs = append(p.attrs, xmlAttr{name, raw})
	}
}

// name reads an XML name restricted to ASCII, with at most one colon; it
// returns "" when there is none.
func (p *xhtmlParser) name() string {
	start, colons := p.i, 0
	for ; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		if c == ':' {
			colons++
		} else if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' ||
			p.i > start && ('0' <= c && c <= '9' || c == '-' || c == '.')) {
			break
		}
	}
	if colons > 1 {
		return ""
	}
	return p.s[start:p.i]
}

func (p *xhtmlParser) space() bool {
	start := p.i
	for p.i < len(p.s) && isXMLSpace(p.s[p.i]) {
		p.i++
	}
	return p.i > start
}

func (p *xhtmlParser) consume(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isXMLChar reports whether r is in the XML 1.0 Char production.
func isXMLChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' ||
		(r >= 0x20 && r < 0xD800) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// unescape checks the references in s and, when decode is set, returns s
// with them replaced (allocating only if s has any). A decoded attribute
// value may not hold a literal tab or line break: XML would turn it into a
// space, and the generator writes them as character references.
func (p *xhtmlParser) unescape(s string, decode bool) (string, error) {
	if decode && strings.ContainsAny(s, "\t\n\r") {
		return "", p.errorf("literal tab or line break in a FILE attribute")
	}
	amp := strings.IndexByte(s, '&')
	if amp < 0 {
		return s, nil
	}
	var b []byte
	if decode {
		b = make([]byte, 0, len(s))
	}
	for amp >= 0 {
		const maxRef = 32 // longer than any entity name or character reference
		end := strings.IndexByte(s[amp:min(len(s), amp+maxRef)], ';')
		if end < 0 {
			return "", p.errorf("bad reference")
		}
		rep, ok := reference(s[amp+1 : amp+end])
		if !ok {
			return "", p.errorf("bad reference")
		}
		if decode {
			b = append(append(b, s[:amp]...), rep...)
		}
		s = s[amp+end+1:]
		amp = strings.IndexByte(s, '&')
	}
	if !decode {
		return "", nil
	}
	return string(append(b, s...)), nil
}

// reference returns the replacement of &body;: a named XML or HTML entity,
// or a decimal or hexadecimal reference to an XML character.
func reference(body string) (string, bool) {
	switch body {
	case "lt":
		return "<", true
	case "gt":
		return ">", true
	case "amp":
		return "&", true
	case "apos":
		return "'", true
	case "quot":
		return "\"", true
	}
	num, ok := strings.CutPrefix(body, "#")
	if !ok {
		rep, ok := xml.HTMLEntity[body]
		return rep, ok
	}
	base := 10
	if h, ok := strings.CutPrefix(num, "x"); ok {
		num, base = h, 16
	}
	if num == "" || num[0] == '+' || num[0] == '-' {
		return "", false
	}
	v, err := strconv.ParseUint(num, base, 32)
	if err != nil || v > unicode.MaxRune || !isXMLChar(rune(v)) {
		return "", false
	}
	return string(rune(v)), true
}

// file decodes the attributes of FILE element n and parses them.
func (p *xhtmlParser) file(n int) (fileRef, error) {
	attrs := make([]xml.Attr, len(p.attrs))
	for i, a := range p.attrs {
		v, err := p.unescape(a.raw, true)
		if err != nil {
			return fileRef{}, err
		}
		attrs[i].Value = v
		if space, local, ok := strings.Cut(a.name, ":"); ok {
			attrs[i].Name = xml.Name{Space: space, Local: local}
		} else {
			attrs[i].Name.Local = a.name
		}
	}
	return parseFile(n, attrs)
}
