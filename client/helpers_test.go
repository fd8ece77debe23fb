package client_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/internal/testrig"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// newDevice initialises a device in a new home folder and, if handle is
// not empty, registers and verifies it under handle.
func newDevice(t *testing.T, rig *testrig.Rig, name, handle string) *client.Device {
	t.Helper()
	key, err := testrig.NextPushKey()
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(t.TempDir(), name)
	d, err := client.Init(ctx(t), home, client.InitOptions{Server: rig.URL, CA: rig.CAPEM, DeviceName: name, PushKey: key})
	if err != nil {
		t.Fatalf("init %s: %v", name, err)
	}
	t.Cleanup(func() { d.Close() })
	if handle != "" {
		verify(t, rig, d, handle)
	}
	return d
}

func verify(t *testing.T, rig *testrig.Rig, d *client.Device, handle string) {
	t.Helper()
	h, err := d.Register(ctx(t), handle)
	if err != nil {
		t.Fatalf("register %s: %v", handle, err)
	}
	code, err := rig.Code(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(ctx(t), h, code); err != nil {
		t.Fatalf("verify %s: %v", handle, err)
	}
}

// drain receives until the queue is drained and returns the messages.
func drain(t *testing.T, d *client.Device) ([]*client.Message, []*client.Receipt) {
	t.Helper()
	var msgs []*client.Message
	var rcpts []*client.Receipt
	err := d.Receive(ctx(t), client.ReceiveOptions{}, func(ev client.Event) error {
		if ev.Message != nil {
			msgs = append(msgs, ev.Message)
		}
		if ev.Receipt != nil {
			rcpts = append(rcpts, ev.Receipt)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("receive on %s: %v", d.Name(), err)
	}
	return msgs, rcpts
}

func send(t *testing.T, d *client.Device, text string, to ...string) *client.SendReport {
	t.Helper()
	r, err := d.Send(ctx(t), client.Draft{To: to, Text: text})
	if err != nil {
		t.Fatalf("send from %s: %v", d.Name(), err)
	}
	return r
}

func draft(to, text string) client.Draft { return client.Draft{To: []string{to}, Text: text} }
