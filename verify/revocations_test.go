package verify

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/verify/verifytest"
)

func TestARevokedSessionIsRefusedAfterTheNextFeedRead(t *testing.T) {
	f := newFixture(t, nil)
	token := f.iss.Token(map[string]any{"sid": "s-1", "sub": "u-1"})
	other := f.iss.Token(map[string]any{"sid": "s-2", "sub": "u-1"})
	f.iss.RevokeSession("s-1", "u-1")

	if _, err := f.v.Verify(t.Context(), token); err != nil {
		t.Fatalf("before the feed is read the token is still accepted (offline), got %v", err)
	}
	f.sync(t)
	_, err := f.v.Verify(t.Context(), token)
	wantReason(t, err, Revoked)
	if _, err := f.v.Verify(t.Context(), other); err != nil {
		t.Fatalf("another session of the same user: %v", err)
	}
	w := do(f.v.Middleware(ok), token)
	if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") != `Bearer error="invalid_token", error_description="the token has been revoked"` {
		t.Fatalf("middleware: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func TestAUserNotBeforeRefusesOlderTokensAndAcceptsNewerOnes(t *testing.T) {
	f := newFixture(t, nil)
	before := f.iss.Token(map[string]any{"sub": "u-1"})
	f.clock.Advance(2 * time.Second)
	f.iss.RevokeUser("u-1") // not_before: now
	sameSecond := f.iss.Token(map[string]any{"sub": "u-1"})
	f.clock.Advance(time.Second)
	after := f.iss.Token(map[string]any{"sub": "u-1"})
	otherUser := f.iss.Token(map[string]any{"sub": "u-2", "iat": f.clock.Now().Add(-time.Hour).Unix()})
	f.sync(t)

	_, err := f.v.Verify(t.Context(), before)
	wantReason(t, err, Revoked)
	for name, tok := range map[string]string{"issued in the not-before second": sameSecond, "issued after": after, "another user": otherUser} {
		if _, err := f.v.Verify(t.Context(), tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestTheBackgroundFollowerReadsTheFeed(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.FeedInterval, c.FeedMaxStale = 10*time.Millisecond, time.Minute })
	token := f.iss.Token(map[string]any{"sid": "s-bg"})
	if _, err := f.v.Verify(t.Context(), token); err != nil {
		t.Fatal(err)
	}
	f.iss.RevokeSession("s-bg", "user-1")
	waitFor(t, "the follower to read the revocation", func() bool {
		_, err := f.v.Verify(t.Context(), token)
		return reasonOf(err) == Revoked
	})
}

// feedStep is one scripted exchange with the revocation feed: what the
// verifier must send, and what it gets.
type feedStep struct {
	cursor, ifNoneMatch string // expected
	status              int
	etag, body          string
}

// scriptFeed serves steps in order at the feed path and fails the test on
// a request that does not match its step.
func scriptFeed(t *testing.T, iss *verifytest.Issuer, steps ...feedStep) (done func() bool) {
	var mu sync.Mutex
	n := 0
	iss.Override(verifytest.FeedPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if n >= len(steps) {
			t.Errorf("feed request %d beyond the script (cursor %q)", n+1, r.URL.Query().Get("cursor"))
			http.Error(w, "no more steps", http.StatusInternalServerError)
			return
		}
		s := steps[n]
		n++
		id, secret, _ := r.BasicAuth()
		if id != iss.ClientID || !strings.Contains(secret, "%") {
			t.Errorf("step %d: Basic credentials %q:%q are not the form-encoded client credentials", n, id, secret)
		}
		if got := r.URL.Query().Get("cursor"); got != s.cursor {
			t.Errorf("step %d: cursor = %q, want %q", n, got, s.cursor)
		}
		if got := r.Header.Get("If-None-Match"); got != s.ifNoneMatch {
			t.Errorf("step %d: If-None-Match = %q, want %q", n, got, s.ifNoneMatch)
		}
		if s.etag != "" {
			w.Header().Set("ETag", s.etag)
		}
		if s.body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(s.status)
		_, _ = w.Write([]byte(s.body))
	}))
	return func() bool { mu.Lock(); defer mu.Unlock(); return n == len(steps) }
}

// page renders a feed response; sessions and users are "sid" and
// "sub@not_before_offset_seconds" relative to now, all until now+1h.
func page(now time.Time, reset, more bool, cursor string, sessions []string, users []string) string {
	until := now.Add(time.Hour).Unix()
	var ss, us []string
	for _, s := range sessions {
		ss = append(ss, fmt.Sprintf(`{"sid":%q,"sub":"u","revoked_at":%d,"until":%d}`, s, now.Unix(), until))
	}
	for _, u := range users {
		sub, off, _ := strings.Cut(u, "@")
		var d int64
		_, _ = fmt.Sscan(off, &d)
		us = append(us, fmt.Sprintf(`{"sub":%q,"not_before":%d,"until":%d}`, sub, now.Unix()+d, until))
	}
	return fmt.Sprintf(`{"reset":%t,"cursor":%q,"more":%t,"window":960,"sessions":[%s],"users":[%s]}`,
		reset, cursor, more, strings.Join(ss, ","), strings.Join(us, ","))
}

func (f *fixture) revokedSessions() []string {
	var out []string
	for sid := range f.v.feed.set.Load().sessions {
		out = append(out, sid)
	}
	slices.Sort(out)
	return out
}

func TestAFeedOfManyPagesIsReadWhole(t *testing.T) {
	f := newFixture(t, nil, verifytest.WithFeedPageSize(2))
	for i := range 5 {
		f.iss.RevokeSession(fmt.Sprintf("s-%d", i), "u")
	}
	f.iss.ResetFeed()
	before := f.iss.Requests(verifytest.FeedPath)
	f.sync(t)
	if got := f.iss.Requests(verifytest.FeedPath) - before; got != 3 {
		t.Fatalf("%d feed requests for 5 entries in pages of 2, want 3", got)
	}
	if got := strings.Join(f.revokedSessions(), ","); got != "s-0,s-1,s-2,s-3,s-4" {
		t.Fatalf("revoked sessions = %s", got)
	}
}

func TestTheFeedProtocol(t *testing.T) {
	// New reads the whole feed; then each sync is checked against what
	// socialbridge would answer.
	clk := newClock()
	iss := verifytest.NewIssuer(t, verifytest.WithClock(clk.Now))
	now := clk.Now()
	done := scriptFeed(t, iss,
		// New: no cursor, the whole feed.
		feedStep{"", "", 200, `"e1"`, page(now, true, false, "c1", []string{"s1"}, nil)},
		// Nothing new: 304, and the cursor is kept.
		feedStep{"c1", `"e1"`, 304, `"e1"`, ""},
		// A backlog of two pages: followed at once, added to the set.
		feedStep{"c1", `"e1"`, 200, `"e2"`, page(now, false, true, "c2", []string{"s2"}, nil)},
		feedStep{"c2", `"e2"`, 200, `"e3"`, page(now, false, false, "c3", nil, []string{"u1@0", "u1@-100"})},
		// A reset of two pages (the whole feed) adds to the set: a
		// revocation never ends before its until.
		feedStep{"c3", `"e3"`, 200, `"e4"`, page(now, true, true, "c4", []string{"s4"}, nil)},
		feedStep{"c4", `"e4"`, 200, `"e5"`, page(now, false, false, "c5", []string{"s5"}, nil)},
		// A failure in the middle of a backlog changes nothing...
		feedStep{"c5", `"e5"`, 200, `"e6"`, page(now, false, true, "c6", []string{"s6"}, nil)},
		feedStep{"c6", `"e6"`, 500, "", `{"error":"server_error"}`},
		// ...and the next sync reads it again from the last cursor.
		feedStep{"c5", `"e5"`, 200, `"e6"`, page(now, false, true, "c6", []string{"s6"}, nil)},
		feedStep{"c6", `"e6"`, 200, `"e7"`, page(now, false, false, "c7", []string{"s7"}, nil)},
		// A refused cursor (400) is dropped: the next sync starts again
		// from the whole feed instead of sending it forever.
		feedStep{"c7", `"e7"`, 400, "", `{"error":"invalid_request","error_description":"cursor is not one this feed returned"}`},
		feedStep{"", "", 200, `"e8"`, page(now, true, false, "c8", []string{"s8"}, nil)},
	)
	v, err := New(t.Context(), Config{
		Issuer: iss.URL, Audience: []string{iss.Audience}, ClientID: iss.ClientID, ClientSecret: iss.ClientSecret,
		Now: clk.Now, FeedInterval: time.Hour, FeedMaxStale: 2 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	f := &fixture{iss: iss, v: v, clock: clk}
	check := func(step string, want ...string) {
		t.Helper()
		if got := strings.Join(f.revokedSessions(), ","); got != strings.Join(want, ",") {
			t.Fatalf("%s: revoked sessions = [%s], want [%s]", step, got, strings.Join(want, ","))
		}
	}
	check("after New", "s1")
	f.sync(t) // 304
	check("after a 304", "s1")
	if f.v.feed.cursor != "c1" {
		t.Fatalf("cursor after a 304 = %q, want c1", f.v.feed.cursor)
	}
	f.sync(t) // two pages
	check("after a backlog", "s1", "s2")
	if u := f.v.feed.set.Load().users["u1"]; u.notBefore != now.Unix() {
		t.Fatalf("u1 not_before = %d, want the largest, %d", u.notBefore, now.Unix())
	}
	f.sync(t) // reset
	check("after a reset", "s1", "s2", "s4", "s5")
	if len(f.v.feed.set.Load().users) != 1 {
		t.Fatal("a reset dropped users known before it")
	}
	if err := f.v.feed.sync(t.Context()); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("sync with a failing page = %v, want the 500", err)
	}
	check("after a failed sync", "s1", "s2", "s4", "s5")
	if f.v.feed.cursor != "c5" || f.v.feed.etag != `"e5"` {
		t.Fatalf("a failed sync moved the cursor to %q/%q", f.v.feed.cursor, f.v.feed.etag)
	}
	f.sync(t)
	check("after the retry", "s1", "s2", "s4", "s5", "s6", "s7")
	if err := f.v.feed.sync(t.Context()); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("sync with a refused cursor = %v, want the 400", err)
	}
	check("after a refused cursor", "s1", "s2", "s4", "s5", "s6", "s7")
	f.sync(t)
	check("after starting again", "s1", "s2", "s4", "s5", "s6", "s7", "s8")
	if !done() {
		t.Fatal("not every scripted request was made")
	}
}

func TestExpiredEntriesArePruned(t *testing.T) {
	f := newFixture(t, nil)
	f.iss.RevokeSession("s-old", "u-1")
	f.iss.RevokeUser("u-1")
	f.sync(t)
	set := f.v.feed.set.Load()
	if len(set.sessions) != 1 || len(set.users) != 1 {
		t.Fatalf("set has %d sessions and %d users, want 1 and 1", len(set.sessions), len(set.users))
	}
	// Within until plus leeway the entries stay...
	f.clock.Advance(16*time.Minute + 10*time.Second)
	f.iss.RevokeSession("s-new", "u-2")
	f.sync(t)
	if got := f.revokedSessions(); strings.Join(got, ",") != "s-new,s-old" {
		t.Fatalf("revoked sessions = %v, want s-new and s-old", got)
	}
	// ...and past it they go, even when the feed has nothing new.
	f.clock.Advance(30 * time.Second)
	f.sync(t)
	set = f.v.feed.set.Load()
	if got := f.revokedSessions(); strings.Join(got, ",") != "s-new" || len(set.users) != 0 {
		t.Fatalf("after until+leeway: sessions %v, %d users; want only s-new", got, len(set.users))
	}
}

func TestAStaleFeedFailsClosedByDefault(t *testing.T) {
	// Background reads a real minute apart never happen during the test;
	// the fake clock moves.
	f := newFixture(t, func(c *Config) { c.FeedInterval, c.FeedMaxStale = time.Minute, 2*time.Minute })
	token := f.iss.Token(nil)
	f.iss.RevokeSession("s-r", "user-1")
	revoked := f.iss.Token(map[string]any{"sid": "s-r"})
	f.sync(t)
	f.iss.Fail(verifytest.FeedPath, http.StatusBadGateway)

	f.clock.Advance(time.Minute)
	if err := f.v.feed.sync(t.Context()); err == nil {
		t.Fatal("sync succeeded against a failing feed")
	}
	if _, err := f.v.Verify(t.Context(), token); err != nil {
		t.Fatalf("within FeedMaxStale: %v", err)
	}

	f.clock.Advance(time.Minute + time.Second)
	_, err := f.v.Verify(t.Context(), token)
	wantReason(t, err, RevocationUnavailable)
	_, err = f.v.Verify(t.Context(), revoked)
	wantReason(t, err, Revoked) // what is known to be revoked stays refused
	w := do(f.v.Middleware(ok), token)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "60" {
		t.Fatalf("middleware: %d, Retry-After %q; want 503 and 60", w.Code, w.Header().Get("Retry-After"))
	}
	if w.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("a 503 has WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
	}
	if !strings.Contains(w.Body.String(), `"error":"temporarily_unavailable"`) {
		t.Errorf("body = %s", w.Body)
	}

	// Once the feed is read again, tokens are accepted again.
	f.iss.Fail(verifytest.FeedPath, 0)
	f.sync(t)
	if _, err := f.v.Verify(t.Context(), token); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestAStaleFeedFailsOpenWhenConfigured(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.FailOpen, c.FeedInterval, c.FeedMaxStale = true, time.Minute, 2*time.Minute })
	token := f.iss.Token(nil)
	f.iss.RevokeSession("s-r", "user-1")
	revoked := f.iss.Token(map[string]any{"sid": "s-r"})
	f.sync(t)
	f.iss.Fail(verifytest.FeedPath, http.StatusBadGateway)
	f.clock.Advance(10 * time.Minute)
	if err := f.v.feed.sync(t.Context()); err == nil {
		t.Fatal("sync succeeded against a failing feed")
	}
	if _, err := f.v.Verify(t.Context(), token); err != nil {
		t.Fatalf("fail open: %v", err)
	}
	_, err := f.v.Verify(t.Context(), revoked)
	wantReason(t, err, Revoked) // from the last revocations known
}

func TestWithoutCredentialsRevocationIsOff(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ClientID, c.ClientSecret = "", "" })
	token := f.iss.Token(map[string]any{"sid": "s-1"})
	f.iss.RevokeSession("s-1", "user-1")
	f.clock.Advance(10 * time.Minute)
	if _, err := f.v.Verify(t.Context(), token); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if n := f.iss.Requests(verifytest.FeedPath); n != 0 {
		t.Fatalf("the feed was read %d times without credentials", n)
	}
}

func TestNewFailsWhenSocialbridgeCannotBeUsed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(iss *verifytest.Issuer, cfg *Config)
		want  string
	}{
		{"discovery down", func(iss *verifytest.Issuer, cfg *Config) { iss.Fail(verifytest.DiscoveryPath, 503) }, "discovery"},
		{"issuer not exactly the configured one", func(iss *verifytest.Issuer, cfg *Config) { cfg.Issuer += "/" }, "issuer is"},
		{"JWKS down", func(iss *verifytest.Issuer, cfg *Config) { iss.Fail(verifytest.JWKSPath, 503) }, "JWKS"},
		{"wrong client secret", func(iss *verifytest.Issuer, cfg *Config) { cfg.ClientSecret = "wrong" }, "invalid_client"},
		{"feed down", func(iss *verifytest.Issuer, cfg *Config) { iss.Fail(verifytest.FeedPath, 503) }, "revocation feed"},
		{"discovery without the feed", func(iss *verifytest.Issuer, cfg *Config) {
			iss.Override(verifytest.DiscoveryPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, iss.URL, iss.URL+verifytest.JWKSPath)
			}))
		}, "revocation_feed_endpoint is missing"},
		{"an http issuer that is not loopback", func(iss *verifytest.Issuer, cfg *Config) { cfg.Issuer = "http://auth.example.com" }, "must be https"},
		{"no audience", func(iss *verifytest.Issuer, cfg *Config) { cfg.Audience = nil }, "Audience"},
		{"a client id without a secret", func(iss *verifytest.Issuer, cfg *Config) { cfg.ClientSecret = "" }, "set both"},
		{"HS256 in the allow-list", func(iss *verifytest.Issuer, cfg *Config) { cfg.Algorithms = []string{"ES256", "HS256"} }, `"HS256"`},
		{"a stale limit below the interval", func(iss *verifytest.Issuer, cfg *Config) { cfg.FeedMaxStale = time.Second }, "FeedMaxStale"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := verifytest.NewIssuer(t)
			cfg := Config{Issuer: iss.URL, Audience: []string{iss.Audience}, ClientID: iss.ClientID, ClientSecret: iss.ClientSecret}
			tc.setup(iss, &cfg)
			v, err := New(t.Context(), cfg)
			if err == nil {
				_ = v.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestCloseStopsTheBackgroundWork(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.FeedInterval, c.FeedMaxStale, c.JWKSRefreshInterval = 5*time.Millisecond, time.Minute, 5*time.Millisecond
	})
	waitFor(t, "a background read", func() bool { return f.iss.Requests(verifytest.FeedPath) > 2 })
	if err := f.v.Close(); err != nil {
		t.Fatal(err)
	}
	_ = f.v.Close() // twice is fine
	// A request sent just before Close may reach the fake server (and be
	// counted) after Close returned: the count is taken once such a
	// request has had time to land. Background work that went on would
	// make some ten more requests of each kind in the next 50 ms.
	time.Sleep(20 * time.Millisecond)
	feed, keys := f.iss.Requests(verifytest.FeedPath), f.iss.Requests(verifytest.JWKSPath)
	time.Sleep(50 * time.Millisecond)
	if f.iss.Requests(verifytest.FeedPath) != feed || f.iss.Requests(verifytest.JWKSPath) != keys {
		t.Fatal("requests continued after Close")
	}
	if _, err := f.v.Verify(t.Context(), f.iss.Token(nil)); err != nil {
		t.Fatalf("Verify after Close, within FeedMaxStale: %v", err)
	}
}

func TestRevocationSetKeepsTheLargestNotBeforeAndLatestUntil(t *testing.T) {
	s := newRevocationSet(0, 0)
	p := &feedPage{}
	_ = json.Unmarshal([]byte(`{"sessions":[{"sid":"a","until":200},{"sid":"a","until":100}],
		"users":[{"sub":"u","not_before":50,"until":300},{"sub":"u","not_before":40,"until":400}]}`), p)
	s.add(p)
	if s.sessions["a"] != 200 || s.users["u"] != (userRevocation{notBefore: 50, until: 400}) || s.minUntil != 100 {
		t.Fatalf("set = %+v", s)
	}
	if !s.revoked("a", "x", 0) || !s.revoked("b", "u", 49) || s.revoked("b", "u", 50) || s.revoked("b", "v", 0) {
		t.Fatal("revoked answers wrongly")
	}
}
