package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// soakFormat lays out the soak's interval lines.
const soakFormat = "%-9s %10s %8s %8s %7s %10s %8s %9s %9s %9s %9s\n"

// interval is what one soak interval measured.
type interval struct {
	length   time.Duration
	ops      int
	rate     float64
	p50, p99 float64       // milliseconds
	cpu      time.Duration // server CPU per refresh
	fails    failures
	wal, db  int64 // bytes at the end of the interval
	rssKB    int64
}

// soak refreshes at -soak-clients for -soak and prints one line per
// -soak-interval, then how the last interval compares with the first, the
// largest WAL seen (sampled every second), the server's memory from before
// the soak to its end, and the failed refreshes.
func (l *loadTest) soak(ctx context.Context) error {
	n := l.cfg.soakClients
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
	rssStart, err := rssKB(l.srv.pid)
	if err != nil {
		return err
	}

	rec := &recorder{}
	ops := make([]op, n)
	for i := range ops {
		o, err := refreshWorker(l.srv.base)
		if err != nil {
			return fmt.Errorf("prepare soak client %d: %w", i, err)
		}
		ops[i] = rec.timed(o)
	}
	fmt.Printf("\nsoak: POST /token refresh_token at %d clients for %s, %s per line (ratio: to the baseline's rate; CPU: the server's per refresh)\n",
		n, l.cfg.soak, l.cfg.soakInterval)
	fmt.Printf(soakFormat, "elapsed", "refresh/s", "p50 ms", "p99 ms", "ratio", "CPU ms/op", "non-2xx", "transport", "WAL", "db", "RSS")
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, _, err := runWorkers(ctx, ops, start.Add(l.cfg.soak)) // rec has the latencies and failures
		done <- err
	}()
	intervals, all, maxWAL, err := l.watch(start, rec, base, done)
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	rssEnd, err := rssKB(l.srv.pid)
	if err != nil {
		return err
	}
	printSoakSummary(intervals, all, maxWAL, rssStart, rssEnd)
	return nil
}

// watch samples the WAL every second and closes an interval every
// -soak-interval until the workers are done. A last interval shorter than
// 90% of the others is printed but left out of the returned list; the
// failures of every interval, that one too, are returned in all.
func (l *loadTest) watch(start time.Time, rec *recorder, base result, done <-chan error) (intervals []interval, all failures, maxWAL int64, err error) {
	sampleWAL := func() {
		if wal, err := fileSize(l.dbPath + "-wal"); err == nil {
			maxWAL = max(maxWAL, wal)
		}
	}
	cpuBefore, err := l.meter.sample()
	if err != nil {
		return nil, all, 0, err
	}
	closeInterval := func(now, begun time.Time) (interval, error) {
		latencies, fails := rec.take()
		all.merge(fails)
		iv, after, err := l.intervalEnd(now.Sub(begun), latencies, fails, cpuBefore)
		cpuBefore = after
		if err == nil {
			fmt.Printf(soakFormat, now.Sub(start).Round(time.Second), fmt.Sprintf("%.0f", iv.rate), fmt.Sprintf("%.2f", iv.p50),
				fmt.Sprintf("%.2f", iv.p99), fmt.Sprintf("%.2f", iv.rate/base.rate), fmt.Sprintf("%.3f", ms(iv.cpu)),
				strconv.Itoa(iv.fails.status), strconv.Itoa(iv.fails.transport), mb(iv.wal), mb(iv.db), kbMB(iv.rssKB))
		}
		return iv, err
	}
	second := time.NewTicker(time.Second)
	defer second.Stop()
	tick := time.NewTicker(l.cfg.soakInterval)
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
				return nil, all, 0, err
			}
			intervals, begun = append(intervals, iv), now
		case err := <-done:
			if err != nil {
				return nil, all, 0, err
			}
			sampleWAL()
			now := time.Now()
			if now.Sub(begun) < time.Second {
				_, fails := rec.take()
				all.merge(fails)
				return intervals, all, maxWAL, nil
			}
			iv, err := closeInterval(now, begun)
			if err != nil {
				return nil, all, 0, err
			}
			if iv.length >= l.cfg.soakInterval*9/10 {
				intervals = append(intervals, iv)
			}
			return intervals, all, maxWAL, nil
		}
	}
}

// intervalEnd computes an interval's figures from its latencies and the
// CPU sample at its start, and returns the sample at its end.
func (l *loadTest) intervalEnd(length time.Duration, latencies []time.Duration, fails failures, before cpuSample) (interval, cpuSample, error) {
	after, err := l.meter.sample()
	if err != nil {
		return interval{}, before, err
	}
	slices.Sort(latencies)
	iv := interval{length: length, ops: len(latencies), rate: float64(len(latencies)) / length.Seconds(),
		p50: percentile(latencies, 0.50), p99: percentile(latencies, 0.99), fails: fails}
	if iv.ops > 0 {
		iv.cpu = (after.server - before.server) / time.Duration(iv.ops)
	}
	if iv.wal, err = fileSize(l.dbPath + "-wal"); err != nil {
		return iv, after, fmt.Errorf("WAL size: %w", err)
	}
	if iv.db, err = fileSize(l.dbPath); err != nil {
		return iv, after, fmt.Errorf("database size: %w", err)
	}
	if iv.rssKB, err = rssKB(l.srv.pid); err != nil {
		return iv, after, err
	}
	return iv, after, nil
}

// printSoakSummary compares the last full interval with the first, and
// reports the WAL, the server's memory and the failed refreshes.
func printSoakSummary(intervals []interval, all failures, maxWAL, rssStart, rssEnd int64) {
	fmt.Println()
	if len(intervals) < 2 {
		fmt.Printf("soak: fewer than two full intervals, no throughput to compare\n")
	} else {
		first, last := intervals[0], intervals[len(intervals)-1]
		fmt.Printf("soak: last/first interval throughput %.2f (target within 15%%: 0.85 to 1.15); p99 %.2f -> %.2f ms; db %s -> %s\n",
			last.rate/first.rate, first.p99, last.p99, mb(first.db), mb(last.db))
	}
	fmt.Printf("soak: max WAL %s (sampled every second; target < 64 MB); server RSS %s before the soak -> %s at its end\n",
		mb(maxWAL), kbMB(rssStart), kbMB(rssEnd))
	if all.total() == 0 {
		fmt.Println("soak: failures: none")
		return
	}
	fmt.Printf("soak: failures: %d non-2xx, %d transport (figures count only the successful refreshes); first: %s\n",
		all.status, all.transport, all.first)
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
