// Command sealpost is the Sealpost device: it keeps a device's keys,
// contacts and messages in a home folder, and sends and receives
// end-to-end encrypted messages through a sealpostd server.
//
//	sealpost [--home DIR] init --server URL [--ca FILE] [--device-name NAME]
//	sealpost [--home DIR] register HANDLE            # sends a verification code
//	sealpost [--home DIR] verify HANDLE CODE
//	sealpost [--home DIR] contacts add NAME HANDLE...
//	sealpost [--home DIR] contacts import FILE.vcf
//	sealpost [--home DIR] contacts list
//	sealpost [--home DIR] send [--attach FILE]... [--group NAME] TO... -m TEXT
//	sealpost [--home DIR] recv [--wait DURATION] [--json] [--save-dir DIR]
//	sealpost [--home DIR] devices [remove ID]
//	sealpost [--home DIR] chat NAME                  # interactive conversation in the terminal
//	sealpost vectors check [--keys FILE] FILE...
//	sealpost demo                                    # a whole scenario in one process
//
// --home defaults to $SEALPOST_HOME, then <user config folder>/sealpost.
// Errors are printed as "sealpost: error: ..." with a "hint: ..." line
// where one helps; the exit status is then 1. The reference is
// docs/cli.md.
//
// The binary links the client SDK only: no server part and no database
// driver (dependency guard in deps_test.go). The demo's in-process server
// is linked only with -tags demo.
package main

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealpost/sealpost/client"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Hooks for tests: where chat reads lines, how push keys are made (tests
// hand out pre-generated ones), the clock, and whether stderr is a
// terminal (progress bars).
var (
	stdin      io.Reader = os.Stdin
	newPushKey func() (*rsa.PrivateKey, error)
	now        = time.Now
	isTerminal = func(w io.Writer) bool {
		f, ok := w.(*os.File)
		if !ok {
			return false
		}
		st, err := f.Stat()
		return err == nil && st.Mode()&os.ModeCharDevice != 0
	}
)

// cli is the state shared by the commands of one run.
type cli struct {
	home   string
	stdout io.Writer
	stderr io.Writer
}

// run executes the CLI with args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "sealpost",
		Short:         "Sealpost device: end-to-end encrypted messaging on the iMessage design",
		Long:          "Sealpost device: end-to-end encrypted messaging on the iMessage design.\n\nFirst steps:\n  sealpost init --server https://127.0.0.1:7443 --ca sealpost-data/ca.pem\n  sealpost register alice@example.org\n  sealpost verify alice@example.org CODE\n  sealpost send bob@example.org -m hello\n  sealpost recv",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.PersistentFlags().StringVar(&c.home, "home", "", "the device's home folder (default $SEALPOST_HOME, then "+defaultHomeText()+")")
	root.AddCommand(c.initCommand(), c.registerCommand(), c.verifyCommand(), c.contactsCommand(),
		c.sendCommand(), c.recvCommand(), c.devicesCommand(), c.chatCommand(), demoCommand(c), vectorsCommand())
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return hint(err, "see: %s --help", cmd.CommandPath())
	})
	if err := root.Execute(); err != nil {
		if _, quiet := err.(exitError); !quiet {
			printError(stderr, err)
		}
		return 1
	}
	return 0
}

// printError prints err as "sealpost: error: ..." and its hint, if any.
func printError(w io.Writer, err error) {
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "accepts ") || strings.HasPrefix(msg, "requires ") {
		msg = strings.TrimSuffix(msg, "\n")
	}
	fmt.Fprintf(w, "sealpost: error: %s\n", msg)
	if h := client.HintOf(err); h != "" {
		fmt.Fprintf(w, "hint: %s\n", h)
	}
}

// exitError ends the command with status 1 after it has printed its own report.
type exitError struct{}

func (exitError) Error() string { return "failed" }

// hintedError is an error with a hint for the user.
type hintedError struct {
	err  error
	hint string
}

func (h *hintedError) Error() string { return h.err.Error() }
func (h *hintedError) Unwrap() error { return h.err }
func (h *hintedError) Hint() string  { return h.hint }

func hint(err error, format string, args ...any) error {
	return &hintedError{err: err, hint: fmt.Sprintf(format, args...)}
}

func defaultHomeText() string {
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "sealpost")
	}
	return "<user config folder>/sealpost"
}

// homeDir returns the home folder: --home, $SEALPOST_HOME, or the user's
// config folder.
func (c *cli) homeDir() (string, error) {
	if c.home != "" {
		return c.home, nil
	}
	if h := os.Getenv("SEALPOST_HOME"); h != "" {
		return h, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", hint(fmt.Errorf("no home folder: %v", err), "name one with --home DIR or $SEALPOST_HOME")
	}
	return filepath.Join(d, "sealpost"), nil
}

// options are the SDK options of a CLI run: the device's local log goes to
// <home>/sealpost.log.
func (c *cli) options(home string) (client.Options, func()) {
	opt := client.Options{Now: now}
	f, err := os.OpenFile(filepath.Join(home, "sealpost.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return opt, func() {}
	}
	opt.Logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return opt, func() { f.Close() }
}

// open opens the device of the home folder.
func (c *cli) open(cmd *cobra.Command) (*client.Device, func(), error) {
	home, err := c.homeDir()
	if err != nil {
		return nil, nil, err
	}
	opt, closeLog := c.options(home)
	if isTerminal(c.stderr) {
		opt.Progress = progressBar(c.stderr)
	}
	d, err := client.Open(home, opt)
	if err != nil {
		closeLog()
		return nil, nil, err
	}
	return d, func() { d.Close(); closeLog() }, nil
}

// context returns a context cancelled by Ctrl-C.
func commandContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt)
}

var errInterrupted = errors.New("interrupted")
