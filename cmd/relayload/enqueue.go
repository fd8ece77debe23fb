package main

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/ids"
)

// runEnqueue measures durable enqueues to offline devices: -senders
// connections send fan-outs of -fanout destinations each and wait for the
// relay's ack, which comes only once every delivery is on disk.
func runEnqueue(r *relay) {
	offline := r.connectAll(*flagOffline, false)
	tokens := make([][]byte, len(offline))
	handles := make([]string, len(offline))
	for i, d := range offline {
		tokens[i], handles[i] = d.token, d.handle
		d.c.Close()
	}
	senders := r.connectAll(*flagSenders, false)
	var mu sync.Mutex
	var lat []time.Duration
	var done atomic.Int64
	var measuring atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range senders {
		acks := make(chan struct{}, 1)
		go func() {
			br := bufio.NewReaderSize(d.tls, 16<<10)
			var buf []byte
			for {
				f, b, err := courier.ReadFrame(br, buf, courier.MaxFrameSize)
				buf = b
				if err != nil {
					return
				}
				switch f.Command {
				case courier.CmdSendMessageAck:
					acks <- struct{}{}
				case courier.CmdSendMessage:
					if m, err := courier.ParseMessage(f); err == nil && m.ID[0]&0x80 != 0 {
						countRefusal(m)
					}
				}
			}
		}()
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(uint64(i), 5))
			p := make([]byte, *flagPayload)
			rand.Read(p)
			var local []time.Duration
			defer func() { mu.Lock(); lat = append(lat, local...); mu.Unlock() }()
			for seq := uint32(0); ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				o := &ids.Outgoing{Command: ids.CmdIMessage, Version: ids.Version, ID: seq, Sender: "mailto:load@example.com", Scheme: ids.SchemePairEC}
				rand.Read(o.UUID[:])
				// Distinct destinations (a repeated one would be stored once).
				start := rng.IntN(len(tokens))
				for k := range *flagFanout {
					j := (start + k*7919) % len(tokens)
					o.Destinations = append(o.Destinations, ids.Destination{Token: tokens[j], URI: handles[j], Payload: p})
				}
				t0 := time.Now()
				if d.c.Send(madrid, d.token, o.Marshal(), [4]byte(binary.BigEndian.AppendUint32(nil, seq))) != nil {
					return
				}
				select {
				case <-acks:
				case <-stop:
					return
				}
				if measuring.Load() {
					done.Add(int64(*flagFanout))
					local = append(local, time.Since(t0))
				}
			}
		})
	}
	time.Sleep(*flagDuration / 5)
	measuring.Store(true)
	cpu0 := r.cpu()
	time.Sleep(*flagDuration)
	measuring.Store(false)
	cpu1 := r.cpu()
	close(stop)
	for _, d := range senders {
		d.c.Close()
	}
	wg.Wait()
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))].Round(10 * time.Microsecond)
	}
	secs := (*flagDuration).Seconds()
	use, _ := cpuUse(cpu0, cpu1, secs)
	fmt.Printf("enqueue: nodes=%d fanout_check=%v refused=%d senders=%d fanout=%d payload=%d offline_devices=%d duration=%v durable_enqueues=%.0f/s send_ack_p50=%v p99=%v relay_cpu=%s relay_rss=%dMiB\n",
		len(r.nodes), *flagCheck, refused.Load(), *flagSenders, *flagFanout, *flagPayload, len(tokens), *flagDuration, float64(done.Load())/secs, q(0.5), q(0.99),
		use, r.rss()>>20)
}
