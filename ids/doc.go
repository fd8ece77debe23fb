// Package ids is the IDS message dictionary that travels in the payload of
// a courier SendMessage (protocol.md §4.4): the outgoing form a device sends
// to the relay with one encrypted payload per receiving device (the "dtl"
// list), the incoming form the relay delivers to each device, and the
// relay's per-destination answer (c = 255). All three are binary property
// lists.
//
// # Use
//
// A sending device builds one Outgoing per message:
//
//	o := &ids.Outgoing{Command: ids.CmdIMessage, Version: ids.Version, ID: 7, UUID: u,
//		Sender: "mailto:alice@example.com", Scheme: ids.SchemePairEC,
//		Destinations: []ids.Destination{{URI: "tel:+15555550123", Token: bobToken, Payload: sealed}}}
//	payload := o.Marshal() // the payload of a SendMessage to the sender's own token
//
// The relay reads it with ParseOutgoing, and for each destination builds
// an Incoming (the device's payload with the sender's handle and token,
// the UUID, the scheme and the relay's timestamp), which the device reads
// with ParseIncoming. The relay answers the sender once per destination
// with a ServerAck.
//
// # Promises
//
// The parsers take hostile input: they never panic, read only inside the
// input, allocate in proportion to it (byte values alias the input) and
// refuse more than MaxDestinations destinations, a U that is not 16
// bytes, a key that appears twice, and values of the wrong type. Unknown
// keys are ignored unread. Marshal writes one canonical form, so parse →
// marshal → parse → marshal gives the same bytes twice; the encoding is
// checked against howett.net/plist, an independent implementation, in
// both directions.
//
// Concurrency: values are plain data; functions hold no state.
package ids
