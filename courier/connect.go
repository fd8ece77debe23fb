package courier

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// SignNonce returns the value of Connect field 14 for nonce:
// 01 01 ‖ RSASSA-PKCS1-v1_5-SHA1(nonce) with the device's push key.
func SignNonce(key *rsa.PrivateKey, nonce []byte) ([]byte, error) {
	h := sha1.Sum(nonce)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, h[:])
	if err != nil {
		return nil, err
	}
	return append(SignaturePrefix[:], sig...), nil
}

// ErrSignature is returned by VerifyNonce for any bad signature field.
var ErrSignature = errors.New("courier: Connect signature does not verify")

// VerifyNonce checks Connect field 14 against the push key pub.
func VerifyNonce(pub *rsa.PublicKey, nonce, field []byte) error {
	if len(field) != len(SignaturePrefix)+pub.Size() || field[0] != SignaturePrefix[0] || field[1] != SignaturePrefix[1] {
		return ErrSignature
	}
	h := sha1.Sum(nonce)
	if rsa.VerifyPKCS1v15(pub, crypto.SHA1, h[:], field[len(SignaturePrefix):]) != nil {
		return ErrSignature
	}
	return nil
}

// NewNonce returns a fresh nonce for time t.
func NewNonce(t time.Time) [NonceSize]byte {
	var r [8]byte
	rand.Read(r[:])
	return Nonce(t, r)
}

// ConnectFrame builds a Connect for a device with push certificate cert
// (DER) and its key, at time now. token is nil on the first connect.
func ConnectFrame(cert []byte, key *rsa.PrivateKey, token []byte, now time.Time) (Frame, error) {
	nonce := NewNonce(now)
	sig, err := SignNonce(key, nonce[:])
	if err != nil {
		return Frame{}, err
	}
	f := Frame{Command: CmdConnect}
	if token != nil {
		f.Add(ConnectToken, token)
	}
	f.Add(ConnectState, []byte{1})
	f.Add(ConnectFlags, U32(65))
	f.Add(ConnectCertificate, cert)
	f.Add(ConnectNonce, nonce[:])
	f.Add(ConnectSignature, sig)
	f.Add(ConnectProtocol, []byte("11"))
	return f, nil
}

// ConnectAck is a parsed ConnectAck (8).
type ConnectAck struct {
	Status       byte
	Token        []byte // TokenSize bytes on success, else nil
	MaxSize      uint16
	LargeSize    uint16
	Capabilities [3]byte
	ServerTime   time.Time
}

// ParseConnectAck reads a ConnectAck, checking that each field the relay
// promises is there exactly once and exactly as wide as documented.
func ParseConnectAck(f Frame) (ConnectAck, error) {
	var a ConnectAck
	if f.Command != CmdConnectAck {
		return a, fmt.Errorf("courier: command %d is not ConnectAck", f.Command)
	}
	want := map[byte]int{AckStatus: 1, AckMaxSize: 2, AckField5: 2, AckCapabilities: 3, AckLargeSize: 2, AckServerTime: 8}
	for id, width := range want {
		if n := f.Count(id); n != 1 {
			return a, fmt.Errorf("courier: ConnectAck field %d appears %d times", id, n)
		}
		if v, _ := f.Get(id); len(v) != width {
			return a, fmt.Errorf("courier: ConnectAck field %d is %d bytes, want %d", id, len(v), width)
		}
	}
	st, _ := f.Get(AckStatus)
	a.Status = st[0]
	v, _ := f.Get(AckMaxSize)
	a.MaxSize = binary.BigEndian.Uint16(v)
	v, _ = f.Get(AckLargeSize)
	a.LargeSize = binary.BigEndian.Uint16(v)
	v, _ = f.Get(AckCapabilities)
	copy(a.Capabilities[:], v)
	v, _ = f.Get(AckServerTime)
	a.ServerTime = time.UnixMilli(int64(binary.BigEndian.Uint64(v)))
	switch n := f.Count(AckToken); {
	case a.Status == StatusOK && n != 1:
		return a, errors.New("courier: ConnectAck ok without exactly one token")
	case a.Status == StatusOK:
		t, _ := f.Get(AckToken)
		if len(t) != TokenSize {
			return a, fmt.Errorf("courier: token is %d bytes, want %d", len(t), TokenSize)
		}
		a.Token = append([]byte(nil), t...)
	case n != 0:
		return a, errors.New("courier: refused ConnectAck carries a token")
	}
	return a, nil
}

// Message is a delivery the relay pushes to a device: a SendMessage (10)
// in the relay → device direction.
type Message struct {
	Token     []byte // the recipient's token
	Topic     Topic
	Payload   []byte
	ID        [IDSize]byte
	Expiry    uint32 // Unix seconds, NoExpiry when none
	Timestamp time.Time
}

// ParseMessage reads a delivery, checking every field's width. Its slices
// alias f.
func ParseMessage(f Frame) (Message, error) {
	var m Message
	if f.Command != CmdSendMessage {
		return m, fmt.Errorf("courier: command %d is not SendMessage", f.Command)
	}
	widths := map[byte]int{DeliverToken: TokenSize, DeliverTopic: TopicSize, DeliverID: IDSize, DeliverExpiry: 4, DeliverTimestamp: 8}
	for id, width := range widths {
		if n := f.Count(id); n != 1 {
			return m, fmt.Errorf("courier: delivery field %d appears %d times", id, n)
		}
		if v, _ := f.Get(id); len(v) != width {
			return m, fmt.Errorf("courier: delivery field %d is %d bytes, want %d", id, len(v), width)
		}
	}
	if f.Count(DeliverPayload) != 1 {
		return m, errors.New("courier: delivery without exactly one payload")
	}
	m.Token, _ = f.Get(DeliverToken)
	v, _ := f.Get(DeliverTopic)
	copy(m.Topic[:], v)
	m.Payload, _ = f.Get(DeliverPayload)
	v, _ = f.Get(DeliverID)
	copy(m.ID[:], v)
	v, _ = f.Get(DeliverExpiry)
	m.Expiry = binary.BigEndian.Uint32(v)
	v, _ = f.Get(DeliverTimestamp)
	m.Timestamp = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
	return m, nil
}

// SendAck is a parsed SendMessageAck (11).
type SendAck struct {
	Token  []byte
	ID     [IDSize]byte
	Status byte
}

// ParseSendAck reads a SendMessageAck; fields may come in any order.
func ParseSendAck(f Frame) (SendAck, error) {
	var a SendAck
	if f.Command != CmdSendMessageAck {
		return a, fmt.Errorf("courier: command %d is not SendMessageAck", f.Command)
	}
	id, ok1 := f.Get(SendAckID)
	st, ok2 := f.Get(SendAckStatus)
	if !ok1 || !ok2 || len(id) != IDSize || len(st) != 1 {
		return a, errors.New("courier: SendMessageAck without a 4-byte id and a 1-byte status")
	}
	copy(a.ID[:], id)
	a.Status = st[0]
	a.Token, _ = f.Get(SendAckToken)
	return a, nil
}
