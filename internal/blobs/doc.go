// Package blobs is Sealpost's blob store, the part that plays iCloud's
// attachment storage (MMCS): it keeps encrypted attachments and long texts
// under unguessable URIs for 30 days. It stores only ciphertext; keys never
// reach it (protocol.md §3).
//
// # Use
//
//	store, _ := fs.Open(filepath.Join(dataDir, "blobs"))     // or s3.Open(url)
//	svc, _ := blobs.New(blobs.Config{Store: store, Devices: dir, Logger: log})
//	svc.Register(mux)                                        // the /v1/blobs and /v1/uploads routes
//	defer svc.Close()
//
// The HTTP API, its error codes and one example per call are in
// docs/api/blobs.md; the wire types and decoders are in blobapi; the
// device side (encrypt, upload, resume, download, verify, decrypt) is
// client/blobs.
//
// # An upload
//
//	device                                         blob store
//	encrypt the file once: size, signature,
//	chunk checksums (attachment.Summary)
//	POST /v1/blobs {size, signature, chunks} ──▶   check the signed request, the size limit and the
//	  signed (internal/reqsign)                    account's quota; records; BeginUpload
//	                                          ◀──  201 {uri, upload_url, plan: 5 MiB chunks}
//	encrypt again, chunk by chunk:
//	PUT upload_url/chunks/{i}   (any order,   ──▶  read the chunk into a buffer, checksumming it as
//	  again after a dropped connection)            it arrives; if it matches, storage.PutChunk (atomic,
//	                                               durable) while it joins the signature's SHA-1 if
//	                                               it is the next in order (sighash.go)
//	GET upload_url              (to resume)   ──▶  which chunks the store holds
//	POST upload_url/complete                  ──▶  every chunk there? Commit, finish the signature
//	                                               (reading back only the chunks that could not be
//	                                               hashed in order) and check it; only then mark
//	                                               the record complete; on a mismatch, discard
//	                                               everything
//	                                          ◀──  200 {uri, size, signature, expires}
//	GET uri  (anyone holding it, Range ok)    ──▶  stream from the store, if the record is complete
//
// Promises:
//
//   - Nothing is served before the whole blob matched its signature, and a
//     chunk that does not match its checksum is never stored (an earlier
//     good copy of it stays). The signature is computed over the chunks as
//     they were checked (SHA-256 binds each stored chunk to those bytes),
//     in memory for those that arrive in order, read back from the store
//     for the others.
//   - Every refusal is a JSON error with a stable code (blobapi.Codes);
//     client mistakes never get a 5xx.
//   - Memory does not grow with blob size: chunks go through at most
//     Config.Buffers buffers of 5 MiB (requests beyond wait for one), and
//     downloads and the signature check stream.
//   - The size limit and the quota are checked when the upload starts,
//     before any chunk is sent. The quota counts complete blobs and
//     unfinished uploads (their declared size) until they are removed.
//   - Complete blobs expire Config.TTL after completion, unfinished uploads
//     Config.UploadTTL after they started; the sweep removes their bytes
//     and records and frees their quota. An expired blob is not served even
//     before the sweep reaches it.
//
// # Records
//
// The service keeps its metadata as records in the store (keys in
// service.go): the blob record b/<id>, the upload token's hash u/<sha256>,
// one usage key per blob a/<account>/<id>_<size> (the quota is the sum of
// an account's keys, so it works across nodes sharing a store), and an
// expiry marker x/<yyyymmddhh>/<id>. Writes are ordered so that a crash
// leaves nothing readable that should not be, and nothing the sweep would
// not find: a creation writes the marker first and the blob record last; a
// removal deletes the blob record first and the marker last.
//
// # Concurrency
//
// A Service is safe for concurrent use; every request runs on its own
// goroutine. Completions, removals and sweeps of one blob are serialised
// by a mutex per blob; quota checks and the creations they admit by a
// mutex per account (both in a fixed array of 64, hashed). No lock is
// held while a request body is read. Two nodes sharing a store do not
// share these mutexes: a quota can then be passed by the uploads started
// at the same moment on different nodes, and a blob completed on two nodes
// at once is checked twice (harmlessly).
package blobs
