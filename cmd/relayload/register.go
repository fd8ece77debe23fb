package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/directory/dirapi"
)

// register puts every device in the directory under a handle of its own
// (mailto:d<i>-<run>@relayload.test) with the token the relay gave it, so
// that the relay's fan-out check (-fanout-check) finds them; the
// verification codes are read from node 0's outbox. Each device gets a
// fresh identity (an RSA-1280 and two P-256 keys).
func (r *relay) register(devs []*dev) {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: r.cfg.RootCAs, ServerName: "localhost"}, MaxIdleConnsPerHost: *flagDial}}
	var b [4]byte
	rand.Read(b[:])
	run := hex.EncodeToString(b[:])
	outbox := filepath.Join(r.nodes[0].data, "outbox")
	forEach(len(devs), 500, "registered", func(i int) {
		d := devs[i]
		d.handle = fmt.Sprintf("mailto:d%d-%s@relayload.test", i, run)
		keys, err := identity.Generate()
		if err != nil {
			fatal(err.Error())
		}
		cl := &dirapi.Client{BaseURL: "https://" + r.nodes[0].http, HTTP: hc, Keys: keys}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cr, err := cl.RequestCode(ctx, d.handle)
		if err == nil {
			var code []byte
			if code, err = os.ReadFile(filepath.Join(outbox, cr.Handle)); err == nil {
				_, err = cl.Register(ctx, cr.Handle, strings.TrimSpace(string(code)),
					dirapi.NewDeviceFields(keys, d.token, fmt.Sprintf("relayload %d", i), 16384))
			}
		}
		cancel()
		if err != nil {
			fatal(fmt.Sprintf("registering device %d: %v", i, err))
		}
	})
}
