package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/verify"
	"github.com/socialbridge/socialbridge/verify/verifytest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// backend is the example's two routers in front of a fake socialbridge.
type backend struct {
	iss     *verifytest.Issuer
	v       *verify.Verifier
	clock   *clock
	routers map[string]http.Handler
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	clk := &clock{t: time.Now()}
	iss := verifytest.NewIssuer(t, verifytest.WithClock(clk.Now))
	env := map[string]string{
		"SOCIALBRIDGE_ISSUER": iss.URL, "API_AUDIENCE": "https://second-api.example.com, " + iss.Audience,
		"API_CLIENT_ID": iss.ClientID, "API_CLIENT_SECRET": iss.ClientSecret,
	}
	cfg := configFromEnv(func(k string) string { return env[k] })
	// Read the feed every few milliseconds, so that a revocation shows
	// quickly; the fake clock decides staleness.
	cfg.Now, cfg.FeedInterval, cfg.FeedMaxStale = clk.Now, 5*time.Millisecond, time.Minute
	v, err := verify.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return &backend{iss: iss, v: v, clock: clk, routers: map[string]http.Handler{
		"net/http": newMux(v, true), "gin": newGinRouter(v, true),
	}}
}

func call(h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// want checks a response's status, WWW-Authenticate and, for errors, the
// JSON error code.
func want(t *testing.T, w *httptest.ResponseRecorder, status int, authenticate, errCode string) {
	t.Helper()
	if w.Code != status || w.Header().Get("WWW-Authenticate") != authenticate {
		t.Fatalf("got %d %q (%s), want %d %q", w.Code, w.Header().Get("WWW-Authenticate"), w.Body, status, authenticate)
	}
	if errCode != "" {
		var body struct{ Error string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != errCode {
			t.Fatalf("body %s, want error %q", w.Body, errCode)
		}
	}
}

func TestRoutes(t *testing.T) {
	b := newBackend(t)
	plain := b.iss.Token(map[string]any{"scope": "openid profile"})
	withEmail := b.iss.Token(map[string]any{"scope": "openid email", "email": "ada@example.com"})
	admin := b.iss.Token(map[string]any{"roles": []string{"admin"}})
	for name, h := range b.routers {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				name, method, path, token string
				status                    int
				authenticate, errCode     string
			}{
				{"the public route needs no token", "GET", "/public", "", 200, "", ""},
				{"me answers a valid token", "GET", "/api/me", plain, 200, "", ""},
				{"me without a token is 401", "GET", "/api/me", "", 401, "Bearer", "invalid_token"},
				{"email with the email scope", "GET", "/api/email", withEmail, 200, "", ""},
				{"email without the email scope is 403", "GET", "/api/email", plain, 403,
					`Bearer error="insufficient_scope", error_description="the token lacks a scope this resource requires: email", scope="email"`, "insufficient_scope"},
				{"admin with the admin role", "GET", "/api/admin", admin, 200, "", ""},
				{"admin without the admin role is 403", "GET", "/api/admin", plain, 403,
					`Bearer error="insufficient_scope", error_description="the user lacks a role this resource requires: admin"`, "insufficient_scope"},
				{"account deletion with an active token", "DELETE", "/api/account", plain, 200, "", ""},
				{"account deletion without a token is 401", "DELETE", "/api/account", "", 401, "Bearer", "invalid_token"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					want(t, call(h, tc.method, tc.path, tc.token), tc.status, tc.authenticate, tc.errCode)
				})
			}
		})
	}

	w := call(b.routers["gin"], "GET", "/api/email", withEmail)
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got["email"] != "ada@example.com" || got["email_verified"] != true {
		t.Fatalf("email answer: %s", w.Body)
	}
}

func TestEveryBadTokenIsRefusedWithItsReason(t *testing.T) {
	b := newBackend(t)
	for _, bt := range b.iss.BadTokens() {
		_, err := b.v.Verify(t.Context(), bt.Token)
		var e *verify.Error
		if !errors.As(err, &e) || string(e.Reason) != bt.Reason {
			t.Fatalf("%s: Verify = %v, want reason %s", bt.Name, err, bt.Reason)
		}
		header := `Bearer error="invalid_token", error_description="` + e.Description() + `"`
		for name, h := range b.routers {
			for _, route := range []struct{ method, path string }{{"GET", "/api/me"}, {"GET", "/api/admin"}, {"DELETE", "/api/account"}} {
				t.Run(name+" "+route.path+" "+bt.Name, func(t *testing.T) {
					want(t, call(h, route.method, route.path, bt.Token), 401, header, "invalid_token")
				})
			}
		}
	}
	if n := b.iss.Requests(verifytest.IntrospectionPath); n != 0 {
		t.Fatalf("bad tokens caused %d introspection requests", n)
	}
}

func TestRevocationReachesBothRouters(t *testing.T) {
	b := newBackend(t)
	token := b.iss.Token(map[string]any{"sid": "s-logout"})
	revoked := `Bearer error="invalid_token", error_description="the token has been revoked"`

	// Introspection sees a logout at once...
	b.iss.RevokeSession("s-logout", "user-1")
	for _, h := range b.routers {
		want(t, call(h, "DELETE", "/api/account", token), 401, revoked, "invalid_token")
	}
	// ...and the other routes after the next feed read.
	deadline := time.Now().Add(10 * time.Second)
	for call(b.routers["net/http"], "GET", "/api/me", token).Code != 401 {
		if time.Now().After(deadline) {
			t.Fatal("the revocation never reached the API")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, h := range b.routers {
		want(t, call(h, "GET", "/api/me", token), 401, revoked, "invalid_token")
	}
}

func TestWhenSocialbridgeIsDownTheAPIFailsClosed(t *testing.T) {
	b := newBackend(t)
	token := b.iss.Token(nil)
	b.iss.Fail(verifytest.FeedPath, http.StatusServiceUnavailable)
	b.iss.Fail(verifytest.IntrospectionPath, http.StatusServiceUnavailable)

	// Introspection refuses at once; the other routes after FeedMaxStale.
	for _, h := range b.routers {
		if w := call(h, "DELETE", "/api/account", token); w.Code != 503 || w.Header().Get("Retry-After") == "" {
			t.Fatalf("introspection down: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
		}
		want(t, call(h, "GET", "/api/me", token), 200, "", "")
	}
	// Once a feed read has failed (and none begun before the outage can
	// still succeed), time passes.
	n := b.iss.Requests(verifytest.FeedPath)
	for b.iss.Requests(verifytest.FeedPath) < n+2 {
		time.Sleep(time.Millisecond)
	}
	b.clock.Advance(2 * time.Minute)
	for _, h := range b.routers {
		w := call(h, "GET", "/api/me", token)
		want(t, w, 503, "", "temporarily_unavailable")
		if w.Header().Get("Retry-After") == "" {
			t.Fatal("a 503 without Retry-After")
		}
		want(t, call(h, "GET", "/public", ""), 200, "", "")
	}
}

// syncWriter is a buffer written by the program under test and read by
// the test.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestRunServesBothRoutersUntilCancelled(t *testing.T) {
	iss := verifytest.NewIssuer(t)
	env := map[string]string{"SOCIALBRIDGE_ISSUER": iss.URL, "API_AUDIENCE": iss.Audience}
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-http", "127.0.0.1:0", "-gin", "127.0.0.1:0"}, func(k string) string { return env[k] },
			&syncWriter{w: pw}, io.Discard)
		_ = pw.Close()
	}()

	addr := regexp.MustCompile(`msg=listening server=(\S+) addr=(\S+)`)
	lines := bufio.NewScanner(pr)
	var addrs []string
	warned := false
	for len(addrs) < 2 && lines.Scan() {
		warned = warned || strings.Contains(lines.Text(), "revocation is off")
		if m := addr.FindStringSubmatch(lines.Text()); m != nil {
			addrs = append(addrs, m[2])
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if len(addrs) != 2 || !warned {
		t.Fatalf("servers %v, warned about revocation: %v", addrs, warned)
	}
	token := iss.Token(nil)
	for _, a := range addrs {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+a+"/api/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", a, resp.StatusCode)
		}
		// Without client credentials the introspection route is not served.
		req, _ = http.NewRequestWithContext(t.Context(), "DELETE", "http://"+a+"/api/account", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("%s: DELETE /api/account without credentials: %d", a, resp.StatusCode)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
