package mongo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/mongo/mongotest"
)

func TestOutageFailsFastWithErrUnavailableAndRecoversWithoutDuplicates(t *testing.T) {
	// Not parallel: it starts a FerretDB server (see mongotest).
	server := startFerretDB(t)
	p := mongotest.StartProxy(t, hostOf(t, server), false)
	s := openStore(t, p.URI(server), newDatabaseName(), false)
	now := time.Now().UTC().Truncate(time.Millisecond)
	flow := func(id string) *store.Session {
		return &store.Session{ID: id, ExpiresAt: now.Add(10 * time.Minute), CreatedAt: now, ClientID: "spa",
			RedirectURI: "https://app.example/cb", CodeChallenge: "challenge", Scope: "openid", Provider: "google"}
	}
	if err := s.CreateFlow(context.Background(), flow("before")); err != nil {
		t.Fatalf("CreateFlow before the outage: %v", err)
	}

	p.Cut()
	// A request's deadline bounds every call; the store's own timeout (10
	// s) bounds one without.
	const deadline = 2 * time.Second
	for _, op := range []struct {
		name string
		call func(context.Context) error
	}{
		{"a read", func(ctx context.Context) error { _, err := s.GetSession(ctx, "before"); return err }},
		{"an insert", func(ctx context.Context) error { return s.CreateFlow(ctx, flow("during")) }},
		{"a conditional update", func(ctx context.Context) error {
			_, err := s.ClaimFlow(ctx, "before", "google", now)
			return err
		}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		began := time.Now()
		err := op.call(ctx)
		took := time.Since(began)
		cancel()
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s during the outage: %v, want store.ErrUnavailable", op.name, err)
		}
		if took > deadline+time.Second {
			t.Errorf("%s during the outage took %s, past its %s deadline", op.name, took, deadline)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping (readiness) succeeded during the outage")
	}
	cancel()

	p.Restore()
	restored := time.Now()
	// The driver reconnects by itself; no restart, no new client.
	var err error
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		err = s.Ping(ctx)
		cancel()
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("the store did not recover after the outage: %v", err)
	}
	t.Logf("the store answered again %s after the proxy was restored", time.Since(restored).Round(time.Millisecond))
	// The failed insert left nothing behind, so it can be retried; the
	// flow from before is intact and claimed exactly once.
	if err := s.CreateFlow(context.Background(), flow("during")); err != nil {
		t.Fatalf("retrying the insert after the outage: %v", err)
	}
	if err := s.CreateFlow(context.Background(), flow("during")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second insert of the same flow: %v, want store.ErrConflict", err)
	}
	if _, err := s.ClaimFlow(context.Background(), "before", "google", now); err != nil {
		t.Fatalf("claiming the flow from before the outage: %v", err)
	}
	if _, err := s.ClaimFlow(context.Background(), "before", "google", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a second claim: %v, want store.ErrNotFound", err)
	}
}
