package client_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/internal/testrig"
)

func TestAttachmentAndLongText(t *testing.T) {
	rig := testrig.Start(t, testrig.Options{})
	alice := newDevice(t, rig, "alice", "alice@example.org")
	bob := newDevice(t, rig, "bob", "bob@example.org")

	file := filepath.Join(t.TempDir(), "photo.jpg")
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("all work and no play makes jack a dull boy ", 800) // 35 KiB
	rep, err := alice.Send(ctx(t), client.Draft{To: []string{"bob@example.org"}, Text: "look", Attachments: []string{file}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Attachments) != 1 || rep.LongText {
		t.Fatalf("report %+v", rep)
	}
	rep2, err := alice.Send(ctx(t), client.Draft{To: []string{"bob@example.org"}, Text: long})
	if err != nil {
		t.Fatal(err)
	}
	if !rep2.LongText {
		t.Fatalf("a 35 KiB text went inline")
	}
	save := t.TempDir()
	var msgs []*client.Message
	if err := bob.Receive(ctx(t), client.ReceiveOptions{SaveDir: save}, func(ev client.Event) error {
		if ev.Message != nil {
			msgs = append(msgs, ev.Message)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	sum := sha256.Sum256(data)
	if m.Text != "look" || len(m.Attachments) != 1 {
		t.Fatalf("message %+v", m)
	}
	a := m.Attachments[0]
	if a.Name != "photo.jpg" || a.Size != int64(len(data)) || a.SHA256 != hex.EncodeToString(sum[:]) || a.MimeType != "image/jpeg" || filepath.Dir(a.Path) != save {
		t.Fatalf("attachment %+v", a)
	}
	got, err := os.ReadFile(a.Path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("saved file differs: %v", err)
	}
	if msgs[1].Text != long || len(msgs[1].Attachments) != 0 {
		t.Fatalf("long text: %d bytes, %d attachments", len(msgs[1].Text), len(msgs[1].Attachments))
	}
}

// A blob changed on the server after the message was sent: the receiver
// shows the message with the attachment refused, and writes no file.
func TestAttachmentTampered(t *testing.T) {
	rig := testrig.Start(t, testrig.Options{})
	alice := newDevice(t, rig, "alice", "alice@example.org")
	bob := newDevice(t, rig, "bob", "bob@example.org")
	file := filepath.Join(t.TempDir(), "doc.pdf")
	data := make([]byte, 100<<10)
	rand.Read(data)
	os.WriteFile(file, data, 0o600)
	if _, err := alice.Send(ctx(t), client.Draft{To: []string{"bob@example.org"}, Text: "doc", Attachments: []string{file}}); err != nil {
		t.Fatal(err)
	}
	flipped := 0
	filepath.WalkDir(filepath.Join(rig.DataDir, "blobs", "objects"), func(p string, de os.DirEntry, err error) error {
		if err == nil && !de.IsDir() && flipped == 0 {
			b, _ := os.ReadFile(p)
			if len(b) > 1000 {
				b[1000] ^= 1
				os.WriteFile(p, b, 0o600)
				flipped++
			}
		}
		return nil
	})
	if flipped != 1 {
		t.Fatal("no blob file to change")
	}
	save := t.TempDir()
	var msgs []*client.Message
	if err := bob.Receive(ctx(t), client.ReceiveOptions{SaveDir: save}, func(ev client.Event) error {
		if ev.Message != nil {
			msgs = append(msgs, ev.Message)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || len(msgs[0].Attachments) != 1 || msgs[0].Attachments[0].Error == "" || msgs[0].Attachments[0].Path != "" {
		t.Fatalf("got %+v", msgs)
	}
	if ents, _ := os.ReadDir(save); len(ents) != 0 {
		t.Fatalf("%d files in the save folder", len(ents))
	}
}
