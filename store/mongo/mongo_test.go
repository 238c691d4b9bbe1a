package mongo_test

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"testing"

	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/mongo"
	"github.com/socialbridge/socialbridge/store/storetest"
)

// TestConformanceOnMongoDB runs the whole conformance suite, concurrency
// cases included, against the MongoDB server at MONGODB_URI.
func TestConformanceOnMongoDB(t *testing.T) {
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		t.Skip("MONGODB_URI is not set")
	}
	storetest.Run(t, func(t *testing.T) store.Store { return openStore(t, uri, newDatabaseName(), true) }, storetest.Options{})
}

// TestConformanceOnFerretDBStandIn runs the conformance suite against
// FerretDB 1.x as a MongoDB-wire test server, so that the MongoDB code runs
// on every machine. FerretDB applies findAndModify as a read and then a
// separate write, so concurrent compare-and-sets are not atomic there: the
// cases that need them are skipped (NoAtomicCAS) and run only on MongoDB.
func TestConformanceOnFerretDBStandIn(t *testing.T) {
	uri := startFerretDB(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openStore(t, uri, newDatabaseName(), false) }, storetest.Options{NoAtomicCAS: true})
}

// newDatabaseName returns a database name no other test uses.
func newDatabaseName() string { return "sbtest_" + rand.Text()[:12] }

// openStore opens a store on database db at uri, closed (and the database
// dropped, when drop is set) with t.Cleanup. The FerretDB stand-in's files
// go with its temporary directory, so it needs no drop.
func openStore(t *testing.T, uri, db string, drop bool) *mongo.Store {
	t.Helper()
	s, err := mongo.Open(context.Background(), mongo.Options{URI: uri, Database: db})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if drop {
			if err := s.DropDatabase(context.Background()); err != nil {
				t.Errorf("drop test database: %v", err)
			}
		}
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// TestProviderNamesThatAreNotFieldNamesAreRefused checks that a provider
// name cannot reach into other fields of the user document, since it
// becomes part of the field path providers.<name>.
func TestProviderNamesThatAreNotFieldNamesAreRefused(t *testing.T) {
	s := openStore(t, startFerretDB(t), newDatabaseName(), false)
	for _, name := range []string{"", "google.profile", "$where"} {
		if _, err := s.UpsertLogin(context.Background(), "u1", store.Login{IdentityKey: "k", Provider: name}); err == nil {
			t.Errorf("UpsertLogin with provider %q succeeded", name)
		}
	}
	if _, err := s.GetUser(context.Background(), "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused login wrote its user: %v", err)
	}
}
