package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/sealpost/sealpost/internal/directory/dirapi"
)

// A Sender delivers a verification code to the person behind a handle.
// It must not log the code. Send is called from request handlers, with the
// request's context; it should return within a few seconds.
type Sender interface {
	SendCode(ctx context.Context, handle dirapi.Handle, code string, expires time.Time) error
}

// ByKind routes mailto: handles to Mail and tel: handles to Phone.
type ByKind struct {
	Mail, Phone Sender
}

// SendCode implements Sender.
func (b ByKind) SendCode(ctx context.Context, h dirapi.Handle, code string, expires time.Time) error {
	if h.Kind() == "mailto" {
		return b.Mail.SendCode(ctx, h, code, expires)
	}
	return b.Phone.SendCode(ctx, h, code, expires)
}

// Outbox is the local sender: it writes the latest code for each handle to
// Dir/<handle> (for example outbox/mailto:alice@example.org), one line,
// replacing the file atomically, mode 0600; and logs at info level that it
// did, with the path, never the code. It stands in for e-mail and SMS when
// Sealpost runs on one machine, and for tests. Handles are normalised, so
// they contain no "/" and make safe file names.
type Outbox struct {
	Dir string
	Log *slog.Logger
}

// SendCode implements Sender.
func (o Outbox) SendCode(_ context.Context, h dirapi.Handle, code string, _ time.Time) error {
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(o.Dir, string(h))
	if filepath.Dir(path) != filepath.Clean(o.Dir) {
		return fmt.Errorf("outbox: a %s handle that is not a plain file name", h.Kind())
	}
	tmp, err := os.CreateTemp(o.Dir, ".code-*")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(code + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if o.Log != nil {
		// The file is named by the handle, which logs never hold.
		o.Log.Info("directory: verification code written to the outbox", "outbox", o.Dir, "kind", h.Kind())
	}
	return nil
}

// SMTP sends codes by e-mail through an SMTP server, with
// github.com/wneessen/go-mail. Configure it with ParseSMTP.
type SMTP struct {
	Host     string
	Port     int
	From     string
	Username string
	Password string
	// TLS is "starttls" (required), "opportunistic", "none", or "tls"
	// (implicit TLS, smtps).
	TLS     string
	Timeout time.Duration
	Log     *slog.Logger
}

// ParseSMTP reads an SMTP URL:
//
//	smtp://[user[:password]@]host[:port][?from=addr][&tls=starttls|opportunistic|none]
//	smtps://[user[:password]@]host[:port][?from=addr]
//
// smtp defaults to port 587 and tls=starttls (STARTTLS required); smtps to
// port 465 with implicit TLS. from defaults to sealpost@<host>. With a user
// the client authenticates (PLAIN, or LOGIN/CRAM-MD5 as the server offers),
// which go-mail allows only over TLS.
func ParseSMTP(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("smtp URL: %w", err)
	}
	s := &SMTP{Host: u.Hostname(), Timeout: 15 * time.Second}
	switch u.Scheme {
	case "smtp":
		s.Port, s.TLS = 587, "starttls"
	case "smtps":
		s.Port, s.TLS = 465, "tls"
	default:
		return nil, errors.New("smtp URL: scheme must be smtp or smtps")
	}
	if s.Host == "" {
		return nil, errors.New("smtp URL: no host")
	}
	if p := u.Port(); p != "" {
		if s.Port, err = strconv.Atoi(p); err != nil || s.Port < 1 || s.Port > 65535 {
			return nil, errors.New("smtp URL: bad port")
		}
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	q := u.Query()
	for k := range q {
		if k != "from" && k != "tls" {
			return nil, fmt.Errorf("smtp URL: unknown parameter %q (from, tls)", k)
		}
	}
	s.From = q.Get("from")
	if s.From == "" {
		s.From = "sealpost@" + s.Host
	}
	if t := q.Get("tls"); t != "" {
		if u.Scheme == "smtps" {
			return nil, errors.New("smtp URL: smtps always uses TLS; drop tls=")
		}
		switch t {
		case "starttls", "opportunistic", "none":
			s.TLS = t
		default:
			return nil, fmt.Errorf("smtp URL: tls=%q; use starttls, opportunistic or none", t)
		}
	}
	return s, nil
}

// String describes s without its password.
func (s *SMTP) String() string {
	return "smtp " + net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) + " from " + s.From + " tls " + s.TLS
}

// SendCode implements Sender for mailto: handles.
func (s *SMTP) SendCode(ctx context.Context, h dirapi.Handle, code string, expires time.Time) error {
	if h.Kind() != "mailto" {
		return fmt.Errorf("smtp: cannot send to %s", h.Kind())
	}
	m := mail.NewMsg()
	if err := m.From(s.From); err != nil {
		return fmt.Errorf("smtp: from: %w", err)
	}
	if err := m.To(h.Address()); err != nil {
		return fmt.Errorf("smtp: to: %w", err)
	}
	m.Subject("Your Sealpost verification code")
	m.SetDate()
	m.SetMessageID()
	m.SetBodyString(mail.TypeTextPlain, fmt.Sprintf(
		"Your Sealpost verification code is %s\r\n\r\n"+
			"Enter it on the device that asked for it. It expires at %s and works once.\r\n"+
			"If you did not ask for a code, ignore this message.\r\n",
		code, expires.UTC().Format("15:04 MST, 2 Jan 2006")))
	opts := []mail.Option{mail.WithPort(s.Port), mail.WithTimeout(s.Timeout)}
	switch s.TLS {
	case "tls":
		opts = append(opts, mail.WithSSL())
	case "starttls":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case "opportunistic":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	}
	if s.Username != "" {
		opts = append(opts, mail.WithUsername(s.Username), mail.WithPassword(s.Password),
			mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover))
	}
	c, err := mail.NewClient(s.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if s.Log != nil {
		s.Log.Info("directory: verification code sent by e-mail", "server", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	}
	return nil
}
