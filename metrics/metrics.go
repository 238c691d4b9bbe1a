// Package metrics exposes socialbridge's Prometheus metrics: sign-ins,
// token grants, reuse detections, revocations, rate-limit rejections,
// HTTP and store latency, signing-key age and the revocation feed.
//
// It implements the small reporting seams of the other packages
// (bridge.Observer, web.Recorder) and decorates a store.Store, so that
// bridge and web stay free of Prometheus. Everything is registered on a
// registry passed in (no global default registry); cmd/socialbridge
// serves it on its own listener, never on the public one.
//
// Labels are low-cardinality by construction: providers, grant types,
// OAuth error codes, revocation reasons, route patterns and store
// operations are fixed sets in the code. No user id, session id, client
// secret, token or code ever becomes a label.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds socialbridge's collectors. Its methods are safe for
// concurrent use.
type Metrics struct {
	signIns       *prometheus.CounterVec
	grants        *prometheus.CounterVec
	reuse         *prometheus.CounterVec
	revocations   *prometheus.CounterVec
	rateLimited   prometheus.Counter
	requests      *prometheus.HistogramVec
	storeOps      *prometheus.HistogramVec
	feedEntries   prometheus.Gauge
	feedResponses *prometheus.CounterVec
	reg           prometheus.Registerer
}

// New creates socialbridge's collectors and registers them on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		reg: reg,
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socialbridge_signins_total",
			Help: "Sign-ins (browser flow and native token exchange) by provider and result: success, failed or refused (policy: access denied, disabled account, max_age).",
		}, []string{"provider", "result"}),
		grants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socialbridge_token_grants_total",
			Help: "Token endpoint grants by grant type and result: success or the OAuth error code.",
		}, []string{"grant_type", "result"}),
		reuse: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socialbridge_reuse_detected_total",
			Help: "Reuse of a one-time code or an old refresh token that revoked its session, by kind (code, refresh_token).",
		}, []string{"kind"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socialbridge_revocations_total",
			Help: "Sessions revoked, by reason.",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "socialbridge_rate_limited_total",
			Help: "Requests refused by the per-IP rate limit (429).",
		}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "socialbridge_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern (\"unmatched\" when no route matched), method and status class.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status_class"}),
		storeOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "socialbridge_store_operation_duration_seconds",
			Help:    "Latency of the store's hot operations by operation and result (ok, not_found, conflict, error).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"op", "result"}),
		feedEntries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "socialbridge_revocation_feed_entries",
			Help: "Entries in the last full (reset) revocation feed response: the revocations a backend starting now must know.",
		}),
		feedResponses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "socialbridge_revocation_feed_responses_total",
			Help: "Revocation feed responses by HTTP status (200, or 304 for an unchanged feed).",
		}, []string{"status"}),
	}
	for _, c := range []prometheus.Collector{m.signIns, m.grants, m.reuse, m.revocations, m.rateLimited,
		m.requests, m.storeOps, m.feedEntries, m.feedResponses} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// SignIn counts a finished sign-in (bridge.Observer).
func (m *Metrics) SignIn(provider, result string) { m.signIns.WithLabelValues(provider, result).Inc() }

// Grant counts a token grant (bridge.Observer).
func (m *Metrics) Grant(grantType, result string) { m.grants.WithLabelValues(grantType, result).Inc() }

// Reuse counts a detected reuse (bridge.Observer).
func (m *Metrics) Reuse(kind string) { m.reuse.WithLabelValues(kind).Inc() }

// Revoked counts n sessions revoked for reason (bridge.Observer).
func (m *Metrics) Revoked(reason string, n int) {
	if n > 0 {
		m.revocations.WithLabelValues(reason).Add(float64(n))
	}
}

// Feed records a revocation feed response's size (bridge.Observer): the
// gauge follows full (reset) responses only, which hold every entry.
func (m *Metrics) Feed(reset bool, entries int) {
	if reset {
		m.feedEntries.Set(float64(entries))
	}
}

// feedRoute is the route of the revocation feed, whose 200 and 304
// answers are counted.
const feedRoute = "/revocations"

// Request records a finished HTTP request (web.Recorder). route is the
// matched route pattern or "unmatched".
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, methodLabel(method), statusClass(status)).Observe(d.Seconds())
	if route == feedRoute && (status == http.StatusOK || status == http.StatusNotModified) {
		m.feedResponses.WithLabelValues(strconv.Itoa(status)).Inc()
	}
}

// RateLimited counts a request refused by the rate limit (web.Recorder).
func (m *Metrics) RateLimited() { m.rateLimited.Inc() }

// methodLabel keeps the method label to the standard methods: a client
// can send any token as a method.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

// statusClass is "2xx", "4xx" and so on.
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}
