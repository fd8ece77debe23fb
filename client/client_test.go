package client_test

import (
	"testing"

	"github.com/sealpost/sealpost/internal/testrig"
)

func TestTwoDevices(t *testing.T) {
	rig := testrig.Start(t, testrig.Options{})
	alice := newDevice(t, rig, "alice-phone", "alice@example.org")
	bob := newDevice(t, rig, "bob-phone", "+15550000002")

	r := send(t, alice, "hello bob", "tel:+1 555 000 0002")
	if r.Devices != 1 {
		t.Fatalf("report %+v", r)
	}
	msgs, _ := drain(t, bob)
	if len(msgs) != 1 || msgs[0].Text != "hello bob" || msgs[0].From != "mailto:alice@example.org" || msgs[0].ID != r.ID {
		t.Fatalf("bob got %+v", msgs)
	}
	// Alice gets bob's delivery receipt.
	_, rcpts := drain(t, alice)
	if len(rcpts) != 1 || rcpts[0].MessageID != r.ID || rcpts[0].Kind != "delivered" {
		t.Fatalf("alice receipts %+v", rcpts)
	}
	// Nothing more for bob.
	if msgs, _ := drain(t, bob); len(msgs) != 0 {
		t.Fatalf("again: %+v", msgs)
	}
}
