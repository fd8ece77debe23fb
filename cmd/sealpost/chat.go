package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
)

// conversation is who a chat is with: a group, or the handles of a
// contact (or one handle).
type conversation struct {
	label   string
	group   string   // group id
	handles []string // the other side, outside a group
}

func (cv *conversation) has(m *client.Message) bool {
	if cv.group != "" {
		return m.Group == cv.group
	}
	if m.Group != "" {
		return false
	}
	if m.FromMe {
		return slices.ContainsFunc(m.Participants, func(p string) bool { return slices.Contains(cv.handles, p) })
	}
	return slices.Contains(cv.handles, m.From)
}

func (cv *conversation) hasRecord(r *client.Record) bool {
	if cv.group != "" {
		return r.Group == cv.group
	}
	if r.Group != "" {
		return false
	}
	if r.Dir == "out" {
		return slices.ContainsFunc(r.To, func(p string) bool { return slices.Contains(cv.handles, p) })
	}
	return slices.Contains(cv.handles, r.From)
}

func findConversation(d *client.Device, name string) (*conversation, error) {
	if g, ok := d.FindGroup(name); ok {
		label := g.Name
		if label == "" {
			label = g.ID
		}
		return &conversation{label: "group " + label, group: g.ID}, nil
	}
	for _, ct := range d.Contacts() {
		if strings.EqualFold(ct.Name, name) {
			return &conversation{label: ct.Name + " <" + strings.Join(ct.Handles, ", ") + ">", handles: ct.Handles}, nil
		}
	}
	h, err := dirapi.ParseHandle(name)
	if err != nil {
		return nil, &client.UnknownRecipientError{Recipient: name}
	}
	return &conversation{label: string(h), handles: []string{string(h)}}, nil
}

const historyLines = 20

func (c *cli) chatCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "chat NAME",
		Short: "Talk with a contact, handle or group in the terminal",
		Long: `Shows the last messages with NAME (a contact, a handle or a group), then
sends each line you type and prints what arrives, until /quit or the end
of input. Lines starting with /attach FILE send a file (and the text after
it). Messages from other conversations are shown with their sender.`,
		Args: exactArgs(1, "sealpost chat Bob"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, done, err := c.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			if len(d.Handles()) == 0 {
				return hint(client.ErrNoHandle, "verify one first: sealpost register HANDLE, then sealpost verify HANDLE CODE")
			}
			cv, err := findConversation(d, args[0])
			if err != nil {
				return err
			}
			ctx, cancel := commandContext(cmd)
			defer cancel()
			var mu sync.Mutex
			say := func(format string, a ...any) {
				mu.Lock()
				defer mu.Unlock()
				fmt.Fprintf(c.stdout, format, a...)
			}
			say("chat with %s; type a message and press Enter (/attach FILE [TEXT], /quit)\n", cv.label)
			recs, err := d.History(cv.hasRecord)
			if err != nil {
				return err
			}
			if len(recs) > historyLines {
				recs = recs[len(recs)-historyLines:]
			}
			for i := range recs {
				r := &recs[i]
				who := "me"
				if r.Dir == "in" {
					who = displayName(d, r.From)
				}
				say("[%s] %s: %s\n", r.At.Local().Format("15:04"), who, r.Text)
			}
			show := func(ev client.Event) error {
				switch {
				case ev.Message != nil:
					m := ev.Message
					who := displayName(d, m.From)
					if m.FromMe {
						who = "me (other device)"
					}
					if !cv.has(m) {
						who += " (elsewhere)"
					}
					say("[%s] %s: %s\n", m.SentAt.Local().Format("15:04"), who, m.Text)
					for _, a := range m.Attachments {
						if a.Error != "" {
							say("        attachment %s: %s\n", a.Name, a.Error)
						} else {
							say("        attachment %s saved to %s\n", a.Name, a.Path)
						}
					}
				case ev.Receipt != nil:
					say("        (%s %s)\n", ev.Receipt.Kind, displayName(d, ev.Receipt.From))
				}
				return nil
			}
			rctx, stopRecv := context.WithCancel(ctx)
			recvDone := make(chan error, 1)
			go func() { recvDone <- d.Receive(rctx, client.ReceiveOptions{Forever: true}, show) }()

			to := []string{args[0]}
			sc := bufio.NewScanner(stdin)
			var sendErr error
			for sc.Scan() {
				line := strings.TrimSpace(sc.Text())
				if line == "" {
					continue
				}
				if line == "/quit" || line == "/exit" {
					break
				}
				draft := client.Draft{To: to, Text: line}
				if rest, ok := strings.CutPrefix(line, "/attach "); ok {
					file, text, _ := strings.Cut(strings.TrimSpace(rest), " ")
					draft.Text, draft.Attachments = text, []string{file}
				}
				rep, err := d.Send(ctx, draft)
				if err != nil {
					var ur *client.UnknownRecipientError
					if errors.As(err, &ur) {
						sendErr = err
						break
					}
					say("not sent: %v\n", err)
					if h := client.HintOf(err); h != "" {
						say("hint: %s\n", h)
					}
					continue
				}
				say("[%s] me: %s\n", now().Format("15:04"), draft.Text)
				_ = rep
			}
			stopRecv()
			if err := <-recvDone; err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			if sendErr != nil {
				return sendErr
			}
			// Show what arrived meanwhile, then leave.
			if ctx.Err() == nil {
				if err := d.Receive(ctx, client.ReceiveOptions{}, show); err != nil && ctx.Err() == nil {
					return err
				}
			}
			if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			return nil
		},
	}
}

func displayName(d *client.Device, handle string) string {
	if n := d.ContactName(handle); n != "" {
		return n
	}
	return handle
}
