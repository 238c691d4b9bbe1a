package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/socialbridge/socialbridge/store"
)

// maxTrackedClients bounds the limiter's memory: past it, clients idle
// longest are forgotten first.
const maxTrackedClients = 100_000

// limiter is a token bucket per client IP, and, when shared (see
// Server.RunSharedRateLimit), a count per client IP of the requests every
// replica allowed in the current window.
type limiter struct {
	perSecond rate.Limit
	burst     int
	now       func() time.Time

	mu      sync.Mutex
	clients map[string]*clientBucket
	swept   time.Time
	shared  *sharedLimit // nil: this replica's requests only
}

type clientBucket struct {
	lim  *rate.Limiter
	seen time.Time
	// window and inWindow count, when the limit is shared, the requests
	// this replica allowed the client in the shared window that starts at
	// window, until the client joins the shared count (sharedLimit.join).
	window   time.Time
	inWindow int64
}

// newLimiter returns a limiter allowing perSecond requests per client with
// bursts of twice that, or nil (no limit) when perSecond is not positive.
func newLimiter(perSecond int64, now func() time.Time) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return &limiter{perSecond: rate.Limit(perSecond), burst: int(2 * perSecond), now: now, clients: map[string]*clientBucket{}}
}

// allow takes a token for client, or says how long to wait. When shared,
// a client whose count across the replicas has reached the allowance
// waits for the next window, without taking a token; a request allowed is
// counted for the next flush once the client has joined the shared count
// (see sharedLimit.join).
func (l *limiter) allow(client string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute || len(l.clients) >= maxTrackedClients {
		l.sweep(now)
	}
	sh := l.shared
	if sh != nil {
		if wait := sh.refuse(client, now); wait > 0 {
			return false, wait
		}
	}
	b, ok := l.clients[client]
	if !ok {
		b = &clientBucket{lim: rate.NewLimiter(l.perSecond, l.burst)}
		l.clients[client] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	if sh != nil {
		sh.allowed(client, b)
	}
	return true, 0
}

// sweep forgets clients whose bucket has refilled (idle long enough), and,
// if still too many, the least recently seen half.
func (l *limiter) sweep(now time.Time) {
	l.swept = now
	refill := time.Duration(float64(l.burst) / float64(l.perSecond) * float64(time.Second))
	for k, b := range l.clients {
		if now.Sub(b.seen) > refill {
			delete(l.clients, k)
		}
	}
	if len(l.clients) < maxTrackedClients {
		return
	}
	cutoff := now
	for _, b := range l.clients {
		if b.seen.Before(cutoff) {
			cutoff = b.seen
		}
	}
	mid := cutoff.Add(now.Sub(cutoff) / 2)
	for k, b := range l.clients {
		if b.seen.Before(mid) {
			delete(l.clients, k)
		}
	}
}

// rateLimit refuses a client IP over its rate with 429 and Retry-After: an
// RFC 6749-shaped JSON error for API calls, an error page for browsers.
func (s *Server) rateLimit(c *gin.Context) {
	if s.limiter == nil {
		c.Next()
		return
	}
	ok, wait := s.limiter.allow(rateKey(c.ClientIP()))
	if ok {
		c.Next()
		return
	}
	if s.o.Metrics != nil {
		s.o.Metrics.RateLimited()
	}
	secs := int(math.Ceil(wait.Seconds()))
	c.Header("Retry-After", fmt.Sprint(secs))
	// A browser navigation (sign-in, callback, link and logout pages)
	// gets a page; API calls, fetches included, the JSON error.
	if c.Request.Method == http.MethodGet && strings.Contains(c.GetHeader("Accept"), "text/html") {
		s.errorPage(c, &page{Status: http.StatusTooManyRequests, Title: "Too many requests",
			Message: fmt.Sprintf("Too many sign-in requests from your network. Wait %d seconds and try again.", secs)})
	} else {
		writeOAuthError(c, http.StatusTooManyRequests, "too_many_requests", fmt.Sprintf("rate limit exceeded; retry after %d seconds", secs))
	}
	c.Abort()
}

// IPv6 ranges whose addresses stand for others (rateKey).
var (
	// nat64 are the NAT64 prefixes (RFC 6052, RFC 8215): the last 32 bits
	// are an IPv4 client's address.
	nat64 = []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("64:ff9b:1::/48")}
	// teredo clients share their server's /64 (RFC 4380).
	teredo = netip.MustParsePrefix("2001::/32")
)

// rateKey is the bucket of a client address: the address itself for IPv4,
// its /64 for IPv6, one network (a per-/128 limit would give a host that
// owns a /64 2^64 buckets). An IPv4 client seen through NAT64 is its IPv4
// address, and a Teredo client its whole address, whose /64 is shared by
// every client of one Teredo server.
func rateKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	switch {
	case a.Is4():
		return a.String()
	case slices.ContainsFunc(nat64, func(p netip.Prefix) bool { return p.Contains(a) }):
		b := a.As16()
		return netip.AddrFrom4([4]byte(b[12:])).String()
	case teredo.Contains(a):
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// The shared rate limit (Server.RunSharedRateLimit).
const (
	// sharedWindow is the fixed window, aligned to the clock, over which
	// the replicas count a client's requests.
	sharedWindow = 10 * time.Second
	// sharedFlushInterval is how often a replica sends its counts to the
	// store and learns the totals: the staleness of what it knows of the
	// others.
	sharedFlushInterval = time.Second
	// sharedFlushTimeout bounds one flush; the limiter falls back to the
	// local limit when the store does not answer within it.
	sharedFlushTimeout = 2 * time.Second
	// sharedWarnEvery is the least time between two warnings of failed
	// flushes.
	sharedWarnEvery = time.Minute
	// maxSharedClients bounds the client IPs a replica counts in the
	// store per window (those that joined the shared count, see
	// sharedLimit.allowed), and so the size of one store call and the
	// counters it adds; requests of client IPs past it are limited
	// locally only.
	maxSharedClients = store.MaxRateCountKeys
)

// sharedLimit counts, per client IP, the requests this replica allowed in
// the current fixed window, sends the counts to the store every flush and
// keeps the totals of every replica that the store returns. Its fields are
// guarded by the limiter's mu, except flushMu and what it guards.
type sharedLimit struct {
	counts    store.RateCounts
	logger    *slog.Logger
	allowance int64 // requests per client IP and window, across replicas
	join      int64 // requests of a client in a window before it joins the shared count (allowed)

	start   time.Time                      // the current window
	totals  map[string]int64               // per client IP, every replica's count in start at the last flush
	pending map[time.Time]map[string]int64 // per window, the requests allowed and not flushed yet
	keys    map[string]struct{}            // the client IPs counted in the current window, at most maxSharedClients
	failing bool                           // the last flush failed: local limit only

	// flushMu makes flushes one at a time, and guards the warning state.
	flushMu    sync.Mutex
	lastWarn   time.Time
	suppressed int // failures since the last warning
}

// windowStart is the start of the window that holds now.
func windowStart(now time.Time) time.Time {
	ms, w := now.UnixMilli(), sharedWindow.Milliseconds()
	return time.UnixMilli(ms - ms%w).UTC()
}

// advance moves to now's window, forgetting the previous window's totals.
func (sh *sharedLimit) advance(now time.Time) {
	if ws := windowStart(now); !ws.Equal(sh.start) {
		sh.start = ws
		clear(sh.totals)
		clear(sh.keys)
	}
}

// refuse returns how long client must wait for the next window when its
// count across the replicas (every replica's total at the last flush,
// plus what this replica allowed since) has reached the allowance, and 0
// otherwise, or when the last flush failed (local limit only).
func (sh *sharedLimit) refuse(client string, now time.Time) time.Duration {
	sh.advance(now)
	if sh.failing || sh.totals[client]+sh.pending[sh.start][client] < sh.allowance {
		return 0
	}
	return sh.start.Add(sharedWindow).Sub(now)
}

// allowed records a request of client (whose local bucket is b) that this
// replica allowed in the current window. A client joins the shared count
// only once this replica has allowed it sh.join requests in the window,
// and then with all of them: a client that sends a few requests costs no
// counter in the store, and addresses that each send one request cannot
// use up the window's maxSharedClients, which would leave every other
// client to the local limit. What goes uncounted is less than sh.join
// requests per replica and window.
func (sh *sharedLimit) allowed(client string, b *clientBucket) {
	if _, joined := sh.keys[client]; joined {
		sh.add(sh.start, map[string]int64{client: 1})
		return
	}
	if !b.window.Equal(sh.start) {
		b.window, b.inWindow = sh.start, 0
	}
	b.inWindow++
	if b.inWindow >= sh.join {
		sh.add(sh.start, map[string]int64{client: b.inWindow})
	}
}

// add adds counts to the pending counts of window ws. In the current
// window, client IPs beyond the first maxSharedClients of the window are
// left out (limited locally only), so that a replica adds at most that
// many counters to the store per window, whatever the flushes.
func (sh *sharedLimit) add(ws time.Time, counts map[string]int64) {
	p := sh.pending[ws]
	if p == nil {
		p = map[string]int64{}
		sh.pending[ws] = p
	}
	if sh.keys == nil {
		sh.keys = map[string]struct{}{}
	}
	for k, n := range counts {
		if _, ok := sh.keys[k]; !ok && ws.Equal(sh.start) {
			if len(sh.keys) >= maxSharedClients {
				continue
			}
			sh.keys[k] = struct{}{}
		}
		p[k] += n
	}
}

// share makes l count its requests with the other replicas' through
// counts, as a request allowance per client IP and window of the rate
// times the window plus the burst.
func (l *limiter) share(counts store.RateCounts, logger *slog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.shared = &sharedLimit{
		counts: counts, logger: logger,
		allowance: int64(float64(l.perSecond)*sharedWindow.Seconds()) + int64(l.burst),
		join:      max(1, int64(l.burst)/2),
		totals:    map[string]int64{}, pending: map[time.Time]map[string]int64{},
	}
}

// unshare makes l limit this replica's requests only.
func (l *limiter) unshare() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.shared = nil
}

// flush sends the pending counts to the store, one call per window that
// has any (one, or two just after a window ends), and keeps the totals it
// returns for the current window. On an error it keeps the current
// window's counts for the next flush (the store may have taken them
// before failing: counted twice then, which errs on the strict side),
// drops an ended window's, and falls back to the local limit until a
// flush succeeds; it warns at most once per sharedWarnEvery.
func (l *limiter) flush(ctx context.Context) error {
	l.mu.Lock()
	sh := l.shared
	l.mu.Unlock()
	if sh == nil {
		return nil
	}
	sh.flushMu.Lock()
	defer sh.flushMu.Unlock()

	l.mu.Lock()
	sh.advance(l.now())
	batches := sh.pending
	sh.pending = map[time.Time]map[string]int64{}
	l.mu.Unlock()

	windows := make([]time.Time, 0, len(batches))
	for ws := range batches {
		windows = append(windows, ws)
	}
	slices.SortFunc(windows, time.Time.Compare)
	var firstErr error
	for _, ws := range windows {
		totals, err := sh.counts.AddRateCounts(ctx, ws, batches[ws], ws.Add(2*sharedWindow))
		l.mu.Lock()
		switch {
		case err != nil:
			if firstErr == nil {
				firstErr = err
			}
			if ws.Equal(sh.start) {
				sh.add(ws, batches[ws])
			}
		case ws.Equal(sh.start):
			for k, n := range totals {
				sh.totals[k] = n
			}
		}
		l.mu.Unlock()
	}

	if firstErr != nil && errors.Is(ctx.Err(), context.Canceled) {
		return firstErr // shutting down: nothing to fall back for, or to warn of
	}
	l.mu.Lock()
	wasFailing := sh.failing
	sh.failing = firstErr != nil
	l.mu.Unlock()
	switch {
	case firstErr != nil:
		if now := l.now(); sh.lastWarn.IsZero() || now.Sub(sh.lastWarn) >= sharedWarnEvery {
			sh.logger.Warn("shared rate limit: the database did not take the request counts; limiting per replica until it does",
				"err", firstErr, "failures_since_last_warning", sh.suppressed)
			sh.lastWarn, sh.suppressed = now, 0
		} else {
			sh.suppressed++
		}
	case wasFailing:
		sh.logger.Info("shared rate limit: the database takes the request counts again; limiting across replicas")
	}
	return firstErr
}

// RunSharedRateLimit makes the per-IP rate limit (Options.RateLimit) count
// the requests of every replica that runs it on the same database, through
// counts, until ctx ends; then each replica limits alone again. It returns
// when ctx ends, at once when the rate limit is off. It may be called
// while the server serves, once at a time.
//
// Each replica still limits by itself first (the token bucket, bursts of
// twice the rate). Besides, it counts per client IP the requests it
// allowed in the current 10-second window aligned to the clock, and every
// second sends the counts of the IPs active since the last second to the
// store in one call, which returns each of those IPs' totals across the
// replicas. A client IP whose total has reached the rate × 10 s plus the
// burst is refused (429 with Retry-After) until the window ends. The cost
// is one store call per replica per second, carrying only the IPs active
// in that second, whatever the request rate; the counters are deleted by
// store.RateCounts.SweepRateCounts.
//
// The totals a replica knows are up to a second old, so a client may
// exceed the allowance by what the replicas allow it in about a second
// before they see each other's counts: each replica's own bucket bounds
// that to the rate plus what is left of its burst. If the store fails,
// requests are not failed: the replica falls back to its own limit until
// a flush succeeds (the limit protects capacity; refusing every client
// while the database is down would only add an outage to an outage), and
// warns at most once a minute.
func (s *Server) RunSharedRateLimit(ctx context.Context, counts store.RateCounts) {
	s.runSharedRateLimit(ctx, counts, sharedFlushInterval)
}

// runSharedRateLimit is RunSharedRateLimit flushing every interval, and
// deleting expired counters every sharedWindow/sharedFlushInterval
// flushes.
func (s *Server) runSharedRateLimit(ctx context.Context, counts store.RateCounts, interval time.Duration) {
	l := s.limiter
	if l == nil || counts == nil {
		return
	}
	l.share(counts, s.o.Logger)
	defer l.unshare()
	t := time.NewTicker(interval)
	defer t.Stop()
	for tick := 1; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, sharedFlushTimeout)
			_ = l.flush(fctx) // logged by flush; the limit falls back meanwhile
			if tick%int(sharedWindow/sharedFlushInterval) == 0 {
				// Once a window, the counters that expired go (through
				// their index), so that the store holds a few windows'
				// worth, not the sweeper's five minutes' worth.
				if _, err := counts.SweepRateCounts(fctx, l.now()); err != nil && ctx.Err() == nil {
					s.o.Logger.Debug("shared rate limit: sweeping expired counters", "err", err)
				}
			}
			cancel()
		}
	}
}
