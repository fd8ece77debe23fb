package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func (c *cli) contactsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "contacts",
		Short: "Names for handles: add, import a vCard file, list",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return hint(fmt.Errorf("contacts needs a subcommand"), "sealpost contacts add NAME HANDLE..., contacts import FILE.vcf, or contacts list")
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "add NAME HANDLE...",
		Short: "Add a contact, or more handles to one",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return hint(fmt.Errorf("contacts add takes a name and at least one handle"), `for example: sealpost contacts add "Bob" bob@example.org +15551234567`)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			d, done, err := c.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			ct, err := d.AddContact(args[0], args[1:]...)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "%s: %s\n", ct.Name, strings.Join(ct.Handles, ", "))
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "import FILE.vcf",
		Short: "Add the contacts of a vCard file (names, e-mail addresses, international numbers)",
		Args:  exactArgs(1, "sealpost contacts import contacts.vcf"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, done, err := c.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			res, err := d.ImportVCard(f)
			if err != nil {
				return err
			}
			for _, ct := range res.Added {
				fmt.Fprintf(c.stdout, "%s: %s\n", ct.Name, strings.Join(ct.Handles, ", "))
			}
			for _, s := range res.Skipped {
				fmt.Fprintf(c.stderr, "skipped: %s\n", s)
			}
			fmt.Fprintf(c.stdout, "%s imported, %d skipped\n", plural(len(res.Added), "contact"), len(res.Skipped))
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List contacts and groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, done, err := c.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			cs := d.Contacts()
			if len(cs) == 0 {
				fmt.Fprintln(c.stdout, "no contacts yet (sealpost contacts add NAME HANDLE...)")
			}
			for _, ct := range cs {
				fmt.Fprintf(c.stdout, "%s: %s\n", ct.Name, strings.Join(ct.Handles, ", "))
			}
			for _, g := range d.Groups() {
				name := g.Name
				if name == "" {
					name = "(unnamed group " + g.ID + ")"
				}
				var members []string
				for _, p := range g.Participants {
					if n := d.ContactName(p); n != "" {
						members = append(members, n)
					} else {
						members = append(members, p)
					}
				}
				fmt.Fprintf(c.stdout, "group %s: %s\n", name, strings.Join(members, ", "))
			}
			return nil
		},
	})
	return cmd
}
