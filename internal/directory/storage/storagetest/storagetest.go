// Package storagetest is the conformance suite of storage.Store: one set of
// tests, run against every backend (each backend's test calls Run with a
// constructor that returns a fresh, empty store).
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/directory/storage"
)

// Open returns a fresh, empty, migrated store; the suite closes it.
type Open func(t *testing.T) storage.Store

// Run runs every contract test against stores from open.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"RegisterNewAccount", testRegisterNewAccount},
		{"JoinAndAddHandles", testJoinAndAddHandles},
		{"ReRegisterReplacesFields", testReRegister},
		{"HandleTaken", testHandleTaken},
		{"MaxDevices", testMaxDevices},
		{"PushTokenUnique", testPushTokenUnique},
		{"UpdateDevice", testUpdateDevice},
		{"RemoveDevice", testRemoveDevice},
		{"LookupUnknownAndEmpty", testLookupUnknown},
		{"LookupManyHandles", testLookupMany},
		{"CodeSingleUse", testCodeSingleUse},
		{"CodeAttemptsAndExpiry", testCodeAttempts},
		{"CodeConcurrentGuesses", testCodeConcurrent},
		{"ConcurrentJoinsRespectMax", testConcurrentJoins},
		{"Secret", testSecret},
		{"CancelledContext", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			tc.fn(t, s)
		})
	}
}

var (
	ctx = context.Background()
	t0  = time.UnixMilli(1_800_000_000_000)
)

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// NewDevice returns a device with random keys and token (the store does not
// parse them).
func NewDevice(name string) storage.Device {
	var d storage.Device
	copy(d.ID[:], randBytes(32))
	d.Identity = randBytes(249)
	d.DeviceKey = randBytes(32)
	d.SignedPrekey = randBytes(107)
	d.PushToken = randBytes(32)
	d.Schemes = []string{"pair", "pair-ec"}
	d.MaxPayload = 16384
	d.Name = name
	return d
}

func acct() string { return fmt.Sprintf("acct-%x", randBytes(8)) }

func sameDevice(t *testing.T, got, want storage.Device) {
	t.Helper()
	if got.ID != want.ID || !bytes.Equal(got.Identity, want.Identity) || !bytes.Equal(got.DeviceKey, want.DeviceKey) ||
		!bytes.Equal(got.SignedPrekey, want.SignedPrekey) || !bytes.Equal(got.PushToken, want.PushToken) ||
		!slices.Equal(got.Schemes, want.Schemes) || got.MaxPayload != want.MaxPayload || got.Name != want.Name {
		t.Fatalf("device differs:\n got %+v\nwant %+v", got, want)
	}
}

func mustRegister(t *testing.T, s storage.Store, handle string, d storage.Device, account string, now time.Time) storage.Registration {
	t.Helper()
	reg, err := s.Register(ctx, handle, d, account, 16, now)
	if err != nil {
		t.Fatalf("Register(%s, %s): %v", handle, d.Name, err)
	}
	return reg
}

func ids(ds []storage.Device) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

func testRegisterNewAccount(t *testing.T, s storage.Store) {
	d := NewDevice("phone")
	a := acct()
	reg := mustRegister(t, s, "mailto:a@example.org", d, a, t0)
	if reg.Account != a || !reg.NewAccount || !reg.NewDevice {
		t.Fatalf("registration = %+v, want new account %s and new device", reg, a)
	}
	got, err := s.Device(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameDevice(t, got, d)
	if got.Account != a || !got.Registered.Equal(t0) || !got.Updated.Equal(t0) {
		t.Fatalf("account/times = %s %v %v", got.Account, got.Registered, got.Updated)
	}
	byTok, err := s.DeviceByPushToken(ctx, d.PushToken)
	if err != nil || byTok.ID != d.ID {
		t.Fatalf("DeviceByPushToken: %v %v", byTok.ID, err)
	}
	hs, err := s.AccountHandles(ctx, a)
	if err != nil || !slices.Equal(hs, []string{"mailto:a@example.org"}) {
		t.Fatalf("AccountHandles = %v, %v", hs, err)
	}
	res, err := s.Lookup(ctx, []string{"mailto:a@example.org"})
	if err != nil || len(res["mailto:a@example.org"]) != 1 {
		t.Fatalf("Lookup = %v, %v", res, err)
	}
	sameDevice(t, res["mailto:a@example.org"][0], d)
	if _, err := s.Device(ctx, storage.DeviceID{1}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown device: %v", err)
	}
	if _, err := s.DeviceByPushToken(ctx, randBytes(32)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown push token: %v", err)
	}
	if ds, err := s.AccountDevices(ctx, "nobody"); err != nil || len(ds) != 0 {
		t.Fatalf("unknown account devices: %v %v", ds, err)
	}
	if hs, err := s.AccountHandles(ctx, "nobody"); err != nil || len(hs) != 0 {
		t.Fatalf("unknown account handles: %v %v", hs, err)
	}
}

func testJoinAndAddHandles(t *testing.T, s storage.Store) {
	a := acct()
	d1, d2, d3 := NewDevice("one"), NewDevice("two"), NewDevice("three")
	mustRegister(t, s, "mailto:a@example.org", d1, a, t0)
	// d2 verifies the same handle: joins the account; the unused new
	// account id is not created.
	reg := mustRegister(t, s, "mailto:a@example.org", d2, "unused", t0.Add(time.Second))
	if reg.Account != a || reg.NewAccount || !reg.NewDevice {
		t.Fatalf("join = %+v", reg)
	}
	// d1 adds a phone number: the handle joins the account.
	reg = mustRegister(t, s, "tel:+15551234567", d1, "unused2", t0.Add(2*time.Second))
	if reg.Account != a || reg.NewAccount || reg.NewDevice {
		t.Fatalf("add handle = %+v", reg)
	}
	// d3 joins through the phone number.
	mustRegister(t, s, "tel:+15551234567", d3, "unused3", t0.Add(3*time.Second))
	hs, _ := s.AccountHandles(ctx, a)
	if !slices.Equal(hs, []string{"mailto:a@example.org", "tel:+15551234567"}) {
		t.Fatalf("handles = %v", hs)
	}
	ds, err := s.AccountDevices(ctx, a)
	if err != nil || !slices.Equal(ids(ds), []string{"one", "two", "three"}) {
		t.Fatalf("devices = %v, %v (want oldest first)", ids(ds), err)
	}
	res, err := s.Lookup(ctx, []string{"tel:+15551234567", "mailto:a@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"tel:+15551234567", "mailto:a@example.org"} {
		if !slices.Equal(ids(res[h]), []string{"one", "two", "three"}) {
			t.Fatalf("lookup %s = %v", h, ids(res[h]))
		}
	}
	if ds, _ := s.AccountDevices(ctx, "unused"); len(ds) != 0 {
		t.Fatal("an unused account id got devices")
	}
}

func testReRegister(t *testing.T, s storage.Store) {
	a := acct()
	d := NewDevice("old name")
	mustRegister(t, s, "mailto:a@example.org", d, a, t0)
	d2 := d
	d2.Name = "new name"
	d2.PushToken = randBytes(32)
	d2.SignedPrekey = randBytes(107)
	d2.Schemes = []string{"pair-ec"}
	d2.MaxPayload = 4096
	d2.Identity = randBytes(249) // ignored: the identity is the id's
	reg := mustRegister(t, s, "mailto:a@example.org", d2, "x", t0.Add(time.Hour))
	if reg.NewDevice || reg.NewAccount || reg.Account != a {
		t.Fatalf("re-register = %+v", reg)
	}
	got, _ := s.Device(ctx, d.ID)
	want := d2
	want.Identity = d.Identity
	sameDevice(t, got, want)
	if !got.Registered.Equal(t0) || !got.Updated.Equal(t0.Add(time.Hour)) {
		t.Fatalf("times after re-register: %v %v", got.Registered, got.Updated)
	}
	if _, err := s.DeviceByPushToken(ctx, d.PushToken); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("old push token still resolves: %v", err)
	}
}

func testHandleTaken(t *testing.T, s storage.Store) {
	da, db := NewDevice("a"), NewDevice("b")
	mustRegister(t, s, "mailto:a@example.org", da, acct(), t0)
	mustRegister(t, s, "mailto:b@example.org", db, acct(), t0)
	if _, err := s.Register(ctx, "mailto:a@example.org", db, acct(), 16, t0); !errors.Is(err, storage.ErrHandleTaken) {
		t.Fatalf("device of B verifying A's handle: %v, want ErrHandleTaken", err)
	}
	res, _ := s.Lookup(ctx, []string{"mailto:a@example.org"})
	if !slices.Equal(ids(res["mailto:a@example.org"]), []string{"a"}) {
		t.Fatalf("A's handle changed: %v", ids(res["mailto:a@example.org"]))
	}
}

func testMaxDevices(t *testing.T, s storage.Store) {
	const max = 12
	a := acct()
	var devs []storage.Device
	for i := 0; i < max; i++ {
		d := NewDevice(fmt.Sprint("d", i))
		devs = append(devs, d)
		if _, err := s.Register(ctx, "mailto:many@example.org", d, a, max, t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
	}
	extra := NewDevice("extra")
	if _, err := s.Register(ctx, "mailto:many@example.org", extra, a, max, t0); !errors.Is(err, storage.ErrTooManyDevices) {
		t.Fatalf("device %d: %v, want ErrTooManyDevices", max+1, err)
	}
	// Through another handle of the same account too.
	mustRegister(t, s, "tel:+15550001111", devs[0], "x", t0)
	if _, err := s.Register(ctx, "tel:+15550001111", extra, a, max, t0); !errors.Is(err, storage.ErrTooManyDevices) {
		t.Fatalf("via second handle: %v, want ErrTooManyDevices", err)
	}
	// Re-registering an existing device at the maximum is fine.
	if _, err := s.Register(ctx, "mailto:many@example.org", devs[3], a, max, t0); err != nil {
		t.Fatalf("re-register at max: %v", err)
	}
	res, _ := s.Lookup(ctx, []string{"mailto:many@example.org"})
	if len(res["mailto:many@example.org"]) != max {
		t.Fatalf("lookup has %d devices, want %d", len(res["mailto:many@example.org"]), max)
	}
	if _, err := s.Device(ctx, extra.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal("refused device was stored")
	}
}

func testPushTokenUnique(t *testing.T, s storage.Store) {
	d1, d2 := NewDevice("one"), NewDevice("two")
	mustRegister(t, s, "mailto:a@example.org", d1, acct(), t0)
	d2.PushToken = d1.PushToken
	if _, err := s.Register(ctx, "mailto:b@example.org", d2, acct(), 16, t0); !errors.Is(err, storage.ErrPushTokenTaken) {
		t.Fatalf("duplicate token: %v, want ErrPushTokenTaken", err)
	}
	if hs, _ := s.Lookup(ctx, []string{"mailto:b@example.org"}); len(hs) != 0 {
		t.Fatal("refused registration left a handle")
	}
	d2.PushToken = randBytes(32)
	mustRegister(t, s, "mailto:a@example.org", d2, "x", t0)
	d2.PushToken = d1.PushToken
	if err := s.UpdateDevice(ctx, d2, t0); !errors.Is(err, storage.ErrPushTokenTaken) {
		t.Fatalf("update to a taken token: %v", err)
	}
}

func testUpdateDevice(t *testing.T, s storage.Store) {
	d := NewDevice("phone")
	if err := s.UpdateDevice(ctx, d, t0); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("update of unknown device: %v", err)
	}
	a := acct()
	mustRegister(t, s, "mailto:a@example.org", d, a, t0)
	u := d
	u.Name = "renamed"
	u.PushToken = randBytes(32)
	u.DeviceKey = randBytes(32)
	u.SignedPrekey = randBytes(107)
	u.Schemes = []string{"pair"}
	u.MaxPayload = 2048
	u.Identity = randBytes(249)
	u.Account = "other"
	if err := s.UpdateDevice(ctx, u, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Device(ctx, d.ID)
	want := u
	want.Identity = d.Identity
	sameDevice(t, got, want)
	if got.Account != a || !got.Registered.Equal(t0) || !got.Updated.Equal(t0.Add(time.Minute)) {
		t.Fatalf("account/times changed: %s %v %v", got.Account, got.Registered, got.Updated)
	}
	// Same token again is not a conflict with itself.
	if err := s.UpdateDevice(ctx, u, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
}

func testRemoveDevice(t *testing.T, s storage.Store) {
	a, b := acct(), acct()
	d1, d2, other := NewDevice("one"), NewDevice("two"), NewDevice("other")
	mustRegister(t, s, "mailto:a@example.org", d1, a, t0)
	mustRegister(t, s, "mailto:a@example.org", d2, a, t0.Add(time.Millisecond))
	mustRegister(t, s, "mailto:b@example.org", other, b, t0)
	if err := s.RemoveDevice(ctx, b, d1.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("removing another account's device: %v", err)
	}
	if err := s.PutCode(ctx, storage.Code{Handle: "tel:+15551112222", Device: d1.ID, Digest: []byte("x"), Expires: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveDevice(ctx, a, d1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveDevice(ctx, a, d1.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("second removal: %v", err)
	}
	if _, err := s.Device(ctx, d1.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal("removed device still there")
	}
	if err := s.TryCode(ctx, "tel:+15551112222", d1.ID, t0, 5, func([]byte) bool { return true }); !errors.Is(err, storage.ErrCodeExpired) {
		t.Fatalf("removed device's code still usable: %v", err)
	}
	res, _ := s.Lookup(ctx, []string{"mailto:a@example.org"})
	if !slices.Equal(ids(res["mailto:a@example.org"]), []string{"two"}) {
		t.Fatalf("lookup after removal: %v", ids(res["mailto:a@example.org"]))
	}
	if err := s.RemoveDevice(ctx, a, d2.ID); err != nil {
		t.Fatal(err)
	}
	// The account keeps its handle with no devices; the handle looks
	// unknown, and a new device verifying it joins the account.
	res, _ = s.Lookup(ctx, []string{"mailto:a@example.org"})
	if len(res) != 0 {
		t.Fatalf("handle without devices in lookup: %v", res)
	}
	d3 := NewDevice("three")
	if reg := mustRegister(t, s, "mailto:a@example.org", d3, "new", t0); reg.Account != a {
		t.Fatalf("rejoin went to %s, want %s", reg.Account, a)
	}
	// The freed push token can be reused.
	d4 := NewDevice("four")
	d4.PushToken = d1.PushToken
	mustRegister(t, s, "mailto:a@example.org", d4, "x", t0)
}

func testLookupUnknown(t *testing.T, s storage.Store) {
	res, err := s.Lookup(ctx, []string{"mailto:nobody@example.org"})
	if err != nil || len(res) != 0 {
		t.Fatalf("unknown = %v, %v", res, err)
	}
	d := NewDevice("x")
	mustRegister(t, s, "mailto:a@example.org", d, acct(), t0)
	res, err = s.Lookup(ctx, []string{"mailto:nobody@example.org", "mailto:a@example.org", "mailto:a@example.org"})
	if err != nil || len(res) != 1 || len(res["mailto:a@example.org"]) != 1 {
		t.Fatalf("mixed = %v, %v", res, err)
	}
	if res, err := s.Lookup(ctx, nil); err != nil || len(res) != 0 {
		t.Fatalf("empty lookup = %v, %v", res, err)
	}
}

func testLookupMany(t *testing.T, s storage.Store) {
	d := NewDevice("x")
	a := acct()
	var handles []string
	for i := 0; i < 100; i++ {
		h := fmt.Sprintf("mailto:u%d@example.org", i)
		mustRegister(t, s, h, d, a, t0)
		handles = append(handles, h, fmt.Sprintf("mailto:none%d@example.org", i))
	}
	res, err := s.Lookup(ctx, handles)
	if err != nil || len(res) != 100 {
		t.Fatalf("lookup of 200: %d results, %v", len(res), err)
	}
}

func codeFor(handle string, dev storage.DeviceID, expires time.Time, digest string) storage.Code {
	return storage.Code{Handle: handle, Device: dev, Digest: []byte(digest), Expires: expires}
}

func eq(want string) func([]byte) bool {
	return func(d []byte) bool { return string(d) == want }
}

func testCodeSingleUse(t *testing.T, s storage.Store) {
	dev := storage.DeviceID{7}
	h := "mailto:a@example.org"
	if err := s.TryCode(ctx, h, dev, t0, 5, eq("x")); !errors.Is(err, storage.ErrCodeExpired) {
		t.Fatalf("no code: %v", err)
	}
	if err := s.PutCode(ctx, codeFor(h, dev, t0.Add(10*time.Minute), "right")); err != nil {
		t.Fatal(err)
	}
	// Bound to (handle, device).
	if err := s.TryCode(ctx, h, storage.DeviceID{8}, t0, 5, eq("right")); !errors.Is(err, storage.ErrCodeExpired) {
		t.Fatalf("other device: %v", err)
	}
	if err := s.TryCode(ctx, "mailto:b@example.org", dev, t0, 5, eq("right")); !errors.Is(err, storage.ErrCodeExpired) {
		t.Fatalf("other handle: %v", err)
	}
	if err := s.TryCode(ctx, h, dev, t0, 5, eq("right")); err != nil {
		t.Fatalf("right code: %v", err)
	}
	if err := s.TryCode(ctx, h, dev, t0, 5, eq("right")); !errors.Is(err, storage.ErrCodeExpired) {
		t.Fatalf("reused code: %v, want ErrCodeExpired", err)
	}
}

func testCodeAttempts(t *testing.T, s storage.Store) {
	dev := storage.DeviceID{7}
	h := "tel:+15551234567"
	s.PutCode(ctx, codeFor(h, dev, t0.Add(10*time.Minute), "right"))
	for i := 0; i < 5; i++ {
		if err := s.TryCode(ctx, h, dev, t0, 5, eq("wrong")); !errors.Is(err, storage.ErrCodeMismatch) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if err := s.TryCode(ctx, h, dev, t0, 5, eq("right")); !errors.Is(err, storage.ErrCodeExpired) {
		t.Fatalf("right code after 5 wrong: %v, want ErrCodeExpired", err)
	}
	// A new code resets the count.
	s.PutCode(ctx, codeFor(h, dev, t0.Add(10*time.Minute), "right"))
	for i := 0; i < 4; i++ {
		s.TryCode(ctx, h, dev, t0, 5, eq("wrong"))
	}
	s.PutCode(ctx, codeFor(h, dev, t0.Add(10*time.Minute), "again"))
	for i := 0; i < 4; i++ {
		s.TryCode(ctx, h, dev, t0, 5, eq("wrong"))
	}
	if err := s.TryCode(ctx, h, dev, t0, 5, eq("again")); err != nil {
		t.Fatalf("replaced code after 4 wrong: %v", err)
	}
	// Expiry: Expires ≤ now is expired.
	s.PutCode(ctx, codeFor(h, dev, t0.Add(10*time.Minute), "right"))
	if err := s.TryCode(ctx, h, dev, t0.Add(10*time.Minute), 5, eq("right")); !errors.Is(err, storage.ErrCodeExpired) {
		t.Fatalf("at expiry: %v", err)
	}
	s.PutCode(ctx, codeFor(h, dev, t0.Add(10*time.Minute), "right"))
	if err := s.TryCode(ctx, h, dev, t0.Add(10*time.Minute-time.Millisecond), 5, eq("right")); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	// DeleteExpiredCodes.
	for i := 0; i < 5; i++ {
		s.PutCode(ctx, codeFor(h, storage.DeviceID{byte(i)}, t0.Add(time.Duration(i)*time.Minute), "c"))
	}
	n, err := s.DeleteExpiredCodes(ctx, t0.Add(2*time.Minute))
	if err != nil || n != 3 {
		t.Fatalf("DeleteExpiredCodes = %d, %v; want 3", n, err)
	}
	if err := s.TryCode(ctx, h, storage.DeviceID{4}, t0, 5, eq("c")); err != nil {
		t.Fatalf("unexpired code lost: %v", err)
	}
}

func testCodeConcurrent(t *testing.T, s storage.Store) {
	dev := storage.DeviceID{9}
	h := "mailto:a@example.org"
	s.PutCode(ctx, codeFor(h, dev, t0.Add(10*time.Minute), "right"))
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.TryCode(ctx, h, dev, t0, 5, eq("wrong"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, storage.ErrCodeMismatch):
				counts["mismatch"]++
			case errors.Is(err, storage.ErrCodeExpired):
				counts["expired"]++
			default:
				counts[fmt.Sprint(err)]++
			}
		}()
	}
	wg.Wait()
	if counts["mismatch"] != 5 || counts["expired"] != 15 {
		t.Fatalf("20 concurrent wrong guesses with 5 allowed: %v", counts)
	}
}

func testConcurrentJoins(t *testing.T, s storage.Store) {
	const max = 10
	a := acct()
	mustRegister(t, s, "mailto:a@example.org", NewDevice("first"), a, t0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, full := 0, 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := s.Register(ctx, "mailto:a@example.org", NewDevice(fmt.Sprint("d", i)), acct(), max, t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, storage.ErrTooManyDevices):
				full++
			default:
				t.Errorf("join %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	ds, _ := s.AccountDevices(ctx, a)
	if ok != max-1 || full != 11 || len(ds) != max {
		t.Fatalf("20 concurrent joins to an account with 1 of %d: ok=%d full=%d devices=%d", max, ok, full, len(ds))
	}
	// Concurrent first registrations of one new handle end in one account.
	var accts sync.Map
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			reg, err := s.Register(ctx, "tel:+15559998888", NewDevice(fmt.Sprint("n", i)), acct(), max, t0)
			if err != nil {
				t.Errorf("new handle join %d: %v", i, err)
				return
			}
			accts.Store(reg.Account, true)
		}(i)
	}
	wg.Wait()
	n := 0
	accts.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Fatalf("concurrent registrations of one new handle made %d accounts", n)
	}
}

func testSecret(t *testing.T, s storage.Store) {
	first, err := s.Secret(ctx, "session", []byte("one"))
	if err != nil || string(first) != "one" {
		t.Fatalf("first Secret = %q, %v", first, err)
	}
	again, err := s.Secret(ctx, "session", []byte("two"))
	if err != nil || string(again) != "one" {
		t.Fatalf("second Secret = %q, %v; want the first value", again, err)
	}
	other, _ := s.Secret(ctx, "other", []byte("three"))
	if string(other) != "three" {
		t.Fatalf("other name = %q", other)
	}
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			v, err := s.Secret(ctx, "race", []byte(fmt.Sprint(i)))
			if err != nil {
				t.Error(err)
			}
			got[i] = string(v)
		}(i)
	}
	wg.Wait()
	for _, v := range got {
		if v != got[0] {
			t.Fatalf("concurrent Secret callers disagree: %v", got)
		}
	}
}

func testCancelled(t *testing.T, s storage.Store) {
	c, cancel := context.WithCancel(ctx)
	cancel()
	d := NewDevice("x")
	if _, err := s.Register(c, "mailto:a@example.org", d, acct(), 16, t0); err == nil {
		t.Fatal("Register with a cancelled context succeeded")
	}
	if _, err := s.Device(ctx, d.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("cancelled Register left a device: %v", err)
	}
}
