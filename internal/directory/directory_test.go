package directory

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
	"github.com/sealpost/sealpost/internal/directory/storage"
)

func devID(k *identity.Keys) storage.DeviceID { return storage.DeviceID(k.Public().Hash()) }

func TestRegisterAndLookup(t *testing.T) {
	e := newEnv(t, Config{})
	alice1, r1 := e.register("Alice@Example.ORG", "Alice's phone")
	if !r1.NewAccount || r1.Handle != "mailto:alice@example.org" || r1.Device != dirapi.DeviceID(alice1.Keys) {
		t.Fatalf("first registration: %+v", r1)
	}
	e.clock.Advance(time.Second)
	// A second device proves the same address and joins the account.
	alice2, r2 := e.register("mailto:alice@example.org", "Alice's laptop")
	if r2.NewAccount || r2.Account != r1.Account {
		t.Fatalf("second device: %+v, want account %s", r2, r1.Account)
	}
	// The first device adds a phone number to the account.
	if r := e.registerWith(alice1, "+1 555 123 4567", fields(alice1.Keys, "Alice's phone")); r.Account != r1.Account || r.Handle != "tel:+15551234567" {
		t.Fatalf("adding a number: %+v", r)
	}
	bob, rb := e.register("bob@example.net", "Bob")
	if rb.Account == r1.Account {
		t.Fatal("Bob joined Alice's account")
	}

	res, err := bob.Lookup(ctx, []string{"tel:+15551234567", "ALICE@example.org", "nobody@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 3 {
		t.Fatalf("%d results, want 3", len(res.Results))
	}
	wantHandles := []string{"tel:+15551234567", "mailto:alice@example.org", "mailto:nobody@example.org"}
	for i, r := range res.Results {
		if r.Handle != wantHandles[i] {
			t.Fatalf("result %d is for %s, want %s", i, r.Handle, wantHandles[i])
		}
	}
	if n := len(res.Results[2].Devices); n != 0 {
		t.Fatalf("unknown handle has %d devices", n)
	}
	for _, r := range res.Results[:2] {
		if len(r.Devices) != 2 {
			t.Fatalf("%s has %d devices, want 2", r.Handle, len(r.Devices))
		}
		for i, k := range []*identity.Keys{alice1.Keys, alice2.Keys} {
			d := r.Devices[i]
			dk := k.DeviceKey()
			if d.ID != dirapi.DeviceID(k) || !bytes.Equal(d.Identity, k.Public().Bytes()) ||
				!bytes.Equal(d.DeviceKey, dk[:]) || !bytes.Equal(d.SignedPrekey, k.SignedPrekey().Marshal()) ||
				len(d.PushToken) != 32 || !slices.Equal(d.Capabilities.Schemes, []string{"pair", "pair-ec"}) ||
				d.Capabilities.MaxPayload != 16384 {
				t.Fatalf("device %d of %s does not match what it registered: %+v", i, r.Handle, d)
			}
			// What a sender does with it: parse and verify.
			pub, err := identity.ParsePublic(d.Identity)
			if err != nil {
				t.Fatal(err)
			}
			sp, err := identity.ParseSignedPrekey(d.SignedPrekey)
			if err != nil || sp.Verify(dk) != nil {
				t.Fatalf("prekey from lookup does not verify: %v", err)
			}
			if !pub.Equal(k.Public()) {
				t.Fatal("identity differs")
			}
			// Session token: valid for (bob, this device) only, until expiry.
			if d.SessionTokenExpires != e.clock.Now().Add(DefaultSessionTTL).Unix() {
				t.Fatalf("session token expiry %d", d.SessionTokenExpires)
			}
			if err := e.svc.CheckSessionToken(d.SessionToken, devID(bob.Keys), devID(k)); err != nil {
				t.Fatalf("session token: %v", err)
			}
			if err := e.svc.CheckSessionToken(d.SessionToken, devID(alice1.Keys), devID(k)); !errors.Is(err, ErrSessionTokenInvalid) {
				t.Fatalf("session token for another sender: %v", err)
			}
		}
	}
	if res.Results[1].Devices[0].Name != "Alice's phone" || res.Results[1].Devices[1].Name != "Alice's laptop" {
		t.Fatal("names or order (oldest first) wrong")
	}
	tok := res.Results[0].Devices[0].SessionToken
	e.clock.Advance(DefaultSessionTTL)
	if err := e.svc.CheckSessionToken(tok, devID(bob.Keys), devID(alice1.Keys)); !errors.Is(err, ErrSessionTokenExpired) {
		t.Fatalf("session token after its expiry: %v", err)
	}

	// The Go API for the relay.
	d, err := e.svc.DeviceByPushToken(ctx, res.Results[0].Devices[1].PushToken)
	if err != nil || d.ID != devID(alice2.Keys) || d.Account != r1.Account {
		t.Fatalf("DeviceByPushToken: %v %v", d.ID, err)
	}
	if _, err := e.svc.DeviceByIdentity(ctx, devID(bob.Keys)); err != nil {
		t.Fatal(err)
	}
	pub, err := e.svc.SigningKey(dirapi.DeviceID(bob.Keys))
	if err != nil || !pub.Equal(&bob.Keys.SigningKey().PublicKey) {
		t.Fatalf("SigningKey: %v", err)
	}
	if _, err := e.svc.SigningKey(hex.EncodeToString(make([]byte, 32))); err == nil {
		t.Fatal("SigningKey of an unknown device")
	}
}

func TestAccountManyDevicesAndRemoval(t *testing.T) {
	e := newEnv(t, Config{})
	const n = dirapi.DefaultMaxDevices
	var clients []*dirapi.Client
	var account string
	for i := 0; i < n; i++ {
		c, r := e.register("tel:+4420794609"+fmt.Sprintf("%02d", 58), fmt.Sprintf("device %d", i))
		if i == 0 {
			account = r.Account
		} else if r.Account != account {
			t.Fatalf("device %d joined %s, want %s", i, r.Account, account)
		}
		clients = append(clients, c)
		e.clock.Advance(time.Second)
	}
	// One more is refused, after the code was right.
	extra := e.client(e.newKeys())
	cr, _ := extra.RequestCode(ctx, "tel:+442079460958")
	_, err := extra.Register(ctx, cr.Handle, e.code(cr.Handle), fields(extra.Keys, "extra"))
	wantCode(t, err, dirapi.CodeTooManyDevices)

	acct, err := clients[3].Account(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if acct.Account != account || len(acct.Devices) != n || !slices.Equal(acct.Handles, []string{"tel:+442079460958"}) {
		t.Fatalf("account: %s, %d devices, handles %v", acct.Account, len(acct.Devices), acct.Handles)
	}
	for i, d := range acct.Devices {
		if d.ID != dirapi.DeviceID(clients[i].Keys) || d.Name != fmt.Sprintf("device %d", i) {
			t.Fatalf("device %d listed as %s %q", i, d.ID, d.Name)
		}
	}
	// A device of another account can neither see nor remove them.
	other, _ := e.register("other@example.org", "other")
	err = other.RemoveDevice(ctx, dirapi.DeviceID(clients[0].Keys))
	wantCode(t, err, dirapi.CodeNotFound)
	// Device 1 removes device 0; device 0 can no longer sign anything.
	if err := clients[1].RemoveDevice(ctx, dirapi.DeviceID(clients[0].Keys)); err != nil {
		t.Fatal(err)
	}
	_, err = clients[0].Lookup(ctx, []string{"other@example.org"})
	wantCode(t, err, dirapi.CodeUnknownDevice)
	_, err = clients[0].Account(ctx)
	wantCode(t, err, dirapi.CodeUnknownDevice)
	res, _ := other.Lookup(ctx, []string{"tel:+442079460958"})
	if len(res.Results[0].Devices) != n-1 {
		t.Fatalf("after removal %d devices, want %d", len(res.Results[0].Devices), n-1)
	}
	// Now the extra device fits.
	cr, _ = extra.RequestCode(ctx, "tel:+442079460958")
	if _, err := extra.Register(ctx, cr.Handle, e.code(cr.Handle), fields(extra.Keys, "extra")); err != nil {
		t.Fatal(err)
	}
	// A device can remove itself.
	if err := clients[2].RemoveDevice(ctx, dirapi.DeviceID(clients[2].Keys)); err != nil {
		t.Fatal(err)
	}
	// A bad id is refused with its code.
	wantCode(t, clients[1].RemoveDevice(ctx, "not-hex"), dirapi.CodeInvalidDeviceID)
}

func TestUpdateDevice(t *testing.T) {
	e := newEnv(t, Config{})
	a, _ := e.register("a@example.org", "old")
	b, _ := e.register("b@example.org", "b")
	// Rotate the prekey, change name, token and capabilities.
	k2, err := identity.NewKeys(a.Keys.SigningKey(), a.Keys.EncryptionKey(), a.Keys.DeviceSigningKey(), mustCompactable(t), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := dirapi.NewDeviceFields(k2, token(), "new name", 4096)
	f.Capabilities.Schemes = []string{"pair-ec"}
	got, err := a.UpdateDevice(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "new name" || !bytes.Equal(got.PushToken, f.PushToken) || got.Capabilities.MaxPayload != 4096 {
		t.Fatalf("update answered %+v", got)
	}
	res, _ := b.Lookup(ctx, []string{"a@example.org"})
	d := res.Results[0].Devices[0]
	if !bytes.Equal(d.SignedPrekey, k2.SignedPrekey().Marshal()) || d.Name != "new name" || !slices.Equal(d.Capabilities.Schemes, []string{"pair-ec"}) {
		t.Fatalf("lookup after update: %+v", d)
	}
	// Taking b's push token is refused.
	bt, _ := b.Account(ctx)
	f.PushToken = bt.Devices[0].PushToken
	_, err = a.UpdateDevice(ctx, f)
	wantCode(t, err, dirapi.CodePushTokenTaken)
	// A prekey signed by another device key is refused.
	f = fields(a.Keys, "x")
	f.SignedPrekey = b.Keys.SignedPrekey().Marshal()
	_, err = a.UpdateDevice(ctx, f)
	wantCode(t, err, dirapi.CodeBadPrekeySig)
}

func mustCompactable(t *testing.T) *ecdsa.PrivateKey {
	k, err := identity.GenerateCompactable()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCodeRules(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.client(e.newKeys())
	cr, err := c.RequestCode(ctx, "Carol@Example.org")
	if err != nil {
		t.Fatal(err)
	}
	if cr.Handle != "mailto:carol@example.org" || cr.Expires != e.clock.Now().Add(10*time.Minute).Unix() {
		t.Fatalf("code response %+v", cr)
	}
	raw, _ := os.ReadFile(filepath.Join(e.outbox, cr.Handle))
	if !regexp.MustCompile(`^[0-9]{6}\n$`).Match(raw) {
		t.Fatalf("outbox file %q is not one line of 6 digits", raw)
	}
	code := e.code(cr.Handle)
	wrong := fmt.Sprintf("%06d", (mustAtoi(code)+1)%1_000_000)
	f := fields(c.Keys, "carol")

	// Another device cannot use Carol's code.
	thief := e.client(e.newKeys())
	_, err = thief.Register(ctx, cr.Handle, code, fields(thief.Keys, "thief"))
	wantCode(t, err, dirapi.CodeCodeExpired)

	// Five wrong tries, then even the right code is dead.
	for i := 0; i < DefaultMaxAttempts; i++ {
		_, err = c.Register(ctx, cr.Handle, wrong, f)
		wantCode(t, err, dirapi.CodeWrongCode)
	}
	_, err = c.Register(ctx, cr.Handle, code, f)
	wantCode(t, err, dirapi.CodeCodeExpired)

	// A new code, used after 10 minutes, is expired.
	cr, _ = c.RequestCode(ctx, cr.Handle)
	code = e.code(cr.Handle)
	e.clock.Advance(10 * time.Minute)
	_, err = c.Register(ctx, cr.Handle, code, f)
	wantCode(t, err, dirapi.CodeCodeExpired)

	// A fresh code works once.
	cr, _ = c.RequestCode(ctx, cr.Handle)
	code = e.code(cr.Handle)
	e.clock.Advance(9 * time.Minute)
	if _, err := c.Register(ctx, cr.Handle, code, f); err != nil {
		t.Fatal(err)
	}
	_, err = c.Register(ctx, cr.Handle, code, f)
	wantCode(t, err, dirapi.CodeCodeExpired)

	// A code for one handle does not verify another.
	cr, _ = c.RequestCode(ctx, "tel:+15550001234")
	_, err = c.Register(ctx, "mailto:carol@example.org", e.code(cr.Handle), f)
	wantCode(t, err, dirapi.CodeCodeExpired)

	// Codes are random: 50 codes are not all alike.
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		s, err := newCode()
		if err != nil || len(s) != 6 {
			t.Fatalf("newCode = %q, %v", s, err)
		}
		seen[s] = true
	}
	if len(seen) < 45 {
		t.Fatalf("50 codes gave %d distinct values", len(seen))
	}
}

func mustAtoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestHandleTakenAndPushToken(t *testing.T) {
	e := newEnv(t, Config{})
	a, _ := e.register("a@example.org", "a")
	b, _ := e.register("b@example.org", "b")
	// b proves a's address: it is in another account, so refused.
	cr, _ := b.RequestCode(ctx, "a@example.org")
	_, err := b.Register(ctx, cr.Handle, e.code(cr.Handle), fields(b.Keys, "b"))
	wantCode(t, err, dirapi.CodeHandleTaken)
	// A new device with a's push token is refused.
	acct, _ := a.Account(ctx)
	c := e.client(e.newKeys())
	f := fields(c.Keys, "c")
	f.PushToken = acct.Devices[0].PushToken
	cr, _ = c.RequestCode(ctx, "c@example.org")
	_, err = c.Register(ctx, cr.Handle, e.code(cr.Handle), f)
	wantCode(t, err, dirapi.CodePushTokenTaken)
}

func TestPossessionProof(t *testing.T) {
	e := newEnv(t, Config{})
	k, other := e.newKeys(), e.newKeys()
	body := []byte(`{"handle":"mailto:d@example.org"}`)
	// Not registered, no identity presented.
	if st, code, _ := e.raw(k, "POST", dirapi.PathCodes, body, false, nil); code != dirapi.CodeUnknownDevice || st != 401 {
		t.Fatalf("no identity: %d %s", st, code)
	}
	// Someone else's identity blob.
	st, code, _ := e.raw(k, "POST", dirapi.PathCodes, body, true, func(r *http.Request) {
		r.Header.Set(dirapi.HeaderIdentity, b64(other.Public().Bytes()))
	})
	if code != dirapi.CodeIdentityMismatch || st != 401 {
		t.Fatalf("other identity: %d %s", st, code)
	}
	// The right blob but a signature by another key.
	st, code, _ = e.raw(other, "POST", dirapi.PathCodes, body, true, func(r *http.Request) {
		r.Header.Set("X-Sealpost-Key", dirapi.DeviceID(k))
		r.Header.Set(dirapi.HeaderIdentity, b64(k.Public().Bytes()))
	})
	if code != dirapi.CodeBadSignature || st != 401 {
		t.Fatalf("blob of k, signature of other: %d %s", st, code)
	}
	// Lookups need a registered device, identity header or not.
	if st, code, _ := e.raw(k, "POST", dirapi.PathLookup, []byte(`{"handles":["a@example.org"]}`), true, nil); code != dirapi.CodeUnknownDevice || st != 401 {
		t.Fatalf("unregistered lookup: %d %s", st, code)
	}
	// Replay of a good request.
	req := e.signed(k, "POST", dirapi.PathCodes, body, true)
	if st, code := e.send(req, body); st != 200 {
		t.Fatalf("first send %d %s", st, code)
	}
	if st, code := e.send(req, body); st != 401 || code != dirapi.CodeReplayedNonce {
		t.Fatalf("replay answered %d %s", st, code)
	}
	// A stale nonce.
	old := e.signed(k, "POST", dirapi.PathCodes, body, true)
	e.clock.Advance(6 * time.Minute)
	if st, code := e.send(old, body); st != 401 || code != dirapi.CodeStaleNonce {
		t.Fatalf("stale: %d %s", st, code)
	}
}

// TestLookupEncodingMatches: the hand-built lookup answer is byte for byte
// what encoding/json makes of dirapi.LookupResponse, including names that
// need escaping and a handle with no devices.
func TestLookupEncodingMatches(t *testing.T) {
	e := newEnv(t, Config{})
	a, _ := e.register("a@example.org", `Ünïcode "quoted" <tag> & \ name`)
	e.registerWith(e.client(e.newKeys()), "a@example.org", fields(a.Keys, "second"))
	b, _ := e.register("b@example.org", "b")
	keys := []string{"mailto:a@example.org", "mailto:none@example.org", "mailto:b@example.org"}
	found, err := e.svc.store.Lookup(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	exp := e.clock.Now().Add(time.Hour)
	sender := devID(b.Keys)
	for round := 0; round < 2; round++ { // the second round uses the cache
		got := e.svc.encodeLookup(keys, found, sender, exp)
		want, _ := json.Marshal(e.svc.lookupResponse(keys, found, sender, exp))
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d:\n got %s\nwant %s", round, got, want)
		}
	}
}

// TestConcurrentClients: devices join one handle and look it up at the
// same time over HTTPS; every call succeeds and the end state is exact.
func TestConcurrentClients(t *testing.T) {
	e := newEnv(t, Config{})
	first, _ := e.register("group@example.org", "first")
	const n = 10
	clients := make([]*dirapi.Client, n)
	for i := range clients {
		clients[i] = e.client(e.newKeys())
	}
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(2)
		go func() {
			defer wg.Done()
			// Code requests for a shared handle race (the outbox keeps the
			// latest code per handle), so each device registers a handle
			// of its own, while others look up at the same time.
			if _, err := c.RequestCode(ctx, "group@example.org"); err != nil {
				errs <- err
				return
			}
			own := fmt.Sprintf("member%d@example.org", i)
			ocr, err := c.RequestCode(ctx, own)
			if err != nil {
				errs <- err
				return
			}
			if _, err := c.Register(ctx, ocr.Handle, e.code(ocr.Handle), fields(c.Keys, fmt.Sprint("member ", i))); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				if _, err := first.Lookup(ctx, []string{"group@example.org", fmt.Sprintf("member%d@example.org", i)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	res, err := first.Lookup(ctx, []string{"group@example.org"})
	if err != nil || len(res.Results[0].Devices) != 1 {
		t.Fatalf("group handle: %v %v", res, err)
	}
	for i := range clients {
		res, err := first.Lookup(ctx, []string{fmt.Sprintf("member%d@example.org", i)})
		if err != nil || len(res.Results[0].Devices) != 1 || res.Results[0].Devices[0].ID != dirapi.DeviceID(clients[i].Keys) {
			t.Fatalf("member %d: %+v %v", i, res, err)
		}
	}
}
