package mongo_test

import (
	"context"
	"crypto/rand"
	"os"
	"slices"
	"strings"
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
// cases that need them are skipped (NoAtomicCAS), named "skipped without
// atomic CAS: …" in the test list, and run only on MongoDB
// (TestConformanceOnMongoDB) and SQLite. They are, as ferretDBSkips lists
// them (TestFerretDBSkipsAreCurrent keeps the list true):
//
//   - sessions/fifty concurrent rotations of one generation have exactly one winner
//   - sessions/twenty concurrent claims of one flow have exactly one winner
//   - sessions/twenty concurrent redemptions of one code have exactly one winner
//   - sessions/a revoke racing rotations leaves the session revoked
//   - sessions/revoking a user's sessions while they rotate leaves them all revoked
//   - sessions/revoking a user's sessions while their codes are redeemed leaves each revoked, as a code or once activated, never active
//   - sessions/twenty concurrent starts of one flow have exactly one winner
//   - sessions/twenty concurrent completions of one link code have exactly one winner, which alone gets the sealed identity
//   - linking/concurrent links, unlinks and sign-ins of one user keep every identity with one existing user and the user with one at least
//   - linking/concurrent unlinks of all of a user's identities leave it at least one
//   - linking/twenty concurrent token updates from one version have exactly one winner
//   - linking/concurrent sign-ins of two subjects of one provider never leave one's refresh token with the other's link
//   - exchange/fifty concurrent rotations of a created session's generation 1 have exactly one winner
//   - exchange/twenty concurrent records of one expired token hash have exactly one winner
//   - rate counts/concurrent additions from several goroutines lose no increment
//
// Every other case runs here, the concurrent first sign-ins, creations of
// one session id and records of one new token hash included: they rest on
// _id uniqueness, which FerretDB does enforce. (Replacing an expired token
// record is an update whose filter checks the expiry, which FerretDB's
// read-then-write lets several racing calls pass.) (The linking races
// need atomic updates of one user document too: FerretDB's read-then-write
// loses one of two concurrent $pull or $addToSet updates, and can apply an
// update whose filter checked the link's subject after another sign-in
// changed it.)
func TestConformanceOnFerretDBStandIn(t *testing.T) {
	uri := startFerretDB(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openStore(t, uri, newDatabaseName(), false) }, storetest.Options{NoAtomicCAS: true})
}

// ferretDBSkips are the conformance cases the FerretDB stand-in skips, as
// listed in TestConformanceOnFerretDBStandIn's doc comment.
var ferretDBSkips = []string{
	"sessions/fifty concurrent rotations of one generation have exactly one winner",
	"sessions/twenty concurrent claims of one flow have exactly one winner",
	"sessions/twenty concurrent redemptions of one code have exactly one winner",
	"sessions/a revoke racing rotations leaves the session revoked",
	"sessions/revoking a user's sessions while they rotate leaves them all revoked",
	"sessions/revoking a user's sessions while their codes are redeemed leaves each revoked, as a code or once activated, never active",
	"sessions/twenty concurrent starts of one flow have exactly one winner",
	"sessions/twenty concurrent completions of one link code have exactly one winner, which alone gets the sealed identity",
	"linking/concurrent links, unlinks and sign-ins of one user keep every identity with one existing user and the user with one at least",
	"linking/concurrent unlinks of all of a user's identities leave it at least one",
	"linking/twenty concurrent token updates from one version have exactly one winner",
	"linking/concurrent sign-ins of two subjects of one provider never leave one's refresh token with the other's link",
	"exchange/fifty concurrent rotations of a created session's generation 1 have exactly one winner",
	"exchange/twenty concurrent records of one expired token hash have exactly one winner",
	"rate counts/concurrent additions from several goroutines lose no increment",
}

// TestFerretDBSkipsAreCurrent keeps the documented list of skipped cases
// equal to the suite's.
func TestFerretDBSkipsAreCurrent(t *testing.T) {
	if got := storetest.AtomicCases(); !slices.Equal(got, ferretDBSkips) {
		t.Errorf("the suite's atomic cases are\n%s\nbut TestConformanceOnFerretDBStandIn documents\n%s\nupdate its doc comment and ferretDBSkips",
			strings.Join(got, "\n"), strings.Join(ferretDBSkips, "\n"))
	}
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
