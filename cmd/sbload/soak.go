package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// soakFormat lays out the soak's interval lines.
const soakFormat = "%-9s %10s %8s %8s %7s %10s %9s %9s %9s\n"

// interval is what one soak interval measured.
type interval struct {
	length   time.Duration
	ops      int
	rate     float64
	p50, p99 float64       // milliseconds
	cpu      time.Duration // server CPU per refresh
	wal, db  int64         // bytes at the end of the interval
	rssKB    int64
}

// soak refreshes at -soak-clients for -soak and prints one line per
// -soak-interval, then how the last interval compares with the first, the
// largest WAL seen (sampled every second) and the server's memory.
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
	printRow(n, "baseline: Store.Rotate", base, base, base.selfCPU, "sbload CPU")

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
	fmt.Printf(soakFormat, "elapsed", "refresh/s", "p50 ms", "p99 ms", "ratio", "CPU ms/op", "WAL", "db", "RSS")
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := runWorkers(ctx, ops, start.Add(l.cfg.soak))
		done <- err
	}()
	intervals, maxWAL, err := l.watch(start, rec, base, done)
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	printSoakSummary(intervals, maxWAL)
	return nil
}

// watch samples the WAL every second and closes an interval every
// -soak-interval until the workers are done. A last interval shorter than
// 90% of the others is printed but left out of the returned list.
func (l *loadTest) watch(start time.Time, rec *recorder, base result, done <-chan error) ([]interval, int64, error) {
	var (
		intervals []interval
		maxWAL    int64
	)
	sampleWAL := func() {
		if wal, err := fileSize(l.dbPath + "-wal"); err == nil {
			maxWAL = max(maxWAL, wal)
		}
	}
	cpuBefore, err := l.meter.sample()
	if err != nil {
		return nil, 0, err
	}
	closeInterval := func(now, begun time.Time) (interval, error) {
		iv, after, err := l.intervalEnd(now.Sub(begun), rec.take(), cpuBefore)
		cpuBefore = after
		if err == nil {
			fmt.Printf(soakFormat, now.Sub(start).Round(time.Second), fmt.Sprintf("%.0f", iv.rate), fmt.Sprintf("%.2f", iv.p50),
				fmt.Sprintf("%.2f", iv.p99), fmt.Sprintf("%.2f", iv.rate/base.rate), fmt.Sprintf("%.3f", ms(iv.cpu)),
				mb(iv.wal), mb(iv.db), fmt.Sprintf("%.1f MB", float64(iv.rssKB)/1024))
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
				return intervals, maxWAL, nil
			}
			iv, err := closeInterval(now, begun)
			if err != nil {
				return nil, 0, err
			}
			if iv.length >= l.cfg.soakInterval*9/10 {
				intervals = append(intervals, iv)
			}
			return intervals, maxWAL, nil
		}
	}
}

// intervalEnd computes an interval's figures from its latencies and the
// CPU sample at its start, and returns the sample at its end.
func (l *loadTest) intervalEnd(length time.Duration, latencies []time.Duration, before cpuSample) (interval, cpuSample, error) {
	after, err := l.meter.sample()
	if err != nil {
		return interval{}, before, err
	}
	slices.Sort(latencies)
	iv := interval{length: length, ops: len(latencies), rate: float64(len(latencies)) / length.Seconds(),
		p50: percentile(latencies, 0.50), p99: percentile(latencies, 0.99)}
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

// printSoakSummary compares the last full interval with the first.
func printSoakSummary(intervals []interval, maxWAL int64) {
	if len(intervals) < 2 {
		fmt.Printf("\nsoak: fewer than two full intervals, nothing to compare; max WAL %s (target < 64 MB)\n", mb(maxWAL))
		return
	}
	first, last := intervals[0], intervals[len(intervals)-1]
	fmt.Printf("\nsoak: last/first interval throughput %.2f (target within 15%%: 0.85 to 1.15); p99 %.2f -> %.2f ms\n",
		last.rate/first.rate, first.p99, last.p99)
	fmt.Printf("soak: max WAL %s (sampled every second; target < 64 MB); server RSS %.1f MB -> %.1f MB; db %s -> %s\n",
		mb(maxWAL), float64(first.rssKB)/1024, float64(last.rssKB)/1024, mb(first.db), mb(last.db))
}

// recorder collects the latencies of the current interval from all
// workers.
type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
}

// timed wraps an op so that its successful latencies are recorded.
func (r *recorder) timed(o op) op {
	return func() error {
		t := time.Now()
		if err := o(); err != nil {
			return err
		}
		d := time.Since(t)
		r.mu.Lock()
		r.latencies = append(r.latencies, d)
		r.mu.Unlock()
		return nil
	}
}

// take returns the latencies recorded since the last take.
func (r *recorder) take() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.latencies
	r.latencies = make([]time.Duration, 0, len(out))
	return out
}
