package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/teststore"
)

// testClock is a clock the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// logRecords keeps the level and message of every record logged.
type logRecords struct {
	mu      sync.Mutex
	records []string
}

func (h *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecords) WithGroup(string) slog.Handler            { return h }
func (h *logRecords) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Level.String()+" "+r.Message)
	return nil
}

func (h *logRecords) count(level slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.records {
		if strings.HasPrefix(r, level.String()+" ") {
			n++
		}
	}
	return n
}

// sharedT0 starts a window (windows are 10 s, aligned to the clock).
var sharedT0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// rateCountsOf is the store's store.RateCounts.
func rateCountsOf(t *testing.T, s store.Store) store.RateCounts {
	t.Helper()
	rc, ok := any(s).(store.RateCounts)
	if !ok {
		t.Fatalf("%T does not implement store.RateCounts", s)
	}
	return rc
}

// newReplica is a limiter of rate 2/s (bursts of 4, so 2×10+4 = 24
// requests per client IP and window across replicas) sharing counts.
func newReplica(t *testing.T, clk *testClock, counts store.RateCounts, logger *slog.Logger) *limiter {
	t.Helper()
	l := newLimiter(2, clk.Now)
	l.share(counts, logger)
	if got := l.shared.allowance; got != 24 {
		t.Fatalf("allowance = %d, want 24 (2/s × 10 s + a burst of 4)", got)
	}
	return l
}

func mustFlush(t *testing.T, l *limiter) {
	t.Helper()
	if err := l.flush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// Two replicas on one database refuse a client IP together once its
// requests across both reach the allowance, though neither alone exceeds
// its own limit; another IP is unaffected, and the next window starts
// afresh.
func TestSharedLimitCountsAcrossReplicas(t *testing.T) {
	t.Parallel()
	clk := &testClock{now: sharedT0}
	counts := rateCountsOf(t, teststore.Open(t))
	logger := slog.New(slog.DiscardHandler)
	a, b := newReplica(t, clk, counts, logger), newReplica(t, clk, counts, logger)
	replicas := []struct {
		name string
		l    *limiter
	}{{"a", a}, {"b", b}}

	const ip = "192.0.2.1"
	allowed := map[string]int{}
	refusedBoth := false
	// Each second, each replica gets 2 requests of ip: its own rate, so
	// its token bucket never refuses one. Then both flush, a first.
	for sec := 0; sec < 10 && !refusedBoth; sec++ {
		refusedBoth = true
		for _, r := range replicas {
			for range 2 {
				ok, wait := r.l.allow(ip)
				if ok {
					allowed[r.name]++
					refusedBoth = false
					continue
				}
				// Only the shared limit refuses here, until the window
				// ends.
				if want := sharedWindow - time.Duration(sec)*time.Second; wait != want {
					t.Fatalf("second %d: replica %s refused with a wait of %v, want %v (the end of the window)", sec, r.name, wait, want)
				}
			}
		}
		for _, r := range replicas {
			mustFlush(t, r.l)
		}
		clk.Add(time.Second)
	}
	if !refusedBoth {
		t.Fatalf("the replicas allowed %v requests in the window and still allow more; the allowance is 24", allowed)
	}
	// Six seconds of 4 requests make 24. In the seventh, replica a knows
	// 22 (it flushed before b) and allows 2 more: the overshoot of one
	// flush interval. b knows 24 and refuses; after its flush a knows 26.
	if total := allowed["a"] + allowed["b"]; total != 26 || allowed["a"] != 14 || allowed["b"] != 12 {
		t.Errorf("allowed %v (total %d) in the window, want a 14 and b 12 (24 and one flush interval of a's requests)", allowed, total)
	}
	for _, r := range replicas {
		if ok, _ := r.l.allow(ip); ok {
			t.Errorf("replica %s allows %s past the shared allowance", r.name, ip)
		}
		if ok, _ := r.l.allow("192.0.2.2"); !ok {
			t.Errorf("replica %s refuses another IP", r.name)
		}
	}

	clk.Set(sharedT0.Add(sharedWindow)) // the next window
	for _, r := range replicas {
		for range 2 { // the client joins the new window's count at its second
			if ok, wait := r.l.allow(ip); !ok {
				t.Errorf("replica %s refuses %s in a new window (wait %v)", r.name, ip, wait)
			}
		}
		mustFlush(t, r.l)
	}
	// The store kept the windows apart: the new one holds this window's 4.
	totals, err := counts.AddRateCounts(context.Background(), sharedT0.Add(sharedWindow), map[string]int64{ip: 0}, sharedT0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if totals[ip] != 4 {
		t.Errorf("the new window's total of %s is %d, want 4", ip, totals[ip])
	}
}

// flakyCounts is a store.RateCounts that fails while fail is set.
type flakyCounts struct {
	store.RateCounts
	fail  atomic.Bool
	calls atomic.Int64
}

func (f *flakyCounts) AddRateCounts(ctx context.Context, window time.Time, counts map[string]int64, expires time.Time) (map[string]int64, error) {
	f.calls.Add(1)
	if f.fail.Load() {
		return nil, fmt.Errorf("add rate counts: %w", store.ErrUnavailable)
	}
	return f.RateCounts.AddRateCounts(ctx, window, counts, expires)
}

// While the store fails, a replica limits alone: a client the shared
// counts refused gets its own bucket's requests again, requests never
// fail, the failure is logged once however many flushes fail, and the
// shared limit returns with the store.
func TestSharedLimitFallsBackToTheLocalLimitWhenTheStoreFails(t *testing.T) {
	t.Parallel()
	clk := &testClock{now: sharedT0}
	real := rateCountsOf(t, teststore.Open(t))
	flaky := &flakyCounts{RateCounts: real}
	logs := &logRecords{}
	a := newReplica(t, clk, flaky, slog.New(logs))
	const ip, other = "192.0.2.1", "192.0.2.2"
	ctx := context.Background()

	// Other replicas have spent ip's allowance in this window.
	if _, err := real.AddRateCounts(ctx, sharedT0, map[string]int64{ip: 30}, sharedT0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Two requests: the client joins the shared count at its second
	// (sharedLimit.join is half the burst), with both.
	for i := range 2 {
		if ok, _ := a.allow(ip); !ok {
			t.Fatalf("request %d was refused before any flush", i+1)
		}
	}
	mustFlush(t, a)
	if ok, wait := a.allow(ip); ok || wait != sharedWindow {
		t.Fatalf("after the flush: allowed %v, wait %v; want refused until the window ends (10s)", ok, wait)
	}

	flaky.fail.Store(true)
	for range 2 {
		if ok, _ := a.allow(other); !ok {
			t.Fatal("another IP was refused")
		}
	}
	for i := range 3 { // the other IP's count stays pending, so every flush calls the store
		clk.Add(100 * time.Millisecond)
		if err := a.flush(ctx); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("flush %d with the store down: %v, want store.ErrUnavailable", i+1, err)
		}
	}
	if n := flaky.calls.Load(); n != 4 {
		t.Errorf("%d store calls, want 4 (the failed window's counts are sent again)", n)
	}
	if n := logs.count(slog.LevelWarn); n != 1 {
		t.Errorf("%d warnings for 3 failed flushes within a minute, want 1: %v", n, logs.records)
	}
	// Local limit only: ip took 2 of its 4 tokens, and has refilled
	// 0.6 since; 2 more go, then the bucket refuses with a short wait.
	for i := range 2 {
		if ok, wait := a.allow(ip); !ok {
			t.Fatalf("request %d with the store down was refused (wait %v); the local bucket has tokens", i+1, wait)
		}
	}
	if ok, wait := a.allow(ip); ok || wait <= 0 || wait > time.Second {
		t.Errorf("past the local burst: allowed %v, wait %v; want the local bucket's refusal (under a second)", ok, wait)
	}

	clk.Set(sharedT0.Add(5 * time.Second)) // still the same window
	flaky.fail.Store(false)
	mustFlush(t, a)
	if n := logs.count(slog.LevelInfo); n != 1 {
		t.Errorf("%d info records after the store came back, want 1: %v", n, logs.records)
	}
	if ok, wait := a.allow(ip); ok || wait != 5*time.Second {
		t.Errorf("with the store back: allowed %v, wait %v; want refused until the window ends (5s)", ok, wait)
	}
	// Nothing was lost or counted twice: 30 + 2 + 2 of ip, 2 of the other.
	totals, err := real.AddRateCounts(ctx, sharedT0, map[string]int64{ip: 0, other: 0}, sharedT0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if totals[ip] != 34 || totals[other] != 2 {
		t.Errorf("totals %v, want %s 34 and %s 2", totals, ip, other)
	}
}

func TestSharedWindowsAreAlignedToTheClock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		now, want time.Time
	}{
		{sharedT0, sharedT0},
		{sharedT0.Add(9999 * time.Millisecond), sharedT0},
		{sharedT0.Add(10 * time.Second), sharedT0.Add(10 * time.Second)},
		{sharedT0.Add(-time.Millisecond), sharedT0.Add(-10 * time.Second)},
		{sharedT0.Add(25 * time.Second).In(time.FixedZone("X", 3600)), sharedT0.Add(20 * time.Second)},
	}
	for _, tt := range tests {
		if got := windowStart(tt.now); !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("windowStart(%s) = %s, want %s in UTC", tt.now, got, tt.want)
		}
	}
}

// A replica counts at most maxSharedClients client IPs per window, over
// all its flushes: the others are limited locally only; the next window
// starts afresh.
func TestSharedCountsAreBounded(t *testing.T) {
	t.Parallel()
	sh := &sharedLimit{start: sharedT0, totals: map[string]int64{}, pending: map[time.Time]map[string]int64{}}
	for i := range maxSharedClients + 10 {
		sh.add(sharedT0, map[string]int64{fmt.Sprint(i): 1})
	}
	sh.add(sharedT0, map[string]int64{"0": 1})
	if n := len(sh.pending[sharedT0]); n != maxSharedClients {
		t.Errorf("%d client IPs pending, want %d", n, maxSharedClients)
	}
	if n := sh.pending[sharedT0]["0"]; n != 2 {
		t.Errorf("a counted IP past the bound has %d, want 2: it is still counted", n)
	}
	// A flush took the pending counts: new IPs of the window stay out.
	sh.pending = map[time.Time]map[string]int64{}
	sh.add(sharedT0, map[string]int64{"new": 1, "1": 1})
	if got := sh.pending[sharedT0]; len(got) != 1 || got["1"] != 1 {
		t.Errorf("after a flush, pending = %v; want only the IP counted before", got)
	}
	// The next window counts new IPs again.
	sh.advance(sharedT0.Add(sharedWindow))
	sh.add(sh.start, map[string]int64{"new": 1})
	if got := sh.pending[sh.start]; got["new"] != 1 {
		t.Errorf("in the next window, pending = %v; want the new IP", got)
	}
}

// RunSharedRateLimit shares the limit until its context ends, and does
// nothing when the rate limit is off.
func TestRunSharedRateLimitEndsWithItsContext(t *testing.T) {
	t.Parallel()
	counts := rateCountsOf(t, teststore.Open(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &Server{o: Options{Logger: slog.New(slog.DiscardHandler)}, limiter: newLimiter(2, time.Now)}
	s.RunSharedRateLimit(ctx, counts) // returns: ctx has ended
	if s.limiter.shared != nil {
		t.Error("the limit is still shared after RunSharedRateLimit returned")
	}
	off := &Server{o: Options{Logger: slog.New(slog.DiscardHandler)}}
	off.RunSharedRateLimit(context.Background(), counts) // returns at once: no rate limit
}

// sweepCounts is a store.RateCounts that counts its sweeps.
type sweepCounts struct {
	store.RateCounts
	sweeps atomic.Int64
}

func (s *sweepCounts) SweepRateCounts(ctx context.Context, now time.Time) (int64, error) {
	s.sweeps.Add(1)
	return s.RateCounts.SweepRateCounts(ctx, now)
}

// The flush loop deletes expired counters once a window (every tenth
// flush), not only when the sweeper runs every five minutes.
func TestSharedLimitSweepsExpiredCountersOnceAWindow(t *testing.T) {
	t.Parallel()
	counts := &sweepCounts{RateCounts: rateCountsOf(t, teststore.Open(t))}
	s := &Server{limiter: newLimiter(2, time.Now), o: Options{Logger: slog.New(slog.DiscardHandler)}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.runSharedRateLimit(ctx, counts, time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for counts.sweeps.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if n := counts.sweeps.Load(); n < 2 {
		t.Fatalf("%d sweeps, want one every %d flushes", n, int(sharedWindow/sharedFlushInterval))
	}
}

// A client joins the shared count only at its sharedLimit.join-th request
// of a window on a replica: addresses that send a request each cost no
// counter, and cannot use up the window's maxSharedClients.
func TestSharedLimitCountsOnlyClientsThatJoin(t *testing.T) {
	t.Parallel()
	clk := &testClock{now: sharedT0}
	l := newReplica(t, clk, rateCountsOf(t, teststore.Open(t)), slog.New(slog.DiscardHandler))
	if l.shared.join != 2 {
		t.Fatalf("join = %d, want half the burst of 4", l.shared.join)
	}
	for i := range maxSharedClients + 100 {
		if ok, _ := l.allow(fmt.Sprintf("2001:db8:%x::/64", i)); !ok {
			t.Fatalf("one-off client %d refused", i)
		}
	}
	if n := len(l.shared.pending[sharedT0]); n != 0 {
		t.Errorf("%d one-off clients pending for the store, want none", n)
	}
	for range 2 {
		l.allow("192.0.2.9")
	}
	if got := l.shared.pending[sharedT0]["192.0.2.9"]; got != 2 {
		t.Errorf("a client at its second request has %d pending, want 2 (it joins with both)", got)
	}
	l.allow("192.0.2.9")
	if got := l.shared.pending[sharedT0]["192.0.2.9"]; got != 3 {
		t.Errorf("a joined client's next request: %d pending, want 3", got)
	}
}
