package storetest

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

var rateCountCases = []testCase{
	{name: "two replicas' additions add up, and each call gets the totals of its keys", run: testRateCountsAddUp},
	{name: "windows count apart", run: testRateCountsWindows},
	{name: "the sweeper removes expired counters only", run: testRateCountsSweep},
	// Atomic: an addition is an atomic increment of one record, which
	// the FerretDB stand-in applies as a read and a separate write.
	{name: "concurrent additions from several goroutines lose no increment", atomic: true, run: testRateCountsConcurrent},
	{name: "an empty addition is a no-op, and invalid ones are refused", run: testRateCountsEmptyAndInvalid},
}

// rateCounts returns s as a store.RateCounts.
func rateCounts(t *testing.T, s store.Store) store.RateCounts {
	t.Helper()
	rc, ok := any(s).(store.RateCounts)
	if !ok {
		t.Fatalf("%T does not implement store.RateCounts", s)
	}
	return rc
}

// rateWindow is a window of the suite: 10 s from t0.
var rateWindow = t0

func addRateCounts(t *testing.T, rc store.RateCounts, window time.Time, counts map[string]int64) map[string]int64 {
	t.Helper()
	totals, err := rc.AddRateCounts(ctx(), window, counts, window.Add(20*time.Second))
	if err != nil {
		t.Fatalf("AddRateCounts(%v, %v): %v", window, counts, err)
	}
	return totals
}

func testRateCountsAddUp(t *testing.T, s store.Store) {
	rc := rateCounts(t, s)
	// Keys shaped like client IPs, IPv6 included.
	const a, b, c = "192.0.2.1", "2001:db8::1", "198.51.100.7"
	steps := []struct {
		replica string
		add     map[string]int64
		want    map[string]int64
	}{
		{"one", map[string]int64{a: 3, b: 1}, map[string]int64{a: 3, b: 1}},
		{"two", map[string]int64{a: 5, c: 2}, map[string]int64{a: 8, c: 2}},
		{"one", map[string]int64{a: 1, b: 0}, map[string]int64{a: 9, b: 1}}, // 0 reads the total
		{"two", map[string]int64{b: 4, c: 1}, map[string]int64{b: 5, c: 3}},
	}
	for i, st := range steps {
		got := addRateCounts(t, rc, rateWindow, st.add)
		if !maps.Equal(got, st.want) {
			t.Errorf("step %d (replica %s adds %v): totals %v, want %v", i+1, st.replica, st.add, got, st.want)
		}
	}
}

func testRateCountsWindows(t *testing.T, s store.Store) {
	rc := rateCounts(t, s)
	const ip = "192.0.2.1"
	addRateCounts(t, rc, rateWindow, map[string]int64{ip: 7})
	next := rateWindow.Add(10 * time.Second)
	if got := addRateCounts(t, rc, next, map[string]int64{ip: 2}); got[ip] != 2 {
		t.Errorf("total in the next window = %d, want 2 (the first window's 7 do not count)", got[ip])
	}
	if got := addRateCounts(t, rc, rateWindow, map[string]int64{ip: 1}); got[ip] != 8 {
		t.Errorf("total in the first window = %d, want 8", got[ip])
	}
	// Windows are told apart to the millisecond.
	if got := addRateCounts(t, rc, rateWindow.Add(time.Millisecond), map[string]int64{ip: 1}); got[ip] != 1 {
		t.Errorf("total in a window a millisecond later = %d, want 1", got[ip])
	}
}

func testRateCountsSweep(t *testing.T, s store.Store) {
	rc := rateCounts(t, s)
	const ip = "192.0.2.1"
	old, current := rateWindow.Add(-time.Minute), rateWindow
	for _, w := range []time.Time{old, current} {
		if _, err := rc.AddRateCounts(ctx(), w, map[string]int64{ip: 5, "198.51.100.7": 1}, w.Add(20*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// The old window's counters expire at t0-40s, the current one's at
	// t0+20s.
	n, err := rc.SweepRateCounts(ctx(), rateWindow)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("SweepRateCounts() = %d, want 2 (the old window's two counters)", n)
	}
	// A counter is kept up to its expiry, and goes after it.
	if n, err := rc.SweepRateCounts(ctx(), current.Add(20*time.Second)); err != nil || n != 0 {
		t.Errorf("SweepRateCounts() at the current window's expiry = %d, %v; want 0 (an expiry is not before itself)", n, err)
	}
	if got := addRateCounts(t, rc, current, map[string]int64{ip: 0}); got[ip] != 5 {
		t.Errorf("the current window's counter after the sweeps = %d, want 5 (kept)", got[ip])
	}
	if n, err := rc.SweepRateCounts(ctx(), current.Add(21*time.Second)); err != nil || n != 2 {
		t.Errorf("SweepRateCounts() after the current window's expiry = %d, %v; want 2", n, err)
	}
	if got := addRateCounts(t, rc, current, map[string]int64{ip: 1}); got[ip] != 1 {
		t.Errorf("the current window's counter after it was swept = %d, want 1 (counted afresh)", got[ip])
	}
}

func testRateCountsConcurrent(t *testing.T, s store.Store) {
	rc := rateCounts(t, s)
	const replicas, flushes = 8, 10
	keys := []string{"192.0.2.1", "192.0.2.2", "2001:db8::1"}
	var wg sync.WaitGroup
	errs := make(chan error, replicas*flushes)
	for r := range replicas {
		wg.Go(func() {
			for f := range flushes {
				counts := map[string]int64{}
				for i, k := range keys {
					counts[k] = int64(1 + i)
				}
				// and one key of this replica's own, new at each flush
				counts[fmt.Sprintf("10.%d.%d.1", r, f)] = 1
				if _, err := rc.AddRateCounts(ctx(), rateWindow, counts, rateWindow.Add(20*time.Second)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	zero := map[string]int64{}
	for _, k := range keys {
		zero[k] = 0
	}
	got := addRateCounts(t, rc, rateWindow, zero)
	for i, k := range keys {
		if want := int64(replicas * flushes * (1 + i)); got[k] != want {
			t.Errorf("total of %s = %d, want %d", k, got[k], want)
		}
	}
}

func testRateCountsEmptyAndInvalid(t *testing.T, s store.Store) {
	rc := rateCounts(t, s)
	for _, counts := range []map[string]int64{nil, {}} {
		totals, err := rc.AddRateCounts(ctx(), rateWindow, counts, rateWindow.Add(20*time.Second))
		if err != nil || len(totals) != 0 {
			t.Errorf("AddRateCounts(%#v) = %v, %v; want no totals and no error", counts, totals, err)
		}
	}
	if n, err := rc.SweepRateCounts(ctx(), rateWindow.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("SweepRateCounts() after empty additions = %d, %v; want 0 (nothing was written)", n, err)
	}
	tooMany := map[string]int64{}
	for i := range store.MaxRateCountKeys + 1 {
		tooMany[fmt.Sprintf("k%d", i)] = 1
	}
	tests := []struct {
		name            string
		window, expires time.Time
		counts          map[string]int64
		want            string
	}{
		{"no window", time.Time{}, rateWindow, map[string]int64{"a": 1}, "no window"},
		{"an expiry not after the window", rateWindow, rateWindow, map[string]int64{"a": 1}, "not after"},
		{"an empty key", rateWindow, rateWindow.Add(time.Second), map[string]int64{"": 1}, "empty key"},
		{"a negative count", rateWindow, rateWindow.Add(time.Second), map[string]int64{"a": -1}, "negative"},
		{"too many keys", rateWindow, rateWindow.Add(time.Second), tooMany, "at most"},
	}
	for _, tt := range tests {
		_, err := rc.AddRateCounts(ctx(), tt.window, tt.counts, tt.expires)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one saying %q", tt.name, err, tt.want)
		}
	}
	if got := addRateCounts(t, rc, rateWindow, map[string]int64{"a": 0}); got["a"] != 0 {
		t.Errorf("a refused addition counted: total %d", got["a"])
	}
}
