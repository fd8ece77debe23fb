package server

import (
	"context"
	"slices"

	"github.com/sealpost/sealpost/ids"
	"github.com/sealpost/sealpost/internal/directory/storage"
	"github.com/sealpost/sealpost/internal/relay/mailbox"
)

// FanoutDevices is what FanoutCheck needs from the directory's storage
// (storage.Store has it).
type FanoutDevices interface {
	Lookup(ctx context.Context, handles []string) (map[string][]storage.Device, error)
}

// FanoutCheck returns the relay's fan-out check (relay.Options.CheckFanout)
// backed by the directory (K6), at the cost of one directory lookup per
// send: a destination whose token is not a device registered under the
// destination's handle (removed, never registered, or a stale token) is
// refused with ids.StatusNotRegistered; for a message (c = 100), the
// destinations of a handle some of whose registered devices are missing
// from the send are refused with ids.StatusIncomplete (the sending device
// is excepted, and so are devices that do not take the send's scheme E,
// which a sender puts in a frame of their own). A sender must therefore
// put all of a handle's devices of one scheme in one frame. The sender
// then looks those handles up again and sends to their devices.
// A storage error lets the send through unchecked: the directory being
// slow must not stop messages.
func FanoutCheck(dir FanoutDevices) func(ctx context.Context, sender mailbox.Token, o *ids.Outgoing) []int {
	return func(ctx context.Context, sender mailbox.Token, o *ids.Outgoing) []int {
		st := make([]int, len(o.Destinations))
		present := make(map[string]bool, len(o.Destinations))
		var handles []string
		seen := map[string]bool{}
		for _, d := range o.Destinations {
			present[string(d.Token)] = true
			if !seen[d.URI] {
				seen[d.URI] = true
				handles = append(handles, d.URI)
			}
		}
		devs, err := dir.Lookup(ctx, handles)
		if err != nil {
			return st
		}
		for i, d := range o.Destinations {
			if !slices.ContainsFunc(devs[d.URI], func(dv storage.Device) bool { return string(dv.PushToken) == string(d.Token) }) {
				st[i] = ids.StatusNotRegistered
			}
		}
		if o.Command != ids.CmdIMessage {
			return st
		}
		incomplete := map[string]bool{}
		for h, list := range devs {
			for _, dv := range list {
				if present[string(dv.PushToken)] || string(dv.PushToken) == string(sender[:]) || !slices.Contains(dv.Schemes, o.Scheme) {
					continue // here, the sender itself, or in the frame of its other scheme
				}
				incomplete[h] = true
			}
		}
		for i, d := range o.Destinations {
			if st[i] == ids.StatusAccepted && incomplete[d.URI] {
				st[i] = ids.StatusIncomplete
			}
		}
		return st
	}
}
