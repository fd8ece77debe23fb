package courier

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"time"
)

// A frozen packet, written out by hand from protocol.md §4.3: KeepAlive with
// no fields, and a SendMessageAck with three fields.
func TestKnownAnswers(t *testing.T) {
	for _, tc := range []struct {
		frame Frame
		hex   string
	}{
		{Frame{Command: CmdKeepAlive}, "0c00000000"},
		{Frame{Command: CmdSendMessageAck, Fields: []Field{
			{SendAckToken, []byte{0xAA, 0xBB}},
			{SendAckID, []byte{1, 2, 3, 4}},
			{SendAckStatus, []byte{0}},
		}}, "0b00000010" + "010002aabb" + "04000401020304" + "08000100"},
	} {
		got := hex.EncodeToString(tc.frame.Marshal())
		if got != tc.hex {
			t.Errorf("marshal = %s, want %s", got, tc.hex)
		}
		raw, _ := hex.DecodeString(tc.hex)
		f, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Marshal(), raw) {
			t.Errorf("parse → marshal changed %s", tc.hex)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		hex string
		err error
	}{
		{"", ErrTruncated},
		{"0a000000", ErrTruncated},
		{"0a00000001", ErrTruncated},           // length 1, no body
		{"0a0000000101", ErrMalformed},         // 1 byte cannot hold a field header
		{"0a00000003010005", ErrMalformed},     // field claims 5 bytes, has 0
		{"0a0000000401000100ff", ErrMalformed}, // trailing byte after the frame
		{"0a000000040100020a", ErrMalformed},   // field claims 2 bytes, has 1
	} {
		raw, _ := hex.DecodeString(tc.hex)
		if _, err := Parse(raw); !errors.Is(err, tc.err) {
			t.Errorf("Parse(%s) = %v, want %v", tc.hex, err, tc.err)
		}
	}
	// Too many fields.
	f := Frame{Command: CmdFilter}
	for range MaxFields + 1 {
		f.Add(FilterEnabled, nil)
	}
	if _, err := Parse(f.Marshal()); !errors.Is(err, ErrTooMany) {
		t.Errorf("%d fields: %v", MaxFields+1, err)
	}
	f.Fields = f.Fields[:MaxFields]
	if _, err := Parse(f.Marshal()); err != nil {
		t.Errorf("%d fields: %v", MaxFields, err)
	}
}

// ReadFrame refuses a length above the limit without reading the body.
func TestReadFrameLimit(t *testing.T) {
	hdr := []byte{CmdSendMessage, 0, 0, 0x80, 0x01} // 32769 > MaxFrameSize
	r := &countingReader{r: bytes.NewReader(append(hdr, make([]byte, 40000)...))}
	if _, _, err := ReadFrame(r, nil, MaxFrameSize); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if r.n != HeaderSize {
		t.Fatalf("read %d bytes, want only the header", r.n)
	}
	// A body cut short is ErrUnexpectedEOF, not EOF.
	short := append([]byte{CmdKeepAlive, 0, 0, 0, 3}, 1)
	if _, _, err := ReadFrame(bytes.NewReader(short), nil, MaxFrameSize); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short body: %v", err)
	}
	// Two frames in a row, buffer reused.
	var stream []byte
	a := Frame{Command: CmdKeepAlive}
	b := Frame{Command: CmdFilter}
	b.Add(FilterToken, make([]byte, TokenSize))
	stream = a.AppendTo(stream)
	stream = b.AppendTo(stream)
	rd := bytes.NewReader(stream)
	f1, buf, err := ReadFrame(rd, nil, MaxFrameSize)
	if err != nil || f1.Command != CmdKeepAlive || len(f1.Fields) != 0 {
		t.Fatalf("first: %+v %v", f1, err)
	}
	f2, _, err := ReadFrame(rd, buf, MaxFrameSize)
	if err != nil || f2.Command != CmdFilter || f2.Count(FilterToken) != 1 {
		t.Fatalf("second: %+v %v", f2, err)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestNonceAndSignature(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_800_000_000_123)
	n := Nonce(now, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	if got := hex.EncodeToString(n[:]); got != "00"+"000001a3185c507b"+"0102030405060708" {
		t.Fatalf("nonce = %s", got)
	}
	ts, err := ParseNonce(n[:])
	if err != nil || !ts.Equal(now) {
		t.Fatalf("ParseNonce = %v %v", ts, err)
	}
	sig, err := SignNonce(key, n[:])
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != 2+256 || sig[0] != 1 || sig[1] != 1 {
		t.Fatalf("signature field %d bytes, prefix %x", len(sig), sig[:2])
	}
	if err := VerifyNonce(&key.PublicKey, n[:], sig); err != nil {
		t.Fatal(err)
	}
	for i := range sig {
		bad := bytes.Clone(sig)
		bad[i] ^= 0x40
		if VerifyNonce(&key.PublicKey, n[:], bad) == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
	}
	if VerifyNonce(&key.PublicKey, n[:], sig[:len(sig)-1]) == nil {
		t.Fatal("truncated signature accepted")
	}
	n[16] ^= 1
	if VerifyNonce(&key.PublicKey, n[:], sig) == nil {
		t.Fatal("signature over another nonce accepted")
	}
	if _, err := ParseNonce(append([]byte{1}, n[1:]...)); err == nil {
		t.Fatal("nonce version 1 accepted")
	}
}

func TestTopicOf(t *testing.T) {
	// SHA-1("com.apple.madrid"), computed independently with sha1sum.
	got := TopicOf(TopicIMessage)
	if hex.EncodeToString(got[:]) != "e4e6d952954168d0a5db02dbaf27cc35fc18d159" {
		t.Fatalf("topic = %x", got)
	}
}

// FuzzFrame: Parse never panics, and whatever it accepts marshals back to
// the same bytes.
func FuzzFrame(f *testing.F) {
	f.Add([]byte{CmdKeepAlive, 0, 0, 0, 0})
	ack := Frame{Command: CmdSendMessageAck}
	ack.Add(SendAckID, []byte{1, 2, 3, 4}).Add(SendAckStatus, []byte{0})
	f.Add(ack.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Parse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(fr.Marshal(), b) {
			t.Fatalf("parse → marshal changed the bytes")
		}
		if len(fr.Fields) > MaxFields {
			t.Fatal("too many fields accepted")
		}
		// The stream reader agrees with Parse.
		g, _, err := ReadFrame(bytes.NewReader(b), nil, len(b))
		if err != nil || g.Command != fr.Command || len(g.Fields) != len(fr.Fields) {
			t.Fatalf("ReadFrame disagrees: %v", err)
		}
	})
}
