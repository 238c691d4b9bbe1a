package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

// The revocation feed (GET /revocations) tells backends which access
// tokens to refuse although their signature and expiry are fine: those of
// revoked sessions, and a user's tokens issued before the user's
// not-before. An entry matters only as long as a token it revokes can be
// unexpired: FeedWindow past its time.
const (
	// FeedPageSize is the most entries one response holds (a page never
	// splits entries of one instant, so it can hold a few more).
	FeedPageSize = 1000
	// FeedOverlap is how far back a caught-up cursor reads again:
	// replicas stamp revocations with their own clocks and commit a
	// moment later, so an entry can appear with a time a little older
	// than entries already read. Entries are a set; reading one again is
	// harmless.
	FeedOverlap = 30 * time.Second
	// feedLeeway is added to the access-token lifetime: the clock leeway
	// a verifier allows past exp.
	feedLeeway = time.Minute
)

// Feed is one response of the revocation feed.
type Feed struct {
	// Reset says the entries are the whole feed (everything younger than
	// the window): the backend replaces its set instead of adding to it.
	Reset bool `json:"reset"`
	// Cursor is sent back as ?cursor= on the next request.
	Cursor string `json:"cursor"`
	// More says the next page follows at once (a backlog).
	More bool `json:"more"`
	// Window is how long, in seconds, an entry matters after its time.
	Window   int64            `json:"window"`
	Sessions []RevokedSession `json:"sessions"`
	Users    []RevokedUser    `json:"users"`
	// ETag identifies the entries, for If-None-Match.
	ETag string `json:"-"`
}

// RevokedSession revokes every token of session SID.
type RevokedSession struct {
	SID     string `json:"sid"`
	Subject string `json:"sub"`
	// RevokedAt is when (Unix seconds); Until is when the entry stops
	// mattering (no token of the session can be unexpired then).
	RevokedAt int64 `json:"revoked_at"`
	Until     int64 `json:"until"`
}

// RevokedUser revokes every access token of user Subject whose iat is
// before NotBefore (Unix seconds).
type RevokedUser struct {
	Subject   string `json:"sub"`
	NotBefore int64  `json:"not_before"`
	Until     int64  `json:"until"`
}

// FeedRequest asks for the revocation feed.
type FeedRequest struct {
	Client ClientCredentials
	// Cursor is the previous response's cursor; empty for the whole feed.
	Cursor string
}

// feedWindow is how long a revocation matters: the longest access-token
// lifetime of any client, plus the verifiers' clock leeway.
func (b *Bridge) feedWindow() time.Duration {
	longest := 15 * time.Minute
	if len(b.clients) > 0 {
		longest = 0
	}
	for _, c := range b.clients {
		longest = max(longest, c.AccessTTL)
	}
	return longest + feedLeeway
}

// Revocations reads the revocation feed for a backend (authenticated like
// introspection). Without a cursor, or with one older than the window, it
// returns the whole feed (Reset); with a cursor, the entries since it
// (reading FeedOverlap again once caught up), a page at a time.
func (b *Bridge) Revocations(ctx context.Context, r FeedRequest) (*Feed, error) {
	if _, err := b.authenticateBackend(r.Client); err != nil {
		return nil, err
	}
	now := b.o.Now()
	window := b.feedWindow()
	floor := now.Add(-window)
	since, reset := floor, true
	if r.Cursor != "" {
		at, paging, err := parseCursor(r.Cursor)
		if err != nil || at.After(now.Add(time.Minute)) {
			return nil, invalidRequest("cursor is not one this feed returned; start again without it")
		}
		if !paging {
			at = at.Add(-FeedOverlap)
		}
		if !at.Before(floor) {
			since, reset = at, false
		}
	}
	list, err := b.o.Store.RevocationsSince(ctx, since, FeedPageSize)
	if err != nil {
		return nil, fmt.Errorf("read revocations: %w", err)
	}
	f := &Feed{Reset: reset, Window: int64(window / time.Second), Sessions: []RevokedSession{}, Users: []RevokedUser{}}
	newest := now.Add(-FeedOverlap)
	for _, e := range list {
		if e.At.After(newest) {
			newest = e.At
		}
		until := e.At.Add(window).Unix()
		switch e.Kind {
		case store.RevokedSession:
			f.Sessions = append(f.Sessions, RevokedSession{SID: e.SessionID, Subject: e.UserID, RevokedAt: e.At.Unix(), Until: until})
		case store.RevokedUser:
			f.Users = append(f.Users, RevokedUser{Subject: e.UserID, NotBefore: e.At.Truncate(time.Second).Unix(), Until: until})
		}
	}
	// An entry stamped ahead of our clock (another replica's clock runs
	// fast) must not carry the cursor into the future, where it would be
	// refused; the next read, from now less the overlap, sees it again.
	if newest.After(now) {
		newest = now
	}
	if len(list) >= FeedPageSize {
		f.More = true
		f.Cursor = formatCursor(list[len(list)-1].At.Add(time.Millisecond), true)
	} else {
		f.Cursor = formatCursor(newest, false)
	}
	f.ETag = feedETag(f)
	b.observer().Feed(f.Reset, len(f.Sessions)+len(f.Users))
	return f, nil
}

// A cursor is "v1.c.<unix ms>" once caught up (read again from FeedOverlap
// before it) or "v1.p.<unix ms>" within a backlog (continue exactly there).
// Backends treat it as opaque.
func formatCursor(t time.Time, paging bool) string {
	kind := "c"
	if paging {
		kind = "p"
	}
	return "v1." + kind + "." + strconv.FormatInt(t.UnixMilli(), 10)
}

func parseCursor(s string) (time.Time, bool, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] != "v1" || (parts[1] != "c" && parts[1] != "p") || len(parts[2]) > 15 {
		return time.Time{}, false, fmt.Errorf("malformed cursor")
	}
	ms, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || ms < 0 {
		return time.Time{}, false, fmt.Errorf("malformed cursor")
	}
	return time.UnixMilli(ms).UTC(), parts[1] == "p", nil
}

// feedETag identifies a response by what it tells the backend (its
// entries and whether they replace the set), not by its cursor: a backend
// polling an unchanged feed gets 304 and keeps its previous cursor.
func feedETag(f *Feed) string {
	body, _ := json.Marshal(struct {
		Reset    bool
		More     bool
		Sessions []RevokedSession
		Users    []RevokedUser
	}{f.Reset, f.More, f.Sessions, f.Users})
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}
