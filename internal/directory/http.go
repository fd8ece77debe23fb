package directory

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
	"github.com/sealpost/sealpost/internal/directory/storage"
	"github.com/sealpost/sealpost/internal/ratelimit"
	"github.com/sealpost/sealpost/internal/reqsign"
)

// Register adds the directory's routes to mux:
//
//	POST   /v1/codes            ask for a verification code      (signed; identity header if unregistered)
//	POST   /v1/registrations    submit it, register the device   (signed; identity header if unregistered)
//	POST   /v1/lookup           handles → devices                (signed by a registered device)
//	GET    /v1/account          the caller's handles and devices (signed by a registered device)
//	PUT    /v1/devices/self     replace the caller's published fields
//	DELETE /v1/devices/{id}     remove a device of the caller's account
//
// Any other path under /v1/ that no other service claims gets a JSON 404
// (or 405 for a known path with another method).
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+dirapi.PathCodes, s.handleCodes)
	mux.HandleFunc("POST "+dirapi.PathRegistrations, s.handleRegistrations)
	mux.HandleFunc("POST "+dirapi.PathLookup, s.handleLookup)
	mux.HandleFunc("GET "+dirapi.PathAccount, s.handleAccount)
	mux.HandleFunc("PUT "+dirapi.PathDeviceSelf, s.handleUpdateSelf)
	mux.HandleFunc("DELETE "+dirapi.PathDevices+"{id}", s.handleRemove)
	mux.HandleFunc("/v1/", s.handleUnknown)
}

// Handler returns a mux with only the directory's routes (for tests and
// for running the directory alone).
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

var knownPaths = map[string]string{
	dirapi.PathCodes: "POST", dirapi.PathRegistrations: "POST", dirapi.PathLookup: "POST",
	dirapi.PathAccount: "GET", dirapi.PathDeviceSelf: "PUT",
}

func (s *Service) handleUnknown(w http.ResponseWriter, r *http.Request) {
	if m, ok := knownPaths[r.URL.Path]; ok {
		w.Header().Set("Allow", m)
		writeErr(w, dirapi.Errorf(dirapi.CodeMethodNotAllowed, "%s takes %s", r.URL.Path, m))
		return
	}
	if strings.HasPrefix(r.URL.Path, dirapi.PathDevices) {
		w.Header().Set("Allow", "DELETE")
		writeErr(w, dirapi.Errorf(dirapi.CodeMethodNotAllowed, "%s{id} takes DELETE", dirapi.PathDevices))
		return
	}
	writeErr(w, dirapi.Errorf(dirapi.CodeNotFound, "no such endpoint; see docs/api/directory.md"))
}

// caller is who signed a request.
type caller struct {
	id      storage.DeviceID
	pub     *identity.Public
	account string // "" for a device that is not registered
	addr    string
	rateKey string // "dev:" + hex id, the rate-limit key
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeErr(w, dirapi.Errorf(dirapi.CodeInternal, "could not encode the answer"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

func writeErr(w http.ResponseWriter, e *dirapi.Error) {
	if e.Code == dirapi.CodeRateLimited && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", ratelimit.RetryAfter(e.RetryAfter))
	}
	b, _ := json.Marshal(dirapi.ErrorBody{Error: e})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(dirapi.StatusOf(e.Code))
	w.Write(b)
}

func (s *Service) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	s.log.Error("directory: "+what, "path", r.URL.Path, "err", err)
	writeErr(w, dirapi.Errorf(dirapi.CodeInternal, "the directory could not %s; try again later", what))
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return "addr:" + r.RemoteAddr
	}
	return "addr:" + host
}

// readBody reads at most limit bytes of the request body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *dirapi.Error) {
	if r.ContentLength > limit {
		return nil, dirapi.Errorf(dirapi.CodeBodyTooLarge, "body is %d bytes; this endpoint takes at most %d", r.ContentLength, limit)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, dirapi.Errorf(dirapi.CodeBodyTooLarge, "body is larger than %d bytes, the limit of this endpoint", limit)
		}
		return nil, dirapi.Errorf(dirapi.CodeMalformedJSON, "could not read the body")
	}
	return b, nil
}

func limited(l *ratelimit.Limiter, key string, n int, what string) *dirapi.Error {
	if ok, wait := l.AllowN(key, n); !ok {
		e := dirapi.Errorf(dirapi.CodeRateLimited, "too many %s; retry after %s seconds", what, ratelimit.RetryAfter(wait))
		e.RetryAfter = wait
		return e
	}
	return nil
}

// authenticate verifies the request's signature. With presentOK, a device
// that is not registered may prove possession of its key by presenting its
// identity blob in X-Sealpost-Identity.
func (s *Service) authenticate(r *http.Request, body []byte, presentOK bool) (*caller, *dirapi.Error) {
	c := &caller{addr: clientAddr(r)}
	var keyErr *dirapi.Error
	keyFor := func(keyID string) (_ *ecdsa.PublicKey, err error) {
		idb, derr := dirapi.ParseDeviceID(keyID)
		if derr != nil {
			return nil, reqsign.ErrMalformed
		}
		c.id = storage.DeviceID(idb)
		k, err := s.cachedDevice(r.Context(), c.id)
		if err == nil {
			c.pub, c.account = k.pub, k.account
			return k.pub.SigningKey(), nil
		}
		if !errors.Is(err, reqsign.ErrUnknown) {
			return nil, err
		}
		hdr := r.Header.Get(dirapi.HeaderIdentity)
		if !presentOK || hdr == "" {
			return nil, reqsign.ErrUnknown
		}
		pub, perr := dirapi.ParseIdentityHeader(hdr)
		if perr != nil {
			keyErr = perr
			return nil, perr
		}
		if h := pub.Hash(); !hmac.Equal(h[:], c.id[:]) {
			keyErr = dirapi.Errorf(dirapi.CodeIdentityMismatch, "%s does not hash to %s; send your own identity blob", dirapi.HeaderIdentity, reqsign.HeaderKey)
			return nil, keyErr
		}
		c.pub = pub
		return pub.SigningKey(), nil
	}
	_, err := s.verifier.Verify(r, body, keyFor)
	switch {
	case err == nil:
		c.rateKey = "dev:" + hex.EncodeToString(c.id[:])
		return c, nil
	case keyErr != nil:
		return nil, keyErr
	case errors.Is(err, reqsign.ErrMissing):
		return nil, dirapi.Errorf(dirapi.CodeUnsigned, "%s", err.Error())
	case errors.Is(err, reqsign.ErrMalformed):
		return nil, dirapi.Errorf(dirapi.CodeBadSignatureHdrs, "%s", err.Error())
	case errors.Is(err, reqsign.ErrStale):
		return nil, dirapi.Errorf(dirapi.CodeStaleNonce, "%s", err.Error())
	case errors.Is(err, reqsign.ErrReplayed):
		return nil, dirapi.Errorf(dirapi.CodeReplayedNonce, "%s; sign every request with a fresh nonce", err.Error())
	case errors.Is(err, reqsign.ErrBadSig):
		return nil, dirapi.Errorf(dirapi.CodeBadSignature, "%s", err.Error())
	case errors.Is(err, reqsign.ErrUnknown):
		if presentOK {
			return nil, dirapi.Errorf(dirapi.CodeUnknownDevice, "this device is not registered; present its identity in %s", dirapi.HeaderIdentity)
		}
		return nil, dirapi.Errorf(dirapi.CodeUnknownDevice, "this device is not registered (or was removed); verify a handle first")
	}
	return nil, &dirapi.Error{Code: dirapi.CodeInternal, Message: err.Error()}
}

// handleCodes: POST /v1/codes {"handle"} → a code goes to the handle.
func (s *Service) handleCodes(w http.ResponseWriter, r *http.Request) {
	addr := clientAddr(r)
	if e := limited(s.regAddr, addr, 1, "registration requests from this address"); e != nil {
		writeErr(w, e)
		return
	}
	body, e := readBody(w, r, dirapi.MaxCodeBody)
	if e != nil {
		writeErr(w, e)
		return
	}
	c, e := s.authenticate(r, body, true)
	if e != nil {
		s.writeAuthErr(w, r, e)
		return
	}
	if e := limited(s.regDev, c.rateKey, 1, "registration requests from this device"); e != nil {
		writeErr(w, e)
		return
	}
	h, e := dirapi.DecodeCodeRequest(body)
	if e != nil {
		writeErr(w, e)
		return
	}
	if e := limited(s.perHandle, "handle:"+string(h), 1, "codes sent to this handle"); e != nil {
		writeErr(w, e)
		return
	}
	code, err := newCode()
	if err != nil {
		s.internal(w, r, "make a code", err)
		return
	}
	expires := s.now().Add(s.codeTTL)
	if err := s.store.PutCode(r.Context(), storage.Code{Handle: string(h), Device: c.id, Digest: s.codeDigest(h, c.id, code), Expires: expires}); err != nil {
		s.internal(w, r, "store the code", err)
		return
	}
	if err := s.sender.SendCode(r.Context(), h, code, expires); err != nil {
		s.log.Error("directory: sending a verification code", "kind", h.Kind(), "err", err)
		writeErr(w, dirapi.Errorf(dirapi.CodeSendFailed, "the code could not be sent to %s; try again later", h))
		return
	}
	writeJSON(w, http.StatusOK, dirapi.CodeResponse{Handle: string(h), Expires: expires.Unix()})
}

func (s *Service) writeAuthErr(w http.ResponseWriter, r *http.Request, e *dirapi.Error) {
	if e.Code == dirapi.CodeInternal {
		s.internal(w, r, "check the signature", errors.New(e.Message))
		return
	}
	writeErr(w, e)
}

// newCode returns dirapi.CodeDigits uniformly random decimal digits.
func newCode() (string, error) {
	limit := big.NewInt(1)
	for i := 0; i < dirapi.CodeDigits; i++ {
		limit.Mul(limit, big.NewInt(10))
	}
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%0*d", dirapi.CodeDigits, n), nil
}

// codeDigest is what the store keeps of a code: HMAC-SHA256 under the
// server's code key over (handle, device, code), so a copy of the
// database does not show pending codes.
func (s *Service) codeDigest(h dirapi.Handle, dev storage.DeviceID, code string) []byte {
	m := hmac.New(sha256.New, s.codeKey)
	m.Write([]byte(h))
	m.Write([]byte{0})
	m.Write(dev[:])
	m.Write([]byte(code))
	return m.Sum(nil)
}

// handleRegistrations: POST /v1/registrations {"handle","code","device"}.
func (s *Service) handleRegistrations(w http.ResponseWriter, r *http.Request) {
	addr := clientAddr(r)
	if e := limited(s.verifyAddr, addr, 1, "verification attempts from this address"); e != nil {
		writeErr(w, e)
		return
	}
	body, e := readBody(w, r, dirapi.MaxRegisterBody)
	if e != nil {
		writeErr(w, e)
		return
	}
	c, e := s.authenticate(r, body, true)
	if e != nil {
		s.writeAuthErr(w, r, e)
		return
	}
	if e := limited(s.verifyDev, c.rateKey, 1, "verification attempts from this device"); e != nil {
		writeErr(w, e)
		return
	}
	reg, e := dirapi.DecodeRegistration(body)
	if e != nil {
		writeErr(w, e)
		return
	}
	want := s.codeDigest(reg.Handle, c.id, reg.Code)
	err := s.store.TryCode(r.Context(), string(reg.Handle), c.id, s.now(), s.maxTries,
		func(digest []byte) bool { return hmac.Equal(digest, want) })
	switch {
	case errors.Is(err, storage.ErrCodeMismatch):
		writeErr(w, dirapi.Errorf(dirapi.CodeWrongCode, "the code is not the one sent to %s for this device; check it (after %d wrong tries ask for a new one)", reg.Handle, s.maxTries))
		return
	case errors.Is(err, storage.ErrCodeExpired):
		writeErr(w, dirapi.Errorf(dirapi.CodeCodeExpired, "no valid code for %s and this device (expired, used, or too many wrong tries); ask for a new one with POST %s", reg.Handle, dirapi.PathCodes))
		return
	case err != nil:
		s.internal(w, r, "check the code", err)
		return
	}
	dev := storeDevice(c, &reg.Device)
	acct, err := newAccountID()
	if err != nil {
		s.internal(w, r, "make an account id", err)
		return
	}
	res, err := s.store.Register(r.Context(), string(reg.Handle), dev, acct, s.maxDevices, s.now())
	s.forget(c.id)
	if e := storeErr(err, reg.Handle, s.maxDevices); e != nil {
		writeErr(w, e)
		return
	}
	if err != nil {
		s.internal(w, r, "register the device", err)
		return
	}
	writeJSON(w, http.StatusOK, dirapi.RegisterResponse{Account: res.Account, Device: hex.EncodeToString(c.id[:]), Handle: string(reg.Handle), NewAccount: res.NewAccount})
}

func storeErr(err error, h dirapi.Handle, maxDevices int) *dirapi.Error {
	switch {
	case errors.Is(err, storage.ErrHandleTaken):
		return dirapi.Errorf(dirapi.CodeHandleTaken, "%s belongs to another account than this device's; remove the device from its account first", h)
	case errors.Is(err, storage.ErrTooManyDevices):
		return dirapi.Errorf(dirapi.CodeTooManyDevices, "the account has %d devices, the most allowed; remove one first", maxDevices)
	case errors.Is(err, storage.ErrPushTokenTaken):
		return dirapi.Errorf(dirapi.CodePushTokenTaken, "another device is registered with this push token; use this device's own token")
	}
	return nil
}

func newAccountID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func storeDevice(c *caller, d *dirapi.Device) storage.Device {
	return storage.Device{
		ID:           c.id,
		Identity:     c.pub.Bytes(),
		DeviceKey:    d.DeviceKey[:],
		SignedPrekey: d.SignedPrekey,
		PushToken:    d.PushToken[:],
		Schemes:      d.Schemes,
		MaxPayload:   d.MaxPayload,
		Name:         d.Name,
	}
}

// registered authenticates a request that only registered devices may make.
func (s *Service) registered(w http.ResponseWriter, r *http.Request, limit int64, addrLim *ratelimit.Limiter, what string) (*caller, []byte, bool) {
	if e := limited(addrLim, clientAddr(r), 1, what+" from this address"); e != nil {
		writeErr(w, e)
		return nil, nil, false
	}
	body, e := readBody(w, r, limit)
	if e != nil {
		writeErr(w, e)
		return nil, nil, false
	}
	c, e := s.authenticate(r, body, false)
	if e != nil {
		s.writeAuthErr(w, r, e)
		return nil, nil, false
	}
	return c, body, true
}

// handleLookup: POST /v1/lookup {"handles": [...]}.
func (s *Service) handleLookup(w http.ResponseWriter, r *http.Request) {
	body, e := readBody(w, r, dirapi.MaxLookupBody)
	if e != nil {
		writeErr(w, e)
		return
	}
	handles, e := dirapi.DecodeLookup(body)
	if e != nil {
		writeErr(w, e)
		return
	}
	if e := limited(s.lookupAddr, clientAddr(r), len(handles), "lookups from this address"); e != nil {
		writeErr(w, e)
		return
	}
	c, e := s.authenticate(r, body, false)
	if e != nil {
		s.writeAuthErr(w, r, e)
		return
	}
	if e := limited(s.lookupDev, c.rateKey, len(handles), "lookups from this device"); e != nil {
		writeErr(w, e)
		return
	}
	keys := make([]string, len(handles))
	for i, h := range handles {
		keys[i] = string(h)
	}
	found, err := s.store.Lookup(r.Context(), keys)
	if err != nil {
		s.internal(w, r, "look the handles up", err)
		return
	}
	expires := s.now().Add(s.sessionTTL).Truncate(time.Second)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(s.encodeLookup(keys, found, c.id, expires))
}

// lookupResponse is the reference encoding of a lookup answer, with
// encoding/json (tests compare encodeLookup against it).
func (s *Service) lookupResponse(keys []string, found map[string][]storage.Device, sender storage.DeviceID, expires time.Time) dirapi.LookupResponse {
	out := dirapi.LookupResponse{Results: make([]dirapi.LookupResult, len(keys))}
	for i, h := range keys {
		devs := found[h]
		res := dirapi.LookupResult{Handle: h, Devices: make([]dirapi.LookupDevice, len(devs))}
		for j, d := range devs {
			res.Devices[j] = dirapi.LookupDevice{
				ID:                  hex.EncodeToString(d.ID[:]),
				PushToken:           d.PushToken,
				SessionToken:        s.session.mint(sender, d.ID, expires),
				SessionTokenExpires: expires.Unix(),
				Identity:            d.Identity,
				DeviceKey:           d.DeviceKey,
				SignedPrekey:        d.SignedPrekey,
				Capabilities:        dirapi.Capabilities{Schemes: d.Schemes, MaxPayload: d.MaxPayload},
				Name:                d.Name,
			}
		}
		out.Results[i] = res
	}
	return out
}

// handleAccount: GET /v1/account.
func (s *Service) handleAccount(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.registered(w, r, 0, s.lookupAddr, "requests")
	if !ok {
		return
	}
	if e := limited(s.lookupDev, c.rateKey, 1, "requests from this device"); e != nil {
		writeErr(w, e)
		return
	}
	handles, err := s.store.AccountHandles(r.Context(), c.account)
	if err != nil {
		s.internal(w, r, "list the account's handles", err)
		return
	}
	devs, err := s.store.AccountDevices(r.Context(), c.account)
	if err != nil {
		s.internal(w, r, "list the account's devices", err)
		return
	}
	out := dirapi.AccountResponse{Account: c.account, Handles: handles, Devices: make([]dirapi.AccountDevice, len(devs))}
	if out.Handles == nil {
		out.Handles = []string{}
	}
	for i, d := range devs {
		out.Devices[i] = accountDevice(d)
	}
	writeJSON(w, http.StatusOK, out)
}

func accountDevice(d storage.Device) dirapi.AccountDevice {
	return dirapi.AccountDevice{
		ID: hex.EncodeToString(d.ID[:]), Name: d.Name, PushToken: d.PushToken,
		Capabilities: dirapi.Capabilities{Schemes: d.Schemes, MaxPayload: d.MaxPayload},
		Registered:   d.Registered.Unix(), Updated: d.Updated.Unix(),
	}
}

// handleUpdateSelf: PUT /v1/devices/self with DeviceFields.
func (s *Service) handleUpdateSelf(w http.ResponseWriter, r *http.Request) {
	c, body, ok := s.registered(w, r, dirapi.MaxUpdateBody, s.regAddr, "device changes")
	if !ok {
		return
	}
	if e := limited(s.regDev, c.rateKey, 1, "device changes from this device"); e != nil {
		writeErr(w, e)
		return
	}
	d, e := dirapi.DecodeDeviceUpdate(body)
	if e != nil {
		writeErr(w, e)
		return
	}
	dev := storeDevice(c, d)
	err := s.store.UpdateDevice(r.Context(), dev, s.now())
	s.forget(c.id)
	if e := storeErr(err, "", 0); e != nil {
		writeErr(w, e)
		return
	}
	if errors.Is(err, storage.ErrNotFound) {
		writeErr(w, dirapi.Errorf(dirapi.CodeUnknownDevice, "this device was removed meanwhile; verify a handle again"))
		return
	}
	if err != nil {
		s.internal(w, r, "update the device", err)
		return
	}
	stored, err := s.store.Device(r.Context(), c.id)
	if err != nil {
		s.internal(w, r, "read the device back", err)
		return
	}
	writeJSON(w, http.StatusOK, accountDevice(stored))
}

// handleRemove: DELETE /v1/devices/{id}.
func (s *Service) handleRemove(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.registered(w, r, 0, s.regAddr, "device changes")
	if !ok {
		return
	}
	if e := limited(s.regDev, c.rateKey, 1, "device changes from this device"); e != nil {
		writeErr(w, e)
		return
	}
	id, e := dirapi.ParseDeviceID(r.PathValue("id"))
	if e != nil {
		writeErr(w, e)
		return
	}
	err := s.store.RemoveDevice(r.Context(), c.account, storage.DeviceID(id))
	s.forget(storage.DeviceID(id))
	if errors.Is(err, storage.ErrNotFound) {
		writeErr(w, dirapi.Errorf(dirapi.CodeNotFound, "no device %s in your account; list them with GET %s", r.PathValue("id"), dirapi.PathAccount))
		return
	}
	if err != nil {
		s.internal(w, r, "remove the device", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
