// Package mongotest runs a MongoDB-wire test server (FerretDB, embedded)
// for the tests of the MongoDB code path on machines without a mongod.
// Import it from tests only.
package mongotest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// StartFerretDB runs a FerretDB 1.x server (SQLite handler, files in a
// temporary directory) inside the test binary on a loopback port, stopped
// with t.Cleanup, and returns its mongodb:// URI. It is a MongoDB-wire
// stand-in for machines without a mongod. FerretDB's constructor writes a
// package variable, so tests that start a server must not run in parallel
// with each other (the race detector reports it). Only tests import this package,
// so FerretDB is never linked into the socialbridge binary (a test in
// cmd/socialbridge checks the binary).
//
// The test fails if FerretDB logs an error. Under -race FerretDB is its
// debug build (its build constraint is "ferretdb_debug || race"), whose
// internal assertions panic; it recovers such a panic per connection, logs
// it at ERROR+1 and drops the connection, which the driver may paper over
// by retrying. Failing on the log keeps that from going unnoticed.
func StartFerretDB(t testing.TB) string {
	t.Helper()
	errs := &errorLog{}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:  "sqlite",
		// Durability is moot in a temporary directory; not syncing
		// saves about 15% of the suite's time.
		SQLiteURL: "file:" + t.TempDir() + "/?_pragma=synchronous(off)",
		// FerretDB logs every failed command at WARN, and a failed
		// conditional update is routine here: keep errors only.
		Logger: slog.New(errs),
	})
	if err != nil {
		t.Fatalf("start FerretDB: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx) // returns when ctx ends
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, msg := range errs.messages() {
			t.Errorf("FerretDB logged: %s", msg)
		}
	})
	return f.MongoDBURI() // waits until the listener is bound
}

// errorLog is a slog.Handler that keeps the records of level ERROR and
// above.
type errorLog struct {
	mu   sync.Mutex
	msgs []string
}

func (h *errorLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (h *errorLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s", a)
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, b.String())
	return nil
}

// WithAttrs and WithGroup drop the attributes and groups: the message is
// what matters here.
func (h *errorLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *errorLog) WithGroup(string) slog.Handler      { return h }

func (h *errorLog) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.msgs
}
