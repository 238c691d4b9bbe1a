// Package storetest opens a real store for tests: the embedded database in a
// temporary directory, or MongoDB when MONGODB_URI is set.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/socialbridge/socialbridge/store"
)

// Backend names a database a test can run against.
type Backend struct {
	Name string
	// URI is empty for the embedded database.
	URI string
}

// Backends lists the databases to run the conformance suite against: the
// embedded database always, and MongoDB when MONGODB_URI is set.
func Backends() []Backend {
	b := []Backend{{Name: "embedded"}}
	if uri := os.Getenv("MONGODB_URI"); uri != "" {
		b = append(b, Backend{Name: "mongodb", URI: uri})
	}
	return b
}

// Open returns a store on the default backend (MongoDB when MONGODB_URI
// is set, else embedded), closed and removed with t.Cleanup.
func Open(t testing.TB) *store.Store {
	t.Helper()
	b := Backends()
	return OpenBackend(t, b[len(b)-1])
}

// OpenBackend returns a store on backend b with a database of its own.
func OpenBackend(t testing.TB, b Backend) *store.Store {
	t.Helper()
	uri := b.URI
	if uri == "" {
		emb, err := store.StartEmbedded(t.TempDir(), "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatalf("start embedded database: %v", err)
		}
		t.Cleanup(emb.Close)
		uri = emb.URI()
	}
	db := "sbtest_" + randomHex(6)
	s, err := store.Open(context.Background(), store.Options{URI: uri, Database: db, Embedded: b.URI == ""})
	if err != nil {
		t.Fatalf("open store on %s: %v", b.Name, err)
	}
	t.Cleanup(func() {
		if b.URI != "" {
			_ = s.DropDatabase(context.Background())
		}
		_ = s.Close(context.Background())
	})
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
