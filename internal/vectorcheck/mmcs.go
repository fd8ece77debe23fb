package vectorcheck

import (
	"bytes"
	"errors"

	"github.com/sealpost/sealpost/attachment"
	"github.com/sealpost/sealpost/internal/vectors"
)

// checkMMCS opens an mmcs-attachment vector as a receiver: parse the
// decryption key and the signature, verify the encrypted file against the
// signature and decrypt it (attachment.Decrypt releases nothing unless the
// signature matched), then compare the plaintext, its size and the chunk
// checksums. For a vector expected to open, it also encrypts the plaintext
// with the key and compares the ciphertext byte for byte.
func checkMMCS(v *vectors.Vector) string {
	var key attachment.Key
	var sig attachment.Signature
	if key.UnmarshalText([]byte(v.DecryptionKey)) != nil || sig.UnmarshalText([]byte(v.MMCSSignature)) != nil {
		return "malformed"
	}
	var plain bytes.Buffer
	err := attachment.Decrypt(&plain, bytes.NewReader(v.Encrypted), int64(len(v.Encrypted)), key, sig)
	if errors.Is(err, attachment.ErrCannotOpen) {
		return "signature_invalid"
	} else if err != nil {
		return "error: " + err.Error()
	}
	if !bytes.Equal(plain.Bytes(), v.Plaintext) {
		return PlaintextMismatch
	}
	if v.FileSize != nil && *v.FileSize != int64(plain.Len()) {
		return "size_mismatch"
	}
	var enc bytes.Buffer
	sum, err := attachment.Encrypt(&enc, bytes.NewReader(v.Plaintext), key)
	if err != nil {
		return "error: " + err.Error()
	}
	if !bytes.Equal(enc.Bytes(), v.Encrypted) || !sum.Signature.Equal(sig) {
		return "ciphertext_mismatch"
	}
	if v.ChunkSignatures != nil {
		if len(sum.Chunks) != len(v.ChunkSignatures) {
			return "chunk_mismatch"
		}
		for i, c := range sum.Chunks {
			var want attachment.ChunkChecksum
			if want.UnmarshalText([]byte(v.ChunkSignatures[i])) != nil || !c.Equal(want) {
				return "chunk_mismatch"
			}
		}
	}
	return OK
}
