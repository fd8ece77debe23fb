package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/testrig"
)

// The CLI is tested as a person uses it: each testdata/script/*.txt is a
// scenario of sealpost commands against an in-process server (testrig),
// one device per home folder. The language, one command per line:
//
//	# comment
//	sealpost DEVICE ARGS...   run sealpost --home $WORK/DEVICE ARGS...; must exit 0
//	! sealpost DEVICE ARGS... the same, but must exit 1
//	stdout REGEXP             the last command's stdout matches (multi-line mode)
//	! stdout REGEXP           ... does not match
//	stderr REGEXP, ! stderr REGEXP
//	count N REGEXP            stdout has exactly N lines matching
//	code HANDLE VAR           VAR = the verification code last sent to HANDLE
//	outbox HANDLE VAR         VAR = the code in the server's outbox folder (as a person reads it)
//	json N FIELD VAR          VAR = FIELD of the JSON object on stdout line N (1-based)
//	stdin TEXT                the next chat reads TEXT (\n for new lines)
//	random PATH SIZE          a file of SIZE random bytes (suffixes K, M)
//	write PATH TEXT           a file holding TEXT (\n for new lines)
//	sha256 PATH VAR           VAR = hex SHA-256 of the file
//	exists PATH, ! exists PATH
//	env NAME=VALUE
//	eq A B, ! eq A B          compare two (expanded) strings
//	match REGEXP VAR          VAR = the first group of REGEXP's first match in stdout
//
// Arguments are split on spaces; '...' and "..." quote (\" is a quote
// inside "..."). $NAME and ${NAME}
// expand from the script's variables: WORK (a temporary folder), URL and
// CA (the server), DATA (its data folder), and those the script set.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/script/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	newPushKey = testrig.NextPushKey
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		t.Run(name, func(t *testing.T) {
			runScript(t, f)
		})
	}
}

type scriptState struct {
	t      *testing.T
	rig    *testrig.Rig
	vars   map[string]string
	stdout string
	stderr string
	stdin  string
}

func runScript(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rig := testrig.Start(t, testrig.Options{})
	work := t.TempDir()
	s := &scriptState{t: t, rig: rig, vars: map[string]string{
		"WORK": work, "URL": rig.URL, "CA": rig.CAPath, "DATA": rig.DataDir,
	}}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := s.exec(line); err != nil {
			t.Fatalf("%s:%d: %s\n%v\n--- stdout:\n%s--- stderr:\n%s", path, i+1, line, err, s.stdout, s.stderr)
		}
	}
}

func (s *scriptState) exec(line string) error {
	neg := false
	if rest, ok := strings.CutPrefix(line, "! "); ok {
		neg, line = true, rest
	}
	args, err := s.split(line)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return nil
	}
	cmd, args := args[0], args[1:]
	need := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("%s takes %d arguments", cmd, n)
		}
		return nil
	}
	switch cmd {
	case "sealpost":
		if len(args) < 1 {
			return fmt.Errorf("sealpost needs a device")
		}
		full := args[1:]
		if args[0] != "-" {
			full = append([]string{"--home", filepath.Join(s.vars["WORK"], args[0])}, full...)
		}
		var out, errb bytes.Buffer
		stdin = strings.NewReader(s.stdin)
		s.stdin = ""
		code := run(full, &out, &errb)
		s.stdout, s.stderr = out.String(), errb.String()
		if neg && code == 0 {
			return fmt.Errorf("succeeded, want failure")
		}
		if !neg && code != 0 {
			return fmt.Errorf("exit status %d", code)
		}
		return nil
	case "stdout", "stderr":
		if err := need(1); err != nil {
			return err
		}
		text := s.stdout
		if cmd == "stderr" {
			text = s.stderr
		}
		re, err := regexp.Compile("(?m)" + args[0])
		if err != nil {
			return err
		}
		if re.MatchString(text) == neg {
			if neg {
				return fmt.Errorf("%s matches %q", cmd, args[0])
			}
			return fmt.Errorf("%s does not match %q", cmd, args[0])
		}
		return nil
	case "count":
		if err := need(2); err != nil {
			return err
		}
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return err
		}
		re, err := regexp.Compile(args[1])
		if err != nil {
			return err
		}
		got := 0
		for _, l := range strings.Split(s.stdout, "\n") {
			if re.MatchString(l) {
				got++
			}
		}
		if got != n {
			return fmt.Errorf("%d lines match %q, want %d", got, args[1], n)
		}
		return nil
	case "code":
		if err := need(2); err != nil {
			return err
		}
		c, err := s.rig.Code(args[0])
		if err != nil {
			return err
		}
		s.vars[args[1]] = c
		return nil
	case "outbox":
		if err := need(2); err != nil {
			return err
		}
		c, err := testrig.ReadOutbox(s.rig.DataDir, args[0])
		if err != nil {
			return err
		}
		s.vars[args[1]] = c
		return nil
	case "json":
		if err := need(3); err != nil {
			return err
		}
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSpace(s.stdout), "\n")
		if n < 1 || n > len(lines) {
			return fmt.Errorf("stdout has %d lines", len(lines))
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(lines[n-1]), &obj); err != nil {
			return err
		}
		v, ok := obj[args[1]]
		if !ok {
			return fmt.Errorf("no field %q", args[1])
		}
		switch v := v.(type) {
		case string:
			s.vars[args[2]] = v
		default:
			b, _ := json.Marshal(v)
			s.vars[args[2]] = string(b)
		}
		return nil
	case "stdin":
		s.stdin = strings.ReplaceAll(strings.Join(args, " "), `\n`, "\n")
		return nil
	case "random":
		if err := need(2); err != nil {
			return err
		}
		n, err := parseSize(args[1])
		if err != nil {
			return err
		}
		f, err := os.Create(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		buf := make([]byte, 1<<20)
		for n > 0 {
			k := min(n, int64(len(buf)))
			rand.Read(buf[:k])
			if _, err := f.Write(buf[:k]); err != nil {
				return err
			}
			n -= k
		}
		return f.Close()
	case "write":
		if len(args) < 2 {
			return fmt.Errorf("write takes a path and text")
		}
		return os.WriteFile(args[0], []byte(strings.ReplaceAll(strings.Join(args[1:], " "), `\n`, "\n")), 0o600)
	case "sha256":
		if err := need(2); err != nil {
			return err
		}
		b, err := os.ReadFile(args[0])
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		s.vars[args[1]] = hex.EncodeToString(sum[:])
		return nil
	case "exists":
		if err := need(1); err != nil {
			return err
		}
		_, err := os.Stat(args[0])
		if (err == nil) == neg {
			return fmt.Errorf("exists is %v", err == nil)
		}
		return nil
	case "env":
		if err := need(1); err != nil {
			return err
		}
		k, v, _ := strings.Cut(args[0], "=")
		s.vars[k] = v
		return nil
	case "match":
		if err := need(2); err != nil {
			return err
		}
		re, err := regexp.Compile("(?m)" + args[0])
		if err != nil {
			return err
		}
		m := re.FindStringSubmatch(s.stdout)
		if len(m) < 2 {
			return fmt.Errorf("stdout does not match %q with a group", args[0])
		}
		s.vars[args[1]] = m[1]
		return nil
	case "eq":
		if err := need(2); err != nil {
			return err
		}
		if (args[0] == args[1]) == neg {
			return fmt.Errorf("%q and %q: equal is %v", args[0], args[1], args[0] == args[1])
		}
		return nil
	case "sleep":
		d, err := time.ParseDuration(args[0])
		if err != nil {
			return err
		}
		time.Sleep(d)
		return nil
	}
	return fmt.Errorf("unknown script command %q", cmd)
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

// split splits a line into arguments, with quotes and $VAR expansion
// (not inside single quotes).
func (s *scriptState) split(line string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inArg := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated '")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inArg = true
		case c == '"':
			// Inside double quotes $VAR expands and \" is a quote.
			var q strings.Builder
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) && line[j+1] == '"' {
					j++
				}
				q.WriteByte(line[j])
			}
			if j >= len(line) {
				return nil, fmt.Errorf("unterminated \"")
			}
			cur.WriteString(s.expand(q.String()))
			i = j
			inArg = true
		case c == '$':
			j := i + 1
			var name string
			if j < len(line) && line[j] == '{' {
				k := strings.IndexByte(line[j:], '}')
				if k < 0 {
					return nil, fmt.Errorf("unterminated ${")
				}
				name = line[j+1 : j+k]
				i = j + k
			} else {
				for j < len(line) && (line[j] == '_' || line[j] >= 'A' && line[j] <= 'Z' || line[j] >= 'a' && line[j] <= 'z' || line[j] >= '0' && line[j] <= '9') {
					j++
				}
				name = line[i+1 : j]
				i = j - 1
			}
			if name == "" {
				cur.WriteByte('$')
			} else {
				v, ok := s.vars[name]
				if !ok {
					return nil, fmt.Errorf("no variable $%s", name)
				}
				cur.WriteString(v)
			}
			inArg = true
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

func (s *scriptState) expand(text string) string {
	return os.Expand(text, func(k string) string {
		if v, ok := s.vars[k]; ok {
			return v
		}
		return "$" + k
	})
}
