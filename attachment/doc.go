// Package attachment encrypts, verifies and decrypts message attachments in
// the iMessage/MMCS format (protocol.md §3), streaming, so that a file of
// any size is handled in a constant amount of memory.
//
// An attachment too large to travel inside a message is encrypted under a
// fresh random key and stored elsewhere (a blob store). The message, which
// is itself end-to-end encrypted and authenticated, carries the key, the
// signature of the encrypted file, its size and where to fetch it. The
// recipient fetches the encrypted file, checks it against the signature and
// only then decrypts it.
//
// # Format
//
//   - Key: 32 random bytes (AES-256). Text form (the decryption-key
//     attribute): upper-case hex of 00 ‖ key.
//   - Cipher: AES-256-CTR, initial counter block sixteen zero bytes, the
//     whole 128-bit block incremented big-endian. The ciphertext has the
//     size of the plaintext.
//   - Signature (mmcs-signature-hex): 0x81 ‖ SHA-1("com.apple.XattrObjectSalt\x00com.apple.DataObjectSalt\x00" ‖ ciphertext).
//   - Chunks: the ciphertext cut into pieces of ChunkSize (5 MiB), the last
//     one shorter; an empty file has no chunks. Chunk checksum:
//     0x01 ‖ the first 20 bytes of SHA-256(SHA-256(chunk)).
//
// # Sending
//
//	key := attachment.NewKey() // a new key for every file, never reused
//	enc := attachment.NewEncrypter(upload, key)
//	if _, err := io.Copy(enc, file); err != nil { ... }
//	if err := enc.Close(); err != nil { ... }
//	sum := enc.Sum() // sum.Signature, sum.Size, sum.Chunks
//
// The message then carries key (its MarshalText), sum.Signature and sum.Size;
// sum.Chunks go to the storage with the upload. Encrypt does the same in one
// call from an io.Reader.
//
// # Receiving
//
// Download the encrypted file to a temporary file (it is untrusted), then
//
//	err := attachment.DecryptFile(finalPath, downloaded, size, key, sig)
//
// DecryptFile reads the download twice: it first checks the signature and
// only then decrypts into a temporary file next to finalPath, which it
// renames to finalPath once the ciphertext has been checked a second time. On
// any failure there is no file at finalPath. Decrypt does the same into any
// io.Writer, but a writer cannot be rolled back: if Decrypt returns an
// error, whatever the writer received must be thrown away.
//
// To read a download only once, stream it through a Decrypter into a
// temporary file: it decrypts and hashes in the same pass, and its Close
// says whether the ciphertext matched. The plaintext it writes is
// unverified until then; rename the temporary file into place only if
// Close returned nil, and remove it otherwise:
//
//	d := attachment.NewDecrypter(tmp, key, size, sig)
//	_, err := d.ReadFrom(body) // or io.Copy(d, body)
//	if err == nil {
//		err = d.Close()
//	}
//	// err == nil: sync tmp and rename it; otherwise remove it
//
// EncryptAt encrypts (and, CTR being its own inverse, decrypts) the bytes
// at any offset of a file on their own, for example one chunk of an upload
// sent again; NewStreamAt gives the same key stream in pieces.
//
// # Storage side
//
// A blob store holds no keys. It can check a whole upload with Verify,
// compute the Summary of a stream with a Hasher, and check single chunks
// with VerifyChunk or ChunkChecksumOf, or piece by piece as a chunk arrives
// with a ChunkVerifier.
//
// # Promises
//
//   - Memory: each operation uses fixed buffers (at most 1.25 MiB), plus 21
//     bytes per chunk for the checksum list; nothing grows with the file.
//   - Decrypt, DecryptFile and Verify compare the signature in constant time
//     and never release plaintext before the whole ciphertext has matched it;
//     Decrypt and DecryptFile check it again over the bytes they decrypted.
//     A Decrypter is the exception, by design: it releases plaintext as it
//     goes, and only its Close (constant time too) says whether to keep it.
//   - Every verification failure (signature or chunk checksum mismatch,
//     ciphertext longer or shorter than stated, ciphertext changed during
//     decryption) is reported as the single error ErrCannotOpen, so a caller
//     cannot leak why an attachment was refused. Errors of the caller's own
//     readers and writers are passed on (Decrypt wraps them; an Encrypter
//     returns its writer's error unchanged).
//   - Key never prints its bytes through fmt; key, signature and checksum
//     comparisons run in constant time.
//
// What the format does not promise: the signature is an unkeyed hash of the
// ciphertext, so it authenticates the file only because it arrives inside
// the authenticated message. It does not cover the key: the right file under
// a wrong key decrypts without error to garbage, which cannot happen unless
// the message itself was forged. SHA-1 collisions can be made, but only by
// whoever chooses the file, that is the sender; a third party would need a
// second preimage. CTR mode with a fixed counter start is safe only because
// every key encrypts exactly one file: never reuse a Key.
//
// # Concurrency
//
// An Encrypter or Hasher is used by one goroutine at a time. The functions
// may be called concurrently on different arguments. When GOMAXPROCS > 1,
// an Encrypter or Decrypter that has seen more than 256 KiB, Decrypt,
// DecryptFile and Verify run the hashes on up to two helper goroutines per
// operation so that AES and SHA overlap; the results are identical to
// sequential processing. The helpers end when Decrypt, DecryptFile or Verify
// return, or when an Encrypter or Decrypter is closed (or, if it is dropped
// without Close, after the garbage collector frees it). The caller's readers and writers are only ever
// called from the caller's goroutine.
package attachment
