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
//
// The cases are grouped by what they exercise (sessions, users, linking,
// the token exchange's sessions and replay guard, the revocation feed,
// audit, keys, maintenance); each group is a table of
// cases, and the concurrency cases that need atomic compare-and-set are
// marked so that a backend without it can skip them visibly (see
// Options.NoAtomicCAS and AtomicCases).
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
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.cases {
				skip := tc.atomic && o.NoAtomicCAS
				name := tc.name
				if skip {
					// Visible in the test list, not only with -v.
					name = skippedPrefix + name
				}
				t.Run(name, func(t *testing.T) {
					if skip {
						t.Skip("needs atomic concurrent compare-and-set, which this backend does not provide (Options.NoAtomicCAS)")
					}
					t.Parallel()
					tc.run(t, newStore(t))
				})
			}
		})
	}
}

// skippedPrefix starts the name of a case that Options.NoAtomicCAS skips.
const skippedPrefix = "skipped without atomic CAS: "

// group is a table of cases.
type group struct {
	name  string
	cases []testCase
}

// groups is the whole suite.
func groups() []group {
	return []group{
		{"sessions", sessionCases},
		{"users", userCases},
		{"admin users", adminUserCases},
		{"linking", linkingCases},
		{"exchange", exchangeCases},
		{"revocations", revocationCases},
		{"audit", auditCases},
		{"keys", keyCases},
		{"maintenance", maintenanceCases},
		{"rate counts", rateCountCases},
	}
}

// AtomicCases returns the names (group/case, as passed to t.Run) of the
// cases that need atomic concurrent compare-and-set: the ones
// Options.NoAtomicCAS skips.
func AtomicCases() []string {
	var names []string
	for _, g := range groups() {
		for _, tc := range g.cases {
			if tc.atomic {
				names = append(names, g.name+"/"+tc.name)
			}
		}
	}
	return names
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
