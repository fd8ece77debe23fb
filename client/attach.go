package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sealpost/sealpost/attachment"
	"github.com/sealpost/sealpost/client/blobs"
	"github.com/sealpost/sealpost/internal/blobs/blobapi"
	"github.com/sealpost/sealpost/message"
)

// Attachments and long texts (protocol.md §3): the file is encrypted under
// a fresh key into the blob store (package client/blobs); the message
// carries the key, the blob's URI, its signature and size. The receiver
// downloads the blob, checks it against the signature and only then
// decrypts it to its final name.
//
// A long text travels the same way, as an attachment with the UTI
// longTextUTI, which the receiver turns back into the message's text.

const (
	longTextUTI  = "org.sealpost.long-text"
	longTextName = "message.txt"
	longTextMime = "text/plain"
	// blobOwner is the mmcs-owner of our attachments (the attribute is
	// required; the blob store has no owners in URIs).
	blobOwner = "sealpost"
	// MaxLongText caps a long text a receiver accepts from the blob store.
	MaxLongText = 16 << 20
)

func defaultSaveDir(home string) string { return filepath.Join(home, dirAttach) }

// progress adapts the blob client's progress to Options.Progress.
func (d *Device) progress(name string) func(blobs.Progress) {
	if d.opt.Progress == nil {
		return nil
	}
	return func(p blobs.Progress) { d.opt.Progress(p.Phase, name, p.Done, p.Total) }
}

// blobError turns a blob store error into a readable one.
func (d *Device) blobError(err error) error {
	var be *blobapi.Error
	if errors.As(err, &be) && (be.Status == http.StatusNotFound || be.Status == http.StatusMethodNotAllowed) && be.Code != blobapi.CodeNotFound {
		return withHint(fmt.Errorf("%w: %v", ErrAttachmentsUnavailable, err), "is %s a sealpostd with the blob store part?", d.cfg.Server)
	}
	if errors.As(err, &be) {
		return withHint(fmt.Errorf("blob store: %s", be.Message), "%s", blobHint(be.Code))
	}
	return d.serverError(err)
}

func blobHint(code string) string {
	switch code {
	case blobapi.CodeBlobTooLarge:
		return "the server takes files up to its --blob-max-size (2 GiB by default)"
	case blobapi.CodeQuotaExceeded:
		return "the account's storage is full until older attachments expire"
	case blobapi.CodeRateLimited:
		return "wait a little and send again"
	}
	return "try again; the upload resumes where it stopped"
}

// uploadFile encrypts a file into the blob store and returns its reference
// for the message, and what to report about it.
func (d *Device) uploadFile(ctx context.Context, path string) (message.Attachment, Attachment, error) {
	info, err := os.Stat(path)
	if err != nil {
		return message.Attachment{}, Attachment{}, fmt.Errorf("attachment: %w", err)
	}
	if !info.Mode().IsRegular() {
		return message.Attachment{}, Attachment{}, fmt.Errorf("attachment %s is not a regular file", path)
	}
	name := filepath.Base(path)
	up, err := d.blobc.UploadFile(ctx, path, &blobs.UploadOptions{Progress: d.progress(name)})
	if err != nil {
		return message.Attachment{}, Attachment{}, d.blobError(err)
	}
	mt := mime.TypeByExtension(filepath.Ext(name))
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	a := message.Attachment{Name: safeName(name), MimeType: mt, Size: up.Size, Key: up.Key, Signature: up.Signature,
		URL: up.URI, Owner: blobOwner}
	d.log.Info("attachment uploaded", "size", up.Size)
	return a, Attachment{Name: a.Name, Size: up.Size, MimeType: mt, Path: path}, nil
}

// uploadLongText puts a text too long for a message into the blob store.
func (d *Device) uploadLongText(ctx context.Context, text string) (message.Attachment, error) {
	f, err := os.CreateTemp(d.home, ".longtext-*")
	if err != nil {
		return message.Attachment{}, err
	}
	defer os.Remove(f.Name())
	_, err = io.WriteString(f, text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return message.Attachment{}, err
	}
	up, err := d.blobc.UploadFile(ctx, f.Name(), &blobs.UploadOptions{Progress: d.progress(longTextName)})
	if err != nil {
		return message.Attachment{}, d.blobError(err)
	}
	d.log.Info("long text uploaded", "size", up.Size)
	return message.Attachment{Name: longTextName, MimeType: longTextMime, UTIType: longTextUTI, Size: up.Size,
		Key: up.Key, Signature: up.Signature, URL: up.URI, Owner: blobOwner}, nil
}

// fetchAttachments downloads, verifies and decrypts the attachments of m
// into saveDir (a long text into out.Text). An attachment that fails to
// verify, or is gone from the server, is reported in its Error field and
// the message is still shown; a network failure is transient (the message
// stays queued and is tried again).
func (d *Device) fetchAttachments(ctx context.Context, m *message.Message, out *Message, saveDir string) error {
	for _, a := range m.Attachments {
		if a.IsInline() {
			got, err := d.saveInline(a, saveDir)
			if err != nil {
				return &transientError{err}
			}
			out.Attachments = append(out.Attachments, got)
			continue
		}
		if !strings.HasPrefix(a.URL, "https://") {
			out.Attachments = append(out.Attachments, Attachment{Name: safeName(a.Name), Size: a.Size, MimeType: a.MimeType,
				Error: "not fetched: the attachment is not in a blob store this device can reach (" + strconv.Quote(schemeOf(a.URL)) + ")"})
			continue
		}
		if a.UTIType == longTextUTI {
			text, err := d.fetchLongText(ctx, a)
			if err != nil {
				var te *transientError
				if errors.As(err, &te) {
					return err
				}
				out.Attachments = append(out.Attachments, Attachment{Name: a.Name, Size: a.Size, MimeType: a.MimeType, Error: err.Error()})
				continue
			}
			out.Text += text
			continue
		}
		got, err := d.fetchFile(ctx, a, saveDir)
		if err != nil {
			return err
		}
		out.Attachments = append(out.Attachments, got)
	}
	return nil
}

func schemeOf(u string) string {
	if i := strings.Index(u, ":"); i > 0 && i < 16 {
		return u[:i]
	}
	return "?"
}

// downloadError classifies a failed download: the blob did not verify or
// is gone (reported on the attachment), or the network failed (transient).
func downloadError(err error) (permanent string, transient error) {
	var be *blobapi.Error
	switch {
	case errors.Is(err, attachment.ErrCannotOpen):
		return "not saved: the file did not match the signature in the message", nil
	case errors.As(err, &be) && be.Status >= 400 && be.Status < 500 && be.Status != http.StatusTooManyRequests:
		return "not saved: " + be.Message, nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "", err
	}
	return "", &transientError{fmt.Errorf("fetching an attachment: %w", err)}
}

func (d *Device) fetchFile(ctx context.Context, a message.Attachment, saveDir string) (Attachment, error) {
	out := Attachment{Name: safeName(a.Name), Size: a.Size, MimeType: a.MimeType}
	if err := os.MkdirAll(saveDir, 0o700); err != nil {
		return out, &transientError{err}
	}
	dest, err := freePath(saveDir, out.Name)
	if err != nil {
		return out, &transientError{err}
	}
	err = d.blobc.DownloadFile(ctx, a.URL, a.Key, a.Signature, a.Size, dest, &blobs.DownloadOptions{Progress: d.progress(out.Name)})
	if err != nil {
		perm, terr := downloadError(err)
		if terr != nil {
			return out, terr
		}
		d.log.Warn("attachment dropped", "reason", perm)
		out.Error = perm
		return out, nil
	}
	sum, err := fileSHA256(dest)
	if err != nil {
		return out, &transientError{err}
	}
	out.Path, out.SHA256 = dest, sum
	return out, nil
}

func (d *Device) fetchLongText(ctx context.Context, a message.Attachment) (string, error) {
	if a.Size > MaxLongText {
		return "", fmt.Errorf("not fetched: a long text of %d bytes is over the %d-byte limit", a.Size, MaxLongText)
	}
	dir, err := os.MkdirTemp(d.home, ".longtext-")
	if err != nil {
		return "", &transientError{err}
	}
	defer os.RemoveAll(dir)
	dest := filepath.Join(dir, longTextName)
	if err := d.blobc.DownloadFile(ctx, a.URL, a.Key, a.Signature, a.Size, dest, nil); err != nil {
		perm, terr := downloadError(err)
		if terr != nil {
			return "", terr
		}
		return "", errors.New(perm)
	}
	b, err := os.ReadFile(dest)
	if err != nil {
		return "", &transientError{err}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), nil
}

// saveInline writes an inline attachment (bytes inside the message).
func (d *Device) saveInline(a message.Attachment, saveDir string) (Attachment, error) {
	out := Attachment{Name: safeName(a.Name), Size: int64(len(a.Inline)), MimeType: a.MimeType}
	if err := os.MkdirAll(saveDir, 0o700); err != nil {
		return out, err
	}
	dest, err := freePath(saveDir, out.Name)
	if err != nil {
		return out, err
	}
	if err := writeFileAtomic(dest, a.Inline); err != nil {
		return out, err
	}
	sum := sha256.Sum256(a.Inline)
	out.Path, out.SHA256 = dest, hex.EncodeToString(sum[:])
	return out, nil
}

// freePath returns dir/name, or dir/"name (2).ext" and so on if taken,
// reserving it by creating an empty file.
func freePath(dir, name string) (string, error) {
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 1; i < 10000; i++ {
		p := filepath.Join(dir, name)
		if i > 1 {
			p = filepath.Join(dir, fmt.Sprintf("%s (%d)%s", base, i, ext))
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		f.Close()
		os.Remove(p) // DecryptFile creates it only once the file verified
		return p, nil
	}
	return "", fmt.Errorf("no free file name for %s in %s", name, dir)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// safeName turns a sender's file name into one safe to create in a
// folder: no path, no leading dots, no control characters.
func safeName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = filepath.Base("/" + name)
	name = strings.TrimLeft(name, ".")
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == ':' {
			return '_'
		}
		return r
	}, name)
	if name == "" || name == "/" {
		name = "attachment"
	}
	return name
}
