package mongo_test

import (
	"context"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestRateCountsShape checks, on each available server, how the counters
// of the shared rate limit are laid out: one document per key and window
// whose _id names both, an int64 count, a date expiry, and an index on the
// expiry that expires them (a TTL index of 0 s on MongoDB; FerretDB, which
// has no TTL indexes, gets a plain one and relies on SweepRateCounts).
// Not parallel: it starts FerretDB.
func TestRateCountsShape(t *testing.T) {
	uri, mongoDB := os.Getenv("MONGODB_URI"), true
	if uri == "" {
		uri, mongoDB = startFerretDB(t), false
	}
	db := newDatabaseName()
	s := openStore(t, uri, db, mongoDB)
	ctx := context.Background()
	window := time.Date(2026, 11, 23, 12, 0, 10, 0, time.UTC)
	expires := window.Add(20 * time.Second)
	for range 2 {
		if _, err := s.AddRateCounts(ctx, window, map[string]int64{"2001:db8::1": 3}, expires); err != nil {
			t.Fatal(err)
		}
	}
	raw := rawDatabase(t, uri, db).Collection("rate_counts")
	var doc bson.M
	if err := raw.FindOne(ctx, bson.M{}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	wantID := "2001:db8::1|" + "1795435210000"
	if doc["_id"] != wantID {
		t.Errorf("_id = %v, want %q (key|window start in unix ms)", doc["_id"], wantID)
	}
	if n, ok := doc["count"].(int64); !ok || n != 6 {
		t.Errorf("count = %#v, want int64(6)", doc["count"])
	}
	if at, ok := doc["expires_at"].(bson.DateTime); !ok || !at.Time().Equal(expires) {
		t.Errorf("expires_at = %#v, want the date %s", doc["expires_at"], expires)
	}
	if n, err := raw.CountDocuments(ctx, bson.M{}); err != nil || n != 1 {
		t.Errorf("%d documents (%v), want 1: one per key and window", n, err)
	}

	specs, err := raw.Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantIndex := "expires_at"
	if mongoDB {
		wantIndex = "expires_at_ttl"
	}
	found := false
	for _, spec := range specs {
		if spec.Name != wantIndex {
			continue
		}
		found = true
		if mongoDB && (spec.ExpireAfterSeconds == nil || *spec.ExpireAfterSeconds != 0) {
			t.Errorf("rate_counts.%s expireAfterSeconds = %v, want 0", spec.Name, spec.ExpireAfterSeconds)
		}
	}
	if !found {
		t.Errorf("rate_counts has no index %s (indexes: %v)", wantIndex, specs)
	}
}
