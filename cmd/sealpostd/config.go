package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Configuration. Every setting of sealpostd is a flag of its one FlagSet
// (main.go and each part add theirs), and a flag's value may come from
// four places; the first that has it wins:
//
//  1. the command line: --blob-quota 50GiB;
//  2. the environment: SEALPOST_BLOB_QUOTA=50GiB (the flag's name in upper
//     case with '-' as '_'; repeatable flags take a comma-separated list);
//  3. the configuration file named by --config or SEALPOST_CONFIG: TOML,
//     version = 1, then one key per flag: blob-quota = "50GiB" (strings,
//     integers for numbers, true/false for switches, arrays of strings for
//     repeatable flags);
//  4. the flag's default.
//
// A source that sets a repeatable flag replaces the whole list of the
// sources below it. Every value goes through the flag's own Set, so the
// three sources accept exactly what the command line accepts. Unknown
// keys, unknown SEALPOST_ variables and values a flag refuses are errors,
// all reported at once (loadSettings); checks.go then validates what the
// values mean.

// configVersion is the version of the file format this sealpostd reads.
const configVersion = 1

// envPrefix starts the variables that set flags.
const envPrefix = "SEALPOST_"

// Variables under envPrefix that are not flags of sealpostd: the device
// CLI's home folder, the shared vectors and the NATS port of CI's scripts,
// and the tests' services (SEALPOST_TEST_...).
var (
	foreignEnv       = []string{"SEALPOST_HOME", "SEALPOST_VECTORS", "SEALPOST_NATS_PORT"}
	foreignEnvPrefix = "SEALPOST_TEST_"
)

// settings says where the configuration came from.
type settings struct {
	// file is the configuration file ("" if none).
	file string
	// from maps the name of each flag that was set to its source:
	// "command line", "$SEALPOST_NAME" or the file's path.
	from map[string]string
	// invalid holds the flags that refused a value (their checks are
	// skipped: the flag may hold a half-parsed value).
	invalid map[string]bool
}

// loadSettings sets the flags of fs from args (the command line, with no
// subcommand), env (KEY=VALUE pairs, as os.Environ returns them) and the
// configuration file. It returns flag.ErrHelp for -h, the command line's
// syntax error if it has one (already printed with the usage to
// fs.Output()), and otherwise every value error found, in the order of
// the sources.
func loadSettings(fs *flag.FlagSet, args, env []string) (*settings, []error, error) {
	st := &settings{from: map[string]string{}, invalid: map[string]bool{}}
	cmdline, err := parseCommandLine(fs, args)
	if err != nil {
		return nil, nil, err
	}
	var errs []error
	for _, name := range cmdline.order {
		st.from[name] = "command line"
		for _, v := range cmdline.vals[name] {
			errs = append(errs, st.set(fs, name, v, "command line"))
		}
	}
	errs = append(errs, loadEnv(fs, env, st)...)
	if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
		st.file = f.Value.String()
		errs = append(errs, loadFile(fs, st)...)
	}
	return st, slices.DeleteFunc(errs, isNil), nil
}

// rawValue collects a flag's values from the command line, to be set
// later through the real flag.
type rawValue struct {
	vals   *[]string
	isBool bool
}

func (r rawValue) String() string     { return "" }
func (r rawValue) Set(s string) error { *r.vals = append(*r.vals, s); return nil }
func (r rawValue) IsBoolFlag() bool   { return r.isBool }

type commandLine struct {
	order []string // the flags set, by name
	vals  map[string][]string
}

// parseCommandLine reads args with a copy of fs whose flags accept any
// text, so that every bad value, not only the first, is reported later by
// the real flags. Syntax errors (an unknown flag, a missing value, a
// stray argument) stop it.
func parseCommandLine(fs *flag.FlagSet, args []string) (*commandLine, error) {
	cl := &commandLine{vals: map[string][]string{}}
	shadow := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	shadow.SetOutput(fs.Output())
	shadow.Usage = fs.Usage
	fs.VisitAll(func(f *flag.Flag) {
		vals := new([]string)
		shadow.Var(rawValue{vals: vals, isBool: isBool(f)}, f.Name, f.Usage)
	})
	if err := shadow.Parse(args); err != nil {
		return nil, err
	}
	if shadow.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q (settings are flags: --name value)", shadow.Arg(0))
		fmt.Fprintln(fs.Output(), err)
		return nil, err
	}
	shadow.Visit(func(f *flag.Flag) {
		cl.order = append(cl.order, f.Name)
		cl.vals[f.Name] = *f.Value.(rawValue).vals
	})
	return cl, nil
}

// loadEnv applies the SEALPOST_ variables of env to the flags that the
// command line did not set.
func loadEnv(fs *flag.FlagSet, env []string, st *settings) []error {
	vars := map[string]string{}
	var names []string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, envPrefix) || slices.Contains(foreignEnv, k) || strings.HasPrefix(k, foreignEnvPrefix) {
			continue
		}
		if _, seen := vars[k]; !seen {
			names = append(names, k)
		}
		vars[k] = v // the last one wins, as with getenv
	}
	slices.Sort(names)
	var errs []error
	for _, k := range names {
		name := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(k, envPrefix), "_", "-"))
		f := fs.Lookup(name)
		if f == nil || envName(name) != k {
			errs = append(errs, fmt.Errorf("$%s: no such setting%s", k, suggest(fs, name, envName)))
			continue
		}
		if _, done := st.from[name]; done {
			continue // the command line wins
		}
		src := "$" + k
		st.from[name] = src
		if _, ok := f.Value.(*stringList); ok {
			resetList(f)
			for item := range strings.SplitSeq(vars[k], ",") {
				if item = strings.TrimSpace(item); item != "" {
					errs = append(errs, st.set(fs, name, item, src))
				}
			}
			continue
		}
		errs = append(errs, st.set(fs, name, vars[k], src))
	}
	return slices.DeleteFunc(errs, isNil)
}

// envName is the variable that sets flag name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// loadFile applies the configuration file to the flags that neither the
// command line nor the environment set. Keys it cannot use are reported
// even when a higher source overrides them.
func loadFile(fs *flag.FlagSet, st *settings) []error {
	path := st.file
	b, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("configuration file: %w", err)}
	}
	return applyFile(fs, st, path, string(b))
}

func applyFile(fs *flag.FlagSet, st *settings, path, text string) []error {
	var doc map[string]any
	md, err := toml.Decode(text, &doc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return []error{fmt.Errorf("%s:%d: %s", path, pe.Position.Line, pe.Message)}
		}
		return []error{fmt.Errorf("%s: %w", path, err)}
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", path, key, fmt.Sprintf(format, args...)))
	}
	switch v, ok := doc["version"]; {
	case !ok:
		bad("version", "missing; start the file with version = %d", configVersion)
	case v != int64(configVersion):
		bad("version", "this sealpostd reads version = %d", configVersion)
	}
	for _, k := range md.Keys() {
		if len(k) != 1 {
			continue // inside a table, reported with the table
		}
		key := k[0]
		val := doc[key]
		if key == "version" {
			continue
		}
		if _, ok := val.(map[string]any); ok {
			bad(key, "tables are not used; write every setting as a top-level key named as its flag")
			continue
		}
		f := fs.Lookup(key)
		switch {
		case key == "config":
			bad(key, "a configuration file cannot name another")
			continue
		case f == nil:
			bad(key, "unknown setting%s", suggest(fs, key, func(n string) string { return n }))
			continue
		}
		vals, err := fileValues(f, val)
		if err != nil {
			bad(key, "%v", err)
			continue
		}
		if _, done := st.from[key]; done {
			continue // the command line or the environment wins
		}
		st.from[key] = path
		if _, ok := f.Value.(*stringList); ok {
			resetList(f)
		}
		for _, v := range vals {
			errs = append(errs, st.set(fs, key, v, path))
		}
	}
	return slices.DeleteFunc(errs, isNil)
}

func isNil(err error) bool { return err == nil }

// fileValues turns a TOML value into the text(s) for flag f: true/false
// for a switch, strings (or one string) for a repeatable flag, a string
// or an integer for the others.
func fileValues(f *flag.Flag, v any) ([]string, error) {
	_, list := f.Value.(*stringList)
	switch v := v.(type) {
	case bool:
		if isBool(f) {
			return []string{strconv.FormatBool(v)}, nil
		}
	case string:
		if !isBool(f) {
			return []string{v}, nil
		}
	case int64:
		if !isBool(f) && !list {
			return []string{strconv.FormatInt(v, 10)}, nil
		}
	case []any:
		if list {
			out := make([]string, 0, len(v))
			for _, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, errors.New("want an array of strings")
				}
				out = append(out, s)
			}
			return out, nil
		}
	}
	switch {
	case isBool(f):
		return nil, errors.New("want true or false")
	case list:
		return nil, errors.New(`want an array of strings, e.g. ["a", "b"]`)
	}
	return nil, errors.New(`want a string (in quotes) or a whole number`)
}

// set sets one value through the flag's own parser.
func (st *settings) set(fs *flag.FlagSet, name, value, src string) error {
	if err := fs.Set(name, value); err != nil {
		st.invalid[name] = true
		f := fs.Lookup(name)
		return fmt.Errorf("--%s (%s): invalid value %q: %s", name, src, value, valueHint(f, err))
	}
	return nil
}

// valueHint says what a flag wants, from the kind of its default.
func valueHint(f *flag.Flag, err error) string {
	switch {
	case isBool(f):
		return "want true or false"
	case isInt(f.DefValue):
		return "want a whole number"
	case isDuration(f.DefValue):
		return "want a duration such as 90s, 15m or 720h"
	}
	return err.Error()
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func isInt(s string) bool { _, err := strconv.ParseInt(s, 10, 64); return err == nil }

func isDuration(s string) bool {
	_, err := time.ParseDuration(s)
	return err == nil && !isInt(s)
}

// resetList empties a repeatable flag before a source sets it, so that
// the source replaces the list rather than adding to it.
func resetList(f *flag.Flag) {
	if l, ok := f.Value.(*stringList); ok {
		*l = nil
	}
}

// suggest names the flag closest to name (at most two edits away, '_' and
// '-' alike), spelt by spell, or says where the settings are listed.
func suggest(fs *flag.FlagSet, name string, spell func(string) string) string {
	name = strings.ReplaceAll(strings.ToLower(name), "_", "-")
	best, bestDist := "", 3
	fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(name, f.Name); d < bestDist && f.Name != "config" {
			best, bestDist = f.Name, d
		}
	})
	if best == "" {
		return " (sealpostd -h lists them)"
	}
	return fmt.Sprintf(" (did you mean %s?)", spell(best))
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
