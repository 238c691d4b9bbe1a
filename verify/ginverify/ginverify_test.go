package ginverify_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialbridge/socialbridge/verify"
	"github.com/socialbridge/socialbridge/verify/ginverify"
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

// setup returns an issuer, a verifier (feed read every real minute, stale
// after two: the fake clock decides) and a router with one route of each
// kind.
func setup(t *testing.T) (*verifytest.Issuer, *verify.Verifier, *clock, http.Handler) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	clk := &clock{t: time.Now()}
	iss := verifytest.NewIssuer(t, verifytest.WithClock(clk.Now))
	v, err := verify.New(t.Context(), verify.Config{
		Issuer: iss.URL, Audience: []string{iss.Audience}, ClientID: iss.ClientID, ClientSecret: iss.ClientSecret,
		Now: clk.Now, FeedInterval: time.Minute, FeedMaxStale: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })

	r := gin.New()
	me := func(c *gin.Context) {
		claims, ok := ginverify.Claims(c)
		fromCtx, ok2 := verify.ClaimsFrom(c.Request.Context())
		if !ok || !ok2 || claims != fromCtx {
			c.String(http.StatusInternalServerError, "claims missing")
			return
		}
		c.String(http.StatusOK, claims.Subject)
	}
	api := r.Group("/api", ginverify.Middleware(v))
	api.GET("/me", me)
	api.GET("/orders", ginverify.RequireScope("orders:read"), me)
	api.GET("/admin", ginverify.RequireRole("admin"), me)
	r.DELETE("/account", ginverify.Middleware(v, verify.WithIntrospection()), me)
	r.GET("/unguarded", ginverify.RequireRole("admin"), me)
	return iss, v, clk, r
}

func serve(h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestGinRefusesEveryBadTokenLikeNetHTTP(t *testing.T) {
	iss, v, _, h := setup(t)
	for _, bt := range iss.BadTokens() {
		t.Run(bt.Name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), bt.Token)
			var e *verify.Error
			if !errors.As(err, &e) || string(e.Reason) != bt.Reason {
				t.Fatalf("Verify = %v, want reason %s", err, bt.Reason)
			}
			w := serve(h, http.MethodGet, "/api/me", bt.Token)
			want := `Bearer error="invalid_token", error_description="` + e.Description() + `"`
			if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") != want {
				t.Fatalf("got %d %q, want 401 %q", w.Code, w.Header().Get("WWW-Authenticate"), want)
			}
			if !strings.Contains(w.Body.String(), `"error":"invalid_token"`) {
				t.Errorf("body = %s", w.Body)
			}
		})
	}
}

func TestGinRoutes(t *testing.T) {
	iss, _, _, h := setup(t)
	token := iss.Token(map[string]any{"scope": "openid orders:read", "roles": []string{"staff"}})
	admin := iss.Token(map[string]any{"roles": []string{"admin"}})
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		authHeader                string
	}{
		{"a good token reaches the handler with its claims", "GET", "/api/me", token, 200, ""},
		{"no token is 401 without an error code", "GET", "/api/me", "", 401, "Bearer"},
		{"a granted scope passes", "GET", "/api/orders", token, 200, ""},
		{"a missing scope is 403", "GET", "/api/orders", admin, 403,
			`Bearer error="insufficient_scope", error_description="the token lacks a scope this resource requires: orders:read", scope="orders:read"`},
		{"a granted role passes", "GET", "/api/admin", admin, 200, ""},
		{"a missing role is 403", "GET", "/api/admin", token, 403,
			`Bearer error="insufficient_scope", error_description="the user lacks a role this resource requires: admin"`},
		{"introspection accepts an active token", "DELETE", "/account", token, 200, ""},
		{"a requirement without the middleware refuses", "GET", "/unguarded", admin, 500, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, tc.method, tc.path, tc.token)
			if w.Code != tc.status || w.Header().Get("WWW-Authenticate") != tc.authHeader {
				t.Fatalf("got %d %q (%s), want %d %q", w.Code, w.Header().Get("WWW-Authenticate"), w.Body, tc.status, tc.authHeader)
			}
			if tc.status == 200 && w.Body.String() != "user-1" {
				t.Errorf("body = %q", w.Body)
			}
		})
	}
}

func TestGinRevocationIntrospectionAndStaleness(t *testing.T) {
	iss, _, clk, h := setup(t)
	token := iss.Token(map[string]any{"sid": "s-1"})
	iss.RevokeSession("s-1", "user-1")

	// Introspection sees the revocation at once, before any feed read.
	if w := serve(h, "DELETE", "/account", token); w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), "revoked") {
		t.Fatalf("introspection route: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}

	// The feed goes down; past FeedMaxStale the API answers 503.
	iss.Fail(verifytest.FeedPath, http.StatusServiceUnavailable)
	clk.Advance(3 * time.Minute)
	w := serve(h, "GET", "/api/me", iss.Token(nil))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "60" {
		t.Fatalf("stale feed: %d Retry-After %q, want 503 and 60", w.Code, w.Header().Get("Retry-After"))
	}
	if !strings.Contains(w.Body.String(), `"error":"temporarily_unavailable"`) {
		t.Errorf("body = %s", w.Body)
	}
}
