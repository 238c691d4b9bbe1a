package verify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/verify/verifytest"
)

// clock is a controllable clock shared by a fake issuer and a verifier.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is an issuer, a verifier of its tokens and their clock. The
// verifier's background feed reads are an hour apart, so that a test
// decides when the feed is read (sync) and nothing races with it.
type fixture struct {
	iss   *verifytest.Issuer
	v     *Verifier
	clock *clock
}

func newFixture(t *testing.T, edit func(*Config), opts ...verifytest.Option) *fixture {
	t.Helper()
	clk := newClock()
	iss := verifytest.NewIssuer(t, append([]verifytest.Option{verifytest.WithClock(clk.Now)}, opts...)...)
	cfg := Config{
		Issuer: iss.URL, Audience: []string{iss.Audience},
		ClientID: iss.ClientID, ClientSecret: iss.ClientSecret,
		Now: clk.Now, FeedInterval: time.Hour, FeedMaxStale: 2 * time.Hour,
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return &fixture{iss: iss, v: v, clock: clk}
}

// sync reads the revocation feed now, as the next background read would.
func (f *fixture) sync(t *testing.T) {
	t.Helper()
	if err := f.v.feed.sync(t.Context()); err != nil {
		t.Fatalf("feed sync: %v", err)
	}
}

// reasonOf returns the Reason of an error of this package, or "".
func reasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// wantReason fails unless err is an *Error with reason r that errors.Is
// recognises too.
func wantReason(t *testing.T, err error, r Reason) {
	t.Helper()
	if got := reasonOf(err); got != r || !errors.Is(err, r) {
		t.Fatalf("err = %v (reason %q), want reason %q", err, got, r)
	}
}

// do sends a request with token (none when "") through h.
func do(h http.Handler, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/api", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// ok is a handler that answers the subject it sees.
var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, found := ClaimsFrom(r.Context())
	if !found {
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte(c.Subject))
})

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
