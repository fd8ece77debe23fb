package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
)

// PushKeyBits is the size of the RSA push key a new device generates (the
// relay takes 2048 to 8192 bits).
const PushKeyBits = 2048

// pushCertPath is the relay's push-certificate route (internal/relay
// CertificatePath; the client does not link the relay).
const pushCertPath = "/v1/push/certificate"

// InitOptions describe a new device.
type InitOptions struct {
	// Server is the sealpostd URL, e.g. https://127.0.0.1:7443.
	Server string
	// CA is the PEM of the server's CA (sealpostd's <data>/ca.pem). Empty
	// means the system's roots.
	CA []byte
	// DeviceName is the name other devices of the account see; the host
	// name if empty.
	DeviceName string
	// Keys and PushKey are the device's keys; generated if nil (tests pass
	// pre-generated ones: an RSA-2048 key takes about 0.2 s to make).
	Keys    *identity.Keys
	PushKey *rsa.PrivateKey
	// Options of the opened device.
	Options
}

// Init creates a device in home: it generates the device's keys, obtains a
// push certificate from the relay and a push token by connecting once,
// and only then writes the home folder (keys 0600), so a failed Init
// leaves nothing behind. The device is not registered in the directory
// yet: that is Register and Verify.
func Init(ctx context.Context, home string, opt InitOptions) (*Device, error) {
	if _, err := os.Stat(filepath.Join(home, fileConfig)); err == nil {
		return nil, withHint(fmt.Errorf("%w (%s)", ErrAlreadyInitialised, home), "use it as it is, or name another folder with --home")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if opt.DeviceName == "" {
		opt.DeviceName, _ = os.Hostname()
		if opt.DeviceName == "" {
			opt.DeviceName = "sealpost device"
		}
	}
	opt.DeviceName = strings.TrimSpace(opt.DeviceName)
	if len(opt.DeviceName) > dirapi.MaxNameBytes {
		return nil, fmt.Errorf("device name is longer than %d bytes", dirapi.MaxNameBytes)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	if len(opt.CA) > 0 {
		if blk, _ := pem.Decode(opt.CA); blk == nil || blk.Type != "CERTIFICATE" {
			return nil, withHint(errors.New("--ca: not a PEM certificate"), "pass the server's ca.pem (sealpost-data/ca.pem for a local sealpostd)")
		}
	}
	var err error
	if opt.Keys == nil {
		if opt.Keys, err = identity.Generate(); err != nil {
			return nil, err
		}
	}
	if opt.PushKey == nil {
		if opt.PushKey, err = rsa.GenerateKey(rand.Reader, PushKeyBits); err != nil {
			return nil, err
		}
	}
	cfg := Config{Version: configVersion, Server: strings.TrimSuffix(opt.Server, "/"), DeviceName: opt.DeviceName, MaxPayload: courier.LargePayload}
	d, err := newDevice(home, opt.Options, cfg, opt.Keys, opt.PushKey, nil, opt.CA)
	if err != nil {
		return nil, err
	}
	if d.cert, err = d.requestPushCert(ctx); err != nil {
		return nil, err
	}
	l, err := d.dialLink(ctx, nil)
	if err != nil {
		return nil, err
	}
	d.cfg.PushToken = l.token
	l.close()

	// Write the folder: CA, keys, push key and certificate, then the
	// config last, which marks the device as initialised.
	if len(opt.CA) > 0 {
		if err := writeFileAtomic(filepath.Join(home, fileCA), opt.CA); err != nil {
			return nil, err
		}
	}
	if err := opt.Keys.Save(filepath.Join(home, fileKeys)); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(home, filePushKey), marshalPushKey(opt.PushKey)); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(home, filePushCert), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.cert})); err != nil {
		return nil, err
	}
	d.mu.Lock()
	err = d.saveConfigLocked()
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := d.loadState(); err != nil {
		return nil, err
	}
	d.log.Info("device initialised", "device", d.ID(), "server", cfg.Server)
	return d, nil
}

// requestPushCert asks the relay for a certificate of the push key: a
// PKCS #10 request signed by the push key, in a request signed by the
// identity's signing key.
func (d *Device) requestPushCert(ctx context.Context) ([]byte, error) {
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "sealpost device " + d.ID()},
	}, d.pushKey)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(struct {
		Identity []byte `json:"identity"`
		CSR      []byte `json:"csr"`
	}{d.keys.Public().Bytes(), csr})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.opt.DialTimeout+20*time.Second)
	defer cancel()
	resp, err := d.dir.DoRaw(ctx, http.MethodPost, pushCertPath, body, false)
	if err != nil {
		return nil, d.serverError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, d.serverError(err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		err := fmt.Errorf("the relay refused a push certificate (HTTP %d): %s", resp.StatusCode, msg)
		if resp.StatusCode == http.StatusNotFound {
			return nil, withHint(err, "is %s a sealpostd with the relay part?", d.cfg.Server)
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			return nil, withHint(err, "wait a minute and try again (Retry-After: %s s)", resp.Header.Get("Retry-After"))
		}
		return nil, err
	}
	var cr struct {
		Certificate []byte `json:"certificate"`
		CA          []byte `json:"ca"`
	}
	if err := json.Unmarshal(data, &cr); err != nil {
		return nil, fmt.Errorf("push certificate answer: %w", err)
	}
	cert, err := x509.ParseCertificate(cr.Certificate)
	if err != nil {
		return nil, fmt.Errorf("push certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&d.pushKey.PublicKey) {
		return nil, errors.New("push certificate: the relay certified another key")
	}
	return cr.Certificate, nil
}

// Register asks the directory to send a verification code to handle (an
// e-mail address or an E.164 number, with or without its scheme), and
// returns the handle in normal form.
func (d *Device) Register(ctx context.Context, handle string) (string, error) {
	h, err := dirapi.ParseHandle(handle)
	if err != nil {
		return "", withHint(err, "a handle is an e-mail address (alice@example.org) or an international number (+15551234567)")
	}
	cr, err := d.dir.RequestCode(ctx, string(h))
	if err != nil {
		return "", d.serverError(err)
	}
	d.log.Info("verification code requested", "handle", cr.Handle)
	return cr.Handle, nil
}

// Verify submits the code sent to handle and registers the device under
// it, with its keys, push token and capabilities.
func (d *Device) Verify(ctx context.Context, handle, code string) error {
	h, err := dirapi.ParseHandle(handle)
	if err != nil {
		return withHint(err, "a handle is an e-mail address (alice@example.org) or an international number (+15551234567)")
	}
	code = strings.TrimSpace(code)
	d.mu.Lock()
	fields := dirapi.NewDeviceFields(d.keys, d.cfg.PushToken, d.cfg.DeviceName, d.cfg.MaxPayload)
	d.mu.Unlock()
	if _, err := d.dir.Register(ctx, string(h), code, fields); err != nil {
		return d.serverError(err)
	}
	d.mu.Lock()
	if !slices.Contains(d.cfg.Handles, string(h)) {
		d.cfg.Handles = append(d.cfg.Handles, string(h))
	}
	err = d.saveConfigLocked()
	d.mu.Unlock()
	if err != nil {
		return err
	}
	// Our own handle's devices changed: forget the cached answer, and
	// learn the account's other handles.
	d.cache.forget(string(h))
	d.ownHandlesFloor(ctx, true, 0)
	d.log.Info("device registered", "handle", string(h))
	return nil
}

// AccountDevice is one device of this device's account.
type AccountDevice struct {
	ID         string
	Name       string
	Registered time.Time
	Updated    time.Time
	// This is true for the device itself.
	This bool
}

// Account lists the handles and devices of the device's account.
func (d *Device) Account(ctx context.Context) (handles []string, devices []AccountDevice, err error) {
	a, err := d.dir.Account(ctx)
	if err != nil {
		return nil, nil, d.serverError(err)
	}
	for _, ad := range a.Devices {
		devices = append(devices, AccountDevice{ID: ad.ID, Name: ad.Name, Registered: time.Unix(ad.Registered, 0),
			Updated: time.Unix(ad.Updated, 0), This: ad.ID == d.ID()})
	}
	return a.Handles, devices, nil
}

// RemoveDevice removes a device of the account. id may be a unique prefix
// of the device id (at least 4 hex digits). It returns the full id.
func (d *Device) RemoveDevice(ctx context.Context, id string) (string, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	full := id
	if len(id) != 64 {
		if len(id) < 4 {
			return "", withHint(fmt.Errorf("device id %q is too short", id), "give at least 4 hex digits; sealpost devices lists the ids")
		}
		_, devs, err := d.Account(ctx)
		if err != nil {
			return "", err
		}
		var match []string
		for _, ad := range devs {
			if strings.HasPrefix(ad.ID, id) {
				match = append(match, ad.ID)
			}
		}
		switch len(match) {
		case 0:
			return "", withHint(fmt.Errorf("no device of this account has an id starting %q", id), "sealpost devices lists the ids")
		case 1:
			full = match[0]
		default:
			return "", withHint(fmt.Errorf("%d devices have an id starting %q", len(match), id), "give more digits")
		}
	}
	if err := d.dir.RemoveDevice(ctx, full); err != nil {
		return "", d.serverError(err)
	}
	for _, h := range d.Handles() {
		d.cache.forget(h)
	}
	d.log.Info("device removed", "device", full)
	return full, nil
}

// updatePushToken publishes a new push token (the relay issued another
// one) to the directory, if the device is registered.
func (d *Device) updatePushToken(ctx context.Context, token []byte) error {
	d.mu.Lock()
	if bytes.Equal(d.cfg.PushToken, token) {
		d.mu.Unlock()
		return nil
	}
	d.cfg.PushToken = append([]byte(nil), token...)
	err := d.saveConfigLocked()
	registered := len(d.cfg.Handles) > 0
	fields := dirapi.NewDeviceFields(d.keys, token, d.cfg.DeviceName, d.cfg.MaxPayload)
	d.mu.Unlock()
	if err != nil || !registered {
		return err
	}
	d.log.Info("push token changed; updating the directory")
	if _, err := d.dir.UpdateDevice(ctx, fields); err != nil {
		return d.serverError(err)
	}
	return nil
}
