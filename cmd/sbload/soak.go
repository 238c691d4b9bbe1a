package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, as store/sqlite uses it
)

// opStats is what one kind of operation, refreshes or sign-ins, did in a
// soak interval.
type opStats struct {
	ops      int
	rate     float64 // successful operations per second
	p50, p99 float64 // milliseconds, of the successful operations
	fails    failures
}

// newOpStats computes an interval's figures for one kind of operation
// from the latencies of its successful operations (sorted in place) and
// its failures.
func newOpStats(length time.Duration, latencies []time.Duration, fails failures) opStats {
	slices.Sort(latencies)
	s := opStats{ops: len(latencies), p50: percentile(latencies, 0.50), p99: percentile(latencies, 0.99), fails: fails}
	if length > 0 {
		s.rate = float64(len(latencies)) / length.Seconds()
	}
	return s
}

// interval is what one soak interval measured.
type interval struct {
	elapsed         time.Duration // from the soak's start to the interval's end
	length          time.Duration
	refresh, signin opStats
	cpu             time.Duration // server CPU time over the interval
	sessions        int64         // live sessions stored at the interval's end
	wal, db         int64         // bytes at the interval's end
	rssKB           int64
}

// cores is the server's CPU utilisation over the interval: CPU seconds
// per wall second.
func (iv interval) cores() float64 {
	if iv.length <= 0 {
		return 0
	}
	return iv.cpu.Seconds() / iv.length.Seconds()
}

// cpuPerRefresh is the server's CPU time per successful refresh, which
// means something only when refreshes are all the server does.
func (iv interval) cpuPerRefresh() time.Duration {
	if iv.refresh.ops == 0 {
		return 0
	}
	return iv.cpu / time.Duration(iv.refresh.ops)
}

// column is one column of the soak's interval lines.
type column struct {
	head  string
	width int // negative: left-aligned
	value func(interval) string
}

// soakColumns are the columns of the interval lines. With sign-ins, each
// kind of operation has its rate, p50, p99 and failures; without, the
// refreshes keep the columns they had before sign-ins were added: their
// ratio to the baseline's rate (baseRate) and the server's CPU per
// refresh. Both end with the server's CPU utilisation, the sessions
// stored, the database files and the server's memory.
func soakColumns(baseRate float64, signins bool) []column {
	f2 := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	rate := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
	failed := func(f failures) string { return fmt.Sprintf("%d/%d", f.status, f.transport) }
	cols := []column{
		{"elapsed", -7, func(iv interval) string { return iv.elapsed.Round(time.Second).String() }},
		{"refresh/s", 9, func(iv interval) string { return rate(iv.refresh.rate) }},
		{"p50 ms", 7, func(iv interval) string { return f2(iv.refresh.p50) }},
		{"p99 ms", 7, func(iv interval) string { return f2(iv.refresh.p99) }},
		{"failed", 7, func(iv interval) string { return failed(iv.refresh.fails) }},
	}
	if signins {
		cols = append(cols,
			column{"sign-in/s", 9, func(iv interval) string { return rate(iv.signin.rate) }},
			column{"p50 ms", 7, func(iv interval) string { return f2(iv.signin.p50) }},
			column{"p99 ms", 7, func(iv interval) string { return f2(iv.signin.p99) }},
			column{"failed", 7, func(iv interval) string { return failed(iv.signin.fails) }})
	} else {
		cols = append(cols,
			column{"ratio", 6, func(iv interval) string { return ratio(iv.refresh.rate, baseRate) }},
			column{"CPU ms/op", 9, func(iv interval) string { return strconv.FormatFloat(ms(iv.cpuPerRefresh()), 'f', 3, 64) }})
	}
	return append(cols,
		column{"CPU", 5, func(iv interval) string { return f2(iv.cores()) }},
		column{"sessions", 9, func(iv interval) string { return strconv.FormatInt(iv.sessions, 10) }},
		column{"WAL", 8, func(iv interval) string { return mb(iv.wal) }},
		column{"db", 9, func(iv interval) string { return mb(iv.db) }},
		column{"RSS", 8, func(iv interval) string { return kbMB(iv.rssKB) }})
}

// line lays out one interval line, or the header when iv is nil.
func line(cols []column, iv *interval) string {
	cells := make([]string, len(cols))
	for i, c := range cols {
		v := c.head
		if iv != nil {
			v = c.value(*iv)
		}
		cells[i] = fmt.Sprintf("%*s", c.width, v)
	}
	return strings.Join(cells, " ")
}

// ratio formats a/b, or "-" when b is 0.
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}

// soakRun is a soak in progress: the recorders of its refresh and sign-in
// clients, sbload's read-only connection to the database, and the layout
// of its lines.
type soakRun struct {
	*loadTest
	refresh, signin *recorder
	db              *sql.DB
	cols            []column
	// all are the failures of the whole soak, by kind of operation.
	all struct{ refresh, signin failures }
}

// soak refreshes at -soak-clients and signs in at -soak-signin-clients for
// -soak, and prints one line per -soak-interval; then how the last
// interval compares with the first, the sessions stored before and after,
// the largest WAL seen (sampled every second), the server's memory, and
// the failed operations. Every sign-in adds a session (the dev user's:
// see devUser) and an audit event, so the soak shows whether refreshes
// and sign-ins slow down as stored data grows.
func (l *loadTest) soak(ctx context.Context) error {
	n, m := l.cfg.soakClients, l.cfg.soakSignins
	user, err := recordLogin(ctx, l.st, baselinePersona(), time.Now())
	if err != nil {
		return fmt.Errorf("baseline user: %w", err)
	}
	base, err := measure(ctx, l.meter, n, l.cfg.duration, func(int) (op, error) { return rotateWorker(ctx, l.st, user) })
	if err != nil {
		return fmt.Errorf("baseline Store.Rotate at %d clients: %w", n, err)
	}
	printHeader()
	printRow(n, "baseline: Store.Rotate", base, base, false)

	db, err := openReadOnly(l.dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	s := &soakRun{loadTest: l, refresh: &recorder{}, signin: &recorder{}, db: db, cols: soakColumns(base.rate, m > 0)}
	ops := make([]op, 0, n+m)
	for i := range n {
		o, err := refreshWorker(l.srv.base)
		if err != nil {
			return fmt.Errorf("prepare soak client %d: %w", i, err)
		}
		ops = append(ops, s.refresh.timed(o))
	}
	for range m {
		ops = append(ops, s.signin.timed(signinWorker(l.srv.base)))
	}
	rssStart, err := rssKB(l.srv.pid)
	if err != nil {
		return err
	}
	sessionsStart, err := countSessions(ctx, db)
	if err != nil {
		return err
	}

	signins := fmt.Sprintf("complete dev sign-ins at %d clients", m)
	if m == 0 {
		signins = "no sign-ins"
	}
	fmt.Printf("\nsoak: POST /token refresh_token at %d clients and %s for %s, %s per line\n", n, signins, l.cfg.soak, l.cfg.soakInterval)
	fmt.Printf("failed: non-2xx/transport; CPU: the server's CPU time over wall time, in cores; sessions: live sessions stored (active or holding a code)\n")
	if m == 0 {
		fmt.Printf("ratio: refresh/s to the baseline's rate; CPU ms/op: the server's per refresh\n")
	}
	fmt.Println(line(s.cols, nil))
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, _, err := runWorkers(ctx, ops, start.Add(l.cfg.soak)) // the recorders have the latencies and failures
		done <- err
	}()
	intervals, maxWAL, err := s.watch(ctx, start, done)
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	rssEnd, err := rssKB(l.srv.pid)
	if err != nil {
		return err
	}
	rssPeak, err := peakRSSKB(l.srv.pid)
	if err != nil {
		return err
	}
	sessionsEnd, err := countSessions(ctx, db)
	if err != nil {
		return err
	}
	fmt.Println()
	for _, msg := range soakSummary(intervals, m > 0) {
		fmt.Println("soak: " + msg)
	}
	fmt.Printf("soak: sessions stored %d before the soak -> %d at its end (+%d)\n", sessionsStart, sessionsEnd, sessionsEnd-sessionsStart)
	fmt.Printf("soak: max WAL %s (sampled every second; target < 64 MB); server RSS %s before the soak -> %s at its end (peak %s)\n",
		mb(maxWAL), kbMB(rssStart), kbMB(rssEnd), kbMB(rssPeak))
	for _, msg := range soakFailures(s.all.refresh, s.all.signin) {
		fmt.Println("soak: " + msg)
	}
	return nil
}

// openReadOnly opens sbload's own read-only connection to the database,
// for reading what the soak has stored.
func openReadOnly(path string) (*sql.DB, error) {
	u := url.URL{Scheme: "file", Path: path, RawQuery: "mode=ro&_pragma=busy_timeout(5000)"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("open the database read-only: %w", err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// countSessions counts the live sessions (active, or holding a code not
// yet redeemed). The condition is the partial index sessions_live_user's,
// so the count reads that index, not the table.
func countSessions(ctx context.Context, db *sql.DB) (int64, error) {
	var n int64
	if err := db.QueryRowContext(ctx, sqlCountSessions).Scan(&n); err != nil {
		return 0, fmt.Errorf("count sessions: %w", err)
	}
	return n, nil
}

// sqlCountSessions is countSessions' query.
const sqlCountSessions = `SELECT count(*) FROM sessions WHERE state = 'active' OR state = 'code'`

// watch samples the WAL every second and closes an interval every
// -soak-interval until the workers are done. A last interval shorter than
// 90% of the others is printed but left out of the returned list; the
// failures of every interval, that one too, are added to s.all.
func (s *soakRun) watch(ctx context.Context, start time.Time, done <-chan error) (intervals []interval, maxWAL int64, err error) {
	sampleWAL := func() {
		if wal, err := fileSize(s.dbPath + "-wal"); err == nil {
			maxWAL = max(maxWAL, wal)
		}
	}
	cpuBefore, err := s.meter.sample()
	if err != nil {
		return nil, 0, err
	}
	closeInterval := func(now, begun time.Time) (interval, error) {
		iv, after, err := s.intervalEnd(ctx, now.Sub(start), now.Sub(begun), cpuBefore)
		cpuBefore = after
		if err == nil {
			fmt.Println(line(s.cols, &iv))
		}
		return iv, err
	}
	second := time.NewTicker(time.Second)
	defer second.Stop()
	tick := time.NewTicker(s.cfg.soakInterval)
	defer tick.Stop()
	begun := start
	for {
		select {
		case <-second.C:
			sampleWAL()
		case now := <-tick.C:
			sampleWAL()
			iv, err := closeInterval(now, begun)
			if err != nil {
				return nil, 0, err
			}
			intervals, begun = append(intervals, iv), now
		case err := <-done:
			if err != nil {
				return nil, 0, err
			}
			sampleWAL()
			now := time.Now()
			if now.Sub(begun) < time.Second {
				s.take(0)
				return intervals, maxWAL, nil
			}
			iv, err := closeInterval(now, begun)
			if err != nil {
				return nil, 0, err
			}
			if iv.length >= s.cfg.soakInterval*9/10 {
				intervals = append(intervals, iv)
			}
			return intervals, maxWAL, nil
		}
	}
}

// take collects the refresh and sign-in figures recorded since the last
// take, over an interval of the given length, and adds their failures to
// s.all.
func (s *soakRun) take(length time.Duration) (refresh, signin opStats) {
	lr, fr := s.refresh.take()
	ls, fs := s.signin.take()
	s.all.refresh.merge(fr)
	s.all.signin.merge(fs)
	return newOpStats(length, lr, fr), newOpStats(length, ls, fs)
}

// intervalEnd computes an interval's figures from what the recorders
// collected and the CPU sample at its start, and returns the sample at
// its end.
func (s *soakRun) intervalEnd(ctx context.Context, elapsed, length time.Duration, before cpuSample) (interval, cpuSample, error) {
	iv := interval{elapsed: elapsed, length: length}
	iv.refresh, iv.signin = s.take(length)
	after, err := s.meter.sample()
	if err != nil {
		return iv, before, err
	}
	iv.cpu = after.server - before.server
	if iv.sessions, err = countSessions(ctx, s.db); err != nil {
		return iv, after, err
	}
	if iv.wal, err = fileSize(s.dbPath + "-wal"); err != nil {
		return iv, after, fmt.Errorf("WAL size: %w", err)
	}
	if iv.db, err = fileSize(s.dbPath); err != nil {
		return iv, after, fmt.Errorf("database size: %w", err)
	}
	if iv.rssKB, err = rssKB(s.srv.pid); err != nil {
		return iv, after, err
	}
	return iv, after, nil
}

// soakSummary compares the last full interval with the first: throughput
// of each kind of operation, p99s, the server's CPU utilisation, the
// database file; one message per line.
func soakSummary(intervals []interval, signins bool) []string {
	var out []string
	if len(intervals) < 2 {
		out = append(out, "fewer than two full intervals, no throughput to compare")
	} else {
		first, last := intervals[0], intervals[len(intervals)-1]
		cmp := fmt.Sprintf("last/first interval (target within 15%%: 0.85 to 1.15): refresh/s %s (%.0f -> %.0f, p99 %.2f -> %.2f ms)",
			ratio(last.refresh.rate, first.refresh.rate), first.refresh.rate, last.refresh.rate, first.refresh.p99, last.refresh.p99)
		if signins {
			cmp += fmt.Sprintf("; sign-in/s %s (%.0f -> %.0f, p99 %.2f -> %.2f ms)",
				ratio(last.signin.rate, first.signin.rate), first.signin.rate, last.signin.rate, first.signin.p99, last.signin.p99)
		}
		out = append(out, cmp, fmt.Sprintf("server CPU %.2f -> %.2f cores (%s); db %s -> %s",
			first.cores(), last.cores(), ratio(last.cores(), first.cores()), mb(first.db), mb(last.db)))
	}
	return out
}

// soakFailures reports the failed refreshes and sign-ins of the whole
// soak, with the first failure of each kind; one message per line.
func soakFailures(refresh, signin failures) []string {
	if refresh.total()+signin.total() == 0 {
		return []string{"failures: none"}
	}
	out := []string{fmt.Sprintf("failures (the figures count only the successful operations): refreshes %d non-2xx, %d transport; sign-ins %d non-2xx, %d transport",
		refresh.status, refresh.transport, signin.status, signin.transport)}
	if refresh.first != "" {
		out = append(out, "first failed refresh: "+refresh.first)
	}
	if signin.first != "" {
		out = append(out, "first failed sign-in: "+signin.first)
	}
	return out
}

// recorder collects the latencies and failures of the current interval
// from all workers.
type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	fails     failures
}

// timed wraps an op so that its latency, or its failure, is recorded.
func (r *recorder) timed(o op) op {
	return func() error {
		t := time.Now()
		err := o()
		d := time.Since(t)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.fails.add(err)
			return err
		}
		r.latencies = append(r.latencies, d)
		return nil
	}
}

// take returns the latencies and failures recorded since the last take.
func (r *recorder) take() ([]time.Duration, failures) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out, fails := r.latencies, r.fails
	r.latencies, r.fails = make([]time.Duration, 0, len(out)), failures{}
	return out, fails
}
