// Package identity holds a Sealpost device's keys and the public forms the
// directory publishes for them, byte-compatible with iMessage's IDS.
//
// A device has two key sets, one per payload scheme:
//
//   - "pair": a P-256 ECDSA signing key and an RSA-1280 encryption key. Their
//     public halves form the 249-byte public-message-identity-key blob
//     ([Public], protocol.md §2.1), whose SHA-256 identity hash
//     ([Public.Hash], §2.2) the pair scheme binds into every message key.
//   - "pair-ec" (Apple's NGM): a P-256 device key that signs, and a P-256
//     prekey for ECDH, published as a [SignedPrekey] signed by the device key.
//     Both travel in the compact x-only form ([CompactKey], §2.3), so both are
//     generated "compactable" ([GenerateCompactable]).
//
// Typical use:
//
//	keys, err := identity.Generate()           // a new device
//	err = keys.Save(filepath.Join(home, "device.keys"))  // mode 0600, atomic
//	keys, err = identity.Load(path)
//	blob := keys.Public().Bytes()              // publish in the directory
//	record := keys.SignedPrekey().Marshal()    // publish next to it
//
//	peer, err := identity.ParsePublic(blobFromDirectory)
//	sp, err := identity.ParseSignedPrekey(recordFromDirectory)
//	err = sp.Verify(peerDeviceKey)
//
// Parsers accept only the canonical encodings, so parsing and re-encoding
// gives back the same bytes; they check that points are on the curve, that
// RSA keys have the expected size and exponent, and that compact keys are
// valid x-coordinates. Bad input is an error, never a panic.
//
// All types are immutable after construction and safe for concurrent use.
// Their String methods never print private key material; keys compare in
// constant time with their Equal methods.
package identity
