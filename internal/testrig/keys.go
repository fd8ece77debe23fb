package testrig

import _ "embed"

// pushKeysPEM are RSA-2048 keys for test devices (PKCS #8), made once with
// crypto/rsa; they protect nothing.
//
//go:embed testdata/pushkeys.pem
var pushKeysPEM []byte
