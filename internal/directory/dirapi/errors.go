package dirapi

import (
	"fmt"
	"net/http"
	"time"
)

// Error is the body of every error answer, {"error": {"code", "message"}},
// and the error the Client returns for one. Code is stable and meant for
// programs; Message says what to do and may change.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Status is the HTTP status that carried the error (not in the JSON
	// body; the client fills it in).
	Status int `json:"-"`
	// RetryAfter is the server's Retry-After for CodeRateLimited.
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string {
	return "directory: " + e.Code + ": " + e.Message
}

// ErrorBody is the JSON envelope of an error answer.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// Errorf returns an *Error with code and a formatted message; its Status
// comes from StatusOf(code).
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: StatusOf(code)}
}

// Stable error codes. Each is documented with its HTTP status in
// docs/api/directory.md.
const (
	// 400: the request itself is wrong.
	CodeMalformedJSON     = "malformed_json"     // body is not one JSON object of the documented shape
	CodeUnknownField      = "unknown_field"      // a field the endpoint does not know (typo?)
	CodeDuplicateField    = "duplicate_field"    // the same field twice in one object
	CodeMissingField      = "missing_field"      // a required field is absent or empty
	CodeInvalidHandle     = "invalid_handle"     // not a mailto: address or tel: E.164 number
	CodeDuplicateHandle   = "duplicate_handle"   // the same handle twice in one lookup
	CodeTooManyHandles    = "too_many_handles"   // more than MaxLookupHandles in one lookup
	CodeInvalidIdentity   = "invalid_identity"   // X-Sealpost-Identity is not a valid 249-byte identity
	CodeInvalidDeviceKey  = "invalid_device_key" // device_key is not a 32-byte compact P-256 key
	CodeInvalidPrekey     = "invalid_prekey"     // signed_prekey is not a canonical PublicDevicePrekey
	CodeBadPrekeySig      = "bad_prekey_signature"
	CodeInvalidPushToken  = "invalid_push_token"
	CodeInvalidCapability = "invalid_capabilities"
	CodeInvalidName       = "invalid_name"
	CodeInvalidCode       = "invalid_code"      // the code is not 6 to 10 digits
	CodeInvalidDeviceID   = "invalid_device_id" // not 64 hex digits
	// 401: the signature headers do not prove who is asking.
	CodeUnsigned         = "unsigned"
	CodeBadSignatureHdrs = "malformed_signature"
	CodeStaleNonce       = "stale_nonce"
	CodeReplayedNonce    = "replayed_nonce"
	CodeBadSignature     = "bad_signature"
	CodeUnknownDevice    = "unknown_device"
	CodeIdentityMismatch = "identity_mismatch"
	// 403: a verification code that does not open the door.
	CodeWrongCode   = "wrong_code"
	CodeCodeExpired = "code_expired"
	// 404, 405
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	// 409: the request conflicts with what is registered.
	CodeTooManyDevices = "too_many_devices"
	CodeHandleTaken    = "handle_taken"
	CodePushTokenTaken = "push_token_taken"
	// 413, 429, 500
	CodeBodyTooLarge = "body_too_large"
	CodeRateLimited  = "rate_limited"
	CodeInternal     = "internal"
	// 502: the code could not be handed to the mail or SMS service.
	CodeSendFailed = "send_failed"
)

// StatusOf returns the HTTP status that goes with an error code.
func StatusOf(code string) int {
	switch code {
	case CodeUnsigned, CodeBadSignatureHdrs, CodeStaleNonce, CodeReplayedNonce,
		CodeBadSignature, CodeUnknownDevice, CodeIdentityMismatch:
		return http.StatusUnauthorized
	case CodeWrongCode, CodeCodeExpired:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeTooManyDevices, CodeHandleTaken, CodePushTokenTaken:
		return http.StatusConflict
	case CodeBodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeInternal:
		return http.StatusInternalServerError
	case CodeSendFailed:
		return http.StatusBadGateway
	}
	return http.StatusBadRequest
}

// Codes lists every error code, for tests and documentation checks.
var Codes = []string{
	CodeMalformedJSON, CodeUnknownField, CodeDuplicateField, CodeMissingField,
	CodeInvalidHandle, CodeDuplicateHandle, CodeTooManyHandles, CodeInvalidIdentity,
	CodeInvalidDeviceKey, CodeInvalidPrekey, CodeBadPrekeySig, CodeInvalidPushToken,
	CodeInvalidCapability, CodeInvalidName, CodeInvalidCode, CodeInvalidDeviceID,
	CodeUnsigned, CodeBadSignatureHdrs, CodeStaleNonce, CodeReplayedNonce, CodeBadSignature,
	CodeUnknownDevice, CodeIdentityMismatch, CodeWrongCode, CodeCodeExpired, CodeNotFound,
	CodeMethodNotAllowed, CodeTooManyDevices, CodeHandleTaken, CodePushTokenTaken,
	CodeBodyTooLarge, CodeRateLimited, CodeInternal, CodeSendFailed,
}
