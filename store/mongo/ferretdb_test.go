package mongo_test

import (
	"testing"

	"github.com/socialbridge/socialbridge/store/mongo/mongotest"
)

// startFerretDB runs the MongoDB-wire test server (see mongotest) and
// returns its mongodb:// URI.
func startFerretDB(t testing.TB) string {
	t.Helper()
	return mongotest.StartFerretDB(t)
}
