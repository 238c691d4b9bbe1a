// Package teststore opens the store that the tests of other packages (bridge,
// web, the binary) run on: SQLite in a temporary directory, or MongoDB when
// MONGODB_URI is set, so that the whole service is tested on both.
package teststore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/mongo"
	"github.com/socialbridge/socialbridge/store/sqlite"
)

// Open returns an empty store, closed (and on MongoDB dropped) with
// t.Cleanup.
func Open(t testing.TB) store.Store {
	t.Helper()
	if uri := os.Getenv("MONGODB_URI"); uri != "" {
		return openMongo(t, uri)
	}
	return openSQLite(t)
}

// openSQLite returns an empty SQLite store in a temporary directory.
func openSQLite(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "socialbridge.db")})
	if err != nil {
		t.Fatalf("open SQLite store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openMongo returns a store on a new database of the MongoDB server at
// uri, dropped at cleanup.
func openMongo(t testing.TB, uri string) store.Store {
	t.Helper()
	s, err := mongo.Open(context.Background(), mongo.Options{URI: uri, Database: "sbtest_" + randomHex(6)})
	if err != nil {
		t.Fatalf("open MongoDB store: %v", err)
	}
	t.Cleanup(func() {
		_ = s.DropDatabase(context.Background())
		_ = s.Close()
	})
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
