package dev_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/dev"
)

const publicURL = "http://localhost:8080"

var callback = publicURL + "/callback/dev"

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const verifier = "a-verifier-of-at-least-forty-three-characters-long"

func challenge(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// pick plays the person choosing user on the dev page and returns the code.
func pick(t *testing.T, p *dev.Provider, user string) string {
	t.Helper()
	authURL, err := p.AuthCodeURL(context.Background(), providers.AuthRequest{RedirectURI: callback, State: "st", Nonce: "n-1", CodeChallenge: challenge(verifier)})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	page := httptest.NewRecorder()
	p.Handler().ServeHTTP(page, httptest.NewRequest("GET", u.RequestURI(), nil))
	if page.Code != 200 || !strings.Contains(page.Body.String(), "DEV MODE") {
		t.Fatalf("dev page: %d %s", page.Code, page.Body)
	}
	form := u.Query()
	form.Set("user", user)
	req := httptest.NewRequest("POST", dev.PathPrefix+"authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, req)
	loc, err := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), callback+"?") || loc.Query().Get("state") != "st" {
		t.Fatalf("pick %s: %d %q", user, rec.Code, rec.Header().Get("Location"))
	}
	return loc.Query().Get("code")
}

func exchange(p *dev.Provider, code, v, nonce, redirect string) (*providers.Identity, error) {
	return p.Exchange(context.Background(), providers.ExchangeRequest{Code: code, RedirectURI: redirect, CodeVerifier: v, Nonce: nonce})
}

func TestExchange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		run      func(p *dev.Provider, ck *clock, code string) (*providers.Identity, error)
		wantCode string // provider error code, "" for success
	}{
		{"the right verifier and nonce give the picked user", func(p *dev.Provider, _ *clock, code string) (*providers.Identity, error) {
			return exchange(p, code, verifier, "n-1", callback)
		}, ""},
		{"a wrong verifier is an invalid grant", func(p *dev.Provider, _ *clock, code string) (*providers.Identity, error) {
			return exchange(p, code, verifier+"x", "n-1", callback)
		}, providers.CodeInvalidGrant},
		{"a wrong nonce is an invalid token", func(p *dev.Provider, _ *clock, code string) (*providers.Identity, error) {
			return exchange(p, code, verifier, "n-2", callback)
		}, providers.CodeInvalidToken},
		{"another redirect URI is an invalid grant", func(p *dev.Provider, _ *clock, code string) (*providers.Identity, error) {
			return exchange(p, code, verifier, "n-1", callback+"x")
		}, providers.CodeInvalidGrant},
		{"a code is single use, even after a failed attempt", func(p *dev.Provider, _ *clock, code string) (*providers.Identity, error) {
			_, _ = exchange(p, code, "wrong-verifier-wrong-verifier-wrong-verifier", "n-1", callback)
			return exchange(p, code, verifier, "n-1", callback)
		}, providers.CodeInvalidGrant},
		{"an expired code is an invalid grant", func(p *dev.Provider, ck *clock, code string) (*providers.Identity, error) {
			ck.add(61 * time.Second)
			return exchange(p, code, verifier, "n-1", callback)
		}, providers.CodeInvalidGrant},
		{"an unknown code is an invalid grant", func(p *dev.Provider, _ *clock, _ string) (*providers.Identity, error) {
			return exchange(p, "made-up", verifier, "n-1", callback)
		}, providers.CodeInvalidGrant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ck := &clock{now: time.Now()}
			p := dev.New(publicURL, nil, ck.Now)
			ident, err := tt.run(p, ck, pick(t, p, "alice"))
			if tt.wantCode == "" {
				if err != nil || ident.Subject != "alice" || ident.Profile.Email != "alice@example.com" || !ident.Profile.EmailVerified || ident.Provider != "dev" {
					t.Fatalf("Exchange() = %+v, %v", ident, err)
				}
				return
			}
			pe, ok := providers.AsError(err)
			if !ok || pe.Code != tt.wantCode {
				t.Fatalf("Exchange() err = %v, want code %s", err, tt.wantCode)
			}
		})
	}
}

func TestUnverifiedAndMissingEmails(t *testing.T) {
	t.Parallel()
	p := dev.New(publicURL, nil, nil)
	bob, err := exchange(p, pick(t, p, "bob"), verifier, "n-1", callback)
	if err != nil || bob.Profile.EmailVerified || bob.Profile.Email != "bob@example.com" {
		t.Errorf("bob = %+v, %v; want an unverified email", bob, err)
	}
	carol, err := exchange(p, pick(t, p, "carol"), verifier, "n-1", callback)
	if err != nil || carol.Profile.Email != "" || carol.Profile.EmailVerified {
		t.Errorf("carol = %+v, %v; want no email", carol, err)
	}
}

func TestPageRefusals(t *testing.T) {
	t.Parallel()
	p := dev.New(publicURL, nil, nil)
	good := url.Values{"redirect_uri": {callback}, "state": {"s"}, "nonce": {"n"}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}}
	tests := []struct {
		name   string
		method string
		edit   func(v url.Values)
	}{
		{"the page never sends the browser to another site", "GET", func(v url.Values) { v.Set("redirect_uri", "https://evil.example.com/cb") }},
		{"the form never sends the browser to another site", "POST", func(v url.Values) { v.Set("redirect_uri", "https://evil.example.com/cb"); v.Set("user", "alice") }},
		{"plain PKCE is refused", "GET", func(v url.Values) { v.Set("code_challenge_method", "plain") }},
		{"a missing nonce is refused", "GET", func(v url.Values) { v.Del("nonce") }},
		{"an unknown test user is refused", "POST", func(v url.Values) { v.Set("user", "mallory") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{}
			for k, vv := range good {
				v[k] = vv
			}
			tt.edit(v)
			var req *http.Request
			if tt.method == "GET" {
				req = httptest.NewRequest("GET", dev.PathPrefix+"authorize?"+v.Encode(), nil)
			} else {
				req = httptest.NewRequest("POST", dev.PathPrefix+"authorize", strings.NewReader(v.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			rec := httptest.NewRecorder()
			p.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest || rec.Header().Get("Location") != "" {
				t.Fatalf("%s: %d, Location %q; want 400 and no redirect", tt.name, rec.Code, rec.Header().Get("Location"))
			}
		})
	}
}

func TestAuthTimeIsWhenTheTestUserWasPicked(t *testing.T) {
	t.Parallel()
	ck := &clock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	p := dev.New(publicURL, nil, ck.Now)
	picked := ck.Now()
	code := pick(t, p, "alice")
	ck.add(20 * time.Second)
	ident, err := exchange(p, code, verifier, "n-1", callback)
	if err != nil {
		t.Fatal(err)
	}
	if !ident.AuthTime.Equal(picked) {
		t.Errorf("AuthTime = %v, want %v (when the user was picked)", ident.AuthTime, picked)
	}
}
