package directory

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/directory/dirapi"
)

func TestOutbox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	var logs bytes.Buffer
	o := Outbox{Dir: dir, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	h := dirapi.Handle("mailto:alice@example.org")
	for _, code := range []string{"123456", "654321"} {
		if err := o.SendCode(context.Background(), h, code, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "mailto:alice@example.org"))
	if err != nil || string(b) != "654321\n" {
		t.Fatalf("outbox file = %q, %v; want the latest code on one line", b, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "mailto:alice@example.org")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if !strings.Contains(logs.String(), "outbox") || strings.Contains(logs.String(), "654321") || strings.Contains(logs.String(), "123456") {
		t.Fatalf("log must say the code was written, without the code: %q", logs.String())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("outbox holds %d files, want 1 (no temporary files left)", len(entries))
	}
	if err := o.SendCode(context.Background(), "mailto:../x@example.org", "1", time.Now()); err == nil {
		t.Fatal("a handle with a path separator was written")
	}
}

func TestParseSMTP(t *testing.T) {
	s, err := ParseSMTP("smtp://user:secret@mail.example.org?from=dir@example.org")
	if err != nil || s.Host != "mail.example.org" || s.Port != 587 || s.TLS != "starttls" || s.From != "dir@example.org" || s.Username != "user" || s.Password != "secret" {
		t.Fatalf("%+v, %v", s, err)
	}
	if strings.Contains(s.String(), "secret") {
		t.Fatal("String shows the password")
	}
	s, err = ParseSMTP("smtps://mail.example.org:2465")
	if err != nil || s.Port != 2465 || s.TLS != "tls" || s.From != "sealpost@mail.example.org" {
		t.Fatalf("%+v, %v", s, err)
	}
	for _, bad := range []string{"http://x", "smtp://", "smtp://x:0", "smtp://x:99999", "smtp://x?tls=maybe", "smtp://x?foo=1", "smtps://x?tls=none", "::"} {
		if _, err := ParseSMTP(bad); err == nil {
			t.Errorf("ParseSMTP(%q) accepted", bad)
		}
	}
}

// TestSMTPSender sends a code through a real SMTP server on loopback
// (.ci/setup.d/smtp.sh starts one) and finds it in the server's Maildir.
func TestSMTPSender(t *testing.T) {
	url, maildir := os.Getenv("SEALPOST_TEST_SMTP"), os.Getenv("SEALPOST_TEST_SMTP_MAILDIR")
	if url == "" || maildir == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("SEALPOST_TEST_SMTP and SEALPOST_TEST_SMTP_MAILDIR are not set under CI; .ci/setup.d/smtp.sh should export them")
		}
		t.Skip("SEALPOST_TEST_SMTP / SEALPOST_TEST_SMTP_MAILDIR not set")
	}
	s, err := ParseSMTP(url)
	if err != nil {
		t.Fatal(err)
	}
	s.From = "directory@sealpost.test"
	code, _ := newCode()
	rcpt := "smtp-test-" + code + "@example.org"
	h, _ := dirapi.ParseHandle(rcpt)
	if err := s.SendCode(context.Background(), h, code, time.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The Mailbox handler writes each message as a file in new/.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil || !bytes.Contains(b, []byte(rcpt)) {
				continue
			}
			if !bytes.Contains(b, []byte("verification code is "+code)) || !bytes.Contains(b, []byte("From: <directory@sealpost.test>")) {
				t.Fatalf("message for %s lacks the code or sender:\n%s", rcpt, b)
			}
			os.Remove(f)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no message to %s arrived in %s", rcpt, maildir)
}

// TestSMTPSenderRefused: a server that is not there is an error, which the
// handler turns into 502 send_failed.
func TestSMTPSenderRefused(t *testing.T) {
	s, _ := ParseSMTP("smtp://127.0.0.1:1?tls=none")
	s.Timeout = 2 * time.Second
	if err := s.SendCode(context.Background(), "mailto:a@example.org", "123456", time.Now()); err == nil {
		t.Fatal("sending to a closed port succeeded")
	}
	e := newEnv(t, Config{Sender: ByKind{Mail: s, Phone: Outbox{Dir: t.TempDir()}}})
	_, err := e.client(e.newKeys()).RequestCode(ctx, "a@example.org")
	wantCode(t, err, dirapi.CodeSendFailed)
	if _, err := e.client(e.newKeys()).RequestCode(ctx, "+15551234567"); err != nil {
		t.Fatalf("tel: goes to the outbox: %v", err)
	}
}
