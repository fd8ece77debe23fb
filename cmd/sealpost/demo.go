//go:build demo

package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/internal/testrig"
)

// demoBuilt reports whether this build carries the demo.
const demoBuilt = true

// demoCommand runs a whole scenario in one process: a server (directory,
// relay, blob store) on a loopback port with a temporary data folder, four
// devices of three people, messages, receipts, a group and an attachment,
// and prints what happens. This build links the server (-tags demo).
func demoCommand(c *cli) *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole scenario in one process: a server, devices, messages, a group, an attachment",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := commandContext(cmd)
			defer cancel()
			return runDemo(ctx, c.stdout, keep)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary folder (server data and the devices' home folders)")
	return cmd
}

type demo struct {
	w     io.Writer
	rig   *testrig.Rig
	dir   string
	start time.Time
}

func (d *demo) say(who, format string, args ...any) {
	fmt.Fprintf(d.w, "%-12s %s\n", who, fmt.Sprintf(format, args...))
}

func runDemo(ctx context.Context, w io.Writer, keep bool) error {
	dir, err := os.MkdirTemp("", "sealpost-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	rig, err := testrig.New(testrig.Options{DataDir: filepath.Join(dir, "server")}, nil)
	if err != nil {
		return fmt.Errorf("demo server: %w", err)
	}
	defer rig.Close()
	dm := &demo{w: w, rig: rig, dir: dir, start: time.Now()}
	parts := "directory, relay"
	if rig.HasBlobs() {
		parts += ", blob store"
	}
	fmt.Fprintf(w, "Sealpost demo: a server and four devices in this process\n\n")
	dm.say("server", "%s (%s), data in %s", rig.URL, parts, rig.DataDir)

	alice, err := dm.device(ctx, "alice-phone", "alice@example.org")
	if err != nil {
		return err
	}
	laptop, err := dm.device(ctx, "alice-laptop", "alice@example.org")
	if err != nil {
		return err
	}
	bob, err := dm.device(ctx, "bob-phone", "+15550000002")
	if err != nil {
		return err
	}
	carol, err := dm.device(ctx, "carol-phone", "carol@example.org")
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, x := range []struct {
		d      *client.Device
		name   string
		handle []string
	}{{alice, "Bob", []string{"+15550000002"}}, {alice, "Carol", []string{"carol@example.org"}},
		{laptop, "Bob", []string{"+15550000002"}}, {bob, "Alice", []string{"alice@example.org"}},
		{carol, "Alice", []string{"alice@example.org"}}, {carol, "Bob", []string{"tel:+15550000002"}}} {
		if _, err := x.d.AddContact(x.name, x.handle...); err != nil {
			return err
		}
	}
	dm.say("contacts", "alice: Bob, Carol; bob: Alice; carol: Alice, Bob")

	// 1. A message to a contact name: bob's phone and alice's laptop get it.
	fmt.Fprintln(w, "\n-- a message to a contact --")
	if err := dm.send(ctx, alice, client.Draft{To: []string{"Bob"}, Text: "Hi Bob! Lunch at noon?"}); err != nil {
		return err
	}
	if err := dm.recv(ctx, bob); err != nil {
		return err
	}
	if err := dm.recv(ctx, laptop); err != nil {
		return err
	}
	if err := dm.send(ctx, bob, client.Draft{To: []string{"Alice"}, Text: "Sure, see you there."}); err != nil {
		return err
	}
	if err := dm.recv(ctx, alice); err != nil {
		return err
	}
	if err := dm.recv(ctx, laptop); err != nil {
		return err
	}
	if err := dm.recv(ctx, bob); err != nil {
		return err
	}

	// 2. A group of three.
	fmt.Fprintln(w, "\n-- a group of three --")
	if err := dm.send(ctx, alice, client.Draft{Group: "lunch", To: []string{"Bob", "Carol"}, Text: "Carol, join us?"}); err != nil {
		return err
	}
	if err := dm.recv(ctx, carol); err != nil {
		return err
	}
	gid := ""
	for _, g := range carol.Groups() {
		gid = g.ID
	}
	if err := carol.NameGroup(gid, "lunch"); err != nil {
		return err
	}
	dm.say("carol-phone", "names the new group %q", "lunch")
	if err := dm.send(ctx, carol, client.Draft{To: []string{"lunch"}, Text: "Yes! Where?"}); err != nil {
		return err
	}
	for _, d := range []*client.Device{bob, alice, laptop} {
		if err := dm.recv(ctx, d); err != nil {
			return err
		}
	}

	// 3. An attachment.
	fmt.Fprintln(w, "\n-- an attachment --")
	photo := filepath.Join(dir, "menu.jpg")
	buf := make([]byte, 3<<20)
	rand.Read(buf)
	if err := os.WriteFile(photo, buf, 0o600); err != nil {
		return err
	}
	err = dm.send(ctx, bob, client.Draft{To: []string{"Alice"}, Text: "Here is the menu.", Attachments: []string{photo}})
	if errors.Is(err, client.ErrAttachmentsUnavailable) {
		dm.say("bob", "cannot attach menu.jpg: %v", err)
	} else if err != nil {
		return err
	} else {
		for _, d := range []*client.Device{alice, laptop} {
			if err := dm.recv(ctx, d); err != nil {
				return err
			}
		}
	}

	// 4. A text too long to travel inside a message.
	fmt.Fprintln(w, "\n-- a long text --")
	long := strings.Repeat("Minutes of the lunch committee. ", 640) // 20,480 bytes
	rep, err := carol.Send(ctx, client.Draft{To: []string{"Alice"}, Text: long})
	if errors.Is(err, client.ErrAttachmentsUnavailable) {
		dm.say("carol-phone", "cannot send a long text: %v", err)
	} else if err != nil {
		return err
	} else {
		dm.say("carol-phone", "-> Alice: a text of %d bytes, over the 16 KiB inline limit: into the blob store [message %s, %d copies]",
			len(long), rep.ID[:8], rep.Devices)
		if err := alice.Receive(ctx, client.ReceiveOptions{}, func(ev client.Event) error {
			if m := ev.Message; m != nil {
				dm.say("alice-phone", "<- %s: a text of %d bytes, fetched and verified; identical: %v", m.FromName, len(m.Text), m.Text == long)
			}
			return nil
		}); err != nil {
			return err
		}
	}

	// 5. An unknown recipient: nothing is sent.
	fmt.Fprintln(w, "\n-- a recipient nobody registered --")
	_, err = alice.Send(ctx, client.Draft{To: []string{"dave@example.org"}, Text: "hello?"})
	var ur *client.UnknownRecipientError
	if !errors.As(err, &ur) {
		return fmt.Errorf("sending to an unknown recipient: %v", err)
	}
	dm.say("alice", "send to dave@example.org: %v", err)

	fmt.Fprintf(w, "\ndone in %.1f s", time.Since(dm.start).Seconds())
	if keep {
		fmt.Fprintf(w, "; everything is in %s\n", dir)
	} else {
		fmt.Fprintf(w, "; the server and the devices were temporary\n")
	}
	for _, d := range []*client.Device{alice, laptop, bob, carol} {
		d.Close()
	}
	return nil
}

// device creates a device and verifies handle with the code the server
// sent.
func (dm *demo) device(ctx context.Context, name, handle string) (*client.Device, error) {
	d, err := client.Init(ctx, filepath.Join(dm.dir, name), client.InitOptions{Server: dm.rig.URL, CA: dm.rig.CAPEM, DeviceName: name})
	if err != nil {
		return nil, err
	}
	h, err := d.Register(ctx, handle)
	if err != nil {
		return nil, err
	}
	code, err := dm.rig.Code(h)
	if err != nil {
		return nil, err
	}
	if err := d.Verify(ctx, h, code); err != nil {
		return nil, err
	}
	dm.say(name, "new device %s; verified %s with code %s", d.ID()[:12], h, code)
	return d, nil
}

func who(d *client.Device) string { return d.Name() }

func (dm *demo) send(ctx context.Context, d *client.Device, draft client.Draft) error {
	rep, err := d.Send(ctx, draft)
	if err != nil {
		return err
	}
	to := strings.Join(draft.To, ", ")
	if draft.Group != "" {
		to = "new group " + draft.Group + " (" + to + ")"
	}
	extra := ""
	if len(rep.Attachments) > 0 {
		extra = " + " + plural(len(rep.Attachments), "attachment") + ", encrypted into the blob store"
	}
	dm.say(who(d), "-> %s: %q%s  [message %s, %d copies sealed, %d send]", to, draft.Text, extra, rep.ID[:8], rep.Devices, rep.Frames)
	return nil
}

func (dm *demo) recv(ctx context.Context, d *client.Device) error {
	return d.Receive(ctx, client.ReceiveOptions{}, func(ev client.Event) error {
		if r := ev.Receipt; r != nil {
			name := r.FromName
			if name == "" {
				name = r.From
			}
			dm.say(who(d), "   receipt: message %s %s by %s's %s", r.MessageID[:8], r.Kind, name, r.FromDeviceName)
			return nil
		}
		m := ev.Message
		from := m.FromName
		if m.FromMe {
			from = "me (from my other device)"
		} else if from == "" {
			from = m.From
		}
		in := ""
		if m.Group != "" {
			g := m.GroupName
			if g == "" {
				g = "a new group"
			}
			in = fmt.Sprintf(" in %s (%d people)", g, len(m.Participants))
		}
		dm.say(who(d), "<- %s%s: %q", from, in, m.Text)
		for _, a := range m.Attachments {
			if a.Error != "" {
				dm.say(who(d), "   attachment %s: %s", a.Name, a.Error)
			} else {
				dm.say(who(d), "   attachment %s (%s, sha256 %s…) verified, decrypted, saved", a.Name, size(a.Size), a.SHA256[:12])
			}
		}
		return nil
	})
}
