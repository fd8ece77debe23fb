// Package vectorcheck opens interoperability vectors (read with
// internal/vectors) as a receiving device would, and reports for each the
// outcome it reached next to the one the vector expects.
//
// [Check] runs every vector of a file with Sealpost's receivers (pair.Open,
// pairec.Open, attachment.Decrypt, identity.ParseSignedPrekey) and names
// the failure class that the schemes keep internal (internal/openerr), so a
// wrong rejection reason is a failure too. It is for tests and the
// `sealpost vectors check` command, never for the network path. Check
// shares nothing between calls and is safe for concurrent use.
//
// It is a package of its own, apart from internal/vectors, because it
// imports the schemes: the schemes' in-package tests can import
// internal/vectors to read the vectors, but not this package.
package vectorcheck

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/sealpost/sealpost/identity"
	"github.com/sealpost/sealpost/internal/openerr"
	"github.com/sealpost/sealpost/internal/vectors"
	"github.com/sealpost/sealpost/pair"
	"github.com/sealpost/sealpost/pairec"
)

// Outcomes beyond the openerr reasons that a check can report.
const (
	OK                = "ok"
	PlaintextMismatch = "plaintext_mismatch"
	CounterMismatch   = "counter_mismatch"
)

// Result is the outcome of one vector.
type Result struct {
	Name     string
	Expected string
	Got      string
}

// Pass reports whether the receiver reached the expected outcome.
func (r Result) Pass() bool { return r.Expected == r.Got }

// Check runs every vector of f as the receiver named in it, with keys.
// Vectors that name a party missing from keys are failures, not skips.
func Check(f *vectors.File, keys vectors.Keys) []Result {
	var out []Result
	for i := range f.Vectors {
		v := &f.Vectors[i]
		out = append(out, Result{Name: v.Name, Expected: v.Expect, Got: check(f.Scheme, v, keys)})
	}
	for i, p := range f.Prekeys {
		name := p.Name
		if name == "" {
			name = fmt.Sprintf("prekey_%d_%s", i, p.Device)
		}
		expect := p.Expect
		if expect == "" {
			expect = OK
		}
		out = append(out, Result{Name: name, Expected: expect, Got: checkPrekey(&p, keys)})
	}
	return out
}

func check(scheme string, v *vectors.Vector, keys vectors.Keys) string {
	if scheme == vectors.SchemeMMCS {
		return checkMMCS(v)
	}
	recv, send := keys[v.Receiver], keys[v.Sender]
	if recv == nil || send == nil {
		return fmt.Sprintf("unknown party %q or %q", v.Receiver, v.Sender)
	}
	var plaintext []byte
	var err error
	switch scheme {
	case vectors.SchemePair:
		plaintext, err = pair.Open(recv.Keys, send.Keys.Public(), v.Payload)
	case vectors.SchemePairEC:
		var inner *pairec.Inner
		inner, err = pairec.Open(recv.Keys, send.Keys.DeviceKey(), v.Payload)
		if err == nil {
			if v.Counter != nil && inner.Counter != *v.Counter {
				return CounterMismatch
			}
			plaintext = inner.Message
		}
	}
	if err != nil {
		return reason(err)
	}
	if !bytes.Equal(plaintext, v.Plaintext) {
		return PlaintextMismatch
	}
	return OK
}

// reason names the failure class of an error from Open.
func reason(err error) string {
	if r, ok := openerr.ReasonOf(err); ok {
		return string(r)
	}
	if errors.Is(err, openerr.ErrCannotOpen) {
		return "cannot_open"
	}
	return "error: " + err.Error()
}

func checkPrekey(p *vectors.Prekey, keys vectors.Keys) string {
	dev := keys[p.Device]
	if dev == nil {
		return fmt.Sprintf("unknown party %q", p.Device)
	}
	sp, err := identity.ParseSignedPrekey(p.Record)
	if err != nil {
		return string(openerr.Malformed)
	}
	if p.Time != nil && sp.Timestamp != *p.Time {
		return "timestamp_mismatch"
	}
	if !bytes.Equal(sp.Marshal(), p.Record) {
		return "roundtrip_mismatch"
	}
	if sp.Verify(dev.Keys.DeviceKey()) != nil {
		return string(openerr.SignatureInvalid)
	}
	return OK
}
