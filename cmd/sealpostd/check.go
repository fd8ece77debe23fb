package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	blobbackend "github.com/sealpost/sealpost/internal/blobs/storage/backend"
	"github.com/sealpost/sealpost/internal/directory"
	"github.com/sealpost/sealpost/internal/directory/storage/backend"
	"github.com/sealpost/sealpost/internal/pki"
	"github.com/sealpost/sealpost/internal/ratelimit"
)

// Checks. Before anything starts — and alone, for sealpostd checkconfig —
// every setting is validated as far as it can be without opening a store
// or a connection: addresses, DSNs and URLs by their syntax, rate limits,
// sizes, durations, and the files that must exist. Each part's check is
// here, under the part's name; the parts' attach functions still check
// again what they use.
//
// Messages name the flag and where its value came from, never the value
// of a setting that may hold a password.
var partChecks = map[string]func(*checker){
	"admin":      checkAdmin,
	"blob store": checkBlobs,
	"directory":  checkDirectory,
	"relay":      checkRelay,
}

// checker collects problems.
type checker struct {
	fs   *flag.FlagSet
	st   *settings
	errs []error
}

// checkSettings validates the node's settings and every part's, and
// returns every problem found.
func checkSettings(fs *flag.FlagSet, st *settings) []error {
	c := &checker{fs: fs, st: st}
	checkMain(c)
	for _, p := range parts {
		partChecks[p.name](c)
	}
	return c.errs
}

// bad records err, if not nil, as a problem with flag name.
func (c *checker) bad(name string, err error) {
	if err == nil || c.st.invalid[name] {
		return
	}
	msg := err.Error()
	msg = strings.TrimPrefix(strings.TrimPrefix(msg, "--"+name+": "), "--"+name+" ")
	if f := c.fs.Lookup(name); f != nil {
		msg = redactIn(msg, f.Value.String())
	}
	where := "default"
	if src, ok := c.st.from[name]; ok {
		where = src
	}
	c.errs = append(c.errs, fmt.Errorf("--%s (%s): %s", name, where, msg))
}

func (c *checker) badf(name, format string, args ...any) { c.bad(name, fmt.Errorf(format, args...)) }

func (c *checker) addr(name, v string) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		c.badf(name, "want host:port, e.g. 127.0.0.1:7443 or :7443")
		return
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		c.badf(name, "port %q: want a number from 0 to 65535", port)
	}
	if strings.ContainsAny(host, " /") {
		c.badf(name, "host %q: want a name or an IP address", host)
	}
}

func (c *checker) atLeast(name string, v, min int) {
	if v < min {
		c.badf(name, "want at least %d", min)
	}
}

func (c *checker) positive(name string, d time.Duration) {
	if d <= 0 {
		c.badf(name, "want a positive duration")
	}
}

func (c *checker) limit(name, v string) {
	_, err := ratelimit.ParseLimit(v)
	c.bad(name, err)
}

func (c *checker) readable(name, path string) {
	f, err := os.Open(path)
	if err != nil {
		c.bad(name, err)
		return
	}
	f.Close()
}

func checkMain(c *checker) {
	if mainCfg.dataDir == "" {
		c.badf("data", "want a folder")
	} else if fi, err := os.Stat(mainCfg.dataDir); err == nil && !fi.IsDir() {
		c.badf("data", "%s is not a folder", mainCfg.dataDir)
	}
	if d := mainCfg.caDir; d != "" {
		if fi, err := os.Stat(d); err == nil && !fi.IsDir() {
			c.badf("ca-dir", "%s is not a folder", d)
		} else if err == nil {
			// Both files of each CA, or neither (then they are made).
			for _, name := range []string{"ca", "device-ca"} {
				c.bad("ca-dir", pki.Check(d, name))
			}
		}
	}
	c.addr("listen", mainCfg.listen)
	for _, n := range mainCfg.tlsNames {
		if n == "" || strings.ContainsAny(n, " /:") && net.ParseIP(n) == nil {
			c.badf("tls-name", "%q is not a DNS name or an IP address", n)
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(mainCfg.logLevel)); err != nil {
		c.badf("log-level", "want debug, info, warn or error")
	}
	if mainCfg.logFormat != "text" && mainCfg.logFormat != "json" {
		c.badf("log-format", "want text or json")
	}
	if mainCfg.drainDelay < 0 {
		c.badf("drain-delay", "want zero or a positive duration")
	}
	c.positive("shutdown-timeout", mainCfg.shutdownTimeout)
}

func checkAdmin(c *checker) {
	if adminCfg.listen != "" {
		c.addr("admin-listen", adminCfg.listen)
	}
}

func checkDirectory(c *checker) {
	kind, target, err := backend.Parse(directoryCfg.dsn, mainCfg.dataDir)
	c.bad("directory-dsn", err)
	if err == nil && kind == "postgres" {
		_, err := pgx.ParseConfig(target)
		c.bad("directory-dsn", err)
	}
	if directoryCfg.smtp != "" {
		_, err := directory.ParseSMTP(directoryCfg.smtp)
		c.bad("smtp", err)
	}
	c.atLeast("directory-max-devices", directoryCfg.maxDevices, 1)
	c.limit("directory-lookup-limit", directoryCfg.lookup)
	c.limit("directory-lookup-addr-limit", directoryCfg.lookupAddr)
	c.positive("directory-session-ttl", directoryCfg.sessionTTL)
}

func checkRelay(c *checker) {
	if relayCfg.courierListen != "" {
		c.addr("courier-listen", relayCfg.courierListen)
	}
	for _, p := range relayCfg.deviceCAs {
		_, err := loadCAs([]string{p})
		c.bad("device-ca", err)
	}
	_, err := parseMailbox(relayCfg.mailbox, "")
	c.bad("mailbox", err)
	c.positive("queue-ttl", relayCfg.queueTTL)
	c.atLeast("tokens-per-key", relayCfg.tokensPerKey, 1)
	c.limit("push-cert-rate", relayCfg.certRate)
	if relayCfg.revoked != "" {
		c.bad("revoked-devices", (&revocations{path: relayCfg.revoked}).load())
	}
	if relayCfg.cpuProfile != "" {
		if fi, err := os.Stat(filepath.Dir(relayCfg.cpuProfile)); err != nil || !fi.IsDir() {
			c.badf("relay-cpuprofile", "no folder %s", filepath.Dir(relayCfg.cpuProfile))
		}
	}
}

func checkBlobs(c *checker) {
	sp, err := blobbackend.Parse(blobCfg.store, "")
	c.bad("blob-store", err)
	isS3 := sp.S3 != nil
	if blobCfg.presign && !isS3 {
		c.badf("blob-presign", "presigned downloads need an s3:// blob store")
	}
	_, err = parseBytes(blobCfg.maxSize, false)
	c.bad("blob-max-size", err)
	_, err = parseBytes(blobCfg.quota, true)
	c.bad("blob-quota", err)
	c.positive("blob-ttl", blobCfg.ttl)
	c.positive("blob-upload-ttl", blobCfg.uploadTTL)
	if v := blobCfg.publicURL; v != "" {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			c.badf("blob-url", "want https://host[:port]")
		}
	}
	c.atLeast("blob-buffers", blobCfg.buffers, 0)
	c.limit("blob-upload-limit", blobCfg.createRate)
	c.limit("blob-addr-limit", blobCfg.addrRate)
}

// reportCheck prints the outcome of checkconfig: every error on stderr
// (status 1), or a summary of the settings on stdout (status 0), with
// passwords in URLs replaced by xxxxx.
func reportCheck(stdout, stderr io.Writer, fs *flag.FlagSet, st *settings, errs []error) int {
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintf(stderr, "sealpostd: %v\n", e)
		}
		fmt.Fprintf(stderr, "sealpostd: %d error(s) in the configuration\n", len(errs))
		return 1
	}
	file := "no configuration file"
	if st.file != "" {
		file = st.file
	}
	fmt.Fprintf(stdout, "sealpostd: configuration OK (%s; %d settings, the others are defaults)\n", file, len(st.from))
	fs.VisitAll(func(f *flag.Flag) {
		if src, ok := st.from[f.Name]; ok && f.Name != "config" {
			fmt.Fprintf(stdout, "  %s = %s  (%s)\n", f.Name, strconv.Quote(redact(f.Value.String())), src)
		}
	})
	return 0
}

// password returns the password of a URL-like value
// (scheme://user:password@host...), or "".
func password(v string) string {
	_, rest, ok := strings.Cut(v, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	_, pw, _ := strings.Cut(rest[:at], ":")
	return pw
}

// redact replaces the password of a URL-like value with xxxxx.
func redact(v string) string { return redactIn(v, v) }

// redactIn replaces, in msg, the password of the URL-like value v.
func redactIn(msg, v string) string {
	pw := password(v)
	if pw == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, pw, "xxxxx")
	if esc := url.QueryEscape(pw); esc != pw {
		msg = strings.ReplaceAll(msg, esc, "xxxxx")
	}
	return msg
}
