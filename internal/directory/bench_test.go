package directory

import (
	"fmt"
	"testing"

	"github.com/sealpost/sealpost/internal/directory/dirapi"
)

// BenchmarkLookupHandler measures one signed lookup of 20 handles with 3
// devices each, through the handler in-process (no TLS, no network):
// signing, verification, the SQLite query and the JSON answer. Reported:
// ns per request and handle lookups per second of one core.
func BenchmarkLookupHandler(b *testing.B) {
	e := newEnv(b, Config{})
	var handles []string
	owner := e.client(e.newKeys())
	for i := 0; i < dirapi.MaxLookupHandles; i++ {
		h := fmt.Sprintf("mailto:bench%02d@example.org", i)
		e.registerWith(owner, h, fields(owner.Keys, "device 0"))
		handles = append(handles, h)
	}
	for i := 1; i < 3; i++ {
		c := e.client(e.newKeys())
		e.registerWith(c, handles[0], fields(c.Keys, fmt.Sprint("device ", i)))
	}
	sender, _ := e.register("sender@example.org", "sender")
	body := []byte(jsonStr(dirapi.LookupRequest{Handles: handles}))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := e.request(sender.Keys, "POST", dirapi.PathLookup, body, false)
		if st, code, _ := e.serve(req); st != 200 {
			b.Fatalf("status %d %s", st, code)
		}
	}
	b.ReportMetric(float64(b.N*len(handles))/b.Elapsed().Seconds(), "handles/s")
}
