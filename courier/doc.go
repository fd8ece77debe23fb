// Package courier is the framing of the push protocol between devices and
// the relay (protocol.md §4.2–4.3), the protocol Apple's devices speak to
// APNs ("courier"), shared by the relay and by clients.
//
// # Wire form
//
// A connection is TLS 1.3 with ALPN "apns-security-v3". Each packet is
//
//	command (1 byte) ‖ length (u32 BE, of what follows) ‖ fields
//	field = id (1 byte) ‖ length (u16 BE) ‖ value
//
// Fields come in any order; an id may repeat (Filter's topics). Unknown
// commands and fields are ignored by readers; a frame whose fields do not
// fill its length exactly, or that is longer than the reader's limit, is
// malformed and ends the connection.
//
// # Use
//
// Frames are built with Add and written with AppendTo or Marshal; a reader
// uses ReadFrame, or Parse for a packet already in memory. Conn wraps a
// connection for the device side:
//
//	c, err := courier.Dial(ctx, "relay.example:7443", &tls.Config{RootCAs: roots})
//	ack, err := c.Connect(certDER, pushKey, savedToken) // ack.Token on success
//	err = c.Filter(ack.Token, courier.TopicOf(courier.TopicIMessage))
//	for {
//		f, err := c.ReadFrame()
//		if f.Command == courier.CmdSendMessage {
//			m, err := courier.ParseMessage(f)
//			// ... store m.Payload durably, then:
//			c.Ack(ack.Token, m.ID)
//		}
//	}
//
// # Promises
//
// Parse and ReadFrame never panic and never allocate more than the input
// allows: ReadFrame refuses a length above its limit before reading the
// body, and the field list is at most MaxFields entries. Parse then
// AppendTo gives back the same bytes. The constants of the protocol (command
// and field ids, sizes, statuses) are in constants.go.
//
// Concurrency: a Frame is a plain value. A Conn may be written from many
// goroutines (each frame is one Write) and read from one.
package courier
