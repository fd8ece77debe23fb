package client

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/envelope"
	"github.com/sealpost/sealpost/ids"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
	"github.com/sealpost/sealpost/message"
)

// The send pipeline (Apple's, as the platform security guide describes it):
//
//	recipients ─▶ handles (contacts: all their handles; groups: members)
//	           ─▶ devices of every handle and of our own handle (lookup cache;
//	              an unknown recipient stops everything here, nothing sent)
//	           ─▶ attachments and a text too long to travel inline: encrypt,
//	              upload to the blob store; key, URI, signature in the message
//	           ─▶ inner message ─▶ seal once per device (pair-ec, else pair)
//	           ─▶ IDS fan-out frames (one per scheme, split at 16 KiB)
//	           ─▶ relay: per-destination status
//	           ─▶ any destination refused: look those handles up afresh and
//	              send to the devices that have not got a copy (K6)
//
// Every copy of one message has the same UUID, and the relay stores a
// UUID once per device, so sending a copy again is harmless.

const (
	// userAgent is the IDS "ua" of our sends.
	userAgent = "sealpost/1"
	// incomingOverhead is what the relay adds around a payload in a
	// delivery (sender, recipient, token, UUID, timestamp, plist framing),
	// rounded up; sealOverhead is what sealing adds to the encoded message
	// (pair: RSA block, signature, header; pair-ec: keys, signature,
	// padding), rounded up.
	incomingOverhead = 512
	sealOverhead     = 512
	// frameMargin keeps fan-out frames clear of the relay's limit while
	// packing by estimate.
	frameMargin = 256
	// repairRounds bounds the fresh lookups after refused destinations.
	repairRounds = 2
	sendTimeout  = 30 * time.Second
)

// Draft is a message to send.
type Draft struct {
	// To are the recipients: handles (mailto:, tel:, or a bare address or
	// +number), contact names, or one group name.
	To []string
	// Group, if set, sends to the group of that name (or id), creating it
	// with To as members if it does not exist.
	Group string
	// Text is the message text; any length (a text too long to travel
	// inline goes through the blob store).
	Text string
	// Attachments are paths of files to attach.
	Attachments []string
}

// SendReport says what Send did.
type SendReport struct {
	// ID is the message UUID.
	ID string
	// Group is the group id, if the message went to a group.
	Group string
	// Participants are everyone in the conversation, the sender first.
	Participants []string
	// Devices is how many devices the relay accepted a copy for (the
	// sender's own other devices included); Frames how many fan-out sends
	// that took.
	Devices int
	Frames  int
	// Refetched lists the handles looked up again because the relay
	// refused a destination.
	Refetched []string
	// Attachments are the files sent.
	Attachments []Attachment
	// LongText is true when the text went through the blob store.
	LongText bool
}

// target is one recipient as the caller named it.
type target struct {
	label   string
	handles []string
}

// destination is one receiving device.
type destination struct {
	dev     remoteDevice
	payload []byte
}

// Send sends a message to every device of every recipient and to this
// account's other devices. If any recipient has no registered device,
// nothing is sent and the error is an *UnknownRecipientError.
func (d *Device) Send(ctx context.Context, draft Draft) (*SendReport, error) {
	mine := d.Handles()
	if len(mine) == 0 {
		return nil, withHint(ErrNoHandle, "verify one first: sealpost register HANDLE, then sealpost verify HANDLE CODE")
	}
	me := mine[0]
	targets, group, newGroup, err := d.resolve(draft, mine)
	if err != nil {
		return nil, err
	}
	var all []string
	for _, t := range targets {
		for _, h := range t.handles {
			if !slices.Contains(all, h) {
				all = append(all, h)
			}
		}
	}
	lookup := append(slices.Clone(all), me)
	devs, err := d.cache.devices(ctx, lookup, nil, true)
	if err != nil {
		return nil, err
	}
	// Every recipient must reach at least one device; a contact's handles
	// without devices are left out.
	participants := []string{me}
	groupLabel := ""
	if group != nil {
		groupLabel = group.Name
	}
	for _, t := range targets {
		reach := 0
		for _, h := range t.handles {
			if len(devs[h]) > 0 {
				reach++
				if !slices.Contains(participants, h) {
					participants = append(participants, h)
				}
			}
		}
		if reach == 0 {
			return nil, &UnknownRecipientError{Recipient: t.label, Handles: t.handles, Group: groupLabel}
		}
	}
	if len(participants) > message.MaxParticipants {
		return nil, fmt.Errorf("%d participants: at most %d", len(participants), message.MaxParticipants)
	}
	m := &message.Message{ID: message.NewID(), Participants: participants, Text: draft.Text}
	report := &SendReport{ID: m.ID.String(), Participants: participants}
	if group != nil {
		m.GroupID = group.ID
		report.Group = group.ID
	}
	dests := d.destinations(devs, append(all, me), me)

	// Attachments, then the long-text check, which needs the final message.
	for _, path := range draft.Attachments {
		a, sent, err := d.uploadFile(ctx, path)
		if err != nil {
			return nil, err
		}
		m.Attachments = append(m.Attachments, a)
		report.Attachments = append(report.Attachments, sent)
	}
	body, err := d.fitText(ctx, m, dests, report)
	if err != nil {
		return nil, err
	}

	accepted := map[string]bool{} // push tokens (as strings) that have a copy
	refused, frames, err := d.deliver(ctx, m, body, me, dests, accepted)
	if err != nil {
		return nil, err
	}
	report.Frames += frames
	for round := 0; round < repairRounds && len(refused) > 0; round++ {
		var again []string
		for h := range refused {
			again = append(again, h)
			report.Refetched = append(report.Refetched, h)
		}
		slices.Sort(again)
		d.log.Info("relay refused destinations; looking up again", "message", report.ID, "handles", strings.Join(again, ","))
		force := map[string]bool{}
		for _, h := range again {
			force[h] = true
		}
		fresh, err := d.cache.devices(ctx, again, force, true)
		if err != nil {
			return nil, err
		}
		var retry []destination
		for _, dst := range d.destinations(fresh, again, me) {
			if !accepted[string(dst.dev.PushToken)] {
				retry = append(retry, dst)
			}
		}
		if refused, frames, err = d.deliver(ctx, m, body, me, retry, accepted); err != nil {
			return nil, err
		}
		report.Frames += frames
	}
	if len(refused) > 0 {
		var hs []string
		for h, why := range refused {
			hs = append(hs, h+" ("+why+")")
		}
		slices.Sort(hs)
		return report, fmt.Errorf("message %s: the relay refused the copies for %s, even after a fresh lookup", report.ID, strings.Join(hs, ", "))
	}
	report.Devices = len(accepted)
	if newGroup {
		d.mu.Lock()
		d.groups = append(d.groups, *group)
		err := writeJSON(filepath.Join(d.home, fileGroups), d.groups)
		d.mu.Unlock()
		if err != nil {
			return report, err
		}
	}
	to := slices.Clone(participants[1:])
	rec := &Record{Dir: "out", ID: report.ID, From: me, To: to, Group: m.GroupID, Participants: participants,
		Text: draft.Text, At: d.now(), Attachments: report.Attachments}
	if err := d.store.sent(rec); err != nil {
		d.log.Warn("recording a sent message", "err", err.Error())
	}
	d.log.Info("sent", "message", report.ID, "devices", report.Devices, "frames", report.Frames)
	return report, nil
}

// resolve turns the draft's recipients into targets, and finds or prepares
// its group.
func (d *Device) resolve(draft Draft, mine []string) (targets []target, group *Group, newGroup bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	to := draft.To
	groupName := draft.Group
	if groupName == "" && len(to) == 1 {
		if g := d.groupLocked(to[0]); g != nil {
			groupName, to = to[0], nil
		}
	}
	if groupName != "" {
		if g := d.groupLocked(groupName); g != nil {
			if len(to) > 0 {
				return nil, nil, false, withHint(fmt.Errorf("group %q exists already", groupName), "leave out the recipients to send to it: sealpost send --group %q -m TEXT", groupName)
			}
			cp := *g
			group = &cp
			for _, p := range g.Participants {
				if slices.Contains(mine, p) {
					continue
				}
				label := p
				if n := d.contactNameLocked(p); n != "" {
					label = n
				}
				targets = append(targets, target{label: label, handles: []string{p}})
			}
			if len(targets) == 0 {
				return nil, nil, false, fmt.Errorf("group %q has no other member", groupName)
			}
			return targets, group, false, nil
		}
		if len(to) == 0 {
			return nil, nil, false, withHint(fmt.Errorf("no group called %q", groupName), "name its members to create it: sealpost send --group %q TO... -m TEXT", groupName)
		}
		if _, err := dirapi.ParseHandle(groupName); err == nil {
			return nil, nil, false, fmt.Errorf("group name %q looks like a handle", groupName)
		}
	}
	if len(to) == 0 {
		return nil, nil, false, withHint(errors.New("no recipient"), "name a handle, a contact or a group: sealpost send bob@example.org -m hello")
	}
	for _, name := range to {
		name = strings.TrimSpace(name)
		if c := d.contactLocked(name); c != nil {
			targets = append(targets, target{label: c.Name, handles: slices.Clone(c.Handles)})
			continue
		}
		if g := d.groupLocked(name); g != nil {
			return nil, nil, false, withHint(fmt.Errorf("%q is a group; a group is sent to on its own", name), "sealpost send %q -m TEXT", name)
		}
		h, err := dirapi.ParseHandle(name)
		if err != nil {
			return nil, nil, false, &UnknownRecipientError{Recipient: name}
		}
		targets = append(targets, target{label: string(h), handles: []string{string(h)}})
	}
	if groupName != "" {
		members := slices.Clone(mine[:1])
		for _, t := range targets {
			for _, h := range t.handles {
				if !slices.Contains(members, h) {
					members = append(members, h)
				}
			}
		}
		group = &Group{Name: groupName, ID: newGroupID(), Participants: members}
		newGroup = true
	}
	return targets, group, newGroup, nil
}

func (d *Device) contactLocked(name string) *Contact {
	for i := range d.contacts {
		if strings.EqualFold(d.contacts[i].Name, name) {
			return &d.contacts[i]
		}
	}
	return nil
}

func (d *Device) contactNameLocked(handle string) string {
	for _, c := range d.contacts {
		if slices.Contains(c.Handles, handle) {
			return c.Name
		}
	}
	return ""
}

// destinations lists the devices of handles, each once (a device listed
// under several handles of its account gets one copy), without this device.
func (d *Device) destinations(devs map[string][]remoteDevice, handles []string, me string) []destination {
	self := d.ID()
	seen := map[string]bool{self: true}
	var out []destination
	for _, h := range handles {
		for _, rd := range devs[h] {
			if seen[rd.ID] {
				continue
			}
			seen[rd.ID] = true
			out = append(out, destination{dev: rd})
		}
	}
	return out
}

// payloadBudget is the largest per-device payload every destination
// takes, and small enough that all the copies for one handle in one scheme
// fit one fan-out frame: the relay may check that a frame holds every
// device of a handle (K6), so a handle's copies are never split.
func payloadBudget(dests []destination) int {
	limit := courier.LargePayload
	perHandle := map[[2]string]int{}
	most := 1
	for _, dst := range dests {
		if mp := dst.dev.MaxPayload; mp > 0 && mp < limit {
			limit = mp
		}
		k := [2]string{dst.dev.Handle, dst.dev.Scheme}
		perHandle[k]++
		most = max(most, perHandle[k])
	}
	limit -= incomingOverhead
	frame := (courier.LargePayload-frameMargin-frameBase)/most - entryOverhead
	return min(limit, frame)
}

// fitText moves the text into the blob store when the message would not
// fit the smallest payload limit among the destinations (or the text is
// over message.MaxTextBytes), and returns the encoded message.
func (d *Device) fitText(ctx context.Context, m *message.Message, dests []destination, report *SendReport) ([]byte, error) {
	body, err := message.Encode(m)
	if err == nil && len(body)+sealOverhead <= payloadBudget(dests) {
		return body, nil
	}
	if err != nil && !errors.Is(err, message.ErrTooLarge) {
		return nil, err
	}
	a, err := d.uploadLongText(ctx, m.Text)
	if err != nil {
		return nil, err
	}
	m.Text = ""
	m.Attachments = append(m.Attachments, a)
	report.LongText = true
	if body, err = message.Encode(m); err != nil {
		return nil, err
	}
	if len(body)+sealOverhead > payloadBudget(dests) {
		return nil, fmt.Errorf("the message is too large for the receiving devices even with its text in the blob store (%d bytes)", len(body))
	}
	return body, nil
}

// deliver seals m to each destination and sends the copies, one frame per
// scheme and 16 KiB. It records accepted push tokens and returns the
// handles whose destinations were refused, with a reason.
func (d *Device) deliver(ctx context.Context, m *message.Message, body []byte, me string, dests []destination, accepted map[string]bool) (refused map[string]string, frames int, err error) {
	refused = map[string]string{}
	if len(dests) == 0 {
		return refused, 0, nil
	}
	if err := d.seal(body, dests); err != nil {
		return nil, 0, err
	}
	byScheme := map[string][]destination{}
	for _, dst := range dests {
		byScheme[dst.dev.Scheme] = append(byScheme[dst.dev.Scheme], dst)
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	for _, scheme := range []string{envelope.SchemePairEC, envelope.SchemePair} {
		chunks := packFrames(byScheme[scheme])
		for i, chunk := range chunks {
			o := ids.Outgoing{Command: ids.CmdIMessage, Version: ids.Version, UUID: m.ID, Sender: me, Scheme: scheme,
				Chunk: i, UserAgent: userAgent}
			for _, dst := range chunk {
				o.Destinations = append(o.Destinations, ids.Destination{URI: dst.dev.Handle, Token: dst.dev.PushToken,
					SessionToken: dst.dev.SessionToken, DeliveryStatus: true, Payload: dst.payload})
			}
			res, err := d.sendFrame(ctx, &o)
			if err != nil {
				return nil, frames, err
			}
			frames++
			status := map[string]int{}
			for _, a := range res.acks {
				status[string(a.Token)] = a.Status
			}
			for _, dst := range chunk {
				st, ok := status[string(dst.dev.PushToken)]
				switch {
				case ok && st == ids.StatusAccepted:
					accepted[string(dst.dev.PushToken)] = true
				case !ok:
					refused[dst.dev.Handle] = "no answer from the relay"
				default:
					refused[dst.dev.Handle] = statusText(st)
					d.log.Info("relay refused a destination", "message", m.ID.String(), "handle", dst.dev.Handle,
						"device", dst.dev.ID[:12], "status", st)
				}
			}
		}
	}
	return refused, frames, nil
}

// sendFrame sends one fan-out frame, reconnecting once if the connection
// is lost (the relay stores a UUID once per device, so a resend is safe).
func (d *Device) sendFrame(ctx context.Context, o *ids.Outgoing) (sendResult, error) {
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		l, err := d.getLink(ctx)
		if err != nil {
			return sendResult{}, err
		}
		res, err := l.send(ctx, func(id uint32) []byte { o.ID = id; return o.Marshal() })
		if err != nil {
			if ctx.Err() != nil {
				return sendResult{}, fmt.Errorf("the relay did not answer: %w", ctx.Err())
			}
			d.dropLink(l)
			lastErr = err
			continue
		}
		switch res.status {
		case courier.SendStored:
			return res, nil
		case courier.SendTooLarge:
			return res, errors.New("the relay refused a send as too large")
		default:
			return res, fmt.Errorf("the relay refused a send (status %#x)", res.status)
		}
	}
	return sendResult{}, d.serverError(lastErr)
}

func statusText(st int) string {
	switch st {
	case ids.StatusUnknownToken:
		return "device not known to the relay"
	case ids.StatusTooLarge:
		return "too large for the device"
	case ids.StatusMalformed:
		return "malformed destination"
	}
	return fmt.Sprintf("status %d", st)
}

// seal encrypts the encoded message once per destination, in parallel.
func (d *Device) seal(body []byte, dests []destination) error {
	counter := d.nextCounter()
	workers := min(runtime.GOMAXPROCS(0), len(dests))
	var wg sync.WaitGroup
	errs := make([]error, len(dests))
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				dests[i].payload, errs[i] = envelope.SealEncoded(d.keys, dests[i].dev.Keys, dests[i].dev.Scheme, body, counter)
			}
		}()
	}
	for i := range dests {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("sealing to device %s: %w", dests[i].dev.ID[:12], err)
		}
	}
	return nil
}

// Estimates for packing fan-out frames: the IDS dictionary's fixed keys
// (c, v, i, U, sP, E, fcn, ua and plist framing), and per destination its
// keys, tP, token and session token besides the payload.
const (
	frameBase     = 160
	entryOverhead = 48 + 320 + 32 + 32
)

// packFrames splits destinations into chunks whose IDS dictionary fits a
// fan-out frame (courier.LargePayload) and ids.MaxDestinations, keeping
// the destinations of one handle together.
func packFrames(dests []destination) [][]destination {
	var groups [][]destination
	index := map[string]int{}
	for _, dst := range dests {
		i, ok := index[dst.dev.Handle]
		if !ok {
			i = len(groups)
			index[dst.dev.Handle] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], dst)
	}
	est := func(dst destination) int {
		return len(dst.payload) + len(dst.dev.Handle) + len(dst.dev.PushToken) + len(dst.dev.SessionToken) + 48
	}
	var out [][]destination
	var cur []destination
	size := frameBase
	for _, g := range groups {
		gsize := 0
		for _, dst := range g {
			gsize += est(dst)
		}
		if len(cur) > 0 && (size+gsize > courier.LargePayload-frameMargin || len(cur)+len(g) > ids.MaxDestinations) {
			out = append(out, cur)
			cur, size = nil, frameBase
		}
		cur = append(cur, g...)
		size += gsize
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
