package ids

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalid wraps every reason a dictionary is refused.
var ErrInvalid = errors.New("ids: invalid message dictionary")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}

// Outgoing is a device's send (protocol.md §4.4): one message, encrypted
// once per receiving device, carried in the payload of a fan-out
// SendMessage.
type Outgoing struct {
	Command   int            // c: CmdIMessage, CmdDeliveryReceipt, ...
	Version   int            // v: Version
	ID        uint32         // i: the sender's message id
	UUID      [UUIDSize]byte // U
	Sender    string         // sP: the sender's handle URI
	Scheme    string         // E: SchemePair or SchemePairEC
	Chunk     int            // fcn: fan-out chunk number
	UserAgent string         // ua
	// Expiry is eX, the expiration in seconds, when HasExpiry. Zero marks
	// an ephemeral message (a typing indicator): delivered to devices
	// online at that moment, never stored.
	Expiry       int64
	HasExpiry    bool
	NoResponse   bool          // nr
	Destinations []Destination // dtl
}

// Ephemeral reports whether the message must never be stored.
func (o *Outgoing) Ephemeral() bool { return o.HasExpiry && o.Expiry == 0 }

// Destination is one entry of dtl: one receiving device.
type Destination struct {
	URI            string // tP: the recipient's handle URI
	Token          []byte // t: the device's push token
	SessionToken   []byte // sT: from the directory lookup
	DeliveryStatus bool   // D: the sender wants delivery receipts
	Payload        []byte // P: the per-device encrypted payload (protocol.md §1)
}

// Incoming is the dictionary the relay delivers to one device: the
// device's own payload with the unencrypted metadata.
type Incoming struct {
	Command     int            // c
	Payload     []byte         // P
	Sender      string         // sP
	Recipient   string         // tP
	SenderToken []byte         // t
	UUID        [UUIDSize]byte // U
	Scheme      string         // E
	Timestamp   int64          // e: Unix nanoseconds, when the relay accepted the message
}

// ServerAck is the relay's answer to the sender for one destination
// (c = 255).
type ServerAck struct {
	UUID   [UUIDSize]byte // U
	ID     uint32         // i: the sender's message id
	Token  []byte         // t: the destination token answered
	Status int            // s: StatusAccepted or a refusal
}

// ParseOutgoing reads an outgoing message. Byte slices in the result
// alias b. U must be 16 bytes; dtl, when present, holds at most
// MaxDestinations dictionaries. Unknown keys are ignored.
func ParseOutgoing(b []byte) (*Outgoing, error) {
	r, top, err := newReader(b)
	if err != nil {
		return nil, err
	}
	o := &Outgoing{}
	var hasUUID bool
	err = r.dict(top, func(k string, v uint64) error {
		var err error
		switch k {
		case keyCommand:
			o.Command, err = r.smallInt(v)
		case keyVersion:
			o.Version, err = r.smallInt(v)
		case keyID:
			var id int64
			id, err = r.int(v)
			if err == nil && (id < 0 || id > math.MaxUint32) {
				err = invalid("i out of range")
			}
			o.ID = uint32(id)
		case keyUUID:
			err = r.uuid(v, &o.UUID)
			hasUUID = true
		case keySender:
			o.Sender, err = r.string(v)
		case keyScheme:
			o.Scheme, err = r.string(v)
		case keyChunk:
			o.Chunk, err = r.smallInt(v)
		case keyUserAgent:
			o.UserAgent, err = r.string(v)
		case keyExpiry:
			o.Expiry, err = r.int(v)
			if err == nil && o.Expiry < 0 {
				err = invalid("negative eX")
			}
			o.HasExpiry = true
		case keyNoResponse:
			o.NoResponse, err = r.bool(v)
		case keyDestinations:
			o.Destinations, err = r.destinations(v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !hasUUID {
		return nil, invalid("no U")
	}
	return o, nil
}

func (r *reader) smallInt(ref uint64) (int, error) {
	v, err := r.int(ref)
	if err != nil {
		return 0, err
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, invalid("integer out of range")
	}
	return int(v), nil
}

func (r *reader) uuid(ref uint64, dst *[UUIDSize]byte) error {
	d, err := r.data(ref)
	if err != nil {
		return err
	}
	if len(d) != UUIDSize {
		return invalid("U is %d bytes, want %d", len(d), UUIDSize)
	}
	copy(dst[:], d)
	return nil
}

func (r *reader) destinations(ref uint64) ([]Destination, error) {
	start, n, err := r.array(ref, MaxDestinations)
	if err != nil {
		return nil, err
	}
	out := make([]Destination, n)
	for i := range out {
		d := &out[i]
		err := r.dict(r.ref(start+i*r.refSize), func(k string, v uint64) error {
			var err error
			switch k {
			case keyRecipient:
				d.URI, err = r.string(v)
			case keyToken:
				d.Token, err = r.data(v)
			case keySessionToken:
				d.SessionToken, err = r.data(v)
			case keyDeliveryStatus:
				d.DeliveryStatus, err = r.bool(v)
			case keyPayload:
				d.Payload, err = r.data(v)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Marshal encodes o as a binary property list. Keys are written in a fixed
// order; optional keys (eX, nr, fcn, ua, sP, E, and a destination's tP,
// sT, D) only when set.
func (o *Outgoing) Marshal() []byte {
	keys := []string{keyCommand, keyVersion, keyID, keyUUID}
	vals := []pv{pInt(int64(o.Command)), pInt(int64(o.Version)), pInt(int64(o.ID)), pData(o.UUID[:])}
	add := func(k string, v pv) { keys = append(keys, k); vals = append(vals, v) }
	if o.Sender != "" {
		add(keySender, pString(o.Sender))
	}
	if o.Scheme != "" {
		add(keyScheme, pString(o.Scheme))
	}
	if o.Chunk != 0 {
		add(keyChunk, pInt(int64(o.Chunk)))
	}
	if o.UserAgent != "" {
		add(keyUserAgent, pString(o.UserAgent))
	}
	if o.HasExpiry {
		add(keyExpiry, pInt(o.Expiry))
	}
	if o.NoResponse {
		add(keyNoResponse, pBool(true))
	}
	if o.Destinations != nil {
		dtl := make([]pv, len(o.Destinations))
		for i, d := range o.Destinations {
			var dk []string
			var dv []pv
			if d.URI != "" {
				dk, dv = append(dk, keyRecipient), append(dv, pString(d.URI))
			}
			dk, dv = append(dk, keyToken), append(dv, pData(d.Token))
			if d.SessionToken != nil {
				dk, dv = append(dk, keySessionToken), append(dv, pData(d.SessionToken))
			}
			if d.DeliveryStatus {
				dk, dv = append(dk, keyDeliveryStatus), append(dv, pBool(true))
			}
			dk, dv = append(dk, keyPayload), append(dv, pData(d.Payload))
			dtl[i] = pDict(dk, dv)
		}
		add(keyDestinations, pArray(dtl))
	}
	return encode(pDict(keys, vals))
}

// ParseIncoming reads a delivered dictionary. U and t are required; byte
// slices alias b.
func ParseIncoming(b []byte) (*Incoming, error) {
	r, top, err := newReader(b)
	if err != nil {
		return nil, err
	}
	in := &Incoming{}
	var hasUUID bool
	err = r.dict(top, func(k string, v uint64) error {
		var err error
		switch k {
		case keyCommand:
			in.Command, err = r.smallInt(v)
		case keyPayload:
			in.Payload, err = r.data(v)
		case keySender:
			in.Sender, err = r.string(v)
		case keyRecipient:
			in.Recipient, err = r.string(v)
		case keyToken:
			in.SenderToken, err = r.data(v)
		case keyUUID:
			err = r.uuid(v, &in.UUID)
			hasUUID = true
		case keyScheme:
			in.Scheme, err = r.string(v)
		case keyTimestamp:
			in.Timestamp, err = r.int(v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !hasUUID {
		return nil, invalid("no U")
	}
	return in, nil
}

// Marshal encodes in; every key is written.
func (in *Incoming) Marshal() []byte {
	return encode(pDict(
		[]string{keyCommand, keyPayload, keySender, keyRecipient, keyToken, keyUUID, keyScheme, keyTimestamp},
		[]pv{pInt(int64(in.Command)), pData(in.Payload), pString(in.Sender), pString(in.Recipient),
			pData(in.SenderToken), pData(in.UUID[:]), pString(in.Scheme), pInt(in.Timestamp)}))
}

// ParseServerAck reads a c = 255 answer.
func ParseServerAck(b []byte) (*ServerAck, error) {
	r, top, err := newReader(b)
	if err != nil {
		return nil, err
	}
	a := &ServerAck{}
	cmd := -1
	err = r.dict(top, func(k string, v uint64) error {
		var err error
		switch k {
		case keyCommand:
			cmd, err = r.smallInt(v)
		case keyUUID:
			err = r.uuid(v, &a.UUID)
		case keyID:
			var id int64
			id, err = r.int(v)
			if err == nil && (id < 0 || id > math.MaxUint32) {
				err = invalid("i out of range")
			}
			a.ID = uint32(id)
		case keyToken:
			a.Token, err = r.data(v)
		case keyStatus:
			a.Status, err = r.smallInt(v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if cmd != CmdServerAck {
		return nil, invalid("c is %d, want %d", cmd, CmdServerAck)
	}
	return a, nil
}

// Marshal encodes a.
func (a *ServerAck) Marshal() []byte {
	return encode(pDict(
		[]string{keyCommand, keyUUID, keyID, keyToken, keyStatus},
		[]pv{pInt(CmdServerAck), pData(a.UUID[:]), pInt(int64(a.ID)), pData(a.Token), pInt(int64(a.Status))}))
}
