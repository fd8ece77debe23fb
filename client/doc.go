// Package client is the Sealpost device SDK: what the Messages app is to
// iMessage. It keeps a device's keys, contacts, groups, lookup cache and
// message store in a home folder, registers the device in the directory,
// and sends and receives end-to-end encrypted messages through the relay
// and, for attachments and long texts, the blob store.
//
// # Use
//
//	d, err := client.Init(ctx, home, client.InitOptions{Server: "https://127.0.0.1:7443", CA: caPEM})
//	h, err := d.Register(ctx, "alice@example.org")      // the directory sends a code
//	err = d.Verify(ctx, h, code)                         // the device is now findable
//	d.AddContact("Bob", "bob@example.org", "+15551234567")
//	rep, err := d.Send(ctx, client.Draft{To: []string{"Bob"}, Text: "hi"})
//	err = d.Receive(ctx, client.ReceiveOptions{}, func(ev client.Event) error {
//		if m := ev.Message; m != nil {
//			fmt.Println(m.FromName, m.Text)
//		}
//		return nil
//	})
//
// Later runs open the same device with Open(home, client.Options{}).
//
// # The home folder
//
//	config.json        server URL, device name, push token, verified handles, settings
//	keys.pem           the identity keys (package identity), mode 0600
//	push-key.pem       the RSA push key the relay authenticates, mode 0600
//	push-cert.pem      its certificate from the relay
//	ca.pem             the server CA the device trusts
//	contacts.json      names and their handles
//	groups.json        groups: id (travels as gid), participants, local name
//	lookup-cache.json  directory answers: kept a day, empty answers an hour
//	messages.jsonl     the message store, one JSON record per message in or out
//	seen.log           IDs of received messages (31 days), for dedup across restarts
//	attachments/       received files, unless the caller names another folder
//
// Every file is owner-only. Init writes the folder only once the device
// has its push certificate and token, so a failed Init leaves no device.
//
// # Sending and receiving
//
// Send resolves contact names to all their handles and group names to
// their members, looks up every device of every recipient and of the
// sender's own account, seals one copy per device (pair-ec where the device
// has it, else pair), and hands all copies to the relay in one fan-out
// send (several frames when they exceed 16 KiB). A recipient without a
// registered device is an *UnknownRecipientError and nothing is sent. When
// the relay refuses a destination (a device it does not know, or one the
// directory no longer lists), Send looks those handles up again and sends
// to the devices that have not got a copy. See send.go for the pipeline.
//
// Receive verifies and decrypts each delivery (authenticate before
// decode), drops duplicates by message ID, fetches attachments and long
// texts from the blob store (verified against their signature before a
// byte is decrypted; a file that does not verify is reported on the
// message and not saved), stores the message durably, hands it to the
// caller, acknowledges it to the relay and sends a delivery receipt. A
// device answers to every handle of its account, including those its
// other devices verified. Read receipts are off unless
// SetReadReceipts(true). A delivery that fails verification is dropped
// without a receipt and logged locally (its UUID and claimed sender only).
// See recv.go for the pipeline.
//
// # Promises
//
//   - Keys and message content are never logged; the Logger gets message
//     IDs, handles, device ids and reasons.
//   - A message ID is shown once, across restarts, for 31 days
//     (envelope.Replay persisted in seen.log).
//   - The lookup cache follows protocol.md §5: a positive answer is used
//     for a day (or until a session token is about to expire), a negative
//     one for an hour; a send never fails on a cached negative answer
//     without asking the directory again.
//
// # Concurrency
//
// A Device is safe for concurrent use. It holds one connection to the
// relay, opened on first use; sends may run while a Receive runs. Two
// processes using the same home folder at once each connect, and the relay
// keeps only the newer connection of a device.
package client
