package identity

// Sizes and fixed bytes of the public identity blob (protocol.md §2.1), the
// compact key form (§2.3) and the signed prekey (§1.2, "Prekey publication").
const (
	// PublicSize is the size of a public-message-identity-key blob for a
	// 1280-bit RSA key.
	PublicSize = 249
	// RSABits is the size of the "pair" encryption key.
	RSABits = 1280
	// RSAModulusSize is the RSA modulus in bytes, and so the size of an
	// RSA-OAEP block.
	RSAModulusSize = RSABits / 8
	// rsaExponent is the only public exponent accepted.
	rsaExponent = 65537
	// IdentityVersion is the public-message-identity-version registered
	// alongside the blob.
	IdentityVersion = 2

	// CompactKeySize is the size of a compact P-256 public key (x only).
	CompactKeySize = 32
	// PrekeySignatureSize is the size of the raw r ‖ s prekey signature.
	PrekeySignatureSize = 64
	// prekeySignatureLabel prefixes the data signed over a prekey.
	prekeySignatureLabel = "NGMPrekeySignature"
)

// Offsets in the public identity blob:
//
//	0    30 81 F6              SEQUENCE, 246 bytes
//	3    81 43                 [1], 67 bytes
//	5    00 41                 key length 65
//	7    04 ‖ X ‖ Y            P-256 signing key, uncompressed
//	72   82 81 AE              [2], 174 bytes
//	75   00 AC                 key length 172
//	77   30 81 A9 02 81 A1 00  RSAPublicKey, modulus with a leading zero
//	84   N (160 bytes)
//	244  02 03 01 00 01        e = 65537
const (
	sigKeyOffset   = 7
	sigKeySize     = 65
	rsaKeyOffset   = 77
	modulusOffset  = 84
	hashPart1Start = 5  // the identity hash covers 00 41 ‖ signing key ...
	hashPart1End   = 72 //
	hashPart2Start = 75 // ... and 00 AC ‖ RSAPublicKey
)

var (
	blobHeader   = []byte{0x30, 0x81, 0xF6, 0x81, 0x43, 0x00, 0x41}
	rsaHeader    = []byte{0x82, 0x81, 0xAE, 0x00, 0xAC, 0x30, 0x81, 0xA9, 0x02, 0x81, 0xA1, 0x00}
	exponentTail = []byte{0x02, 0x03, 0x01, 0x00, 0x01}
)
