package attachment

// Constants of the MMCS attachment format (protocol.md §3). Tuning constants
// (buffer sizes) live next to the code that uses them.
const (
	// KeySize is the size of an attachment key: AES-256.
	KeySize = 32
	// SignatureSize is the size of an encoded file signature: type byte ‖ SHA-1.
	SignatureSize = 21
	// ChunkChecksumSize is the size of a chunk checksum: type byte ‖ 20 bytes
	// of SHA-256(SHA-256(chunk)).
	ChunkChecksumSize = 21
	// ChunkSize is the largest chunk the encrypted file is split into
	// (5 MiB = 5 242 880 bytes). Every chunk but the last has exactly this size.
	ChunkSize = 5 << 20

	keyPrefix       = 0x00 // first byte of the decryption-key attribute
	signatureType   = 0x81 // first byte of mmcs-signature-hex
	chunkChecksumID = 0x01 // first byte of a chunk checksum

	// signatureSalt is hashed before the encrypted file to form the signature:
	// two NUL-terminated strings.
	signatureSalt = "com.apple.XattrObjectSalt\x00com.apple.DataObjectSalt\x00"
)
