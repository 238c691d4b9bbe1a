package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

var maintenanceCases = []testCase{
	{name: "the sweeper removes only records expired longer than the grace", run: testSweep},
	{name: "the sweeper removes sessions idle-expired longer than the grace and keeps active ones", run: testSweepIdle},
	{name: "the sweeper removes expired link flows, ready, holding a link code or linked, like the others", run: testSweepLinkFlows},
	{name: "the sweeper keeps users, identities and keys", run: testSweepKeepsOthers},
	{name: "the sweeper removes remembered tokens expired longer than the grace, counts them with the sessions, and keeps the others", run: testSweepRememberedTokens},
	{name: "the background sweeper runs until its context ends", run: testRunSweeper},
	{name: "ping answers", run: testPing},
}

func testSweep(t *testing.T, s store.Store) {
	oldFlow := newFlow(t, s, t0.Add(-48*time.Hour))
	justExpired := newFlow(t, s, t0.Add(-30*time.Minute)) // within the grace
	fresh := newFlow(t, s, t0.Add(time.Hour))
	oldSession := activeSession(t, s, "u1") // absolute expiry t0+24h
	live := activeSession(t, s, "u1")

	n, err := s.SweepExpired(ctx(), t0.Add(26*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// At t0+26h with 1h grace: everything that expired before t0+25h goes,
	// which is every record here.
	if n != 5 {
		t.Errorf("SweepExpired() at t0+26h = %d, want 5", n)
	}
	for _, id := range []string{oldFlow.ID, justExpired.ID, fresh.ID, oldSession.ID, live.ID} {
		_, err := s.GetSession(ctx(), id)
		mustNotFound(t, "GetSession after the sweep", err)
	}

	oldFlow = newFlow(t, s, t0.Add(-48*time.Hour))
	justExpired = newFlow(t, s, t0.Add(-30*time.Minute))
	fresh = newFlow(t, s, t0.Add(time.Hour))
	live = activeSession(t, s, "u1")
	n, err = s.SweepExpired(ctx(), t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("SweepExpired() at t0 = %d, want 1 (only the flow expired 48h ago)", n)
	}
	_, err = s.GetSession(ctx(), oldFlow.ID)
	mustNotFound(t, "GetSession of the old flow", err)
	for _, id := range []string{justExpired.ID, fresh.ID, live.ID} {
		if _, err := s.GetSession(ctx(), id); err != nil {
			t.Errorf("GetSession(%s) after the sweep: %v; it should have been kept", id, err)
		}
	}
}

func testSweepIdle(t *testing.T, s store.Store) {
	idle := activeSession(t, s, "u1") // idle until t0+1h, absolute until t0+24h
	revokedIdle := activeSession(t, s, "u1")
	if _, err := s.Revoke(ctx(), revokedIdle.ID, "logout", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	justIdle := activeSession(t, s, "u1")
	if _, err := s.Rotate(ctx(), justIdle.ID, 1, t0.Add(30*time.Minute), t0.Add(90*time.Minute)); err != nil {
		t.Fatal(err) // idle until t0+1h30m: exactly the grace at t0+2h30m, so kept
	}
	active := activeSession(t, s, "u1")
	if _, err := s.Rotate(ctx(), active.ID, 1, t0.Add(50*time.Minute), t0.Add(170*time.Minute)); err != nil {
		t.Fatal(err) // idle until t0+2h50m
	}
	flow := newFlow(t, s, t0.Add(3*time.Hour)) // a flow has no idle expiry

	sweep := t0.Add(150 * time.Minute)
	n, err := s.SweepExpired(ctx(), sweep, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("SweepExpired() at t0+2h30m = %d, want 2 (the sessions idle since t0+1h)", n)
	}
	for _, id := range []string{idle.ID, revokedIdle.ID} {
		_, err := s.GetSession(ctx(), id)
		mustNotFound(t, "GetSession of a session idle-expired past the grace", err)
	}
	for _, id := range []string{justIdle.ID, active.ID, flow.ID} {
		if _, err := s.GetSession(ctx(), id); err != nil {
			t.Errorf("GetSession(%s) after the sweep: %v; it should have been kept", id, err)
		}
	}
	if got, err := s.ListUserSessions(ctx(), "u1", sweep); err != nil || names(got) != active.ID {
		t.Errorf("ListUserSessions() after the sweep = [%s], %v; want [%s]", names(got), err, active.ID)
	}
}

func testSweepRememberedTokens(t *testing.T, s store.Store) {
	old, justExpired, atCutoff, live := tokenHash(), tokenHash(), tokenHash(), tokenHash()
	for _, r := range []struct {
		hash    string
		expires time.Time
	}{
		{old, t0.Add(time.Minute)},
		{justExpired, t0.Add(90 * time.Minute)}, // expired, but within the grace at t0+2h
		{atCutoff, t0.Add(time.Hour)},           // expired exactly the grace ago at t0+2h: kept
		{live, t0.Add(3 * time.Hour)},
	} {
		if err := s.RememberToken(ctx(), r.hash, r.expires, t0); err != nil {
			t.Fatal(err)
		}
	}
	oldFlow := newFlow(t, s, t0.Add(-48*time.Hour))
	sweep := t0.Add(2 * time.Hour)
	if n, err := s.SweepExpired(ctx(), sweep, time.Hour); err != nil || n != 2 {
		t.Errorf("SweepExpired() at t0+2h = %d, %v; want 2 (the token expired at t0+1m and the old flow)", n, err)
	}
	_, err := s.GetSession(ctx(), oldFlow.ID)
	mustNotFound(t, "GetSession of the swept flow", err)
	// The live record still guards its token; the swept and the expired
	// ones are no longer a replay.
	mustConflict(t, "RememberToken() of a live token after the sweep", s.RememberToken(ctx(), live, sweep.Add(time.Hour), sweep))
	for _, h := range []string{old, justExpired, atCutoff} {
		if err := s.RememberToken(ctx(), h, sweep.Add(2*time.Hour), sweep); err != nil {
			t.Errorf("RememberToken() of an expired token after the sweep: %v", err)
		}
	}
	// Those are remembered until t0+4h now, so a sweep just after t0+4h
	// keeps them: only live's record (expired at t0+3h) goes.
	if n, err := s.SweepExpired(ctx(), t0.Add(4*time.Hour), time.Hour); err != nil || n != 0 {
		t.Errorf("SweepExpired() at t0+4h = %d, %v; want 0 (live expired exactly the grace ago)", n, err)
	}
	if n, err := s.SweepExpired(ctx(), t0.Add(4*time.Hour+time.Millisecond), time.Hour); err != nil || n != 1 {
		t.Errorf("SweepExpired() just after t0+4h = %d, %v; want 1 (live's record)", n, err)
	}
}

func testSweepKeepsOthers(t *testing.T, s store.Store) {
	u := signIn(t, s, "google", uniq("sweep"), uniq("user"), t0.Add(-1000*time.Hour))
	if err := s.InsertKey(ctx(), signingKey("access", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SweepExpired(ctx(), t0.Add(10000*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUser(ctx(), u.ID); err != nil {
		t.Errorf("GetUser after the sweep: %v", err)
	}
	if _, err := s.GetIdentity(ctx(), u.Identities[0]); err != nil {
		t.Errorf("GetIdentity after the sweep: %v", err)
	}
	if keys, err := s.ListKeys(ctx()); err != nil || len(keys) != 1 {
		t.Errorf("ListKeys after the sweep = %v, %v", keys, err)
	}
}

func testRunSweeper(t *testing.T, s store.Store) {
	old := newFlow(t, s, t0.Add(-48*time.Hour))
	c, cancel := context.WithCancel(ctx())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		store.RunSweeper(c, s, time.Millisecond, 0, func() time.Time { return t0 }, discardLogger())
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := s.GetSession(ctx(), old.ID); isNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background sweeper did not remove an expired flow within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("RunSweeper did not return after its context ended")
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(ctx()); err != nil {
		t.Errorf("Ping() = %v", err)
	}
}
