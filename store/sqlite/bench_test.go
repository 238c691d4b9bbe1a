package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRotate measures the refresh grant's database work, one
// rotation of a random stored session per iteration, with few and with
// many sessions stored: the cost should not grow with the table.
func BenchmarkRotate(b *testing.B) {
	for _, stored := range []int{1, 100, 100_000} {
		b.Run(fmt.Sprintf("sessions=%d", stored), func(b *testing.B) {
			ctx := context.Background()
			s, now := seededStore(b, stored)
			if err := s.Checkpoint(ctx); err != nil {
				b.Fatal(err)
			}
			ids := make([]string, stored)
			gens := make([]int64, stored)
			for i := range stored {
				ids[i] = fmt.Sprintf("s%d", i)
				gens[i] = 1
			}
			rng := rand.New(rand.NewPCG(1, 2))
			idle := now.Add(time.Hour)
			b.ReportAllocs()
			for b.Loop() {
				i := rng.IntN(stored)
				if _, err := s.Rotate(ctx, ids[i], gens[i], now, idle); err != nil {
					b.Fatal(err)
				}
				gens[i]++
			}
		})
	}
}

// BenchmarkRotateParallel is BenchmarkRotate from 8 goroutines at once
// on 100,000 stored sessions, each goroutine rotating its own sessions.
func BenchmarkRotateParallel(b *testing.B) {
	const stored = 100_000
	ctx := context.Background()
	s, now := seededStore(b, stored)
	idle := now.Add(time.Hour)
	var worker atomic.Int64
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // about 8 clients
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := int(worker.Add(1))
		// Each goroutine owns the sessions ≡ w mod 64, so none races
		// another for one generation.
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		gens := map[int]int64{}
		for pb.Next() {
			i := rng.IntN(stored/64)*64 + w%64
			g, ok := gens[i]
			if !ok {
				g = 1
			}
			if _, err := s.Rotate(ctx, fmt.Sprintf("s%d", i), g, now, idle); err != nil {
				b.Error(err)
				return
			}
			gens[i] = g + 1
		}
	})
}

// seededStore opens a store in a temporary directory holding n active
// sessions s0…s(n-1) at generation 1, and returns it with their clock.
func seededStore(b *testing.B, n int) (*Store, time.Time) {
	b.Helper()
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: filepath.Join(b.TempDir(), "bench.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	now := time.Now().Truncate(time.Millisecond)
	if err := s.SeedSessions(ctx, "s", n, now); err != nil {
		b.Fatal(err)
	}
	return s, now
}
