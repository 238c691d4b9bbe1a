package mongo_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/mongo"
	"github.com/socialbridge/socialbridge/store/mongo/mongotest"
	"github.com/socialbridge/socialbridge/store/storetest"
)

// shortTimeouts adds to a mongodb:// URI the timeouts that bound a call
// during an outage: a second to select a server or to connect, three for a
// whole operation (the store's default is 10 s).
func shortTimeouts(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("serverSelectionTimeoutMS", "1000")
	q.Set("connectTimeoutMS", "1000")
	q.Set("timeoutMS", "3000")
	u.RawQuery = q.Encode()
	return u.String()
}

// TestEveryMethodAnswersErrUnavailableWhileMongoDBIsUnreachable cuts the
// network to the server and calls every method of store.Store but Close
// (storetest.SeedOutage), reads and writes alike: each must fail with
// store.ErrUnavailable, which the web layer answers 503 with Retry-After,
// within a bounded time, whatever the method (a raw driver error would be
// a 500). The calls carry no deadline of their own: the store's timeouts
// must bound them. When the network is back, the store answers again with
// the data from before, none of the failed writes having happened.
func TestEveryMethodAnswersErrUnavailableWhileMongoDBIsUnreachable(t *testing.T) {
	// Not parallel: it starts a FerretDB server (see mongotest).
	server := startFerretDB(t)
	p := mongotest.StartProxy(t, hostOf(t, server), false)
	s, err := mongo.Open(context.Background(), mongo.Options{URI: shortTimeouts(t, p.URI(server)), Database: newDatabaseName()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })

	outage := storetest.SeedOutage(t, s)

	p.Cut()
	// The URI's timeouts bound each call to about 3 s; the context here
	// only keeps a broken bound from hanging the test.
	const bound = 5 * time.Second
	for _, c := range outage.Calls {
		t.Run(c.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*bound)
			defer cancel()
			began := time.Now()
			err := c.Call(ctx)
			took := time.Since(began)
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s while the server is unreachable: %v, want store.ErrUnavailable", c.Name, err)
			}
			if took > bound {
				t.Errorf("%s while the server is unreachable took %s, want at most %s", c.Name, took.Round(time.Millisecond), bound)
			}
		})
	}

	p.Restore()
	ctx := context.Background()
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err = s.Ping(ctx)
		if err == nil || time.Now().After(end) {
			break
		}
	}
	if err != nil {
		t.Fatalf("the store did not recover after the outage: %v", err)
	}
	outage.CheckRecovered(t)
}
