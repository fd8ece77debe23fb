// Package dirapi is the wire side of the Sealpost identity directory: the
// JSON request and response types of its HTTP API under /v1/, the stable
// error codes, handle normalisation, the strict request decoders the server
// uses, and a small Client that signs its calls as one device.
//
// It imports no storage and no server code, so the client SDK and the CLI
// can use it without linking a database driver. The API is described in
// docs/api/directory.md, with one example per call.
//
// Handles: [ParseHandle] turns what a person types into the one normalised
// form ("mailto:" lower-case address, "tel:" E.164 number) that the server
// stores and answers with.
//
// Decoders ([DecodeLookup], [DecodeCodeRequest], [DecodeRegistration],
// [DecodeDeviceUpdate], [ParseIdentityHeader], [ParseDeviceID]) are strict:
// one JSON object, no unknown or duplicate fields, limited nesting, binary
// fields in standard base64; every refusal is an [*Error] with a code from
// [Codes]. They never panic on any input (fuzzed).
//
// Everything here is safe for concurrent use.
package dirapi
