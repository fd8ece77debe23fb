// Package message is the iMessage inner message: the application payload
// that the per-device schemes (packages pair and pairec) encrypt, one copy
// per recipient device. It turns a Message into those bytes and back.
//
// # Wire form
//
// An inner message is a binary property list dictionary (protocol.md §4.4),
// gzip-compressed with an empty gzip header (no name, modification time 0),
// as the other iMessage implementations write it. The keys:
//
//	t    string   the plain text
//	x    string   XHTML carrying the <FILE> elements of the attachments
//	p    array    participant URIs, sender included: "tel:+15555550123", "mailto:a@example.com"
//	r    string   message UUID, upper-case canonical form
//	gid  string   group id
//	pv   integer  0
//	gv   string   "8"
//	v    string   "1"
//	iid  string   expressive-send effect, e.g. "com.apple.MobileSMS.expressivesend.impact"
//	ia-N data     bytes of an inline attachment, N = 0, 1, ...
//
// Encode writes r, p, pv, gv and v always, t, gid and iid when not empty,
// and x only when the message has attachments. An attachment is one
// self-closing element in x (protocol.md §3):
//
//	<html><body><FILE name="photo.jpg" width="0" height="0" datasize="12345"
//	mime-type="image/jpeg" uti-type="public.jpeg" file-size="12345"
//	message-part="0" decryption-key="00AB…" mmcs-signature-hex="81…"
//	mmcs-url="https://…" mmcs-owner="…"/><span message-part="1">hello</span></body></html>
//
// Encode writes the FILE elements in order, then the text, if any, in one
// span whose message-part is one past the highest attachment part. An
// inline attachment carries inline-attachment="ia-N" instead of the four
// mmcs attributes, and its bytes go under the plist key ia-N (numbered from
// 0 in attachment order).
//
// # Use
//
// To send, fill a Message and Encode it; the result is the plaintext that
// pair or pairec seals:
//
//	m := &message.Message{
//		ID:           message.NewID(),
//		Participants: []string{"mailto:me@example.com", "tel:+15555550123"},
//		Text:         "hello",
//	}
//	plaintext, err := message.Encode(m)
//
// To receive, Decode the plaintext that pair or pairec opened:
//
//	m, err := message.Decode(plaintext)
//
// Decode accepts the gzip form (input starting 1f 8b) and a bare binary
// plist (Marshal's output); XML and text plists are refused. Message.XHTML
// keeps the received x; Encode ignores it and generates x from Text and
// Attachments, so Decode(Encode(m)) equals m except for XHTML.
//
// # Decode only authenticated plaintext
//
// Decode must only be called on plaintext that pair or pairec has already
// authenticated. The decompressor and the parsers are attack surface, and a
// receiver that decompresses or parses before checking the signature or tag
// gives a forger an oracle (the 2016 iMessage attack read gzip failures).
// DecodeCalls counts every call so that the tests of those packages can
// check that forged input never reaches this package.
//
// # What Decode checks
//
// Decode never panics on any input, and what it allocates stays within a
// small multiple of MaxDecompressedSize whatever the input: gzip output is
// read through an io.LimitReader and stops at MaxDecompressedSize+1 bytes
// (ErrTooLarge), so a 100 MiB decompression bomb costs about 1 MiB of
// allocation (TestGzipBomb), and the parsers allocate in proportion to the
// decompressed bytes. The binary
// plist is checked structurally before howett.net/plist sees it (see
// bplist.go): every offset, count and reference must lie inside the input,
// references must not form a cycle, and the object count, the nesting and
// the tree expanded through shared references are capped (MaxPlistObjects,
// MaxPlistDepth, MaxPlistNodes). Strings must be ASCII or valid UTF-16.
//
// Then the content: each known key must have its type, r must be a
// canonical UUID other than the zero one, p must hold 1 to MaxParticipants
// distinct URIs of at most MaxParticipantBytes, t at most MaxTextBytes of
// UTF-8, gid and iid printable ASCII of at most MaxIDBytes. pv, gv and v are
// only type-checked (and gv, v capped at MaxIDBytes): a Message does not
// carry them, and Encode always writes 0, "8" and "1". An empty x counts as
// absent.
//
// x is read by a small strict XML parser of this package, which allocates
// nothing for markup it ignores: one root element, at most MaxXHTMLBytes
// and MaxXHTMLDepth, ASCII names, quoted attribute values, at most
// MaxElementAttrs attributes per element and no duplicates, only the XML
// and HTML named entities and references to XML characters, an optional
// XML 1.0 UTF-8 declaration and a DOCTYPE without internal subset. It holds
// at most MaxAttachments FILE elements, without children. A FILE element
// needs a name (at most MaxNameBytes, no control characters) and a size
// (file-size and/or datasize, equal when both are given); numbers are
// canonical non-negative decimals; an MMCS attachment needs all four of
// decryption-key (attachment.Key text form, not all zero),
// mmcs-signature-hex (attachment.Signature), mmcs-url (https://, http://
// with a host, or BlobURIPrefix; at most MaxURLBytes) and mmcs-owner
// (printable ASCII); an inline one needs none of them and a non-empty ia-N
// key. Other FILE attribute values are capped at MaxAttrBytes and may not
// hold a literal tab or line break. Inline bytes total at most
// MaxInlineBytes. Unknown keys and unknown attributes are ignored (still
// within the structural limits).
//
// Encode applies the same content rules to its input, so it never writes
// what Decode would refuse; the limits are sized so that any valid Message
// encodes within MaxDecompressedSize.
//
// # Errors, secrets, concurrency
//
// Every error wraps one of ErrTooLarge, ErrMalformed or ErrInvalid and
// names the key, attribute or limit involved, never the content. Message
// and Attachment print redacted. All functions are safe for concurrent use;
// Encode and Marshal do not modify the Message, and a decoded Message shares
// no memory with the input.
package message
