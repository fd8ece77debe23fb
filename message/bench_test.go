package message

import (
	"reflect"
	"testing"

	"github.com/sealpost/sealpost/internal/benchratio/cpuclock"
	"howett.net/plist"
)

// Benchmarks of a typical short message (shortMessage: two participants, a
// group id, 34 bytes of text), with the primitives it is made of measured
// in the same run for comparison: gzip alone, gunzip alone, howett.net/plist
// alone in each direction, and the structural check alone. Encode ≈ Marshal
// + GzipOnly and Decode ≈ GunzipOnly + DecodePlain; DecodePlain ≈
// PlistUnmarshalOnly + ScanOnly + the content checks.
//
//	go test -run '^$' -bench . -benchmem -count 5 ./message

func BenchmarkEncode(b *testing.B) {
	m := shortMessage()
	cpuclock.Loop(b, func() error { _, err := Encode(m); return err })
}

func BenchmarkDecode(b *testing.B) {
	enc, err := Encode(shortMessage())
	if err != nil {
		b.Fatal(err)
	}
	cpuclock.Loop(b, func() error { _, err := Decode(enc); return err })
}

// BenchmarkMarshal is Encode without gzip.
func BenchmarkMarshal(b *testing.B) {
	m := shortMessage()
	cpuclock.Loop(b, func() error { _, err := Marshal(m); return err })
}

// BenchmarkDecodePlain is Decode of the bare plist, without gunzip.
func BenchmarkDecodePlain(b *testing.B) {
	raw, err := Marshal(shortMessage())
	if err != nil {
		b.Fatal(err)
	}
	cpuclock.Loop(b, func() error { _, err := Decode(raw); return err })
}

func BenchmarkGzipOnly(b *testing.B) {
	raw, _ := Marshal(shortMessage())
	cpuclock.Loop(b, func() error { gzipBytes(raw); return nil })
}

func BenchmarkGunzipOnly(b *testing.B) {
	enc, _ := Encode(shortMessage())
	cpuclock.Loop(b, func() error { _, err := gunzip(enc); return err })
}

// BenchmarkPlistMarshalOnly is the library writing the same dictionary.
func BenchmarkPlistMarshalOnly(b *testing.B) {
	m := shortMessage()
	d := map[string]any{
		keyID: m.ID.String(), keyParticipants: m.Participants, keyText: m.Text,
		keyGroupID: m.GroupID, keyPV: valuePV, keyGV: valueGV, keyV: valueV,
	}
	cpuclock.Loop(b, func() error { _, err := plist.Marshal(d, plist.BinaryFormat); return err })
}

// BenchmarkPlistUnmarshalOnly is the library reading the plist into the
// envelope, without the structural check or the content checks.
func BenchmarkPlistUnmarshalOnly(b *testing.B) {
	raw, _ := Marshal(shortMessage())
	cpuclock.Loop(b, func() error {
		_, err := plist.Unmarshal(raw, reflect.New(envelopeType).Interface())
		return err
	})
}

// BenchmarkScanOnly is the structural check alone.
func BenchmarkScanOnly(b *testing.B) {
	raw, _ := Marshal(shortMessage())
	cpuclock.Loop(b, func() error { _, err := scanBinaryPlist(raw); return err })
}
