package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sealpostd.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// load runs loadSettings on a fresh FlagSet and fails on any error.
func load(t *testing.T, args, env []string) (*flag.FlagSet, *settings) {
	t.Helper()
	fs := newFlagSet(io.Discard)
	st, errs, err := loadSettings(fs, args, env)
	if err != nil || len(errs) > 0 {
		t.Fatalf("loadSettings: %v %v", err, errs)
	}
	return fs, st
}

// Flags beat the environment, which beats the file, which beats the
// defaults; a source that sets a list replaces it whole.
func TestPrecedence(t *testing.T) {
	path := writeFile(t, `version = 1
listen = "127.0.0.1:1001"
queue-ttl = "1h"
blob-quota = "1GiB"
directory-max-devices = 3
blob-presign = true
tls-name = ["file-a", "file-b"]
device-ca = ["file.pem"]
`)
	env := []string{"SEALPOST_QUEUE_TTL=2h", "SEALPOST_BLOB_QUOTA=2GiB", "SEALPOST_TLS_NAME=env-a, env-b",
		"SEALPOST_CONFIG=" + path, "PATH=/bin", "SEALPOST_HOME=/home/x/.sealpost", "SEALPOST_TEST_NATS=nats://x",
		"SEALPOST_VECTORS=/v"}
	args := []string{"--blob-quota", "3GiB", "--device-ca", "flag1.pem", "--device-ca", "flag2.pem"}
	fs, st := load(t, args, env)
	want := map[string]struct{ val, from string }{
		"listen":                {"127.0.0.1:1001", path},
		"queue-ttl":             {"2h0m0s", "$SEALPOST_QUEUE_TTL"},
		"blob-quota":            {"3GiB", "command line"},
		"directory-max-devices": {"3", path},
		"blob-presign":          {"true", path},
		"tls-name":              {"env-a,env-b", "$SEALPOST_TLS_NAME"},
		"device-ca":             {"flag1.pem,flag2.pem", "command line"},
		"config":                {path, "$SEALPOST_CONFIG"},
		"blob-ttl":              {"720h0m0s", ""},
	}
	for name, w := range want {
		if got := fs.Lookup(name).Value.String(); got != w.val {
			t.Errorf("%s = %q, want %q", name, got, w.val)
		}
		if got := st.from[name]; got != w.from {
			t.Errorf("%s from %q, want %q", name, got, w.from)
		}
	}
	if st.file != path {
		t.Errorf("file %q", st.file)
	}
	// The variables were applied to the package's settings.
	if relayCfg.queueTTL != 2*time.Hour || !slices.Equal(mainCfg.tlsNames, []string{"env-a", "env-b"}) {
		t.Errorf("queue TTL %v, TLS names %v", relayCfg.queueTTL, mainCfg.tlsNames)
	}
}

// checkconfig reports every error of every source at once, each naming
// its flag and source, and exits 1.
func TestCheckconfigReportsEveryError(t *testing.T) {
	path := writeFile(t, `version = 1
listen = "no-port"
blob-max-size = "2GB"
directory-max-devices = "many"
unknown-key = 1
directory_dsn = "postgres://db/sealpost"
v = "yes"
tls-name = "not-an-array-but-accepted"
directory-dsn = "mysql://db/sealpost"
smtp = "ftp://mail.example.org"
mailbox = "nats://user:hunter2@127.0.0.1:4222?bogus=1"
blob-store = "s3://AK:hunter3@s3.example.org"
device-ca = ["/nonexistent/ca.pem"]
[directory]
dsn = "x"
`)
	env := []string{"SEALPOST_BLOB_QUOTA=lots", "SEALPOST_NO_SUCH=1", "SEALPOST_QUEUE_TTL=forever", "SEALPOST_BLOB_QUOTAS=1"}
	args := []string{"checkconfig", "--config", path, "--push-cert-rate", "3", "--admin-listen", "localhost:http", "--log-format", "xml"}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, env, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{
		"unknown-key: unknown setting (sealpostd -h lists them)",
		"directory_dsn: unknown setting (did you mean directory-dsn?)",
		"$SEALPOST_BLOB_QUOTAS: no such setting (did you mean SEALPOST_BLOB_QUOTA?)",
		"v: want true or false",
		"directory: tables are not used",
		"$SEALPOST_NO_SUCH: no such setting",
		`--queue-ttl ($SEALPOST_QUEUE_TTL): invalid value "forever": want a duration`,
		"--directory-max-devices (" + path + `): invalid value "many": want a whole number`,
		"--listen (" + path + "): want host:port",
		"--blob-max-size (" + path + `): "2GB": want a positive number of bytes`,
		"--blob-quota ($SEALPOST_BLOB_QUOTA):",
		"--directory-dsn (" + path + "): directory DSN: unknown scheme",
		"--smtp (" + path + "):",
		"--mailbox (" + path + `): natsjs:`,
		"--blob-store (" + path + "): blob store: the s3:// URL needs a bucket",
		"--device-ca (" + path + "): open /nonexistent/ca.pem",
		"--push-cert-rate (command line):",
		`--admin-listen (command line): port "http"`,
		"--log-format (command line): want text or json",
		"19 error(s) in the configuration",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(out, "hunter2") || strings.Contains(out, "hunter3") {
		t.Error("a password was printed")
	}
	if strings.Contains(out, "--directory-max-devices ("+path+"): want at least") {
		t.Error("a refused value was checked again")
	}
	if stdout.Len() > 0 {
		t.Errorf("stdout: %s", stdout.String())
	}
	if t.Failed() {
		t.Log(out)
	}
}

// A good configuration: status 0 and a summary of what was set, without
// passwords.
func TestCheckconfigOK(t *testing.T) {
	path := writeFile(t, "version = 1\nblob-store = \"s3://AKID:s3cr%2Ft@127.0.0.1:9000/blobs?tls=false\"\nblob-presign = true\n")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"checkconfig", "--admin-listen", "127.0.0.1:7444"},
		[]string{"SEALPOST_CONFIG=" + path, "SEALPOST_VECTORS=/x", "SEALPOST_NATS_PORT=1"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"configuration OK (" + path, `blob-store = "s3://AKID:xxxxx@127.0.0.1:9000/blobs?tls=false"  (` + path + ")",
		`admin-listen = "127.0.0.1:7444"  (command line)`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr") {
		t.Errorf("the secret was printed:\n%s", out)
	}
}

// A command-line syntax error stops at once: status 1 for checkconfig, 2
// for serving, with the flag package's message.
func TestCommandLineSyntax(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"checkconfig", "--no-such-flag"}, 1, "flag provided but not defined: -no-such-flag"},
		{[]string{"--listen"}, 2, "flag needs an argument: -listen"},
		{[]string{"checkconfig", "--data", "x", "stray"}, 1, `unexpected argument "stray"`},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), c.args, nil, io.Discard, &stderr); code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%q: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.want, stderr.String())
		}
	}
	if code := run(context.Background(), []string{"-h"}, nil, io.Discard, io.Discard); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}

// Serving refuses to start on a bad configuration, and says why.
func TestServeRefusesBadConfig(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"--data", t.TempDir(), "--blob-quota", "lots", "--queue-ttl", "0s"}, nil, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "--blob-quota (command line)") ||
		!strings.Contains(stderr.String(), "--queue-ttl (command line): want a positive duration") ||
		!strings.Contains(stderr.String(), "2 configuration error(s); nothing was started") {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
}

// The example file for several nodes loads through the same code path
// with no error: its PostgreSQL, NATS and S3 values are accepted by their
// syntax (nothing is contacted).
func TestClusterExample(t *testing.T) {
	var stdout, stderr bytes.Buffer
	example := filepath.Join("..", "..", "deploy", "sealpostd.cluster.toml")
	if code := run(context.Background(), []string{"checkconfig", "--config", example}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	for _, want := range []string{"directory-dsn", "mailbox", "blob-store", "admin-listen", "log-format"} {
		if !strings.Contains(stdout.String(), want+" = ") {
			t.Errorf("the example does not set %s:\n%s", want, stdout.String())
		}
	}
}

func TestVersionRequired(t *testing.T) {
	for text, want := range map[string]string{
		"listen = \"127.0.0.1:1\"\n": "version: missing",
		"version = 2\n":              "version: this sealpostd reads version = 1",
		"version = 1\nlisten = \n":   ":2: ",
	} {
		fs := newFlagSet(io.Discard)
		st := &settings{from: map[string]string{}, invalid: map[string]bool{}}
		errs := applyFile(fs, st, "f.toml", text)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
			t.Errorf("%q: %v, want %q", text, errs, want)
		}
	}
}

// Every part has a check, and every check a part.
func TestEveryPartHasCheck(t *testing.T) {
	var names []string
	for _, p := range parts {
		names = append(names, p.name)
		if partChecks[p.name] == nil {
			t.Errorf("part %q has no check in partChecks", p.name)
		}
	}
	for name := range partChecks {
		if !slices.Contains(names, name) {
			t.Errorf("check %q has no part", name)
		}
	}
}

// Every flag can be named in the environment and in the file.
func TestEveryFlagHasEnvName(t *testing.T) {
	newFlagSet(io.Discard).VisitAll(func(f *flag.Flag) {
		_, st := load(t, nil, []string{envName(f.Name) + "=" + f.DefValue})
		if st.from[f.Name] != "$"+envName(f.Name) {
			t.Errorf("%s: %s did not set it", f.Name, envName(f.Name))
		}
	})
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://sealpost:pw@db:5432/sealpost": "postgres://sealpost:xxxxx@db:5432/sealpost",
		"nats://u:p@a:4222,b:4222":                "nats://u:xxxxx@a:4222,b:4222",
		"smtp://user@mail.example.org":            "smtp://user@mail.example.org",
		"s3://AK:S%2FK@h/b/p@x":                   "s3://AK:xxxxx@h/b/p@x",
		"embedded":                                "embedded",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzConfigFile: any file text gives errors, never a panic, and a key is
// applied only to a flag of that name.
func FuzzConfigFile(f *testing.F) {
	f.Add("version = 1\nlisten = \"127.0.0.1:1\"\ntls-name = [\"a\"]\nv = true\ndirectory-max-devices = 4\n")
	f.Add("version = 1\n[a]\nb = 1\n")
	f.Add("version = 1\ndevice-ca = [1, \"x\"]\nqueue-ttl = 1.5\n")
	f.Fuzz(func(t *testing.T, text string) {
		fs := newFlagSet(io.Discard)
		st := &settings{from: map[string]string{}, invalid: map[string]bool{}}
		applyFile(fs, st, "f.toml", text)
		for name, src := range st.from {
			if fs.Lookup(name) == nil || src != "f.toml" {
				t.Fatalf("%q set from %q", name, src)
			}
		}
	})
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"listen", "listen", 0}, {"lisen", "listen", 1}, {"blob-quotas", "blob-quota", 1},
		{"kitten", "sitting", 3}, {"directory-dns", "directory-dsn", 2}} {
		if d := editDistance(c.a, c.b); d != c.d || editDistance(c.b, c.a) != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, d, c.d)
		}
	}
}

// --ca-dir: a folder holding one file of a CA's pair is refused; an empty
// one (the CAs are made there) or a complete one is fine.
func TestCheckconfigCADir(t *testing.T) {
	dir := t.TempDir()
	check := func() (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"checkconfig", "--ca-dir", dir}, nil, &stdout, &stderr)
		return code, stderr.String()
	}
	if code, out := check(); code != 0 {
		t.Fatalf("empty CA folder: exit %d\n%s", code, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "device-ca.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := check(); code != 1 || !strings.Contains(out, "ca-dir") || !strings.Contains(out, "device-ca.key") {
		t.Fatalf("half a CA: exit %d\n%s", code, out)
	}
}
