package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

func TestLimiterPerClientBuckets(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	l := newLimiter(2, func() time.Time { return now })
	for i := range 4 { // burst of twice the rate
		if ok, _ := l.allow("10.0.0.1"); !ok {
			t.Fatalf("request %d within the burst was refused", i+1)
		}
	}
	ok, wait := l.allow("10.0.0.1")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("fifth request: allowed=%v wait=%v, want refused with a wait up to 1s", ok, wait)
	}
	if ok, _ := l.allow("10.0.0.2"); !ok {
		t.Fatal("another client was limited by the first one's requests")
	}
	now = now.Add(time.Second)
	if ok, _ := l.allow("10.0.0.1"); !ok {
		t.Fatal("the bucket did not refill after a second")
	}
}

// TestRateKeys: an IPv4 address is its own bucket, an IPv6 address its
// /64's, so that a host that owns a /64 cannot take a bucket per address.
func TestRateKeys(t *testing.T) {
	for _, tt := range []struct{ ip, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:bbbb:cccc:dddd:eeee", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"64:ff9b::192.0.2.7", "192.0.2.7"},
		{"64:ff9b::198.51.100.1", "198.51.100.1"},
		{"64:ff9b:1:2::203.0.113.5", "203.0.113.5"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:4136:e378:8000:63bf:3fff:fdd2"},
		{"not an address", "not an address"},
	} {
		if got := rateKey(tt.ip); got != tt.want {
			t.Errorf("rateKey(%q) = %q, want %q", tt.ip, got, tt.want)
		}
	}
}

// The middleware limits by rateKey: two addresses of one IPv6 /64 share a
// bucket, an address of another /64 has its own.
func TestRateLimitMiddlewareKeysIPv6ByNetwork(t *testing.T) {
	t.Parallel()
	s := &Server{limiter: newLimiter(1, time.Now)} // bursts of 2
	e := gin.New()
	e.GET("/x", s.rateLimit, func(c *gin.Context) { c.Status(http.StatusNoContent) })
	status := func(remote string) int {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec.Code
	}
	for i, remote := range []string{"[2001:db8:1:2::1]:4000", "[2001:db8:1:2::ffff]:4001"} {
		if got := status(remote); got != http.StatusNoContent {
			t.Fatalf("request %d from the /64: %d, want 204", i+1, got)
		}
	}
	if got := status("[2001:db8:1:2:abcd::7]:4002"); got != http.StatusTooManyRequests {
		t.Errorf("a third address of the same /64: %d, want 429 (the /64's burst of 2 is spent)", got)
	}
	if got := status("[2001:db8:1:3::1]:4003"); got != http.StatusNoContent {
		t.Errorf("an address of another /64: %d, want 204", got)
	}
}

func TestLimiterIsOffWhenNotPositive(t *testing.T) {
	t.Parallel()
	if l := newLimiter(0, time.Now); l != nil {
		t.Fatal("newLimiter(0) is not nil")
	}
	if l := newLimiter(-1, time.Now); l != nil {
		t.Fatal("newLimiter(-1) is not nil")
	}
}

func TestLimiterForgetsIdleClients(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	l := newLimiter(10, func() time.Time { return now })
	for i := range 1000 {
		l.allow(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	now = now.Add(2 * time.Minute)
	l.allow("10.9.9.9") // triggers the sweep
	if n := len(l.clients); n != 1 {
		t.Fatalf("%d clients tracked after two idle minutes, want 1", n)
	}
}
