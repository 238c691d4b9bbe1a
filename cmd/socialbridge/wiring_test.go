package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/configs"
	"github.com/socialbridge/socialbridge/store"
)

// wiringAdminToken is an admin token of the accepted length.
const wiringAdminToken = "YWRtaW4tdG9rZW4tYWRtaW4tdG9rZW4tYWRtaW4tdG9r"

func TestWiringMapsEveryClientSettingToTheBridge(t *testing.T) {
	t.Parallel()
	in := configs.Client{
		ID: "spa", Name: "Example", RedirectURIs: []string{"https://app.example.com/cb"}, CORSOrigins: []string{"https://app.example.com"},
		Secret: "secret", Audience: []string{"https://api.example.com"}, Providers: []string{"google"},
		AccessTTL: time.Minute, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 2 * time.Hour,
		TokenExchange: true, AccountManagement: true, ProviderTokens: true, IDTokenSignedResponseAlg: "ES256",
		RefreshTokenCookie: true, PostLogoutRedirectURIs: []string{"https://app.example.com/bye"}, Introspection: true,
	}
	want := bridge.Client{
		ID: "spa", Name: "Example", RedirectURIs: []string{"https://app.example.com/cb"}, CORSOrigins: []string{"https://app.example.com"},
		Secret: "secret", Audience: []string{"https://api.example.com"}, Providers: []string{"google"},
		AccessTTL: time.Minute, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 2 * time.Hour,
		ProviderTokens: true, TokenExchange: true, AccountManagement: true, IDTokenAlg: "ES256",
		RefreshCookie: true, PostLogoutRedirectURIs: []string{"https://app.example.com/bye"}, Introspection: true,
	}
	got := bridgeClients([]configs.Client{in})
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("bridgeClients = %+v\nwant [%+v]", got, want)
	}
	// A field the bridge gains needs a setting here too: every one is set
	// from a client whose every setting is set.
	v := reflect.ValueOf(got[0])
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("bridge.Client.%s is not set from the configuration", v.Type().Field(i).Name)
		}
	}
}

// wiringService loads yaml (dev mode, on a data directory of its own) with
// env and builds the service, closed when the test ends.
func wiringService(t *testing.T, yaml string, env map[string]string) *service {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "socialbridge.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"SOCIALBRIDGE_DATA_DIR": dir}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := configs.Load(path, configs.Env{Getenv: func(k string) string { return vars[k] }}, os.ReadFile, providerTypes())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := newService(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

func TestWiringGivesTheBridgeAndTheServerTheNewSettings(t *testing.T) {
	t.Parallel()
	svc := wiringService(t, `mode: dev
server:
  public_url: http://localhost:8080
clients:
  - id: spa
    redirect_uris: [http://localhost:3000/cb]
    cors_origins: [http://localhost:3000]
    refresh_token_cookie: true
    post_logout_redirect_uris: [http://localhost:3000/]
  - id: api
    redirect_uris: [http://localhost:4000/cb]
    secret: `+wiringAdminToken+`
    introspection: true
`, map[string]string{"SOCIALBRIDGE_ADMIN_TOKEN": wiringAdminToken})

	spa, ok := svc.bridge.Client("spa")
	if !ok || !spa.RefreshCookie || !slices.Equal(spa.PostLogoutRedirectURIs, []string{"http://localhost:3000/"}) || spa.Introspection {
		t.Errorf("spa = %+v, want cookie mode and its post-logout redirect URI", spa)
	}
	if api, ok := svc.bridge.Client("api"); !ok || !api.Introspection || api.RefreshCookie {
		t.Errorf("api = %+v, want introspection", api)
	}
	for _, id := range []string{"demo", "demo-cookie", "socialbridge-account"} {
		c, ok := svc.bridge.Client(id)
		if !ok {
			t.Errorf("the bridge has no built-in client %q", id)
			continue
		}
		if wantCookie := id != "demo"; c.RefreshCookie != wantCookie || !c.Public() || !c.AccountManagement || len(c.PostLogoutRedirectURIs) != 1 {
			t.Errorf("built-in client %+v: want public, account management, a post-logout redirect URI, cookie mode %v", c, wantCookie)
		}
	}

	if err := svc.bridge.AuthenticateAdmin(wiringAdminToken); err != nil {
		t.Errorf("AuthenticateAdmin(admin.token) = %v, want nil", err)
	}
	if err := svc.bridge.AuthenticateAdmin(wiringAdminToken + "x"); err == nil {
		t.Error("AuthenticateAdmin accepted another token")
	}

	o := svc.webOptions()
	if o.DemoClientID != "demo" || o.DemoCookieClientID != "demo-cookie" || o.AccountClientID != "socialbridge-account" {
		t.Errorf("web options: demo %q, demo cookie %q, account %q; want demo, demo-cookie, socialbridge-account",
			o.DemoClientID, o.DemoCookieClientID, o.AccountClientID)
	}
}

func TestWiringTurnsThePagesAndTheAdminAPIOff(t *testing.T) {
	t.Parallel()
	svc := wiringService(t, "mode: dev\nserver:\n  public_url: http://localhost:8080\n  demo_page: false\n  account_page: false\n", nil)
	o := svc.webOptions()
	if o.DemoClientID != "" || o.DemoCookieClientID != "" || o.AccountClientID != "" {
		t.Errorf("web options: demo %q, demo cookie %q, account %q; want all empty", o.DemoClientID, o.DemoCookieClientID, o.AccountClientID)
	}
	for _, id := range []string{"demo", "demo-cookie", "socialbridge-account"} {
		if _, ok := svc.bridge.Client(id); ok {
			t.Errorf("the bridge has the built-in client %q of a page that is off", id)
		}
	}
	if err := svc.bridge.AuthenticateAdmin(""); err == nil {
		t.Error("AuthenticateAdmin accepted an empty token with the admin API off")
	}
}

// sweepRecorder is a store that records the sweeper's calls; any other
// method panics (the embedded interface is nil).
type sweepRecorder struct {
	store.Store
	auditBefore chan time.Time
}

func (s *sweepRecorder) SweepExpired(context.Context, time.Time, time.Duration) (int64, error) {
	return 0, nil
}

// SweepRateCounts is called by every sweep; the recorder has none.
func (s *sweepRecorder) SweepRateCounts(context.Context, time.Time) (int64, error) {
	return 0, nil
}

func (s *sweepRecorder) SweepAudit(_ context.Context, before time.Time) (int64, error) {
	select {
	case s.auditBefore <- before:
	default:
	}
	return 0, nil
}

func TestWiringSweepsAuditEventsOlderThanTheRetention(t *testing.T) {
	t.Parallel()
	for _, retention := range []time.Duration{2160 * time.Hour, 48 * time.Hour} {
		rec := &sweepRecorder{auditBefore: make(chan time.Time, 1)}
		cfg := &configs.Config{Audit: configs.Audit{Retention: retention}}
		svc := &service{cfg: cfg, store: rec, logger: slog.New(slog.DiscardHandler)}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() { svc.runSweeper(ctx, time.Millisecond) })
		select {
		case before := <-rec.auditBefore:
			if age := time.Since(before); age < retention || age > retention+time.Minute {
				t.Errorf("retention %s: swept audit events before %s ago, want %s", retention, age, retention)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("retention %s: the sweeper never swept audit events", retention)
		}
		cancel()
		wg.Wait()
	}
}

func TestWiringStartLogSaysWhatIsOn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		env        map[string]string
		wantLog    []string
		wantStdout string // "": no account page line
	}{
		{"the defaults", nil,
			[]string{"account_page=true", "admin_api=false", "audit_retention=2160h0m0s"}, "Account page: http://localhost:"},
		{"the admin API on, the account page off, a shorter retention",
			map[string]string{"SOCIALBRIDGE_ADMIN_TOKEN": wiringAdminToken, "SOCIALBRIDGE_SERVER_ACCOUNT_PAGE": "false", "SOCIALBRIDGE_AUDIT_RETENTION": "720h"},
			[]string{"account_page=false", "admin_api=true", "audit_retention=720h0m0s"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"SOCIALBRIDGE_DATA_DIR": t.TempDir(), "SOCIALBRIDGE_SERVER_ADDR": "127.0.0.1:0"}
			for k, v := range tt.env {
				env[k] = v
			}
			stdout, logs := serveOnce(t, env)
			started := ""
			for line := range strings.Lines(logs) {
				if strings.Contains(line, "msg=\"socialbridge started\"") {
					started = line
				}
			}
			for _, want := range tt.wantLog {
				if !strings.Contains(started, want) {
					t.Errorf("the start-up line %q does not say %s", started, want)
				}
			}
			if strings.Contains(logs, wiringAdminToken) || strings.Contains(stdout, wiringAdminToken) {
				t.Error("the admin token is in the output")
			}
			if got := strings.Contains(stdout, "Account page: "); got != (tt.wantStdout != "") || !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("stdout %q; want an account page line %q", stdout, tt.wantStdout)
			}
		})
	}
}

// serveOnce runs serve with env until it listens, stops it, and returns
// what it wrote to stdout and its log.
func serveOnce(t *testing.T, env map[string]string) (stdout, logs string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out, log := &lockedBuffer{}, &lockedBuffer{}
	up := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, nil, func(k string) string { return env[k] }, out, log, func(string) { up <- struct{}{} })
	}()
	select {
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, log)
	case <-up:
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start in 60s\n%s", log)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	return out.String(), log.String()
}
