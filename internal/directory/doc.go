// Package directory is Sealpost's identity directory, the part that plays
// Apple's Identity Service (IDS): it proves that a device controls a handle
// (a mailto: address or a tel: number), keeps each device's public keys,
// push token and capabilities, and answers lookups from handles to devices.
//
// # Use
//
//	store, _ := backend.Open(ctx, dsn, dataDir)    // storage/backend: SQLite or PostgreSQL
//	dir, _ := directory.New(ctx, directory.Config{
//		Store:  store,
//		Sender: directory.Outbox{Dir: filepath.Join(dataDir, "outbox"), Log: log},
//		Logger: log,
//	})
//	dir.Register(mux)                               // the /v1/ routes
//	defer dir.Close()
//
// The HTTP API, its error codes and one example per call are in
// docs/api/directory.md; the wire types, handle normalisation and a client
// are in the dirapi subpackage.
//
// # How a device gets in
//
//	device                                   directory
//	POST /v1/codes {handle}           ──▶    verify signature (identity header if new), rate limits,
//	  signed; X-Sealpost-Identity            store HMAC(code) for (handle, device), expires in 10 min,
//	                                         Sender delivers the 6-digit code (outbox / SMTP)
//	POST /v1/registrations            ──▶    verify signature, spend one attempt on the code (5 max,
//	  {handle, code, device fields}          constant-time compare, single use), check the prekey
//	                                         signature, then storage.Register: new account, join the
//	                                         handle's account, or add the handle to the device's account
//
// A device that is not registered proves possession of its signing key by
// signing the request (internal/reqsign) with the key whose identity hash
// is in X-Sealpost-Key, and presenting the full identity blob in
// X-Sealpost-Identity; the server checks the hash before it verifies. Once
// registered, the stored identity is used and the header is not needed.
// Only devices of an account can change it (list, update itself, remove a
// device); proving a handle that belongs to an account makes the device a
// member of that account.
//
// # Lookups and session tokens
//
// POST /v1/lookup takes up to 20 handles and answers every registered
// device of each: push token, identity blob, pair-ec device key, signed
// prekey, capabilities, display name, and a session token minted for the
// (requesting device, listed device) pair. An unknown handle and a handle
// whose devices were all removed both answer an empty list. Session tokens
// are HMACs by a server secret (see session.go); CheckSessionToken checks
// one without the database, for the relay.
//
// # Go API for the other parts
//
// DeviceByPushToken, DeviceByIdentity, SigningKey (a reqsign.KeyFunc) and
// CheckSessionToken. Signing keys are cached for up to 10 seconds, so a
// device removed through another node may sign for that long.
//
// # Limits
//
// Token buckets (internal/ratelimit) per device and per client address for
// lookups (one token per handle), registrations (code requests,
// registrations, updates, removals) and verification attempts, plus one per
// handle for codes sent; see Limits and DefaultLimits. A refused request
// gets 429 rate_limited with Retry-After. Bodies, handles per lookup,
// devices per account and name lengths are bounded (dirapi constants).
// Client addresses are the TCP peer's; behind a proxy every client shares
// the proxy's address.
//
// # Concurrency
//
// A Service is safe for concurrent use; every request runs on its own
// goroutine. State shared between requests is in the store (whose
// contracts are in the storage package), the rate limiters and the
// replay-window verifier (each with its own locks), and the signing-key
// cache (one RWMutex). No lock is held while calling the store.
package directory
