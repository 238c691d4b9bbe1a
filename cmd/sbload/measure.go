package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
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
	rate     float64 // operations per second
	p50, p99 float64 // milliseconds
	// CPU per operation over the measurement: sbload's own, and the
	// server process's.
	selfCPU, serverCPU time.Duration
}

// measure runs n workers for d and reports throughput, latency and CPU per
// operation. setup prepares each worker outside the timed window; the
// first error of any worker fails the measurement.
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
	latencies, err := runWorkers(ctx, ops, start.Add(d))
	elapsed := time.Since(start)
	if err != nil {
		return result{}, err
	}
	after, err := m.sample()
	if err != nil {
		return result{}, err
	}
	if len(latencies) == 0 {
		return result{}, fmt.Errorf("no operation completed in %s", d)
	}
	slices.Sort(latencies)
	count := time.Duration(len(latencies))
	return result{
		rate:      float64(len(latencies)) / elapsed.Seconds(),
		p50:       percentile(latencies, 0.50),
		p99:       percentile(latencies, 0.99),
		selfCPU:   (after.self - before.self) / count,
		serverCPU: (after.server - before.server) / count,
	}, nil
}

// runWorkers runs each op in a loop in its own goroutine until deadline
// (or ctx ends) and returns every latency, unsorted.
func runWorkers(ctx context.Context, ops []op, deadline time.Time) ([]time.Duration, error) {
	var (
		mu        sync.Mutex
		latencies []time.Duration
		firstErr  error
		wg        sync.WaitGroup
	)
	for _, o := range ops {
		wg.Go(func() {
			var local []time.Duration
			var err error
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t := time.Now()
				if err = o(); err != nil {
					break
				}
				local = append(local, time.Since(t))
			}
			mu.Lock()
			defer mu.Unlock()
			latencies = append(latencies, local...)
			if firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return latencies, firstErr
}

// percentile returns the p-th percentile of sorted latencies in
// milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return ms(sorted[int(p*float64(len(sorted)-1))])
}

// meter reads the CPU time used so far by sbload and by the server.
type meter struct {
	serverPID int
	// tick is the unit of utime and stime in /proc/<pid>/stat.
	tick time.Duration
}

// cpuSample is the CPU time (user + system) each process has used so far.
type cpuSample struct{ self, server time.Duration }

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
	return cpuSample{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), server: server}, nil
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
