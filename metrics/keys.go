package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/socialbridge/socialbridge/tokens"
)

// KeySource lists the signing keys (a *tokens.Keyring).
type KeySource interface {
	Keys() []tokens.KeyInfo
}

// keyAge reports, at scrape time, how old each key that signs now is:
// one series per use and algorithm (access, refresh, each ID algorithm).
// Alerting on it catches a rotation that stopped.
type keyAge struct {
	keys KeySource
	now  func() time.Time
	desc *prometheus.Desc
}

// WatchKeys registers socialbridge_signing_key_age_seconds for the keys
// of src, read at every scrape. now is the clock (nil: time.Now).
func (m *Metrics) WatchKeys(src KeySource, now func() time.Time) error {
	if now == nil {
		now = time.Now
	}
	return m.reg.Register(&keyAge{keys: src, now: now, desc: prometheus.NewDesc(
		"socialbridge_signing_key_age_seconds",
		"Age (since it was created) of the key that signs now, by use (access, refresh, id) and algorithm.",
		[]string{"use", "alg"}, nil)})
}

// Describe implements prometheus.Collector.
func (k *keyAge) Describe(ch chan<- *prometheus.Desc) { ch <- k.desc }

// Collect implements prometheus.Collector.
func (k *keyAge) Collect(ch chan<- prometheus.Metric) {
	now := k.now()
	seen := map[[2]string]bool{}
	for _, key := range k.keys.Keys() {
		id := [2]string{key.Use, key.Algorithm}
		if !key.Signing || seen[id] {
			continue
		}
		seen[id] = true
		ch <- prometheus.MustNewConstMetric(k.desc, prometheus.GaugeValue, now.Sub(key.CreatedAt).Seconds(), key.Use, key.Algorithm)
	}
}
