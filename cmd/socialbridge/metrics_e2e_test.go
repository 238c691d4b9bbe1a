package main

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricsAddrInLog returns the address the start-up log line says metrics
// are served at ("off" when they are not).
func metricsAddrInLog(t *testing.T, logs string) string {
	t.Helper()
	m := regexp.MustCompile(`msg="socialbridge started".* metrics=(\S+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("the start-up log line does not say where metrics are served:\n%s", logs)
	}
	return m[1]
}

// series returns the value of every sample line of name whose labels
// contain each of labels (`key="value"`), by its whole label set.
func series(scrape, name string, labels ...string) map[string]float64 {
	out := map[string]float64{}
	for line := range strings.SplitSeq(scrape, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		key := line[:sp]
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(key, l)
		}
		if v, err := strconv.ParseFloat(line[sp+1:], 64); ok && err == nil {
			out[key] = v
		}
	}
	return out
}

func sum(m map[string]float64) float64 {
	var s float64
	for _, v := range m {
		s += v
	}
	return s
}

func TestMetricsCountASignInARefreshAndALogoutOnTheirOwnListener(t *testing.T) {
	inst := start(t, map[string]string{"SOCIALBRIDGE_METRICS_ADDR": "127.0.0.1:0"})
	addr := metricsAddrInLog(t, inst.logs.String())
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("metrics served at %q, want the loopback port chosen for port 0", addr)
	}

	ts := devSignIn(t, inst.url, "alice")
	status, next := postToken(t, inst.url, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ts.RefreshToken}, "client_id": {"demo"}})
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %s", status, next.Error)
	}
	req, _ := http.NewRequest(http.MethodPost, inst.url+"/logout", nil)
	req.Header.Set("Authorization", "Bearer "+next.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	// A refresh of the ended session fails with invalid_grant.
	if status, _ := postToken(t, inst.url, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.RefreshToken}, "client_id": {"demo"}}); status != http.StatusBadRequest {
		t.Fatalf("refresh after logout: %d, want 400", status)
	}

	// The public listener does not serve them.
	resp, err = http.Get(inst.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the public listener: %d, want 404", resp.StatusCode)
	}

	c := &http.Client{Timeout: 10 * time.Second}
	resp, err = c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d\n%s", resp.StatusCode, body)
	}
	scrape := string(body)

	checks := []struct {
		name     string
		got      float64
		min, max float64
	}{
		{"one successful dev sign-in", sum(series(scrape, "socialbridge_signins_total", `provider="dev"`, `result="success"`)), 1, 1},
		{"one code grant", sum(series(scrape, "socialbridge_token_grants_total", `grant_type="authorization_code"`, `result="success"`)), 1, 1},
		{"one refresh", sum(series(scrape, "socialbridge_token_grants_total", `grant_type="refresh_token"`, `result="success"`)), 1, 1},
		{"one refused refresh", sum(series(scrape, "socialbridge_token_grants_total", `grant_type="refresh_token"`, `result="invalid_grant"`)), 1, 1},
		{"one logout", sum(series(scrape, "socialbridge_revocations_total", `reason="logout"`)), 1, 1},
		{"token requests timed by route", sum(series(scrape, "socialbridge_http_request_duration_seconds_count", `route="/token"`, `method="POST"`)), 3, 3},
		{"the callback timed by its pattern", sum(series(scrape, "socialbridge_http_request_duration_seconds_count", `route="/callback/:provider"`)), 1, 1},
		{"the public /metrics timed as unmatched", sum(series(scrape, "socialbridge_http_request_duration_seconds_count", `route="unmatched"`, `status_class="4xx"`)), 1, 1},
		{"the refresh's rotation timed", sum(series(scrape, "socialbridge_store_operation_duration_seconds_count", `op="Rotate"`, `result="ok"`)), 1, 1},
		{"the sign-in's identity claim timed", sum(series(scrape, "socialbridge_store_operation_duration_seconds_count", `op="ClaimIdentity"`)), 1, 1},
		{"the code's redemption timed", sum(series(scrape, "socialbridge_store_operation_duration_seconds_count", `op="RedeemCode"`, `result="ok"`)), 1, 1},
		{"the access key is young", sum(series(scrape, "socialbridge_signing_key_age_seconds", `use="access"`, `alg="ES256"`)), 0, 600},
		{"the refresh key is young", sum(series(scrape, "socialbridge_signing_key_age_seconds", `use="refresh"`)), 0, 600},
		{"no rate-limit rejections", sum(series(scrape, "socialbridge_rate_limited_total")), 0, 0},
		{"the Go collector", sum(series(scrape, "go_goroutines")), 1, 1e6},
		{"the process collector", sum(series(scrape, "process_resident_memory_bytes")), 1, 1e12},
	}
	for _, c := range checks {
		if c.got < c.min || c.got > c.max {
			t.Errorf("%s: %v, want %v to %v", c.name, c.got, c.min, c.max)
		}
	}
	if n := len(series(scrape, "socialbridge_signing_key_age_seconds")); n < 2 {
		t.Errorf("%d signing-key age series, want one per use at least (access, refresh, id)", n)
	}
	if !strings.Contains(scrape, "socialbridge_rate_limited_total 0") {
		t.Error("socialbridge_rate_limited_total is not exported before the first rejection")
	}
	for what, secret := range map[string]string{
		"access token": ts.AccessToken, "refresh token": ts.RefreshToken, "ID token": ts.IDToken,
		"refreshed access token": next.AccessToken, "refreshed refresh token": next.RefreshToken, "user id": sub(t, ts.AccessToken),
	} {
		if secret != "" && strings.Contains(scrape, secret) {
			t.Errorf("the scrape holds the %s", what)
		}
	}
	if strings.Contains(scrape, "eyJ") {
		t.Error("the scrape holds something that looks like a JWT")
	}
	if regexp.MustCompile(`[?&](code|state|refresh_token)=`).MatchString(scrape) {
		t.Error("the scrape holds a query string")
	}
}

func TestMetricsCanBeTurnedOff(t *testing.T) {
	inst := start(t, map[string]string{"SOCIALBRIDGE_METRICS_ADDR": "off"})
	if got := metricsAddrInLog(t, inst.logs.String()); got != "off" {
		t.Errorf("the start-up log line says metrics=%s, want off", got)
	}
}

func TestMetricsListenerThatCannotStartLeavesTheServiceRunning(t *testing.T) {
	busy := start(t, map[string]string{"SOCIALBRIDGE_METRICS_ADDR": "127.0.0.1:0"})
	addr := metricsAddrInLog(t, busy.logs.String())
	inst := start(t, map[string]string{"SOCIALBRIDGE_METRICS_ADDR": addr})
	if got := metricsAddrInLog(t, inst.logs.String()); got != "off" {
		t.Errorf("the start-up log line says metrics=%s, want off", got)
	}
	if !strings.Contains(inst.logs.String(), "metrics are off: cannot listen on metrics.addr") {
		t.Errorf("no error logged for the busy metrics address:\n%s", inst.logs)
	}
	if body := get(t, inst.url+"/healthz"); !strings.Contains(body, "ok") {
		t.Errorf("healthz: %q", body)
	}
}
