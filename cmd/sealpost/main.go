// Command sealpost is the Sealpost device: it keeps a device's keys and
// contacts, and sends and receives end-to-end encrypted messages.
//
// This build carries the offline tools; the messaging commands arrive with
// the client SDK.
//
//	sealpost vectors check [--keys FILE] FILE...
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the CLI with args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "sealpost",
		Short:         "Sealpost device: end-to-end encrypted messaging on the iMessage design",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.AddCommand(vectorsCommand())
	if err := root.Execute(); err != nil {
		if _, quiet := err.(exitError); !quiet {
			fmt.Fprintf(stderr, "sealpost: error: %v\n", err)
		}
		return 1
	}
	return 0
}

// exitError ends the command with status 1 after it has printed its own report.
type exitError struct{}

func (exitError) Error() string { return "failed" }
