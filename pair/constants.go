package pair

// Wire constants of the "pair" payload (protocol.md §1.1).
const (
	// version is the first byte of every payload. Reference receivers ignore
	// it and every sender writes 2; Sealpost refuses anything else, since the
	// signature does not cover it and a changed byte must not be accepted.
	version = 0x02

	headerSize = 3 // version ‖ body length (u16 BE)

	// rsaBlockSize is the RSA-OAEP block: the modulus size of RSA-1280.
	rsaBlockSize = 160
	// inlineCiphertext is how many ciphertext bytes ride inside the RSA block.
	inlineCiphertext = 100

	seedSize = 11 // the 88-bit random value r
	tagSize  = 5  // the 40-bit HMAC tag appended to r to form the AES key
	keySize  = seedSize + tagSize

	// hmacSeparator sits between the plaintext and the identity hashes in
	// the HMAC input. Undocumented; equal to public-message-identity-version.
	hmacSeparator = 0x02

	// MaxPlaintext is the largest plaintext that fits the 16-bit body length.
	MaxPlaintext = 0xFFFF - rsaBlockSize + inlineCiphertext

	// maxSignature bounds the DER signature length byte. A P-256 ECDSA
	// signature in DER is at most 72 bytes.
	maxSignature = 72
)

// ivCounter is the initial AES-128-CTR counter block: 15 zero bytes, then 1.
var ivCounter = [16]byte{15: 1}
