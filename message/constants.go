package message

// Keys of the inner message dictionary (protocol.md §4.4).
const (
	keyText         = "t"   // plain text, string
	keyXHTML        = "x"   // XHTML with the <FILE> elements, string
	keyParticipants = "p"   // participant URIs including the sender, array of strings
	keyID           = "r"   // message UUID, upper-case canonical string
	keyGroupID      = "gid" // group id, string
	keyPV           = "pv"  // integer, always 0
	keyGV           = "gv"  // group version, string "8"
	keyV            = "v"   // format version, string "1"
	keyEffect       = "iid" // expressive-send effect, string

	// inlineKeyPrefix starts the key of an inline attachment's bytes
	// ("ia-0", "ia-1", ...), named by the FILE inline-attachment attribute.
	inlineKeyPrefix = "ia-"
)

// Values Encode writes for the fixed keys.
const (
	valuePV = 0
	valueGV = "8"
	valueV  = "1"
)

// Participant URI schemes.
const (
	schemeTel    = "tel:"
	schemeMailto = "mailto:"
)

// The <FILE> element and its attributes (protocol.md §3).
const (
	fileElement = "FILE"

	attrName        = "name"
	attrWidth       = "width"
	attrHeight      = "height"
	attrDataSize    = "datasize"
	attrMimeType    = "mime-type"
	attrUTIType     = "uti-type"
	attrFileSize    = "file-size"
	attrMessagePart = "message-part"
	attrInline      = "inline-attachment"
	attrKey         = "decryption-key"
	attrSignature   = "mmcs-signature-hex"
	attrURL         = "mmcs-url"
	attrOwner       = "mmcs-owner"
)

// BlobURIPrefix starts an mmcs-url that names a blob in Sealpost's own
// attachment store (the storage protocol is ours, protocol.md §3). Besides
// these, mmcs-url accepts https:// and http:// URLs.
const BlobURIPrefix = "sealpost-blob:"

// Limits. Decode refuses input past any of them with an error wrapping
// ErrTooLarge, and Encode refuses a Message past any of them the same way.
//
// They are chosen together: a Message within the content limits always
// encodes to at most MaxDecompressedSize bytes (even with every string at
// its limit, made of the characters that escape worst, and stored as
// UTF-16), so whatever Decode accepts, Encode can write back and Decode
// accepts again. TestWorstCaseFitsCap checks this.
const (
	// MaxDecompressedSize caps the binary plist: the gunzipped size of an
	// Encode'd message, or the length of a plain one. Decompression stops
	// after reading one byte more than this.
	MaxDecompressedSize = 1 << 20

	// MaxParticipants caps the p array (sender included); room above the
	// largest iMessage group.
	MaxParticipants = 64
	// MaxParticipantBytes caps one participant URI: "mailto:" and the
	// 254-byte longest usable e-mail address (RFC 5321 path limit less the
	// angle brackets).
	MaxParticipantBytes = len(schemeMailto) + 254

	// MaxTextBytes caps t, in UTF-8 bytes. An inline message travels in an
	// APNs payload of at most 16 KB (protocol.md §4.1); longer text belongs
	// in an attachment.
	MaxTextBytes = 16 << 10
	// MaxXHTMLBytes caps the received x string, in UTF-8 bytes.
	MaxXHTMLBytes = 512 << 10
	// MaxXHTMLDepth caps element nesting in x.
	MaxXHTMLDepth = 32
	// MaxIDBytes caps gid, iid, gv and v.
	MaxIDBytes = 128

	// MaxAttachments caps the <FILE> elements of one message.
	MaxAttachments = 16
	// MaxInlineBytes caps the bytes of all inline attachments of one
	// message together.
	MaxInlineBytes = 256 << 10
	// MaxElementAttrs caps the attributes of one element of x, FILE or any
	// other, unknown ones included.
	MaxElementAttrs = 32
	// MaxNameBytes caps the name attribute (a file name).
	MaxNameBytes = 255
	// MaxAttrBytes caps mime-type, uti-type, mmcs-owner and any attribute
	// this package does not know.
	MaxAttrBytes = 255
	// MaxURLBytes caps mmcs-url.
	MaxURLBytes = 1024

	// MaxPlistObjects caps the object table of the binary plist.
	MaxPlistObjects = 4096
	// MaxPlistNodes caps the plist once shared references are expanded:
	// every container, key and value counted once per path that reaches it.
	MaxPlistNodes = 16384
	// MaxPlistDepth caps container nesting; the top dictionary is depth 1
	// and the p array depth 2.
	MaxPlistDepth = 16
)
