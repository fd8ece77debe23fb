package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sealpost/sealpost/client"
)

func (c *cli) initCommand() *cobra.Command {
	var server, caFile, name string
	cmd := &cobra.Command{
		Use:   "init --server URL [--ca FILE] [--device-name NAME]",
		Short: "Create this device: keys, push certificate and token",
		Long: `Creates a device in the home folder: its identity keys (saved readable by
you only), an RSA push key with a certificate from the relay, and a push
token. The device can then register a handle.

For a local sealpostd, the server is https://127.0.0.1:7443 and its CA is
sealpost-data/ca.pem.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if server == "" {
				return hint(errors.New("--server is required"), "for a local sealpostd: sealpost init --server https://127.0.0.1:7443 --ca sealpost-data/ca.pem")
			}
			if !strings.Contains(server, "://") {
				server = "https://" + server
			}
			home, err := c.homeDir()
			if err != nil {
				return err
			}
			opt := client.InitOptions{Server: server, DeviceName: name}
			if caFile != "" {
				if opt.CA, err = os.ReadFile(caFile); err != nil {
					return hint(fmt.Errorf("--ca: %w", err), "a local sealpostd writes its CA to sealpost-data/ca.pem when it first starts")
				}
			}
			if newPushKey != nil {
				if opt.PushKey, err = newPushKey(); err != nil {
					return err
				}
			}
			if err := os.MkdirAll(home, 0o700); err != nil {
				return err
			}
			opt.Options, _ = c.options(home)
			ctx, cancel := commandContext(cmd)
			defer cancel()
			d, err := client.Init(ctx, home, opt)
			if err != nil {
				return err
			}
			defer d.Close()
			fmt.Fprintf(c.stdout, "device %s (%s) initialised in %s\n", short(d.ID()), d.Name(), home)
			fmt.Fprintf(c.stdout, "next: sealpost register HANDLE (an e-mail address or +number)\n")
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "sealpostd URL, e.g. https://127.0.0.1:7443")
	cmd.Flags().StringVar(&caFile, "ca", "", "PEM file of the server's CA (sealpostd's <data>/ca.pem); default: the system's")
	cmd.Flags().StringVar(&name, "device-name", "", "name of this device as the account's other devices see it (default: the host name)")
	return cmd
}

func (c *cli) registerCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "register HANDLE",
		Short: "Ask for a verification code for a handle (e-mail address or phone number)",
		Args:  exactArgs(1, "sealpost register alice@example.org"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, done, err := c.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			ctx, cancel := commandContext(cmd)
			defer cancel()
			h, err := d.Register(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "a verification code was sent to %s\n", h)
			fmt.Fprintf(c.stdout, "next: sealpost verify %s CODE (a local sealpostd without mail writes it to sealpost-data/outbox/%s)\n", h, h)
			return nil
		},
	}
}

func (c *cli) verifyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "verify HANDLE CODE",
		Short: "Prove a handle with its code and register this device under it",
		Args:  exactArgs(2, "sealpost verify alice@example.org 123456"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, done, err := c.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			ctx, cancel := commandContext(cmd)
			defer cancel()
			if err := d.Verify(ctx, args[0], args[1]); err != nil {
				return err
			}
			hs := d.Handles()
			fmt.Fprintf(c.stdout, "this device is registered; its handles: %s (sends from %s)\n", strings.Join(hs, ", "), hs[0])
			return nil
		},
	}
}

func (c *cli) devicesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devices [remove ID]",
		Short: "List the devices of this account, or remove one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d, done, err := c.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			ctx, cancel := commandContext(cmd)
			defer cancel()
			handles, devs, err := d.Account(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "handles: %s\n", strings.Join(handles, ", "))
			tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tREGISTERED\t")
			for _, ad := range devs {
				this := ""
				if ad.This {
					this = "(this device)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", short(ad.ID), ad.Name, ad.Registered.Local().Format("2006-01-02 15:04"), this)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "remove ID",
		Short: "Remove a device (an id prefix of at least 4 hex digits will do)",
		Args:  exactArgs(1, "sealpost devices remove 3f0c9a51"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, done, err := c.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			ctx, cancel := commandContext(cmd)
			defer cancel()
			id, err := d.RemoveDevice(ctx, args[0])
			if err != nil {
				return err
			}
			if id == d.ID() {
				fmt.Fprintf(c.stdout, "removed this device (%s); it no longer receives messages\n", short(id))
			} else {
				fmt.Fprintf(c.stdout, "removed device %s; it no longer receives messages\n", short(id))
			}
			return nil
		},
	})
	return cmd
}

// short is the first 12 hex digits of a device id.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// exactArgs is cobra.ExactArgs with an example in the hint.
func exactArgs(n int, example string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return hint(fmt.Errorf("%s takes %d argument(s), got %d", cmd.CommandPath(), n, len(args)), "for example: %s", example)
		}
		return nil
	}
}
