package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/verify/verifytest"
)

// A key that left the set is never taken back: a replica that has not
// heard of a retirement yet may publish the key again for a few seconds.
func TestAKeyThatLeftTheSetIsNeverTakenBack(t *testing.T) {
	f := newFixture(t, nil)
	old := f.iss.KeyID()
	oldToken := f.iss.Token(nil)
	fresh := f.iss.Rotate("")
	f.iss.Unpublish(old)
	if err := f.v.keys.refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := f.v.Verify(t.Context(), oldToken)
	wantReason(t, err, UnknownKey)

	stale, _ := json.Marshal(map[string]any{"keys": []map[string]string{
		verifytest.JWK(old, "ES256", f.iss.PublicKey(old)), verifytest.JWK(fresh, "ES256", f.iss.PublicKey(fresh)),
	}})
	f.iss.Override(verifytest.JWKSPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(stale)
	}))
	if err := f.v.keys.refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err = f.v.Verify(t.Context(), oldToken)
	wantReason(t, err, UnknownKey)
	if _, err := f.v.Verify(t.Context(), f.iss.Token(nil)); err != nil {
		t.Errorf("a token of the current key: %v", err)
	}
}

// Introspection answers for itself: a stale feed does not make it fail.
func TestIntrospectionDoesNotDependOnTheFeed(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.FeedInterval, c.FeedMaxStale = time.Minute, 2*time.Minute })
	token := f.iss.Token(nil)
	f.iss.Fail(verifytest.FeedPath, http.StatusBadGateway)
	f.clock.Advance(3 * time.Minute)
	_, err := f.v.Verify(t.Context(), token)
	wantReason(t, err, RevocationUnavailable)
	c, err := f.v.Introspect(t.Context(), token)
	if err != nil {
		t.Fatalf("Introspect with a stale feed: %v, want the token accepted by socialbridge", err)
	}
	f.iss.RevokeSession(c.SessionID, c.Subject)
	_, err = f.v.Introspect(t.Context(), token)
	wantReason(t, err, Revoked)
}

// A Leeway longer than the minute the feed adds to its window could let a
// token outlive the revocation that refuses it.
func TestLeewayIsAtMostAMinute(t *testing.T) {
	iss := verifytest.NewIssuer(t)
	_, err := New(t.Context(), Config{Issuer: iss.URL, Audience: []string{iss.Audience}, Leeway: 2 * time.Minute})
	if err == nil || !strings.Contains(err.Error(), "Leeway: must be between 0 and 1m0s") {
		t.Fatalf("New with a 2m leeway: %v", err)
	}
}

// The default client follows no redirect: every URL is checked before
// use, and a redirect would carry the client credentials elsewhere.
func TestTheDefaultClientFollowsNoRedirect(t *testing.T) {
	var hits int
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	t.Cleanup(elsewhere.Close)
	iss := verifytest.NewIssuer(t)
	iss.Override(verifytest.JWKSPath, http.RedirectHandler(elsewhere.URL+"/jwks", http.StatusFound))
	_, err := New(t.Context(), Config{Issuer: iss.URL, Audience: []string{iss.Audience}})
	if err == nil {
		t.Fatal("New followed a redirect of the JWKS")
	}
	if hits != 0 {
		t.Errorf("the redirect target got %d requests", hits)
	}
}

// lockedBuffer is a log sink safe for the background goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A context passed to New that ends before Close stops the background
// work; that is said in the log, not left silent.
func TestAContextThatEndsBeforeCloseIsLogged(t *testing.T) {
	iss := verifytest.NewIssuer(t)
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	v, err := New(ctx, Config{Issuer: iss.URL, Audience: []string{iss.Audience}, ClientID: iss.ClientID, ClientSecret: iss.ClientSecret,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitFor(t, "the log line", func() bool { return strings.Contains(logs.String(), "context given to New ended before Close") })
	_ = v.Close()

	logs2 := &lockedBuffer{}
	v2, err := New(context.Background(), Config{Issuer: iss.URL, Audience: []string{iss.Audience}, Logger: slog.New(slog.NewTextHandler(logs2, nil))})
	if err != nil {
		t.Fatal(err)
	}
	_ = v2.Close()
	if strings.Contains(logs2.String(), "ended before Close") {
		t.Errorf("Close logged the context warning: %s", logs2.String())
	}
}
