package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sealpost/sealpost/internal/vectorcheck"
	"github.com/sealpost/sealpost/internal/vectors"
)

func vectorsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vectors",
		Short: "Work with interoperability test vectors",
	}
	var keysPath string
	check := &cobra.Command{
		Use:   "check [--keys FILE] FILE...",
		Short: "Open every vector as the receiver and compare with its expected outcome",
		Long: `Reads vector files (schemes pair, pair-ec, mmcs-attachment), acts as the
receiving device for each vector, and prints one line per vector: its name,
the expected outcome and the outcome reached. The last line is
"N passed, M failed"; the exit status is 1 if any vector failed.

Without --keys, each vector file is read with the keys.json beside it.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			loaded := map[string]vectors.Keys{}
			out := cmd.OutOrStdout()
			passed, failed := 0, 0
			for _, path := range args {
				kp := keysPath
				if kp == "" {
					kp = filepath.Join(filepath.Dir(path), "keys.json")
				}
				keys, ok := loaded[kp]
				if !ok {
					var err error
					if keys, err = vectors.LoadKeys(kp); err != nil {
						return fmt.Errorf("%w\nhint: name the keys file with --keys FILE", err)
					}
					loaded[kp] = keys
				}
				f, err := vectors.LoadFile(path)
				if err != nil {
					return err
				}
				for _, r := range vectorcheck.Check(f, keys) {
					status := "PASS"
					if r.Pass() {
						passed++
					} else {
						status = "FAIL"
						failed++
					}
					fmt.Fprintf(out, "%s %s %s: expected %s, got %s\n", status, f.Scheme, r.Name, r.Expected, r.Got)
				}
			}
			fmt.Fprintf(out, "%d passed, %d failed\n", passed, failed)
			if failed > 0 {
				return exitError{}
			}
			if passed == 0 {
				return errors.New("no vectors in the given files")
			}
			return nil
		},
	}
	check.Flags().StringVar(&keysPath, "keys", "", "keys file (default: keys.json beside each FILE)")
	cmd.AddCommand(check)
	return cmd
}
