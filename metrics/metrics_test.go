package metrics_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/metrics"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/teststore"
	"github.com/socialbridge/socialbridge/tokens"
	"github.com/socialbridge/socialbridge/web"
)

// Metrics is what the bridge and the HTTP layer report to.
var (
	_ bridge.Observer = (*metrics.Metrics)(nil)
	_ web.Recorder    = (*metrics.Metrics)(nil)
	_ store.Store     = (*metrics.Store)(nil)
)

func newMetrics(t *testing.T) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// value is the value of the one series of name with labels, in reg.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func TestEveryBridgeEventMovesItsCounter(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	m.SignIn("google", bridge.SignInSuccess)
	m.SignIn("google", bridge.SignInSuccess)
	m.SignIn("dev", bridge.SignInRefused)
	m.Grant(bridge.GrantRefreshToken, bridge.GrantSuccess)
	m.Grant(bridge.GrantRefreshToken, bridge.ErrCodeInvalidGrant)
	m.Reuse(bridge.ReuseRefreshToken)
	m.Revoked("logout_all", 3)
	m.Revoked("logout", 0) // nothing revoked: no series
	m.Feed(true, 7)
	m.Feed(false, 2) // an incremental page does not say how big the feed is

	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"sign-ins by provider and result", "socialbridge_signins_total", map[string]string{"provider": "google", "result": "success"}, 2},
		{"refused sign-ins apart", "socialbridge_signins_total", map[string]string{"provider": "dev", "result": "refused"}, 1},
		{"grants by type and result", "socialbridge_token_grants_total", map[string]string{"grant_type": "refresh_token", "result": "success"}, 1},
		{"a failed grant by its error code", "socialbridge_token_grants_total", map[string]string{"grant_type": "refresh_token", "result": "invalid_grant"}, 1},
		{"reuse by kind", "socialbridge_reuse_detected_total", map[string]string{"kind": "refresh_token"}, 1},
		{"revocations count sessions", "socialbridge_revocations_total", map[string]string{"reason": "logout_all"}, 3},
		{"the feed gauge follows full responses", "socialbridge_revocation_feed_entries", nil, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := value(t, reg, tt.metric, tt.labels); got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}
	if n := testutil.CollectAndCount(reg, "socialbridge_revocations_total"); n != 1 {
		t.Errorf("revocations series = %d, want 1 (none for a revocation of no session)", n)
	}
}

func TestRequestsAreMeasuredByRouteWithBoundedLabels(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	m.Request("/token", "POST", 200, 3*time.Millisecond)
	m.Request("/token", "POST", 400, time.Millisecond)
	m.Request(web.UnmatchedRoute, "BREW", 404, time.Millisecond)
	m.Request("/revocations", "GET", 200, time.Millisecond)
	m.Request("/revocations", "GET", 304, time.Millisecond)
	m.Request("/revocations", "GET", 304, time.Millisecond)
	m.Request("/revocations", "GET", 401, time.Millisecond)
	m.RateLimited()

	for _, c := range []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"socialbridge_http_request_duration_seconds", map[string]string{"route": "/token", "method": "POST", "status_class": "2xx"}, 1},
		{"socialbridge_http_request_duration_seconds", map[string]string{"route": "/token", "method": "POST", "status_class": "4xx"}, 1},
		{"socialbridge_http_request_duration_seconds", map[string]string{"route": "unmatched", "method": "other", "status_class": "4xx"}, 1},
		{"socialbridge_revocation_feed_responses_total", map[string]string{"status": "200"}, 1},
		{"socialbridge_revocation_feed_responses_total", map[string]string{"status": "304"}, 2},
		{"socialbridge_rate_limited_total", nil, 1},
	} {
		if got := value(t, reg, c.metric, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.metric, c.labels, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(reg, "socialbridge_revocation_feed_responses_total"); n != 2 {
		t.Errorf("feed response series = %d, want 2 (200 and 304 only)", n)
	}
}

func TestTheStoreDecoratorTimesHotOperationsByResult(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	st := m.WrapStore(teststore.Open(t))
	ctx := t.Context()
	now := time.Now()
	if _, err := st.GetSession(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSession of nothing: %v", err)
	}
	if _, err := st.GetUser(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUser of nothing: %v", err)
	}
	if _, err := st.RevocationsSince(ctx, now.Add(-time.Hour), 10); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Revoke(ctx, "missing", "logout", now); err != nil {
		t.Fatal(err)
	}
	// Not a hot operation: passes through untimed.
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ op, result string }{
		{"GetSession", "not_found"}, {"GetUser", "not_found"}, {"RevocationsSince", "ok"}, {"Revoke", "ok"},
	} {
		if got := value(t, reg, "socialbridge_store_operation_duration_seconds", map[string]string{"op": c.op, "result": c.result}); got != 1 {
			t.Errorf("%s %s observed %v times, want 1", c.op, c.result, got)
		}
	}
	if n := testutil.CollectAndCount(reg, "socialbridge_store_operation_duration_seconds"); n != 4 {
		t.Errorf("store series = %d, want 4 (Ping is not timed)", n)
	}
}

type fakeKeys []tokens.KeyInfo

func (f fakeKeys) Keys() []tokens.KeyInfo { return f }

func TestKeyAgeIsThatOfTheKeysThatSignNow(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	keys := fakeKeys{
		{Use: tokens.UseAccess, Algorithm: "ES256", CreatedAt: now.Add(-time.Hour), Signing: true},
		{Use: tokens.UseAccess, Algorithm: "ES256", CreatedAt: now.Add(-40 * 24 * time.Hour)}, // retired predecessor
		{Use: tokens.UseAccess, Algorithm: "ES256", CreatedAt: now.Add(-time.Minute)},         // published ahead, not signing yet
		{Use: tokens.UseRefresh, Algorithm: "HS256", CreatedAt: now.Add(-2 * time.Hour), Signing: true},
	}
	if err := m.WatchKeys(keys, func() time.Time { return now }); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP socialbridge_signing_key_age_seconds Age (since it was created) of the key that signs now, by use (access, refresh, id) and algorithm.
# TYPE socialbridge_signing_key_age_seconds gauge
socialbridge_signing_key_age_seconds{alg="ES256",use="access"} 3600
socialbridge_signing_key_age_seconds{alg="HS256",use="refresh"} 7200
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "socialbridge_signing_key_age_seconds"); err != nil {
		t.Error(err)
	}
}

func TestMetricsRegisterOnTheRegistryGivenOnly(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg); err != nil {
		t.Fatal(err)
	}
	// A second set on the same registry collides: nothing is global.
	if _, err := metrics.New(reg); err == nil {
		t.Error("registering twice on one registry succeeded")
	}
	if _, err := metrics.New(prometheus.NewRegistry()); err != nil {
		t.Errorf("a second registry: %v", err)
	}
}
