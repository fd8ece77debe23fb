package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sealpost/sealpost/client"
)

func (c *cli) sendCommand() *cobra.Command {
	var text, group string
	var attach []string
	var textSet bool
	cmd := &cobra.Command{
		Use:   "send [--attach FILE]... [--group NAME] TO... -m TEXT",
		Short: "Send a message to handles, contacts or a group",
		Long: `Sends one message to every device of every recipient, and to this
account's other devices. TO is a handle (mailto:/tel:, or a bare e-mail
address or +number), a contact name, or a group name.

--group NAME sends to the group of that name; with TO... it creates the
group with those members. If any recipient has no registered device,
nothing is sent.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			textSet = cmd.Flags().Changed("message")
			if !textSet && len(attach) == 0 {
				return hint(errors.New("no message: -m TEXT is required"), `for example: sealpost send bob@example.org -m "hello"`)
			}
			if len(args) == 0 && group == "" {
				return hint(errors.New("no recipient"), `for example: sealpost send bob@example.org -m "hello"`)
			}
			d, done, err := c.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			ctx, cancel := commandContext(cmd)
			defer cancel()
			rep, err := d.Send(ctx, client.Draft{To: args, Group: group, Text: text, Attachments: attach})
			if err != nil {
				return err
			}
			var names []string
			for _, p := range rep.Participants[1:] {
				if n := d.ContactName(p); n != "" {
					p = n + " <" + p + ">"
				}
				names = append(names, p)
			}
			extra := ""
			if rep.LongText {
				extra = "; the text went through the blob store"
			}
			if len(rep.Attachments) > 0 {
				extra += "; " + plural(len(rep.Attachments), "attachment")
			}
			fmt.Fprintf(c.stdout, "sent %s to %s (%s%s)\n", rep.ID, strings.Join(names, ", "), plural(rep.Devices, "device"), extra)
			return nil
		},
	}
	cmd.Flags().StringVarP(&text, "message", "m", "", "the message text")
	cmd.Flags().StringArrayVar(&attach, "attach", nil, "a file to attach (repeatable)")
	cmd.Flags().StringVar(&group, "group", "", "send to this group; with TO..., create it with those members")
	return cmd
}

// plural is "1 device", "2 devices".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
