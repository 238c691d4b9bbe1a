package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// op is one operation of a worker: a refresh, a sign-in, a store call.
type op func() error

// result is one measurement.
type result struct {
	rate     float64 // successful operations per second
	p50, p99 float64 // milliseconds, of the successful operations
	// CPU per successful operation over the measurement: sbload's own,
	// and the server process's.
	selfCPU, serverCPU time.Duration
	fails              failures
	// The server's resident memory just before the timed window and just
	// after it, in KiB.
	rssBefore, rssAfter int64
}

// measure runs n workers for d and reports throughput, latency, CPU per
// operation, failures and the server's memory. setup prepares each worker
// outside the timed window, and its first error fails the measurement; an
// operation that fails inside the window is counted and the worker goes
// on. The measurement itself fails only when ctx ends (the server exited,
// or Ctrl-C), with ctx's cause.
func measure(ctx context.Context, m meter, n int, d time.Duration, setup func(worker int) (op, error)) (result, error) {
	ops := make([]op, n)
	for i := range ops {
		o, err := setup(i)
		if err != nil {
			return result{}, fmt.Errorf("prepare worker %d: %w", i, err)
		}
		ops[i] = o
	}
	before, err := m.sample()
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	latencies, fails, err := runWorkers(ctx, ops, start.Add(d))
	elapsed := time.Since(start)
	if err != nil {
		return result{}, err
	}
	after, err := m.sample()
	if err != nil {
		return result{}, err
	}
	slices.Sort(latencies)
	r := result{
		rate:      float64(len(latencies)) / elapsed.Seconds(),
		p50:       percentile(latencies, 0.50),
		p99:       percentile(latencies, 0.99),
		fails:     fails,
		rssBefore: before.serverRSS,
		rssAfter:  after.serverRSS,
	}
	if count := time.Duration(len(latencies)); count > 0 {
		r.selfCPU = (after.self - before.self) / count
		r.serverCPU = (after.server - before.server) / count
	}
	return r, nil
}

// runWorkers runs each op in a loop in its own goroutine until deadline
// and returns the latency of every successful operation, unsorted, and the
// failures counted. It returns an error only when ctx ends first: its
// cause.
func runWorkers(ctx context.Context, ops []op, deadline time.Time) ([]time.Duration, failures, error) {
	var (
		mu        sync.Mutex
		latencies []time.Duration
		fails     failures
		wg        sync.WaitGroup
	)
	for _, o := range ops {
		wg.Go(func() {
			var (
				local      []time.Duration
				localFails failures
			)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t := time.Now()
				if err := o(); err != nil {
					if ctx.Err() == nil {
						localFails.add(err)
					}
					continue
				}
				local = append(local, time.Since(t))
			}
			mu.Lock()
			defer mu.Unlock()
			latencies = append(latencies, local...)
			fails.merge(localFails)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return latencies, fails, context.Cause(ctx)
	}
	return latencies, fails, nil
}

// failures counts the operations of a measurement that failed, by kind.
type failures struct {
	// status counts answers that were not 2xx, or not what the flow
	// expects (a redirect without a code, a body that is not a token set).
	status int
	// transport counts operations that got no answer: connection refused
	// or reset, timeouts. For a baseline row, failed store calls.
	transport int
	// first is the first failure's message, shortened.
	first string
}

// add counts one failed operation.
func (f *failures) add(err error) {
	if _, ok := errors.AsType[*statusError](err); ok {
		f.status++
	} else {
		f.transport++
	}
	if f.first == "" {
		f.first = shorten(err.Error(), 160)
	}
}

// merge adds g's counts to f's, keeping f's first message if it has one.
func (f *failures) merge(g failures) {
	f.status += g.status
	f.transport += g.transport
	if f.first == "" {
		f.first = g.first
	}
}

// total is the number of failed operations.
func (f failures) total() int { return f.status + f.transport }

// shorten cuts s to at most n bytes, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// percentile returns the p-th percentile (0 < p <= 1) of sorted latencies
// in milliseconds, by the nearest-rank method: the smallest latency that
// at least p of all latencies do not exceed. It is 0 for no latencies.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps p*n from rounding up past a whole rank
	// (0.99*100 is not exactly 99 in floating point).
	rank := int(math.Ceil(p*float64(len(sorted)) - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return ms(sorted[rank-1])
}

// meter reads the CPU time used so far by sbload and by the server, and
// the server's memory.
type meter struct {
	serverPID int
	// tick is the unit of utime and stime in /proc/<pid>/stat.
	tick time.Duration
}

// cpuSample is the CPU time (user + system) each process has used so far,
// and the server's resident memory (KiB) at that moment.
type cpuSample struct {
	self, server time.Duration
	serverRSS    int64
}

func newMeter(serverPID int) meter {
	return meter{serverPID: serverPID, tick: clockTick()}
}

// sample reads both processes' CPU time.
func (m meter) sample() (cpuSample, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuSample{}, fmt.Errorf("getrusage: %w", err)
	}
	server, err := m.processCPU(m.serverPID)
	if err != nil {
		return cpuSample{}, err
	}
	rss, err := rssKB(m.serverPID)
	if err != nil {
		return cpuSample{}, err
	}
	return cpuSample{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), server: server, serverRSS: rss}, nil
}

// processCPU returns utime + stime of a process (all its threads) from
// /proc/<pid>/stat, fields 14 and 15, in clock ticks.
func (m meter) processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("server CPU: %w", err)
	}
	// Field 2, the command name, is in parentheses and may contain spaces
	// or parentheses itself: count fields after the last ')'. The first
	// field after it is field 3, so utime and stime are [11] and [12].
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("server CPU: unexpected /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("server CPU: unexpected /proc/%d/stat", pid)
	}
	var total time.Duration
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("server CPU: /proc/%d/stat: %w", pid, err)
		}
		total += time.Duration(n) * m.tick
	}
	return total, nil
}

// clockTick returns the length of a clock tick, 1/sysconf(_SC_CLK_TCK),
// the unit of /proc/<pid>/stat's times. The standard library has no
// sysconf, so it reads AT_CLKTCK from the auxiliary vector the kernel gave
// this process (/proc/self/auxv); failing that it assumes 100 Hz, which is
// USER_HZ, what Linux reports on every mainstream architecture whatever
// the kernel's internal HZ (getconf CLK_TCK prints 100).
func clockTick() time.Duration {
	const atClkTck = 17 // AT_CLKTCK in <elf.h>
	word := strconv.IntSize / 8
	b, err := os.ReadFile("/proc/self/auxv")
	if err == nil {
		for i := 0; i+2*word <= len(b); i += 2 * word {
			key, val := nativeWord(b[i:], word), nativeWord(b[i+word:], word)
			if key == 0 { // AT_NULL ends the vector
				break
			}
			if key == atClkTck && val > 0 && val <= uint64(time.Second) {
				return time.Second / time.Duration(val)
			}
		}
	}
	return time.Second / 100
}

// nativeWord reads one machine word of the auxiliary vector.
func nativeWord(b []byte, size int) uint64 {
	if size == 4 {
		return uint64(binary.NativeEndian.Uint32(b))
	}
	return binary.NativeEndian.Uint64(b)
}
