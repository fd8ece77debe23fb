package dirapi

// Limits of the API. Requests beyond them get the error code named.
const (
	// MaxLookupHandles is the most handles in one lookup (too_many_handles).
	MaxLookupHandles = 20
	// DefaultMaxDevices is how many devices an account may have unless the
	// server is configured otherwise (too_many_devices).
	DefaultMaxDevices = 16
	// MaxNameRunes and MaxNameBytes bound a device's display name
	// (invalid_name).
	MaxNameRunes = 64
	MaxNameBytes = 256
	// PushTokenSize is the size of a push token (invalid_push_token).
	PushTokenSize = 32
	// MaxPayloadCeiling is the largest max_payload a device may announce
	// (invalid_capabilities); MinPayloadFloor the smallest.
	MaxPayloadCeiling = 16 << 20
	MinPayloadFloor   = 1024
	// CodeDigits is the length of a verification code.
	CodeDigits = 6
	// Body limits per endpoint (body_too_large).
	MaxLookupBody   = 16 << 10
	MaxRegisterBody = 8 << 10
	MaxCodeBody     = 1 << 10
	MaxUpdateBody   = 8 << 10
	// maxJSONDepth bounds nesting in any request body.
	maxJSONDepth = 6
)

// Payload schemes a device can announce in its capabilities.
const (
	SchemePair   = "pair"
	SchemePairEC = "pair-ec"
)

// HeaderIdentity carries a not-yet-registered device's public identity
// blob (standard base64 of the 249 bytes) on POST /v1/codes and POST
// /v1/registrations. The server accepts it only if its identity hash is the
// signing key id in X-Sealpost-Key, and then verifies the request's
// signature with the blob's signing key: a signature over a fresh nonce
// proves the device holds that key.
const HeaderIdentity = "X-Sealpost-Identity"

// Paths of the API.
const (
	PathCodes         = "/v1/codes"
	PathRegistrations = "/v1/registrations"
	PathLookup        = "/v1/lookup"
	PathAccount       = "/v1/account"
	PathDeviceSelf    = "/v1/devices/self"
	PathDevices       = "/v1/devices/" // + hex device id
)

// CodeRequest is the body of POST /v1/codes.
type CodeRequest struct {
	Handle string `json:"handle"`
}

// CodeResponse answers POST /v1/codes: the normalised handle and when the
// code expires (Unix seconds).
type CodeResponse struct {
	Handle  string `json:"handle"`
	Expires int64  `json:"expires"`
}

// Capabilities are what a device can receive.
type Capabilities struct {
	// Schemes are the payload schemes the device can open: "pair",
	// "pair-ec", or both.
	Schemes []string `json:"schemes"`
	// MaxPayload is the largest payload, in bytes, the device accepts.
	MaxPayload int `json:"max_payload"`
}

// DeviceFields is what a device publishes about itself besides its
// identity blob (which comes from its signature headers).
type DeviceFields struct {
	DeviceKey    []byte       `json:"device_key"`    // 32-byte compact P-256 pair-ec device key
	SignedPrekey []byte       `json:"signed_prekey"` // PublicDevicePrekey protobuf, signed by DeviceKey
	PushToken    []byte       `json:"push_token"`    // 32 bytes
	Capabilities Capabilities `json:"capabilities"`
	Name         string       `json:"name"`
}

// RegisterRequest is the body of POST /v1/registrations.
type RegisterRequest struct {
	Handle string       `json:"handle"`
	Code   string       `json:"code"`
	Device DeviceFields `json:"device"`
}

// RegisterResponse answers POST /v1/registrations.
type RegisterResponse struct {
	Account    string `json:"account"`
	Device     string `json:"device"`
	Handle     string `json:"handle"`
	NewAccount bool   `json:"new_account"`
}

// LookupRequest is the body of POST /v1/lookup.
type LookupRequest struct {
	Handles []string `json:"handles"`
}

// LookupResponse answers POST /v1/lookup: Results[i] answers Handles[i].
type LookupResponse struct {
	Results []LookupResult `json:"results"`
}

// LookupResult lists every device registered under one handle; an unknown
// handle has an empty list.
type LookupResult struct {
	Handle  string         `json:"handle"`
	Devices []LookupDevice `json:"devices"`
}

// LookupDevice is one device as a sender needs it.
type LookupDevice struct {
	ID                  string       `json:"id"` // hex identity hash
	PushToken           []byte       `json:"push_token"`
	SessionToken        []byte       `json:"session_token"`
	SessionTokenExpires int64        `json:"session_token_expires"` // Unix seconds
	Identity            []byte       `json:"identity"`              // 249-byte public identity blob
	DeviceKey           []byte       `json:"device_key"`
	SignedPrekey        []byte       `json:"signed_prekey"`
	Capabilities        Capabilities `json:"capabilities"`
	Name                string       `json:"name"`
}

// AccountResponse answers GET /v1/account.
type AccountResponse struct {
	Account string          `json:"account"`
	Handles []string        `json:"handles"`
	Devices []AccountDevice `json:"devices"`
}

// AccountDevice is one device of the caller's account.
type AccountDevice struct {
	ID           string       `json:"id"`
	Name         string       `json:"name"`
	PushToken    []byte       `json:"push_token"`
	Capabilities Capabilities `json:"capabilities"`
	Registered   int64        `json:"registered"` // Unix seconds
	Updated      int64        `json:"updated"`
}
