package dirapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/reqsign"
)

// Client calls the directory API as one device: every request is signed
// with the device's "pair" signing key (internal/reqsign), and the
// pre-registration calls also present its identity blob.
//
// A Client is safe for concurrent use if its HTTP client is.
type Client struct {
	// BaseURL is the server, e.g. "https://127.0.0.1:7443".
	BaseURL string
	// HTTP is the HTTP client; nil means http.DefaultClient.
	HTTP *http.Client
	// Keys are the device's keys.
	Keys *identity.Keys
	// Now is the clock for nonces; nil means time.Now.
	Now func() time.Time
}

// DeviceID returns the device's id: the hex identity hash.
func DeviceID(keys *identity.Keys) string {
	h := keys.Public().Hash()
	return hex.EncodeToString(h[:])
}

// NewDeviceFields fills DeviceFields from a device's keys.
func NewDeviceFields(keys *identity.Keys, pushToken []byte, name string, maxPayload int) DeviceFields {
	dk := keys.DeviceKey()
	return DeviceFields{
		DeviceKey:    dk[:],
		SignedPrekey: keys.SignedPrekey().Marshal(),
		PushToken:    pushToken,
		Capabilities: Capabilities{Schemes: []string{SchemePair, SchemePairEC}, MaxPayload: maxPayload},
		Name:         name,
	}
}

// RequestCode asks the server to send a verification code to handle.
func (c *Client) RequestCode(ctx context.Context, handle string) (*CodeResponse, error) {
	var out CodeResponse
	return &out, c.Do(ctx, "POST", PathCodes, CodeRequest{Handle: handle}, true, &out)
}

// Register submits the code sent to handle and registers the device.
func (c *Client) Register(ctx context.Context, handle, code string, dev DeviceFields) (*RegisterResponse, error) {
	var out RegisterResponse
	return &out, c.Do(ctx, "POST", PathRegistrations, RegisterRequest{Handle: handle, Code: code, Device: dev}, true, &out)
}

// Lookup returns the devices of up to MaxLookupHandles handles.
func (c *Client) Lookup(ctx context.Context, handles []string) (*LookupResponse, error) {
	var out LookupResponse
	return &out, c.Do(ctx, "POST", PathLookup, LookupRequest{Handles: handles}, false, &out)
}

// Account lists the handles and devices of the device's account.
func (c *Client) Account(ctx context.Context) (*AccountResponse, error) {
	var out AccountResponse
	return &out, c.Do(ctx, "GET", PathAccount, nil, false, &out)
}

// UpdateDevice replaces the device's published fields.
func (c *Client) UpdateDevice(ctx context.Context, dev DeviceFields) (*AccountDevice, error) {
	var out AccountDevice
	return &out, c.Do(ctx, "PUT", PathDeviceSelf, dev, false, &out)
}

// RemoveDevice removes a device (this one or another) from the account.
func (c *Client) RemoveDevice(ctx context.Context, id string) error {
	return c.Do(ctx, "DELETE", PathDevices+id, nil, false, nil)
}

// Do sends one signed request with in as its JSON body (none if nil) and
// decodes a 2xx answer into out (if not nil). presentIdentity adds
// X-Sealpost-Identity. An error answer is returned as *Error.
func (c *Client) Do(ctx context.Context, method, path string, in any, presentIdentity bool, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	resp, err := c.DoRaw(ctx, method, path, body, presentIdentity)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return ResponseError(resp, data)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, out)
}

// DoRaw signs and sends a request with body as it is, and returns the
// response for the caller to read and close.
func (c *Client) DoRaw(ctx context.Context, method, path string, body []byte, presentIdentity bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if err := reqsign.Sign(req, body, c.Keys.SigningKey(), DeviceID(c.Keys), now()); err != nil {
		return nil, err
	}
	if presentIdentity {
		req.Header.Set(HeaderIdentity, base64.StdEncoding.EncodeToString(c.Keys.Public().Bytes()))
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	return hc.Do(req)
}

// ResponseError turns an error answer into an *Error.
func ResponseError(resp *http.Response, data []byte) *Error {
	var eb ErrorBody
	if json.Unmarshal(data, &eb) != nil || eb.Error == nil || eb.Error.Code == "" {
		eb.Error = &Error{Code: "http_" + strconv.Itoa(resp.StatusCode), Message: fmt.Sprintf("unexpected answer %q", truncate(data, 200))}
	}
	eb.Error.Status = resp.StatusCode
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		eb.Error.RetryAfter = time.Duration(s) * time.Second
	}
	return eb.Error
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
