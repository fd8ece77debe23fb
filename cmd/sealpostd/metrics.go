package main

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sealpost/sealpost/internal/relay/mailbox/embedded"
	"github.com/sealpost/sealpost/internal/relay/mailbox/natsjs"
	"github.com/sealpost/sealpost/internal/server"
)

// Metrics, served at /metrics of the admin address. The relay's and the
// mailbox's are read at scrape time from the statistics they keep anyway;
// HTTP requests are counted as they are answered (server.ObserveRequests).
// Labels are route patterns ("POST /v1/lookup"), statuses and stable
// error codes: never a path, a handle, a token or a key. Process and Go
// runtime metrics (process_*, go_*, and go_build_info with the module's
// version) come with them.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealpost_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status (lookups, registrations, blob uploads and downloads, ...).",
		}, []string{"route", "status"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealpost_http_errors_total",
			Help: "HTTP error answers (status 400 or more), by route pattern and stable error code (\"none\" when the answer had no JSON error code).",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sealpost_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern (a blob download includes sending the blob).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 60},
		}, []string{"route"}),
	}
	m.reg.MustRegister(m.requests, m.errors, m.duration, statsCollector{},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector())
	return m
}

// observe counts one answered HTTP request.
func (m *metrics) observe(r server.Request) {
	route := r.Route
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, strconv.Itoa(r.Status)).Inc()
	m.duration.WithLabelValues(route).Observe(r.Duration.Seconds())
	if r.Status >= 400 {
		code := r.Error
		if code == "" {
			code = "none"
		}
		m.errors.WithLabelValues(route, code).Inc()
	}
}

func desc(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }

// The metrics read at scrape time.
var (
	mConnections = desc("sealpost_relay_connections", "Courier connections of authenticated devices now.")
	mConnects    = desc("sealpost_relay_connects_total", "Devices that connected and authenticated.")
	mRefused     = desc("sealpost_relay_connects_refused_total", "Connects refused (certificate, signature, nonce, revoked device).")
	mSends       = desc("sealpost_relay_sends_total", "SendMessage frames received from devices.")
	mDeliveries  = desc("sealpost_relay_deliveries_total", "Deliveries pushed to devices (again after a reconnection).")
	mAcks        = desc("sealpost_relay_acks_total", "Deliveries acknowledged by devices.")

	mEnqueued    = desc("sealpost_mailbox_enqueued_total", "Deliveries stored durably.")
	mDuplicates  = desc("sealpost_mailbox_duplicates_total", "Deliveries found already stored (a sender's retry).")
	mAcked       = desc("sealpost_mailbox_acked_total", "Deliveries deleted on their device's acknowledgement.")
	mExpired     = desc("sealpost_mailbox_expired_total", "Deliveries deleted unseen at the end of their life (embedded).")
	mQueued      = desc("sealpost_mailbox_queued_deliveries", "Deliveries waiting for their device (with NATS JetStream: in the whole stream, every node's).")
	mOldest      = desc("sealpost_mailbox_oldest_delivery_age_seconds", "Age of the oldest delivery waiting for its device, 0 if none.")
	mCommits     = desc("sealpost_mailbox_group_commits_total", "Groups of writes committed with one sync (embedded).")
	mSync        = desc("sealpost_mailbox_sync_duration_seconds", "Time of each file sync, fdatasync (embedded).")
	mCompactions = desc("sealpost_mailbox_compactions_total", "Segment files rewritten and removed (embedded).")
	mDisk        = desc("sealpost_mailbox_disk_bytes", "Bytes of the mailbox's segment files (embedded).")
	mConflicts   = desc("sealpost_mailbox_conflicts_total", "Conditional writes retried because another node wrote to the device first (NATS).")
	mAckDropped  = desc("sealpost_mailbox_acks_dropped_total", "Acknowledgements given up after repeated failures; those deliveries come again (NATS).")
)

// statsCollector reads the relay's and the mailbox's statistics.
type statsCollector struct{}

func (statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mConnections, mConnects, mRefused, mSends, mDeliveries, mAcks,
		mEnqueued, mDuplicates, mAcked, mExpired, mQueued, mOldest, mCommits, mSync, mCompactions, mDisk,
		mConflicts, mAckDropped} {
		ch <- d
	}
}

func (statsCollector) Collect(ch chan<- prometheus.Metric) {
	if !health.attached.Load() {
		return
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	if svc := attachedRelay; svc != nil {
		st := svc.Stats()
		gauge(mConnections, float64(svc.Online()))
		counter(mConnects, float64(st.Connects))
		counter(mRefused, float64(st.Refused))
		counter(mSends, float64(st.Sends))
		counter(mDeliveries, float64(st.Deliveries))
		counter(mAcks, float64(st.Acks))
	}
	switch mb := attachedMailbox.(type) {
	case *embedded.Store:
		st := mb.Stats()
		counter(mEnqueued, float64(st.Enqueued))
		counter(mDuplicates, float64(st.Duplicates))
		counter(mAcked, float64(st.Acked))
		counter(mExpired, float64(st.Expired))
		counter(mCommits, float64(st.Batches))
		counter(mCompactions, float64(st.Compactions))
		gauge(mDisk, float64(mb.DiskUsage()))
		n, oldest := mb.Queue()
		queueGauges(gauge, n, oldest)
		h := st.SyncHistogram
		buckets := make(map[float64]uint64, len(h.Buckets))
		for i, c := range h.Buckets {
			buckets[embedded.SyncBounds[i].Seconds()] = uint64(c)
		}
		ch <- prometheus.MustNewConstHistogram(mSync, uint64(h.Count), h.Sum.Seconds(), buckets)
	case *natsjs.Store:
		st := mb.Stats()
		counter(mEnqueued, float64(st.Enqueued))
		counter(mDuplicates, float64(st.Duplicates))
		counter(mAcked, float64(st.Acked))
		counter(mConflicts, float64(st.Conflicts))
		counter(mAckDropped, float64(st.AckDropped))
		// Two requests to the NATS server; left out of the scrape if it
		// does not answer in time.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if n, oldest, err := mb.Queue(ctx); err == nil {
			queueGauges(gauge, n, oldest)
		}
	}
}

// queueGauges reports a mailbox's queue: n deliveries waiting, the oldest
// enqueued at oldest (zero if none).
func queueGauges(gauge func(*prometheus.Desc, float64), n int64, oldest time.Time) {
	gauge(mQueued, float64(n))
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, time.Since(oldest).Seconds())
	}
	gauge(mOldest, age)
}
