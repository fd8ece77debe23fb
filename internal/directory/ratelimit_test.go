package directory

import (
	"math"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/sealpost/sealpost/internal/directory/dirapi"
	"github.com/sealpost/sealpost/internal/ratelimit"
)

// k5 drives attempts signed one-handle lookups from one device and one
// address, evenly over span of simulated time, and returns how many were
// admitted; every refusal must be 429 rate_limited with a Retry-After.
func k5(t *testing.T, limits Limits, attempts int, span time.Duration) (admitted int) {
	e := newEnv(t, Config{Limits: &limits})
	// Register with the limits off for registration.
	c, _ := e.register("k5@example.org", "k5")
	body := []byte(`{"handles":["k5@example.org"]}`)
	step := span / time.Duration(attempts)
	for i := 0; i < attempts; i++ {
		req := e.request(c.Keys, "POST", dirapi.PathLookup, body, false)
		status, code, hdr := e.serve(req)
		switch status {
		case 200:
			admitted++
		case 429:
			if code != dirapi.CodeRateLimited {
				t.Fatalf("429 with code %s", code)
			}
			ra, err := strconv.Atoi(hdr.Get("Retry-After"))
			if err != nil || ra < 1 {
				t.Fatalf("429 with Retry-After %q", hdr.Get("Retry-After"))
			}
		default:
			t.Fatalf("lookup %d: status %d %s", i, status, code)
		}
		e.clock.Advance(step)
	}
	return admitted
}

// TestK5LookupThrottling: one client attempts 10,000 lookups in 10
// (simulated) minutes; admitted must be within ±10% of bucket + rate × time.
func TestK5LookupThrottling(t *testing.T) {
	const attempts = 10000
	span := 10 * time.Minute
	for _, tc := range []struct {
		name  string
		lim   Limits
		which ratelimit.Limit
	}{
		{"per device (default)", Limits{LookupDevice: DefaultLimits.LookupDevice, LookupAddr: DefaultLimits.LookupAddr}, DefaultLimits.LookupDevice},
		{"per address", Limits{LookupAddr: ratelimit.Limit{Rate: 5, Burst: 500}}, ratelimit.Limit{Rate: 5, Burst: 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			admitted := k5(t, tc.lim, attempts, span)
			want := float64(tc.which.Burst) + tc.which.Rate*span.Seconds()
			dev := (float64(admitted) - want) / want
			t.Logf("K5: limit=%s attempts=%d span=%s admitted=%d expected=%.0f deviation=%+.2f%% refused_429=%d",
				tc.which, attempts, span, admitted, want, 100*dev, attempts-admitted)
			if math.Abs(dev) > 0.10 {
				t.Fatalf("admitted %d, want %.0f ± 10%%", admitted, want)
			}
		})
	}
}

// TestRetryAfterIsHonest: a client that waits the Retry-After it was given
// is admitted.
func TestRetryAfterIsHonest(t *testing.T) {
	limits := Limits{LookupDevice: ratelimit.Limit{Rate: 0.1, Burst: 20}}
	e := newEnv(t, Config{Limits: &limits})
	c, _ := e.register("r@example.org", "r")
	body := []byte(`{"handles":["r@example.org"]}`)
	for i := 0; i < 20; i++ {
		if st, code, _ := e.serve(e.request(c.Keys, "POST", dirapi.PathLookup, body, false)); st != 200 {
			t.Fatalf("lookup %d in the burst: %d %s", i, st, code)
		}
	}
	st, _, hdr := e.serve(e.request(c.Keys, "POST", dirapi.PathLookup, body, false))
	if st != 429 || hdr.Get("Retry-After") != "10" {
		t.Fatalf("after the burst: %d Retry-After %q, want 429 and 10", st, hdr.Get("Retry-After"))
	}
	e.clock.Advance(9 * time.Second)
	if st, _, _ := e.serve(e.request(c.Keys, "POST", dirapi.PathLookup, body, false)); st != 429 {
		t.Fatalf("before Retry-After: %d", st)
	}
	e.clock.Advance(time.Second)
	if st, _, _ := e.serve(e.request(c.Keys, "POST", dirapi.PathLookup, body, false)); st != 200 {
		t.Fatalf("after Retry-After: %d", st)
	}
}

// TestRegistrationLimits: code requests per handle, and verification
// attempts per device, are bounded.
func TestRegistrationLimits(t *testing.T) {
	limits := DefaultLimits
	e := newEnv(t, Config{Limits: &limits})
	k := e.newKeys()
	body := []byte(`{"handle":"victim@example.org"}`)
	sent := 0
	for i := 0; i < 10; i++ {
		req := e.request(k, "POST", dirapi.PathCodes, body, true)
		req.RemoteAddr = "198.51.100.7:1"
		rec := httptest.NewRecorder()
		e.svc.Handler().ServeHTTP(rec, req)
		if rec.Code == 200 {
			sent++
		} else if rec.Code != 429 {
			t.Fatalf("code request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	if sent != DefaultLimits.CodesPerHandle.Burst {
		t.Fatalf("%d codes sent to one handle in an instant, want the burst %d", sent, DefaultLimits.CodesPerHandle.Burst)
	}
}
