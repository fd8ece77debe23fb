package client

import "context"

// RenewPushToken makes the device take a new token from the relay and
// publish it to the directory, as after a lost token file, so that others'
// cached lookups hold a stale token.
func (d *Device) RenewPushToken(ctx context.Context) error {
	l, err := d.dialLink(ctx, nil)
	if err != nil {
		return err
	}
	defer l.close()
	d.linkMu.Lock()
	if d.link != nil {
		d.link.close()
		d.link = nil
	}
	d.linkMu.Unlock()
	return d.updatePushToken(ctx, l.token)
}
