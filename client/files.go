package client

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Files of a device's home folder. Everything is written owner-only
// (0600, folders 0700): the keys, but also contacts, the message store and
// the lookup cache, which say who the owner talks to.
const (
	fileConfig   = "config.json"       // server, device name, push token, verified handles
	fileKeys     = "keys.pem"          // identity keys (package identity)
	filePushKey  = "push-key.pem"      // RSA push key (PKCS #8)
	filePushCert = "push-cert.pem"     // push certificate from the relay
	fileCA       = "ca.pem"            // the server CA the device trusts (copied from --ca)
	fileContacts = "contacts.json"     // name → handles
	fileGroups   = "groups.json"       // groups: name, id, participants
	fileCache    = "lookup-cache.json" // directory answers (positive 1 day, negative 1 hour)
	fileSeen     = "seen.log"          // IDs of received messages, for dedup across restarts
	fileHistory  = "messages.jsonl"    // the message store: what was received and sent
	dirAttach    = "attachments"       // default folder for received attachments
)

// writeFileAtomic writes data to path through a temporary file in the same
// folder, synced, then renamed over path, with mode 0600.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	syncDir(dir)
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// writeJSON writes v as indented JSON, atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// readJSON reads path into v; a missing file leaves v as it is.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &CorruptFileError{Path: path, Err: err}
	}
	return nil
}

// CorruptFileError reports a file of the home folder that does not parse.
type CorruptFileError struct {
	Path string
	Err  error
}

func (e *CorruptFileError) Error() string {
	return e.Path + " is damaged: " + e.Err.Error()
}

func (e *CorruptFileError) Unwrap() error { return e.Err }

// Hint implements Hinter.
func (e *CorruptFileError) Hint() string {
	return "fix or remove the file; removing contacts.json, groups.json or lookup-cache.json loses only what they hold"
}
