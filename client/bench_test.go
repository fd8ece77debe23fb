package client_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealpost/sealpost/client"
	"github.com/sealpost/sealpost/internal/benchratio/cpuclock"
	"github.com/sealpost/sealpost/internal/testrig"
)

// benchDevice is newDevice for benchmarks.
func benchDevice(b *testing.B, rig *testrig.Rig, name, handle string) *client.Device {
	b.Helper()
	key, err := testrig.NextPushKey()
	if err != nil {
		b.Fatal(err)
	}
	c := context.Background()
	d, err := client.Init(c, filepath.Join(b.TempDir(), name), client.InitOptions{Server: rig.URL, CA: rig.CAPEM, DeviceName: name, PushKey: key})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	h, err := d.Register(c, handle)
	if err != nil {
		b.Fatal(err)
	}
	code, err := rig.Code(h)
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Verify(c, h, code); err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkSendToReceive measures the time from Send to the message
// handed to Receive's callback on an online device, one message at a
// time, over loopback: seal, relay (durable enqueue, push), verify,
// decrypt, store (synced), callback. Run with -benchtime=1000x for the
// figure in BENCHMARKS.md; it reports p50 and p99 in ms, and the CPU time
// of the whole process (client, server and receiver) per message.
func BenchmarkSendToReceive(b *testing.B) {
	b.Run("checked", func(b *testing.B) { benchSendToReceive(b, testrig.Options{}) })
	b.Run("unchecked", func(b *testing.B) { benchSendToReceive(b, testrig.Options{NoFanoutCheck: true}) })
}

func benchSendToReceive(b *testing.B, opt testrig.Options) {
	rig := testrig.Start(b, opt)
	alice := benchDevice(b, rig, "alice", "alice@example.org")
	bob := benchDevice(b, rig, "bob", "bob@example.org")
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	arrived := make(chan string, 16)
	done := make(chan error, 1)
	go func() {
		done <- bob.Receive(c, client.ReceiveOptions{Forever: true}, func(ev client.Event) error {
			if ev.Message != nil {
				arrived <- ev.Message.ID
			}
			return nil
		})
	}()
	// Warm up: connections, lookup caches, the sender's key in bob's cache.
	for i := 0; i < 3; i++ {
		if _, err := alice.Send(c, client.Draft{To: []string{"bob@example.org"}, Text: "warm-up"}); err != nil {
			b.Fatal(err)
		}
		<-arrived
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	cpu := cpuclock.Start(b, 0)
	for i := 0; i < b.N; i++ {
		start := time.Now()
		rep, err := alice.Send(c, client.Draft{To: []string{"bob@example.org"}, Text: fmt.Sprintf("message %d of the benchmark", i)})
		if err != nil {
			b.Fatal(err)
		}
		for id := range arrived {
			if id == rep.ID {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	cpu.Stop()
	b.StopTimer()
	cancel()
	<-done
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkGroupSend measures sends per second to a group of 10 members
// (the sender and 9 others) with 2 devices each: every send seals 19
// copies (18 for the others, 1 for the sender's second device) and hands
// them to the relay in one fan-out, durably stored. The receivers are
// offline (their queues fill), so the figure is the sender's.
// Sub-benchmarks: with the relay's fan-out check against the directory
// (K6; testrig's default) and without it.
func BenchmarkGroupSend(b *testing.B) {
	b.Run("checked", func(b *testing.B) { benchGroupSend(b, testrig.Options{}) })
	b.Run("unchecked", func(b *testing.B) { benchGroupSend(b, testrig.Options{NoFanoutCheck: true}) })
}

func benchGroupSend(b *testing.B, opt testrig.Options) {
	rig := testrig.Start(b, opt)
	var members []string
	var alice *client.Device
	var mu sync.Mutex
	var wg sync.WaitGroup
	for m := 0; m < 10; m++ {
		handle := fmt.Sprintf("member%d@example.org", m)
		members = append(members, handle)
		// A member's two devices take turns: the rig keeps one code per handle.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for dv := 0; dv < 2; dv++ {
				d := benchDevice(b, rig, fmt.Sprintf("m%d-d%d", m, dv), handle)
				if m == 0 && dv == 0 {
					mu.Lock()
					alice = d
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	c := context.Background()
	rep, err := alice.Send(c, client.Draft{Group: "ten", To: members[1:], Text: "warm-up"})
	if err != nil {
		b.Fatal(err)
	}
	if rep.Devices != 19 {
		b.Fatalf("%d copies, want 19", rep.Devices)
	}
	b.ResetTimer()
	cpu := cpuclock.Start(b, 0)
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := alice.Send(c, client.Draft{To: []string{"ten"}, Text: fmt.Sprintf("group message %d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Stop()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sends/s")
	b.ReportMetric(float64(b.N*19)/time.Since(start).Seconds(), "copies/s")
}
