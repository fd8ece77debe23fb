package courier

// Commands of the courier protocol (protocol.md §4.3).
const (
	CmdConnect        byte = 7
	CmdConnectAck     byte = 8
	CmdFilter         byte = 9
	CmdSendMessage    byte = 10
	CmdSendMessageAck byte = 11
	CmdKeepAlive      byte = 12
	CmdKeepAliveAck   byte = 13
	CmdNoStorage      byte = 14
	CmdScopedToken    byte = 17
	CmdScopedTokenAck byte = 18
	CmdSetState       byte = 20
)

// Fields of Connect (7).
const (
	ConnectToken       byte = 1  // push token, omitted on the first connect
	ConnectState       byte = 2  // 1 byte, informational
	ConnectFlags       byte = 5  // u32, informational (65 = base)
	ConnectInterface   byte = 6  // informational
	ConnectCarrier     byte = 8  // informational
	ConnectOSVersion   byte = 9  // informational
	ConnectOSBuild     byte = 10 // informational
	ConnectHardware    byte = 11 // informational
	ConnectCertificate byte = 12 // X.509 certificate, DER
	ConnectNonce       byte = 13 // NonceSize bytes
	ConnectSignature   byte = 14 // SignaturePrefix ‖ RSASSA-PKCS1-v1_5-SHA1(nonce)
	ConnectProtocol    byte = 16 // protocol version, informational
)

// Fields of ConnectAck (8). The relay sends each of them exactly once, with
// the width given, plus AckToken on success.
const (
	AckStatus       byte = 1  // 1 byte: StatusOK or StatusRefused
	AckToken        byte = 3  // TokenSize bytes, on success
	AckMaxSize      byte = 4  // u16: MaxPayload
	AckField5       byte = 5  // 2 bytes: 00 02 (meaning unknown; echoed as observed)
	AckCapabilities byte = 6  // 3 bytes
	AckLargeSize    byte = 8  // u16: LargePayload
	AckServerTime   byte = 10 // u64: server time in Unix milliseconds
)

// ConnectAck status values.
const (
	StatusOK      byte = 0x00
	StatusRefused byte = 0x02
)

// Fields of Filter (9) and NoStorage (14).
const (
	FilterToken         byte = 1 // the device's token
	FilterEnabled       byte = 2 // an enabled topic hash (repeatable)
	FilterIgnored       byte = 3 // a topic hash (repeatable), not delivered
	FilterOpportunistic byte = 4 // a topic hash (repeatable), not delivered
	FilterPaused        byte = 5 // a topic hash (repeatable), not delivered
	FilterNonWaking     byte = 6 // a topic hash (repeatable), not delivered
	NoStorageToken      byte = 1 // the device's token
)

// Fields of SendMessage (10). The same ids mean different things in the
// two directions.
const (
	// Device → relay.
	SendTopic   byte = 1 // TopicSize bytes
	SendTo      byte = 2 // recipient token; the sender's own token for a fan-out send
	SendPayload byte = 3
	SendID      byte = 4 // IDSize bytes, chosen by the sender

	// Relay → device (a delivery).
	DeliverToken     byte = 1 // the recipient's token, as issued
	DeliverTopic     byte = 2 // TopicSize bytes
	DeliverPayload   byte = 3
	DeliverID        byte = 4 // IDSize bytes, unique in the device's queue
	DeliverExpiry    byte = 5 // u32 Unix seconds, NoExpiry when none
	DeliverTimestamp byte = 6 // u64 Unix nanoseconds, when the relay accepted it
)

// Fields of SendMessageAck (11), in both directions.
const (
	SendAckToken  byte = 1 // the sender's token (relay → device) or the device's own (device → relay)
	SendAckID     byte = 4 // IDSize bytes, the id being answered
	SendAckStatus byte = 8 // 1 byte
)

// SendMessageAck status values. 0x00 and 0x03 are APNs's; 0x04 and 0x05
// are Sealpost's own answers for a send it cannot take.
const (
	SendStored       byte = 0x00 // stored durably (or already stored: a retry)
	SendTooLarge     byte = 0x03 // payload above the recipient's limit; nothing stored
	SendUnknownToken byte = 0x04 // the recipient token was not issued by this relay
	SendMalformed    byte = 0x05 // a fan-out payload that is not an IDS message dictionary
	SendBeforeFilter byte = 0x80 // APNs: sent before filter/state (never sent by the relay)
)

// Fields of KeepAlive (12), all informational. SetState (20): 1 state,
// 2 u32.
const (
	SetStateState byte = 1
	SetStateValue byte = 2
)

// Sizes fixed by the protocol.
const (
	HeaderSize      = 5 // command byte ‖ u32 length
	FieldHeaderSize = 3 // id ‖ u16 length
	MaxFieldSize    = 0xFFFF
	TokenSize       = 32 // device token issued by the relay
	TopicSize       = 20 // SHA-1 of the topic name
	IDSize          = 4  // message id
	NonceSize       = 17 // 00 ‖ u64-BE Unix ms ‖ 8 random bytes
	NonceVersion    = 0x00
	// MaxPayload is the largest payload of a direct send (ConnectAck 4).
	MaxPayload = 4096
	// LargePayload is the largest payload of a fan-out send and of a
	// delivery (ConnectAck 8).
	LargePayload = 16384
	// NoExpiry is DeliverExpiry for a delivery without a message expiry.
	NoExpiry = 0xFFFFFFFF
)

// SignaturePrefix precedes the RSA signature in Connect field 14.
var SignaturePrefix = [2]byte{0x01, 0x01}

// Fixed ConnectAck values.
var (
	AckField5Value      = [2]byte{0x00, 0x02}
	AckCapabilitiesBits = [3]byte{0x00, 0x00, 0x00} // no optional capability announced
)

// Topic names.
const (
	TopicIMessage = "com.apple.madrid"
	TopicIDS      = "com.apple.private.ids"
	TopicSMS      = "com.apple.private.alloy.sms"
)
