package web

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// maxTrackedClients bounds the limiter's memory: past it, clients idle
// longest are forgotten first.
const maxTrackedClients = 100_000

// limiter is a token bucket per client IP.
type limiter struct {
	perSecond rate.Limit
	burst     int
	now       func() time.Time

	mu      sync.Mutex
	clients map[string]*clientBucket
	swept   time.Time
}

type clientBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// newLimiter returns a limiter allowing perSecond requests per client with
// bursts of twice that, or nil (no limit) when perSecond is not positive.
func newLimiter(perSecond int64, now func() time.Time) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return &limiter{perSecond: rate.Limit(perSecond), burst: int(2 * perSecond), now: now, clients: map[string]*clientBucket{}}
}

// allow takes a token for client, or says how long to wait.
func (l *limiter) allow(client string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute || len(l.clients) >= maxTrackedClients {
		l.sweep(now)
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
	ok, wait := s.limiter.allow(c.ClientIP())
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
