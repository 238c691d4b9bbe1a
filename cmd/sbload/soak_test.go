package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewOpStats(t *testing.T) {
	t.Parallel()
	msList := func(ms ...int) []time.Duration {
		var out []time.Duration
		for _, m := range ms {
			out = append(out, time.Duration(m)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name      string
		length    time.Duration
		latencies []time.Duration
		want      opStats
	}{
		{"nothing done", time.Second, nil, opStats{}},
		{"unsorted latencies are sorted", 2 * time.Second, msList(4, 1, 3, 2), opStats{ops: 4, rate: 2, p50: 2, p99: 4}},
		{"a zero length gives no rate", 0, msList(5), opStats{ops: 1, p50: 5, p99: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := newOpStats(tt.length, tt.latencies, failures{}); got != tt.want {
				t.Errorf("newOpStats = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestIntervalCPU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		iv         interval
		wantCores  float64
		wantPerOp  time.Duration
		wantFormat string
	}{
		{"1.5 cores over a minute", interval{length: time.Minute, cpu: 90 * time.Second, refresh: opStats{ops: 300_000}}, 1.5, 300 * time.Microsecond, "1.50"},
		{"idle", interval{length: time.Minute}, 0, 0, "0.00"},
		{"no length", interval{cpu: time.Second, refresh: opStats{ops: 4}}, 0, 250 * time.Millisecond, "0.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.iv.cores(); got != tt.wantCores {
				t.Errorf("cores = %v, want %v", got, tt.wantCores)
			}
			if got := tt.iv.cpuPerRefresh(); got != tt.wantPerOp {
				t.Errorf("cpuPerRefresh = %v, want %v", got, tt.wantPerOp)
			}
		})
	}
}

func TestRatio(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b float64
		want string
	}{
		{3000, 3000, "1.00"},
		{2550, 3000, "0.85"},
		{1, 0, "-"},
		{0, 10, "0.00"},
	}
	for _, tt := range tests {
		if got := ratio(tt.a, tt.b); got != tt.want {
			t.Errorf("ratio(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

// bigInterval has figures as wide as a long soak can make them.
var bigInterval = interval{
	elapsed: 23*time.Hour + 59*time.Minute + 59*time.Second, length: time.Minute, cpu: 2 * time.Minute,
	refresh:  opStats{ops: 600_000, rate: 10_000, p50: 123.45, p99: 999.99, fails: failures{status: 12345, transport: 99}},
	signin:   opStats{ops: 60_000, rate: 1000, p50: 123.45, p99: 999.99, fails: failures{status: 999, transport: 999}},
	sessions: 12_345_678, wal: 999 << 20, db: 9999 << 20, rssKB: 9999 << 10,
}

func TestSoakLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		signins  bool
		want     []string // in the line, in this order
		wantHead []string
		notHead  []string
	}{
		{"with sign-ins", true,
			[]string{"23h59m59s", "10000", "999.99", "12345/99", "1000", "999/999", "2.00", "12345678", "999.0 MB", "9999.0 MB"},
			[]string{"refresh/s", "sign-in/s", "CPU", "sessions", "WAL", "db", "RSS"}, []string{"ratio", "CPU ms/op"}},
		{"refreshes only keep the ratio and the CPU per refresh", false,
			[]string{"23h59m59s", "10000", "12345/99", "5.00", "0.200", "2.00", "12345678"},
			[]string{"refresh/s", "ratio", "CPU ms/op", "CPU", "sessions"}, []string{"sign-in/s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cols := soakColumns(2000, tt.signins)
			head, row := line(cols, nil), line(cols, &bigInterval)
			if len(row) > 150 || len(head) > 150 {
				t.Errorf("lines of %d and %d columns, want at most 150:\n%s\n%s", len(head), len(row), head, row)
			}
			assertInOrder(t, row, tt.want)
			assertInOrder(t, head, tt.wantHead)
			for _, s := range tt.notHead {
				if strings.Contains(head, s) {
					t.Errorf("header %q has %q", head, s)
				}
			}
			// Typical figures line up under their heads.
			typical := line(cols, &interval{elapsed: time.Minute, refresh: opStats{rate: 3000}})
			if len(typical) != len(head) {
				t.Errorf("a typical line is %d columns, the header %d:\n%s\n%s", len(typical), len(head), head, typical)
			}
		})
	}
}

// assertInOrder checks that s has each of want, in order.
func assertInOrder(t *testing.T, s string, want []string) {
	t.Helper()
	rest := s
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("%q: no %q (in order) in %q", s, w, rest)
			return
		}
		rest = rest[i+len(w):]
	}
}

func TestSoakSummary(t *testing.T) {
	t.Parallel()
	first := interval{length: time.Minute, cpu: 90 * time.Second, db: 10 << 20,
		refresh: opStats{rate: 3000, p99: 9}, signin: opStats{rate: 400, p99: 30}}
	last := interval{length: time.Minute, cpu: 96 * time.Second, db: 40 << 20,
		refresh: opStats{rate: 2700, p99: 10}, signin: opStats{rate: 380, p99: 33}}
	var fails failures
	fails.add(&statusError{step: "token endpoint", code: 400, detail: "invalid_grant"})
	tests := []struct {
		name            string
		intervals       []interval
		signins         bool
		refresh, signin failures
		want, notWanted []string
	}{
		{name: "one interval", intervals: []interval{first}, signins: true,
			want: []string{"fewer than two full intervals", "failures: none"}},
		{name: "sign-ins and refreshes compared", intervals: []interval{first, first, last}, signins: true,
			want: []string{"refresh/s 0.90 (3000 -> 2700, p99 9.00 -> 10.00 ms); sign-in/s 0.95 (400 -> 380, p99 30.00 -> 33.00 ms)",
				"server CPU 1.50 -> 1.60 cores (1.07); db 10.0 MB -> 40.0 MB", "failures: none"}},
		{name: "refreshes only", intervals: []interval{first, last}, signins: false,
			want: []string{"refresh/s 0.90", "server CPU 1.50 -> 1.60"}, notWanted: []string{"sign-in/s"}},
		{name: "failures of each kind", intervals: []interval{first, last}, signins: true, refresh: fails, signin: failures{transport: 2, first: "sign in: reset"},
			want: []string{"refreshes 1 non-2xx, 0 transport; sign-ins 0 non-2xx, 2 transport",
				"first failed refresh: token endpoint answered 400 invalid_grant", "first failed sign-in: sign in: reset"},
			notWanted: []string{"failures: none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := strings.Join(append(soakSummary(tt.intervals, tt.signins), soakFailures(tt.refresh, tt.signin)...), "\n")
			assertInOrder(t, got, tt.want)
			for _, s := range tt.notWanted {
				if strings.Contains(got, s) {
					t.Errorf("summary has %q:\n%s", s, got)
				}
			}
		})
	}
}

func TestCountSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "socialbridge.db")
	st, err := openStore(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	user, err := recordLogin(ctx, st, baselinePersona(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := newSession(ctx, st, user); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := createFlow(ctx, st, "dev", time.Now()); err != nil { // a flow, not a session
		t.Fatal(err)
	}
	db, err := openReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, err := countSessions(ctx, db); err != nil || n != 3 {
		t.Errorf("countSessions = %d, %v; want 3", n, err)
	}
	// The count reads an index, not the table.
	rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+sqlCountSessions)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if p := strings.Join(plan, "; "); !strings.Contains(p, "INDEX") {
		t.Errorf("plan %q reads no index", p)
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM sessions"); err == nil {
		t.Error("the read-only connection deleted sessions")
	}
}
