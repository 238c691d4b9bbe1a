package verify

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/socialbridge/socialbridge/verify/verifytest"
)

func TestMiddlewareReadsTheTokenFromTheAuthorizationHeaderOnly(t *testing.T) {
	f := newFixture(t, nil)
	h := f.v.Middleware(ok)
	good := f.iss.Token(nil)
	const missing = `{"error":"invalid_token","error_description":"no bearer token in the Authorization header"}`
	malformed := `Bearer error="invalid_token", error_description="the token is not a well-formed access token"`
	for _, tc := range []struct {
		name       string
		prepare    func(r *http.Request)
		status     int
		authHeader string
		body       string
	}{
		{"a bearer token is accepted", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+good) }, 200, "", "user-1"},
		{"the scheme is case-insensitive", func(r *http.Request) { r.Header.Set("Authorization", "bearer "+good) }, 200, "", "user-1"},
		{"no Authorization header asks for a token without an error code", func(r *http.Request) {}, 401, "Bearer", missing},
		{"another scheme is no bearer token", func(r *http.Request) { r.Header.Set("Authorization", "Basic YTpi") }, 401, "Bearer", missing},
		{"a token in the query is ignored", func(r *http.Request) { r.URL.RawQuery = "access_token=" + good }, 401, "Bearer", missing},
		{"a token in a cookie is ignored", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "access_token", Value: good}) }, 401, "Bearer", missing},
		{"Bearer without a token is malformed", func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, 401, malformed, ""},
		{"two tokens are malformed", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+good+" "+good) }, 401, malformed, ""},
		{"two Authorization headers are malformed", func(r *http.Request) {
			r.Header.Add("Authorization", "Bearer "+good)
			r.Header.Add("Authorization", "Bearer "+good)
		}, 401, malformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api", nil)
			tc.prepare(r)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tc.status, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.authHeader {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.authHeader)
			}
			if tc.body != "" && strings.TrimSpace(w.Body.String()) != tc.body {
				t.Errorf("body = %s, want %s", w.Body, tc.body)
			}
			if tc.status != 200 && (w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Content-Type") != "application/json") {
				t.Errorf("headers = %v, want no-store JSON", w.Header())
			}
		})
	}
}

func TestRequireScopeAndRequireRole(t *testing.T) {
	f := newFixture(t, nil)
	token := f.iss.Token(map[string]any{"scope": "openid orders:read", "roles": []string{"staff"}})
	chain := func(mw ...func(http.Handler) http.Handler) http.Handler {
		var h http.Handler = ok
		for i := len(mw) - 1; i >= 0; i-- {
			h = mw[i](h)
		}
		return f.v.Middleware(h)
	}
	for _, tc := range []struct {
		name       string
		h          http.Handler
		status     int
		authHeader string
	}{
		{"a granted scope passes", chain(RequireScope("orders:read")), 200, ""},
		{"a granted role passes", chain(RequireRole("staff")), 200, ""},
		{"scope and role together pass", chain(RequireScope("openid", "orders:read"), RequireRole("staff")), 200, ""},
		{"a missing scope is 403 naming the scope", chain(RequireScope("orders:write")), 403,
			`Bearer error="insufficient_scope", error_description="the token lacks a scope this resource requires: orders:write", scope="orders:write"`},
		{"every listed scope is required", chain(RequireScope("orders:read", "orders:write")), 403,
			`Bearer error="insufficient_scope", error_description="the token lacks a scope this resource requires: orders:read orders:write", scope="orders:read orders:write"`},
		{"a missing role is 403", chain(RequireRole("admin")), 403,
			`Bearer error="insufficient_scope", error_description="the user lacks a role this resource requires: admin"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(tc.h, token)
			if w.Code != tc.status || w.Header().Get("WWW-Authenticate") != tc.authHeader {
				t.Fatalf("got %d %q, want %d %q", w.Code, w.Header().Get("WWW-Authenticate"), tc.status, tc.authHeader)
			}
			if tc.status == 403 && !strings.Contains(w.Body.String(), `"error":"insufficient_scope"`) {
				t.Errorf("body = %s", w.Body)
			}
		})
	}

	// Without the middleware in front, a requirement refuses with 500.
	w := do(RequireRole("staff")(ok), token)
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "RequireRole") {
		t.Fatalf("requirement without middleware: %d %s", w.Code, w.Body)
	}
}

func TestWithIntrospectionAsksSocialbridgeForEachRequest(t *testing.T) {
	f := newFixture(t, nil)
	h := f.v.MiddlewareWith(WithIntrospection())(ok)
	token := f.iss.Token(map[string]any{"sid": "s-1"})

	for range 3 {
		if w := do(h, token); w.Code != 200 {
			t.Fatalf("status = %d (%s)", w.Code, w.Body)
		}
	}
	if n := f.iss.Requests(verifytest.IntrospectionPath); n != 3 {
		t.Fatalf("introspection requests = %d, want 3", n)
	}

	// Revoked at socialbridge: refused at once, before any feed read.
	f.iss.RevokeSession("s-1", "user-1")
	w := do(h, token)
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") != `Bearer error="invalid_token", error_description="the token has been revoked"` {
		t.Fatalf("inactive token: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	if _, err := f.v.Verify(t.Context(), token); err != nil {
		t.Fatalf("Verify without introspection still accepts it until the feed is read: %v", err)
	}

	// Bad tokens never reach socialbridge.
	before := f.iss.Requests(verifytest.IntrospectionPath)
	if w := do(h, f.iss.Sign(map[string]any{"typ": "JWT"}, nil)); w.Code != 401 {
		t.Fatalf("status = %d", w.Code)
	}
	if f.iss.Requests(verifytest.IntrospectionPath) != before {
		t.Fatal("a locally invalid token was sent to introspection")
	}

	// Introspection down: 503, whatever FailOpen says.
	f.iss.Fail(verifytest.IntrospectionPath, http.StatusTooManyRequests)
	w = do(h, f.iss.Token(nil))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("introspection down: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
}

func TestIntrospectionWithoutCredentialsIsAServerError(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ClientID, c.ClientSecret = "", "" })
	w := do(f.v.MiddlewareWith(WithIntrospection())(ok), f.iss.Token(nil))
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", w.Code)
	}
}
