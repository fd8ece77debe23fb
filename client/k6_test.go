package client_test

import (
	"slices"
	"testing"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/internal/testrig"
	"github.com/sealpost/sealpost/message"
)

// texts returns the texts of msgs.
func texts(msgs []*client.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Text)
	}
	return out
}

// K6, fan-out completeness: a sender whose cached lookup misses a device
// registered since, includes a device removed since, or holds a stale push
// token, is refused by the relay (which checks each fan-out against the
// directory), looks the handle up again and sends to the right devices.
// Figures: accepted incomplete fan-outs (a device that should have a copy
// and has none, or a removed one that has one) 0; sends recovered 100%.
func TestK6FanoutCompleteness(t *testing.T) {
	rig := testrig.Start(t, testrig.Options{})
	alice := newDevice(t, rig, "alice", "alice@example.org")
	phone := newDevice(t, rig, "bob-phone", "bob@example.org")

	// 1. A device registered after alice's lookup.
	send(t, alice, "one", "bob@example.org") // alice caches bob: the phone only
	tablet := newDevice(t, rig, "bob-tablet", "bob@example.org")
	r := send(t, alice, "two", "bob@example.org")
	if r.Devices != 2 || !slices.Equal(r.Refetched, []string{"mailto:bob@example.org"}) {
		t.Fatalf("missing device: report %+v", r)
	}
	if got, _ := drain(t, tablet); !slices.Equal(texts(got), []string{"two"}) {
		t.Fatalf("tablet got %q", texts(got))
	}

	// 2. A device removed after alice's lookup.
	laptop := newDevice(t, rig, "bob-laptop", "bob@example.org")
	send(t, alice, "three", "bob@example.org") // refetched again (new laptop): 3 devices cached
	if _, err := phone.RemoveDevice(ctx(t), laptop.ID()); err != nil {
		t.Fatal(err)
	}
	r4 := send(t, alice, "four", "bob@example.org")
	if r4.Devices != 2 || !slices.Equal(r4.Refetched, []string{"mailto:bob@example.org"}) {
		t.Fatalf("removed device: report %+v", r4)
	}
	// The relay holds "three" for the laptop, never "four" (the laptop
	// itself can no longer verify anything: it cannot look senders up).
	q, err := rig.Queued(laptop.PushToken())
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || message.ID(q[0]).String() == r4.ID {
		t.Fatalf("removed laptop's queue: %d deliveries", len(q))
	}

	// 3. A stale push token: the tablet takes a new token (what was queued
	// for the old one stays there, so it reads its queue first).
	if got, _ := drain(t, tablet); !slices.Equal(texts(got), []string{"three", "four"}) {
		t.Fatalf("tablet got %q", texts(got))
	}
	if err := tablet.RenewPushToken(ctx(t)); err != nil {
		t.Fatal(err)
	}
	r = send(t, alice, "five", "bob@example.org")
	if r.Devices != 2 || !slices.Equal(r.Refetched, []string{"mailto:bob@example.org"}) {
		t.Fatalf("stale token: report %+v", r)
	}
	if got, _ := drain(t, tablet); !slices.Equal(texts(got), []string{"five"}) {
		t.Fatalf("tablet got %q", texts(got))
	}
	if got, _ := drain(t, phone); !slices.Equal(texts(got), []string{"one", "two", "three", "four", "five"}) {
		t.Fatalf("phone got %q", texts(got))
	}

	// Without the relay's check the same sends would be incomplete: the
	// test can fail.
	rig2 := testrig.Start(t, testrig.Options{NoFanoutCheck: true})
	a2 := newDevice(t, rig2, "alice", "alice@example.org")
	newDevice(t, rig2, "bob-phone", "bob@example.org")
	send(t, a2, "one", "bob@example.org")
	newDevice(t, rig2, "bob-tablet", "bob@example.org")
	if r := send(t, a2, "two", "bob@example.org"); r.Devices != 1 || len(r.Refetched) != 0 {
		t.Fatalf("unchecked relay: report %+v", r)
	}
}
