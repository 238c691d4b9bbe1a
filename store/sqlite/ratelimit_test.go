package sqlite

import (
	"context"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openForTest opens a store at path, closed when the test ends.
func openForTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// The statements of the shared rate limit, which are not prepared at Open
// and so not in queries (TestQueryPlansUseIndexes), find their rows by
// index: the upsert by the primary key, the sweep by the expiry.
func TestRateCountQueryPlansUseIndexes(t *testing.T) {
	t.Parallel()
	s := openForTest(t, filepath.Join(t.TempDir(), "socialbridge.db"))
	tests := []struct {
		name, sql string
		params    int
		want      string // in some line of the plan
	}{
		{"add rate count", sqlAddRateCount, 4, ""}, // an INSERT: no scan at all
		{"sweep rate counts", sqlSweepRateCounts, 2, "USING COVERING INDEX rate_counts_expires"},
	}
	for _, tt := range tests {
		rows, err := s.write.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+tt.sql, make([]any, tt.params)...)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(plan, "; ")
		if strings.Contains(joined, "SCAN rate_counts") && !strings.Contains(joined, "INDEX") {
			t.Errorf("%s scans the table: %s", tt.name, joined)
		}
		if tt.want != "" && !strings.Contains(joined, tt.want) {
			t.Errorf("%s plan is %q, want it to use %q", tt.name, joined, tt.want)
		}
	}
}

// Two Stores on one file, as two processes on one host, add to the same
// counters.
func TestRateCountsAcrossStoresOnOneFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "socialbridge.db")
	a, b := openForTest(t, path), openForTest(t, path)
	window := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	expires := window.Add(20 * time.Second)
	ctx := context.Background()
	if _, err := a.AddRateCounts(ctx, window, map[string]int64{"192.0.2.1": 4}, expires); err != nil {
		t.Fatal(err)
	}
	got, err := b.AddRateCounts(ctx, window, map[string]int64{"192.0.2.1": 1, "192.0.2.2": 2}, expires)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"192.0.2.1": 5, "192.0.2.2": 2}; !maps.Equal(got, want) {
		t.Errorf("totals %v, want %v", got, want)
	}
}
