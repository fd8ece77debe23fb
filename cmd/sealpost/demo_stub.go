//go:build !demo

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// demoBuilt reports whether this build carries the demo.
const demoBuilt = false

// demoCommand, in the ordinary build, explains how to get the demo: the
// device binary links no server code (see deps_test.go), and the demo
// needs a whole server in its process.
func demoCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run a whole scenario in one process (needs a build with -tags demo)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return hint(errors.New("this sealpost binary has no built-in server for the demo (a device binary links no server code)"),
				"run the demo with: go run -tags demo ./cmd/sealpost demo")
		},
	}
}
