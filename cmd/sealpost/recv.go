package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealpost/sealpost/client"
)

func (c *cli) recvCommand() *cobra.Command {
	var wait time.Duration
	var asJSON bool
	var saveDir string
	cmd := &cobra.Command{
		Use:   "recv [--wait DURATION] [--json] [--save-dir DIR]",
		Short: "Print the messages that arrived, then exit",
		Long: `Connects to the relay and prints every message waiting for this device,
then exits once the queue is drained. With --wait, keeps printing what
arrives until DURATION passes with nothing new. With --json, prints one
JSON object per message per line: id, from, from_name, from_me, group,
group_name, participants, text, sent_at and attachments (name, size,
sha256 of the file, path where it was saved).

Attachments are saved in --save-dir (default: attachments/ in the home
folder). Delivery receipts for messages this device sent are printed as
"delivered" lines (not with --json).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, done, err := c.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			ctx, cancel := commandContext(cmd)
			defer cancel()
			n := 0
			err = d.Receive(ctx, client.ReceiveOptions{Wait: wait, SaveDir: saveDir}, func(ev client.Event) error {
				if ev.Message != nil {
					n++
					if asJSON {
						return printJSON(c.stdout, ev.Message)
					}
					printMessage(c.stdout, d, ev.Message)
				} else if ev.Receipt != nil && !asJSON {
					n++
					printReceipt(c.stdout, ev.Receipt)
				}
				return nil
			})
			if err != nil && ctx.Err() == nil {
				return err
			}
			if !asJSON && n == 0 {
				fmt.Fprintln(c.stderr, "no new messages")
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "keep receiving until nothing new has arrived for this long (e.g. 30s); default: exit once the queue is drained")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per message per line")
	cmd.Flags().StringVar(&saveDir, "save-dir", "", "where to save attachments (default: attachments/ in the home folder)")
	return cmd
}

func printJSON(w io.Writer, m *client.Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// sender names the sender of m for people.
func sender(m *client.Message) string {
	switch {
	case m.FromMe:
		return "me (another device)"
	case m.FromName != "":
		return m.FromName + " <" + m.From + ">"
	}
	return m.From
}

// peopleOf names the participants other than skip, by contact name where
// there is one.
func peopleOf(d *client.Device, participants []string, skip ...string) string {
	var out []string
outer:
	for _, p := range participants {
		for _, s := range skip {
			if p == s {
				continue outer
			}
		}
		if n := d.ContactName(p); n != "" {
			p = n
		}
		out = append(out, p)
	}
	return strings.Join(out, ", ")
}

func printMessage(w io.Writer, d *client.Device, m *client.Message) {
	ts := m.SentAt.Local().Format("2006-01-02 15:04:05")
	head := sender(m)
	mine := d.OwnHandles()
	switch {
	case m.Group != "":
		g := m.GroupName
		if g == "" {
			g = "group " + m.Group[:8]
		}
		head += " in " + g + " (" + peopleOf(d, m.Participants, append(mine, m.From)...) + ")"
	case m.FromMe:
		head += " to " + peopleOf(d, m.Participants, mine...)
	}
	text := strings.ReplaceAll(m.Text, "\n", "\n    ")
	fmt.Fprintf(w, "%s  %s: %s\n", ts, head, text)
	for _, a := range m.Attachments {
		if a.Error != "" {
			fmt.Fprintf(w, "    attachment %s (%s): not saved: %s\n", a.Name, size(a.Size), a.Error)
			continue
		}
		fmt.Fprintf(w, "    attachment %s (%s) saved to %s\n", a.Name, size(a.Size), a.Path)
	}
}

func printReceipt(w io.Writer, r *client.Receipt) {
	who := r.From
	if r.FromName != "" {
		who = r.FromName
	}
	fmt.Fprintf(w, "%s  %s: message %s %s\n", r.At.Local().Format("2006-01-02 15:04:05"), who, r.MessageID, r.Kind)
}

// size formats a byte count for people.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
