// Package storetest is the conformance suite of the storage contract in
// package store. Every implementation runs the same suite from its own
// tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) }, storetest.Options{})
//	}
//
// A behaviour that is not tested here is not part of the contract. Each case
// gets a fresh, empty store from newStore and may run in parallel with the
// others.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

// Options adapts the suite to what a backend can do.
type Options struct {
	// NoAtomicCAS skips the cases that need concurrent compare-and-set to
	// be atomic. It exists for the FerretDB 1.x stand-in that exercises the
	// MongoDB code in CI without a mongod: FerretDB applies a conditional
	// update as a read and a separate write, so racing updates can all
	// "win" there. Real MongoDB and SQLite never set it.
	NoAtomicCAS bool
}

// testCase is one behaviour of the contract.
type testCase struct {
	name string
	// atomic marks cases that need atomic compare-and-set under
	// concurrency (see Options.NoAtomicCAS).
	atomic bool
	run    func(t *testing.T, s store.Store)
}

// Run runs every case of the suite on stores made by newStore, which must
// return a fresh, empty store and close it with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, o Options) {
	t.Helper()
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"sessions", sessionCases},
		{"users", userCases},
		{"keys", keyCases},
		{"maintenance", maintenanceCases},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.cases {
				t.Run(tc.name, func(t *testing.T) {
					if tc.atomic && o.NoAtomicCAS {
						t.Skip("skipped on this backend: needs atomic concurrent compare-and-set, which it does not provide (Options.NoAtomicCAS)")
					}
					t.Parallel()
					tc.run(t, newStore(t))
				})
			}
		})
	}
}

// t0 is the suite's clock: whole seconds, so every backend stores it
// exactly.
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func ctx() context.Context { return context.Background() }

var seq atomic.Int64

// uniq returns an id no other call returns, shaped like the ids the bridge
// makes.
func uniq(prefix string) string {
	return fmt.Sprintf("%s-%06d-%d", prefix, seq.Add(1), time.Now().UnixNano()%1e6)
}

// jsonEqual compares two values after a JSON round trip, the shape in which
// claims reach a token.
func jsonEqual(t *testing.T, got, want any) bool {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("marshal %v: %v", got, err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("marshal %v: %v", want, err)
	}
	return string(g) == string(w)
}

// sameTime reports whether two times are the same instant, and got is in
// UTC or is zero.
func sameTime(got, want time.Time) bool {
	return got.Equal(want) && (got.IsZero() || got.Location() == time.UTC)
}

func mustNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !isNotFound(err) {
		t.Errorf("%s: err = %v, want store.ErrNotFound", what, err)
	}
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, store.ErrNotFound) }

func names(list []store.Session) string {
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = s.ID
	}
	return strings.Join(ids, ",")
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
