package ids

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	"howett.net/plist"
)

func sampleOutgoing() *Outgoing {
	o := &Outgoing{Command: CmdIMessage, Version: Version, ID: 0xDEADBEEF, Sender: "mailto:alice@example.com",
		Scheme: SchemePairEC, Chunk: 1, UserAgent: "sealpost/0", NoResponse: true}
	rand.Read(o.UUID[:])
	for i := range 3 {
		d := Destination{URI: "tel:+15555550123", Token: make([]byte, TokenSize), Payload: make([]byte, 100+i), DeliveryStatus: i == 0}
		rand.Read(d.Token)
		rand.Read(d.Payload)
		if i == 1 {
			d.SessionToken = []byte("session")
		}
		o.Destinations = append(o.Destinations, d)
	}
	return o
}

// Wire structs for howett.net/plist, the independent implementation.
type hDest struct {
	URI     string `plist:"tP,omitempty"`
	Token   []byte `plist:"t"`
	Session []byte `plist:"sT,omitempty"`
	D       bool   `plist:"D,omitempty"`
	P       []byte `plist:"P"`
}

type hOut struct {
	C   int     `plist:"c"`
	V   int     `plist:"v"`
	I   uint32  `plist:"i"`
	U   []byte  `plist:"U"`
	SP  string  `plist:"sP,omitempty"`
	E   string  `plist:"E,omitempty"`
	Fcn int     `plist:"fcn,omitempty"`
	UA  string  `plist:"ua,omitempty"`
	EX  *int64  `plist:"eX,omitempty"`
	NR  bool    `plist:"nr,omitempty"`
	DTL []hDest `plist:"dtl,omitempty"`
}

type hIn struct {
	C  int    `plist:"c"`
	P  []byte `plist:"P"`
	SP string `plist:"sP"`
	TP string `plist:"tP"`
	T  []byte `plist:"t"`
	U  []byte `plist:"U"`
	E  string `plist:"E"`
	Ts int64  `plist:"e"`
}

func toH(o *Outgoing) hOut {
	h := hOut{C: o.Command, V: o.Version, I: o.ID, U: o.UUID[:], SP: o.Sender, E: o.Scheme, Fcn: o.Chunk, UA: o.UserAgent, NR: o.NoResponse}
	if o.HasExpiry {
		h.EX = &o.Expiry
	}
	for _, d := range o.Destinations {
		h.DTL = append(h.DTL, hDest{d.URI, d.Token, d.SessionToken, d.DeliveryStatus, d.Payload})
	}
	return h
}

func TestOutgoingRoundTrip(t *testing.T) {
	o := sampleOutgoing()
	b := o.Marshal()
	got, err := ParseOutgoing(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, o)
	}
	if !bytes.Equal(got.Marshal(), b) {
		t.Fatal("parse → marshal changed the bytes")
	}
	// The independent decoder reads our encoding.
	var h hOut
	if _, err := plist.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h, toH(o)) {
		t.Fatalf("howett reads:\n%+v\nwant\n%+v", h, toH(o))
	}
	// We read the independent encoder's output, in both of its formats'
	// binary flavour.
	o.HasExpiry, o.Expiry = true, 0
	hb, err := plist.Marshal(toH(o), plist.BinaryFormat)
	if err != nil {
		t.Fatal(err)
	}
	got, err = ParseOutgoing(hb)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) || !got.Ephemeral() {
		t.Fatalf("howett's encoding read as\n%+v\nwant\n%+v", got, o)
	}
}

func TestIncomingAndServerAck(t *testing.T) {
	in := &Incoming{Command: CmdIMessage, Payload: []byte("ciphertext"), Sender: "mailto:alice@example.com",
		Recipient: "tel:+15555550123", SenderToken: bytes.Repeat([]byte{7}, 32), Scheme: SchemePair, Timestamp: 1_800_000_000_123_456_789}
	rand.Read(in.UUID[:])
	b := in.Marshal()
	got, err := ParseIncoming(b)
	if err != nil || !reflect.DeepEqual(got, in) {
		t.Fatalf("incoming round trip: %v %+v", err, got)
	}
	var h hIn
	if _, err := plist.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	want := hIn{in.Command, in.Payload, in.Sender, in.Recipient, in.SenderToken, in.UUID[:], in.Scheme, in.Timestamp}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("howett reads %+v", h)
	}
	hb, _ := plist.Marshal(want, plist.BinaryFormat)
	if got, err := ParseIncoming(hb); err != nil || !reflect.DeepEqual(got, in) {
		t.Fatalf("howett's incoming: %v %+v", err, got)
	}

	a := &ServerAck{UUID: in.UUID, ID: 9, Token: in.SenderToken, Status: StatusUnknownToken}
	ga, err := ParseServerAck(a.Marshal())
	if err != nil || !reflect.DeepEqual(ga, a) {
		t.Fatalf("server ack: %v %+v", err, ga)
	}
	var m map[string]any
	if _, err := plist.Unmarshal(a.Marshal(), &m); err != nil || m["c"] != uint64(255) || m["s"] != uint64(1) {
		t.Fatalf("howett reads server ack as %v (%v)", m, err)
	}
}

// A frozen encoding, so a change of the writer is noticed.
func TestKnownAnswer(t *testing.T) {
	a := &ServerAck{UUID: [16]byte{0: 0x11, 15: 0x22}, ID: 300, Token: []byte{0xAB}, Status: 0}
	const want = "62706c6973743030" + // bplist00
		"d5" + "060708090a" + "0102030405" + // object 0: dict of 5, keys 6..10, values 1..5
		"10ff" + // 1: 255
		"4f1010" + "11000000000000000000000000000022" + // 2: U, 16 bytes (count as an int object)
		"11012c" + // 3: 300
		"41ab" + // 4: t
		"1000" + // 5: 0
		"5163" + "5155" + "5169" + "5174" + "5173" + // 6..10: c U i t s
		"081315282b2d2f31333537" + // offsets
		"000000000000" + "0101" + "000000000000000b" + "0000000000000000" + "0000000000000039"
	if got := hex.EncodeToString(a.Marshal()); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestRefusals(t *testing.T) {
	o := sampleOutgoing()
	mk := func(f func(h *hOut)) []byte {
		h := toH(o)
		f(&h)
		b, err := plist.Marshal(h, plist.BinaryFormat)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := map[string][]byte{
		"short U":         mk(func(h *hOut) { h.U = h.U[:15] }),
		"no U":            mk(func(h *hOut) { h.U = nil }),
		"too many dests":  mk(func(h *hOut) { h.DTL = make([]hDest, MaxDestinations+1) }),
		"xml plist":       []byte(`<?xml version="1.0"?><plist><dict/></plist>`),
		"empty":           nil,
		"truncated":       o.Marshal()[:40],
		"negative expiry": mk(func(h *hOut) { v := int64(-1); h.EX = &v }),
	}
	// A key of the wrong type.
	wrong, _ := plist.Marshal(map[string]any{"c": "hundred", "U": make([]byte, 16)}, plist.BinaryFormat)
	cases["string c"] = wrong
	// A key twice: rewrite the second key "v" of our own encoding into "c".
	dup := (&ServerAck{Token: []byte{1}}).Marshal()
	i := bytes.Index(dup, []byte{0x51, 'U'})
	dup[i+1] = 'c'
	cases["duplicate key"] = dup
	for name, b := range cases {
		if _, err := ParseOutgoing(b); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !errors.Is(err, ErrInvalid) && !errors.Is(err, errPlist) {
			t.Errorf("%s: unexpected error %v", name, err)
		}
	}
	// At the limit is fine.
	ok := mk(func(h *hOut) { h.DTL = make([]hDest, MaxDestinations) })
	if _, err := ParseOutgoing(ok); err != nil {
		t.Errorf("%d destinations: %v", MaxDestinations, err)
	}
}

// Hostile lists that trip the general-purpose decoder are refused cheaply.
func TestHostileCounts(t *testing.T) {
	// A dictionary whose declared count is huge: marker df with a count
	// object of 8 bytes.
	b := []byte("bplist00")
	b = append(b, 0xDF, 0x13, 0x0F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
	off := len(b)
	b = append(b, 8)
	b = append(b, 0, 0, 0, 0, 0, 0, 1, 1)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(off))
	if _, err := ParseOutgoing(b); err == nil {
		t.Fatal("huge count accepted")
	}
	// Reference size 0.
	c := bytes.Clone(b)
	c[len(c)-25] = 0
	if _, err := ParseOutgoing(c); err == nil {
		t.Fatal("reference size 0 accepted")
	}
}

func fuzzSeeds(f *testing.F) {
	o := sampleOutgoing()
	f.Add(o.Marshal())
	hb, _ := plist.Marshal(toH(o), plist.BinaryFormat)
	f.Add(hb)
	in := &Incoming{Command: 100, Payload: []byte("x"), SenderToken: []byte{1}}
	f.Add(in.Marshal())
	f.Add((&ServerAck{Token: []byte{1}}).Marshal())
}

// FuzzOutgoing: no panic; what parses re-encodes to a canonical form that
// is stable, and the independent decoder reads that form the same way.
func FuzzOutgoing(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseOutgoing(b)
		if err != nil {
			return
		}
		if len(o.Destinations) > MaxDestinations {
			t.Fatal("too many destinations")
		}
		c1 := o.Marshal()
		o2, err := ParseOutgoing(c1)
		if err != nil {
			t.Fatalf("canonical form refused: %v", err)
		}
		if c2 := o2.Marshal(); !bytes.Equal(c1, c2) {
			t.Fatal("canonical form is not stable")
		}
		var h hOut
		if _, err := plist.Unmarshal(c1, &h); err != nil {
			t.Fatalf("howett refuses our encoding: %v", err)
		}
		if !reflect.DeepEqual(h, toH(o2)) {
			t.Fatalf("howett reads\n%+v\nwant\n%+v", h, toH(o2))
		}
	})
}

// FuzzIncoming: the same for the delivered dictionary and the server ack.
func FuzzIncoming(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if in, err := ParseIncoming(b); err == nil {
			c1 := in.Marshal()
			in2, err := ParseIncoming(c1)
			if err != nil || !bytes.Equal(in2.Marshal(), c1) {
				t.Fatalf("incoming canonical form: %v", err)
			}
		}
		if a, err := ParseServerAck(b); err == nil {
			c1 := a.Marshal()
			a2, err := ParseServerAck(c1)
			if err != nil || !bytes.Equal(a2.Marshal(), c1) {
				t.Fatalf("server ack canonical form: %v", err)
			}
		}
	})
}
