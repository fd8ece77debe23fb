package client_test

import (
	"testing"

	"github.com/sealpost/sealpost/internal/testrig"
)

// A device gets what is sent to any handle of its account, also one that
// only another device of the account verified.
func TestAccountHandles(t *testing.T) {
	rig := testrig.Start(t, testrig.Options{})
	alice := newDevice(t, rig, "alice", "alice@example.org")
	laptop := newDevice(t, rig, "laptop", "bob@example.org")
	phone := newDevice(t, rig, "phone", "bob@example.org")
	verify(t, rig, phone, "+15550000002") // after the laptop registered
	if r := send(t, alice, "to the number", "+15550000002"); r.Devices != 2 {
		t.Fatalf("%d devices", r.Devices)
	}
	for _, d := range []string{"laptop", "phone"} {
		dev := laptop
		if d == "phone" {
			dev = phone
		}
		if m, _ := drain(t, dev); len(m) != 1 || m[0].Text != "to the number" {
			t.Fatalf("%s got %d messages", d, len(m))
		}
	}
	// The laptop's copies of what the phone sends show as its own.
	if _, err := phone.Send(ctx(t), draft("alice@example.org", "from the phone")); err != nil {
		t.Fatal(err)
	}
	if m, _ := drain(t, laptop); len(m) != 1 || !m[0].FromMe || m[0].From != "mailto:bob@example.org" {
		t.Fatalf("laptop got %+v", m)
	}
}
