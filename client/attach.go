package client

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sealpost/sealpost/message"
)

// Long texts travel as an attachment with this UTI and name: the receiver
// puts its content back as the message text.
const (
	longTextUTI  = "org.sealpost.long-text"
	longTextName = "message.txt"
	longTextMime = "text/plain"
	// MaxLongText caps a long text a receiver accepts from the blob store.
	MaxLongText = 16 << 20
)

func defaultSaveDir(home string) string { return filepath.Join(home, dirAttach) }

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
	return message.Attachment{}, Attachment{}, withHint(ErrAttachmentsUnavailable,
		"this build has no blob store client yet; send the text without --attach")
}

// uploadLongText puts a text too long for a message into the blob store.
func (d *Device) uploadLongText(ctx context.Context, text string) (message.Attachment, error) {
	return message.Attachment{}, withHint(fmt.Errorf("%w: the text is %d bytes, too long to travel inside a message", ErrAttachmentsUnavailable, len(text)),
		"send a shorter text (up to about 12 KiB), or split it")
}

// fetchAttachments downloads, verifies and decrypts the attachments of m
// into saveDir (a long text into out.Text). A failed attachment is
// reported in its Error field; the message is still shown.
func (d *Device) fetchAttachments(ctx context.Context, m *message.Message, out *Message, saveDir string) error {
	for _, a := range m.Attachments {
		if a.UTIType == longTextUTI {
			out.Text += "[a long text could not be fetched: attachments are not supported by this build]"
			continue
		}
		out.Attachments = append(out.Attachments, Attachment{Name: safeName(a.Name), Size: a.Size, MimeType: a.MimeType,
			Error: "attachments are not supported by this build"})
	}
	return nil
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
