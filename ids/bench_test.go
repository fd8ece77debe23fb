package ids

import "testing"

func BenchmarkIncomingMarshal(b *testing.B) {
	in := &Incoming{Command: 100, Payload: make([]byte, 1024), Sender: "mailto:alice@example.com", Recipient: "tel:+15555550123",
		SenderToken: make([]byte, 32), Scheme: SchemePairEC, Timestamp: 1_800_000_000_000_000_000}
	b.ReportAllocs()
	for b.Loop() {
		in.Marshal()
	}
}

func BenchmarkOutgoingParse(b *testing.B) {
	o := sampleOutgoing()
	raw := o.Marshal()
	b.ReportAllocs()
	for b.Loop() {
		ParseOutgoing(raw)
	}
}

func BenchmarkOutgoingMarshal(b *testing.B) {
	o := sampleOutgoing()
	b.ReportAllocs()
	for b.Loop() {
		o.Marshal()
	}
}
