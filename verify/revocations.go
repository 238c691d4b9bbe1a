package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// maxFeedPages bounds the pages one sync follows (a million entries at
// socialbridge's page size); the rest is read at the next tick.
const maxFeedPages = 1000

// revocationSet is an immutable snapshot of the revocations that still
// matter. Verify reads it through an atomic pointer without locking; the
// feed follower builds a new one and swaps it in. Lookups are two map
// reads whatever its size, and allocate nothing.
type revocationSet struct {
	// sessions maps a revoked sid to when its entry stops mattering
	// (Unix seconds).
	sessions map[string]int64
	// users maps a sub to its latest not-before.
	users map[string]userRevocation
	// minUntil is the earliest until in the set (math.MaxInt64 when
	// empty): nothing needs pruning before it.
	minUntil int64
}

type userRevocation struct {
	notBefore int64 // tokens with iat before it are revoked
	until     int64
}

func newRevocationSet(sessions, users int) *revocationSet {
	return &revocationSet{
		sessions: make(map[string]int64, sessions),
		users:    make(map[string]userRevocation, users),
		minUntil: math.MaxInt64,
	}
}

// revoked reports whether a token of session sid and user sub, issued at
// iat (Unix seconds), is revoked. An entry may outlive its until until the
// next prune; that changes nothing, since every token it revokes has
// expired by then.
func (s *revocationSet) revoked(sid, sub string, iat int64) bool {
	if _, ok := s.sessions[sid]; ok {
		return true
	}
	u, ok := s.users[sub]
	return ok && iat < u.notBefore
}

func (s *revocationSet) clone() *revocationSet {
	return &revocationSet{sessions: maps.Clone(s.sessions), users: maps.Clone(s.users), minUntil: s.minUntil}
}

// add merges a feed page: a session stays revoked until its latest until,
// a user keeps the largest not-before.
func (s *revocationSet) add(p *feedPage) {
	for _, e := range p.Sessions {
		if e.SID == "" {
			continue
		}
		s.sessions[e.SID] = max(s.sessions[e.SID], e.Until)
		s.minUntil = min(s.minUntil, e.Until)
	}
	for _, e := range p.Users {
		if e.Subject == "" {
			continue
		}
		u := s.users[e.Subject]
		u.notBefore, u.until = max(u.notBefore, e.NotBefore), max(u.until, e.Until)
		s.users[e.Subject] = u
		s.minUntil = min(s.minUntil, e.Until)
	}
}

// prune deletes the entries whose until is past by more than leeway (a
// token the verifier accepts leeway after its exp is still covered), and
// reports whether it deleted any.
func (s *revocationSet) prune(now time.Time, leeway time.Duration) bool {
	cut := now.Add(-leeway).Unix()
	if s.minUntil >= cut {
		return false
	}
	pruned := false
	s.minUntil = math.MaxInt64
	for sid, until := range s.sessions {
		if until < cut {
			delete(s.sessions, sid)
			pruned = true
		} else {
			s.minUntil = min(s.minUntil, until)
		}
	}
	for sub, u := range s.users {
		if u.until < cut {
			delete(s.users, sub)
			pruned = true
		} else {
			s.minUntil = min(s.minUntil, u.until)
		}
	}
	return pruned
}

// needsPrune reports whether some entry is past its until plus leeway.
func (s *revocationSet) needsPrune(now time.Time, leeway time.Duration) bool {
	return s.minUntil < now.Add(-leeway).Unix()
}

// feedPage is one response of socialbridge's revocation feed.
type feedPage struct {
	Reset    bool   `json:"reset"`
	Cursor   string `json:"cursor"`
	More     bool   `json:"more"`
	Window   int64  `json:"window"`
	Sessions []struct {
		SID       string `json:"sid"`
		Subject   string `json:"sub"`
		RevokedAt int64  `json:"revoked_at"`
		Until     int64  `json:"until"`
	} `json:"sessions"`
	Users []struct {
		Subject   string `json:"sub"`
		NotBefore int64  `json:"not_before"`
		Until     int64  `json:"until"`
	} `json:"users"`
}

// feed follows the revocation feed. sync runs on one goroutine at a time
// (New, then the follower); Verify reads set and lastOK concurrently.
type feed struct {
	url      string
	clientID string
	secret   string
	client   *http.Client
	now      func() time.Time
	leeway   time.Duration
	maxStale time.Duration
	failOpen bool
	logger   *slog.Logger

	set    atomic.Pointer[revocationSet]
	lastOK atomic.Int64 // Unix nanoseconds of the last complete sync

	// Owned by the syncing goroutine.
	cursor string
	etag   string
	stale  bool // logged as stale, so that recovery is logged once
}

// isStale reports whether the feed has not been read for longer than
// maxStale.
func (f *feed) isStale(now time.Time) bool {
	return now.UnixNano()-f.lastOK.Load() > int64(f.maxStale)
}

// sync reads the feed from the cursor on, following pages while the feed
// says more, and swaps in the new set. It is all or nothing: on an error
// neither the set nor the cursor changes, so the next sync reads the same
// pages again (entries are a set; reading one twice is harmless).
func (f *feed) sync(ctx context.Context) error {
	cursor, etag := f.cursor, f.etag
	cur := f.set.Load()
	var next *revocationSet // the set being built, once a page changes it
	for range maxFeedPages {
		page, tag, err := f.fetch(ctx, cursor, etag)
		if errors.Is(err, errCursorRefused) {
			// Start again from the whole feed at the next sync rather
			// than send a refused cursor forever.
			f.cursor, f.etag = "", ""
		}
		if err != nil {
			return err
		}
		if page == nil { // 304: nothing new since etag; keep the cursor
			break
		}
		// A reset page (the whole feed) is added to what is known, like
		// any other: a revocation never ends before its until, and the
		// feed keeps entries for the token lifetime plus a minute only,
		// which Leeway may stretch past. Pruning drops what has expired.
		if next == nil && len(page.Sessions)+len(page.Users) > 0 {
			next = cur.clone()
		}
		if next != nil {
			next.add(page)
		}
		advanced := page.Cursor != cursor
		cursor, etag = page.Cursor, tag
		if !page.More || !advanced {
			// Done; or a feed that says more without moving its cursor,
			// which asking again would not change.
			break
		}
	}
	if next != nil {
		next.prune(f.now(), f.leeway)
		f.set.Store(next)
	} else if cur.needsPrune(f.now(), f.leeway) {
		next = cur.clone()
		next.prune(f.now(), f.leeway)
		f.set.Store(next)
	}
	f.cursor, f.etag = cursor, etag
	f.lastOK.Store(f.now().UnixNano())
	if f.stale {
		f.stale = false
		f.logger.Info("revocation feed readable again", "sessions", len(f.set.Load().sessions), "users", len(f.set.Load().users))
	}
	return nil
}

// errCursorRefused is the feed refusing a cursor (400): one it did not
// issue, or one from a clock far ahead.
var errCursorRefused = errors.New("cursor refused")

// fetch reads one page; a nil page means 304 Not Modified.
func (f *feed) fetch(ctx context.Context, cursor, etag string) (*feedPage, string, error) {
	u, err := url.Parse(f.url)
	if err != nil {
		return nil, "", fmt.Errorf("revocation feed URL: %w", err)
	}
	if cursor != "" {
		q := u.Query()
		q.Set("cursor", cursor)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", fmt.Errorf("revocation feed: %w", err)
	}
	setClientAuth(req, f.clientID, f.secret)
	req.Header.Set("Accept", "application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("revocation feed: %w", err)
	}
	defer drainClose(resp)
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, etag, nil
	case http.StatusOK:
	case http.StatusBadRequest:
		if cursor != "" {
			return nil, "", fmt.Errorf("revocation feed: %w: %w", errCursorRefused, statusError(resp))
		}
		return nil, "", fmt.Errorf("revocation feed: %w", statusError(resp))
	default:
		return nil, "", fmt.Errorf("revocation feed: %w", statusError(resp))
	}
	var p feedPage
	if err := decodeJSON(resp, maxFeedBytes, &p); err != nil {
		return nil, "", fmt.Errorf("revocation feed: %w", err)
	}
	if p.Cursor == "" {
		return nil, "", errors.New("revocation feed: response has no cursor")
	}
	return &p, resp.Header.Get("ETag"), nil
}

// follow syncs every interval until ctx is done, logging failures and the
// moment the feed turns stale.
func (f *feed) follow(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := f.sync(ctx)
		if err == nil || ctx.Err() != nil {
			continue
		}
		now := f.now()
		since := time.Duration(now.UnixNano() - f.lastOK.Load()).Round(time.Second)
		f.logger.Warn("revocation feed unreadable", "err", err, "last_read_ago", since)
		if f.isStale(now) && !f.stale {
			f.stale = true
			if f.failOpen {
				f.logger.Error("revocation feed stale: accepting tokens from the last revocations known (FailOpen)", "last_read_ago", since)
			} else {
				f.logger.Error("revocation feed stale: refusing tokens with 503 until it is read again", "last_read_ago", since)
			}
		}
	}
}
