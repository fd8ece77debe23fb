package main

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sealpost/sealpost/courier"
	"github.com/sealpost/sealpost/ids"
)

// window says whether the measurement is running; counters count only
// then.
type window struct {
	on, off atomic.Int64 // Unix ns
}

func (w *window) in(t int64) bool { return t >= w.on.Load() && t < w.off.Load() }

// reader reads a device's frames: deliveries are timed and acknowledged
// (acks batched while more input is buffered), the relay's acks of the
// device's own sends go to acks.
type reader struct {
	d        *dev
	acks     chan [4]byte
	lat      []time.Duration
	received atomic.Int64
	w        *window
}

func (rd *reader) run() {
	br := bufio.NewReaderSize(rd.d.tls, 64<<10)
	var buf, out []byte
	for {
		f, b, err := courier.ReadFrame(br, buf, courier.MaxFrameSize)
		buf = b
		if err != nil {
			return
		}
		switch f.Command {
		case courier.CmdSendMessageAck:
			if a, err := courier.ParseSendAck(f); err == nil && a.Status == courier.SendStored {
				rd.acks <- a.ID
			}
		case courier.CmdSendMessage:
			m, err := courier.ParseMessage(f)
			if err != nil {
				break
			}
			if m.ID[0]&0x80 != 0 { // a c = 255 answer
				countRefusal(m)
				break
			}
			now := time.Now().UnixNano()
			if in, err := ids.ParseIncoming(m.Payload); err == nil && len(in.Payload) >= 8 {
				sent := int64(binary.BigEndian.Uint64(in.Payload))
				if rd.w.in(now) {
					rd.lat = append(rd.lat, time.Duration(now-sent))
					rd.received.Add(1)
				}
			}
			ack := courier.Frame{Command: courier.CmdSendMessageAck}
			ack.Add(courier.SendAckToken, rd.d.token).Add(courier.SendAckID, m.ID[:]).Add(courier.SendAckStatus, []byte{0})
			out = ack.AppendTo(out)
		}
		if len(out) > 0 && br.Buffered() < courier.HeaderSize {
			if rd.d.c.WriteRaw(out) != nil {
				return
			}
			out = out[:0]
		}
	}
}

func runDeliver(r *relay) {
	n := *flagDevices
	devs := r.connectAll(n, true)
	w := &window{}
	w.on.Store(1 << 62)
	w.off.Store(1 << 62)
	readers := make([]*reader, n)
	for i, d := range devs {
		readers[i] = &reader{d: d, acks: make(chan [4]byte, 4), w: w}
		go readers[i].run()
	}
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	interval := time.Duration(0)
	if *flagRate > 0 {
		interval = time.Duration(float64(time.Second) * float64(n) / float64(*flagRate))
	}
	for i, d := range devs {
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(uint64(i), 9))
			p := make([]byte, *flagPayload)
			rand.Read(p)
			next := time.Now().Add(time.Duration(rng.Int64N(int64(max(interval, time.Millisecond)))))
			for seq := uint32(0); ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				// At a fixed rate, latency counts from the scheduled send
				// time, so a sender held up does not hide the delay
				// (no coordinated omission).
				stamp := time.Now()
				if interval > 0 {
					time.Sleep(time.Until(next))
					stamp = next
					next = next.Add(interval)
				}
				to := rng.IntN(n - 1)
				if to >= i {
					to++
				}
				o := &ids.Outgoing{Command: ids.CmdIMessage, Version: ids.Version, ID: seq, Sender: "mailto:load@example.com", Scheme: ids.SchemePairEC,
					Destinations: []ids.Destination{{Token: devs[to].token, URI: devs[to].handle, Payload: p}}}
				rand.Read(o.UUID[:])
				binary.BigEndian.PutUint64(p, uint64(stamp.UnixNano()))
				id := [4]byte(binary.BigEndian.AppendUint32(nil, seq))
				if d.c.Send(madrid, d.token, o.Marshal(), id) != nil {
					return
				}
				select {
				case <-readers[i].acks:
					if w.in(time.Now().UnixNano()) {
						sent.Add(1)
					}
				case <-time.After(30 * time.Second):
					fmt.Fprintln(os.Stderr, "relayload: a send was not acknowledged in 30 s")
					return
				case <-stop:
					return
				}
			}
		})
	}
	warm := *flagDuration / 5
	time.Sleep(warm)
	cpu0 := r.cpu()
	t0 := time.Now()
	w.on.Store(t0.UnixNano())
	w.off.Store(t0.Add(*flagDuration).UnixNano())
	time.Sleep(*flagDuration)
	cpu1 := r.cpu()
	rss := r.rss()
	time.Sleep(2 * time.Second) // deliveries in flight at the end are still timed
	close(stop)
	var lat []time.Duration
	var got int64
	for _, rd := range readers {
		d := rd.d
		d.c.Close()
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond)
	for _, rd := range readers {
		got += rd.received.Load()
		lat = append(lat, rd.lat...)
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))].Round(10 * time.Microsecond)
	}
	secs := (*flagDuration).Seconds()
	rate := "max"
	if *flagRate > 0 {
		rate = strconv.Itoa(*flagRate) + "/s"
	}
	use, cpu := cpuUse(cpu0, cpu1, secs)
	fmt.Printf("deliver: nodes=%d fanout_check=%v refused=%d devices=%d payload=%d rate=%s duration=%v sends_acked=%.0f/s deliveries=%.0f/s latency_p50=%v p99=%v max=%v relay_cpu=%s relay_cpu_per_delivery=%.1fµs relay_rss=%dMiB\n",
		len(r.nodes), *flagCheck, refused.Load(), n, *flagPayload, rate, *flagDuration, float64(sent.Load())/secs, float64(got)/secs, q(0.5), q(0.99), q(1),
		use, cpu.Seconds()*1e6/float64(max(got, 1)), rss>>20)
}
