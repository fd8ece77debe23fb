package ids

// IDS message commands (key "c", protocol.md §4.4).
const (
	CmdHTTPRequest         = 96
	CmdHTTPResponse        = 97
	CmdIMessage            = 100
	CmdDeliveryReceipt     = 101
	CmdReadReceipt         = 102
	CmdMMCSUpload          = 150
	CmdMMCSDownload        = 151
	CmdPendingStorageCheck = 160 // "OfflineMessagePendingStorageCheck"
	CmdServerAck           = 255 // the relay's answer, one per destination
)

// Version is the value of "v" in an outgoing message.
const Version = 8

// Encryption schemes (key "E").
const (
	SchemePair   = "pair"
	SchemePairEC = "pair-ec"
)

// Sizes.
const (
	UUIDSize  = 16 // "U"
	TokenSize = 32 // "t": a device token issued by the relay
)

// Dictionary keys.
const (
	keyCommand        = "c"
	keyVersion        = "v"
	keyID             = "i"
	keyUUID           = "U"
	keySender         = "sP"
	keyScheme         = "E"
	keyChunk          = "fcn"
	keyUserAgent      = "ua"
	keyExpiry         = "eX" // expiration in seconds; 0 marks an ephemeral message
	keyNoResponse     = "nr"
	keyDestinations   = "dtl"
	keyRecipient      = "tP"
	keyToken          = "t"
	keySessionToken   = "sT"
	keyDeliveryStatus = "D"
	keyPayload        = "P"
	keyTimestamp      = "e"
	keyStatus         = "s"
)

// Server-ack statuses ("s" of a c = 255 answer). 0 is IDS's "accepted";
// the others are Sealpost's, one per reason a destination is refused.
const (
	StatusAccepted     = 0
	StatusUnknownToken = 1 // the destination token was not issued by the relay
	StatusTooLarge     = 3 // the delivery would exceed the recipient's payload limit
	StatusMalformed    = 5 // the destination entry lacks a 32-byte token or a payload
	// StatusNotRegistered: the destination token is not a device the
	// directory lists (removed, or never registered); look the handle up
	// again.
	StatusNotRegistered = 6
	// StatusIncomplete: the send misses registered devices of this
	// destination's handle, so none of its copies was stored; look the
	// handle up again and send to all of its devices.
	StatusIncomplete = 7
)
