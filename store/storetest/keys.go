package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

var keyCases = []testCase{
	{name: "a signing key reads back field for field", run: testKeyRoundTrip},
	{name: "a key generation can be added only once", run: testKeyConflict},
	{name: "keys are listed by use, then generation", run: testKeyOrder},
	{name: "of replicas racing to add one generation exactly one succeeds", run: testKeyRace},
	{name: "a retired key reads back with its retirement time and every other field unchanged", run: testRetireKey},
	{name: "retiring a key again keeps the first retirement time", run: testRetireKeyAgain},
	{name: "retiring an unknown key is not found", run: testRetireUnknownKey},
	{name: "a key stored retired reads back retired", run: testInsertRetiredKey},
	{name: "replicas racing to retire one key all succeed, and one of their times stays", run: testRetireKeyRace},
}

func signingKey(use string, gen int) store.SigningKey {
	return store.SigningKey{
		ID: fmt.Sprintf("%s-%d", use, gen), KID: fmt.Sprintf("kid-%s-%d", use, gen), Use: use, Algorithm: "ES256",
		Generation: gen, PrivateSealed: "sealed-" + use, CreatedAt: t0, SignFrom: t0.Add(time.Hour),
	}
}

func testKeyRoundTrip(t *testing.T, s store.Store) {
	k := signingKey("access", 1)
	if err := s.InsertKey(ctx(), k); err != nil {
		t.Fatal(err)
	}
	keys, err := s.ListKeys(ctx())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("ListKeys() = %+v, want one key", keys)
	}
	got := keys[0]
	if !sameKey(got, k) {
		t.Errorf("ListKeys()[0] = %+v\nwant %+v", got, k)
	}
	if !got.RetiredAt.IsZero() {
		t.Errorf("a new key reads back retired at %v", got.RetiredAt)
	}
}

// sameKey reports whether two keys are field for field the same.
func sameKey(got, want store.SigningKey) bool {
	return got.ID == want.ID && got.KID == want.KID && got.Use == want.Use && got.Algorithm == want.Algorithm &&
		got.Generation == want.Generation && got.PrivateSealed == want.PrivateSealed && sameTime(got.CreatedAt, want.CreatedAt) &&
		sameTime(got.SignFrom, want.SignFrom) && sameTime(got.RetiredAt, want.RetiredAt)
}

// keysByID lists the stored keys by id.
func keysByID(t *testing.T, s store.Store) map[string]store.SigningKey {
	t.Helper()
	keys, err := s.ListKeys(ctx())
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]store.SigningKey, len(keys))
	for _, k := range keys {
		m[k.ID] = k
	}
	return m
}

// insertKeys stores keys and fails the test on error.
func insertKeys(t *testing.T, s store.Store, keys ...store.SigningKey) {
	t.Helper()
	for _, k := range keys {
		if err := s.InsertKey(ctx(), k); err != nil {
			t.Fatal(err)
		}
	}
}

func testRetireKey(t *testing.T, s store.Store) {
	a1, a2, r1 := signingKey("access", 1), signingKey("access", 2), signingKey("refresh", 1)
	insertKeys(t, s, a1, a2, r1)
	at := t0.Add(90 * time.Minute)
	if err := s.RetireKey(ctx(), a1.ID, at); err != nil {
		t.Fatalf("RetireKey: %v", err)
	}
	got := keysByID(t, s)
	if len(got) != 3 {
		t.Fatalf("ListKeys() after RetireKey = %+v, want 3 keys", got)
	}
	want := a1
	want.RetiredAt = at
	if !sameKey(got[a1.ID], want) {
		t.Errorf("retired key = %+v\nwant %+v", got[a1.ID], want)
	}
	for _, other := range []store.SigningKey{a2, r1} {
		if !sameKey(got[other.ID], other) {
			t.Errorf("key %s changed by retiring another: %+v\nwant %+v", other.ID, got[other.ID], other)
		}
	}
	if err := s.RetireKey(ctx(), a2.ID, time.Time{}); err == nil {
		t.Error("RetireKey with a zero time succeeded, want an error")
	}
	if k := keysByID(t, s)[a2.ID]; !k.RetiredAt.IsZero() {
		t.Errorf("RetireKey with a zero time retired the key at %v", k.RetiredAt)
	}
}

func testRetireKeyAgain(t *testing.T, s store.Store) {
	k := signingKey("access", 1)
	insertKeys(t, s, k)
	first := t0.Add(time.Hour)
	for _, at := range []time.Time{first, first.Add(time.Hour), first.Add(-30 * time.Minute)} {
		if err := s.RetireKey(ctx(), k.ID, at); err != nil {
			t.Fatalf("RetireKey(%v): %v, want nil: retiring a retired key is no error", at, err)
		}
	}
	if got := keysByID(t, s)[k.ID].RetiredAt; !sameTime(got, first) {
		t.Errorf("RetiredAt = %v, want the first retirement %v", got, first)
	}
}

func testRetireUnknownKey(t *testing.T, s store.Store) {
	insertKeys(t, s, signingKey("access", 1))
	mustNotFound(t, "RetireKey of an unknown id", s.RetireKey(ctx(), "access-2", t0))
	mustNotFound(t, "RetireKey of a kid", s.RetireKey(ctx(), "kid-access-1", t0))
	if k := keysByID(t, s)["access-1"]; !k.RetiredAt.IsZero() {
		t.Errorf("retiring unknown keys retired access-1 at %v", k.RetiredAt)
	}
}

func testInsertRetiredKey(t *testing.T, s store.Store) {
	k := signingKey("access", 1)
	k.RetiredAt = t0.Add(2 * time.Hour)
	insertKeys(t, s, k)
	if got := keysByID(t, s)[k.ID]; !sameKey(got, k) {
		t.Errorf("ListKeys() = %+v\nwant %+v", got, k)
	}
}

func testRetireKeyRace(t *testing.T, s store.Store) {
	k := signingKey("access", 1)
	insertKeys(t, s, k)
	const n = 8
	done := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			done <- s.RetireKey(ctx(), k.ID, t0.Add(time.Duration(i+1)*time.Minute))
		}()
	}
	close(start)
	for range n {
		if err := <-done; err != nil {
			t.Errorf("RetireKey: %v, want nil", err)
		}
	}
	got := keysByID(t, s)[k.ID].RetiredAt
	if got.IsZero() || got.Before(t0.Add(time.Minute)) || got.After(t0.Add(n*time.Minute)) || got.Second() != 0 {
		t.Errorf("RetiredAt = %v, want one of the racing retirements' times", got)
	}
}

func testKeyConflict(t *testing.T, s store.Store) {
	k := signingKey("access", 1)
	if err := s.InsertKey(ctx(), k); err != nil {
		t.Fatal(err)
	}
	k.KID = "another"
	if err := s.InsertKey(ctx(), k); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second InsertKey of one id: err = %v, want store.ErrConflict", err)
	}
	keys, err := s.ListKeys(ctx())
	if err != nil || len(keys) != 1 || keys[0].KID != "kid-access-1" {
		t.Errorf("ListKeys() = %+v, %v; want the first key only", keys, err)
	}
}

func testKeyOrder(t *testing.T, s store.Store) {
	for _, k := range []store.SigningKey{
		signingKey("refresh", 2), signingKey("access", 10), signingKey("refresh", 1), signingKey("access", 2), signingKey("access", 1),
	} {
		if err := s.InsertKey(ctx(), k); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := s.ListKeys(ctx())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, k.ID)
	}
	if want := "[access-1 access-2 access-10 refresh-1 refresh-2]"; fmt.Sprint(got) != want {
		t.Errorf("ListKeys() order = %v, want %s", got, want)
	}
}

func testKeyRace(t *testing.T, s store.Store) {
	const n = 8
	wins := 0
	var errs []error
	done := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			k := signingKey("access", 1)
			k.KID = fmt.Sprintf("replica-%d", i)
			done <- s.InsertKey(ctx(), k)
		}()
	}
	close(start)
	for range n {
		switch err := <-done; {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrConflict):
			errs = append(errs, err)
		}
	}
	for _, err := range errs {
		t.Errorf("InsertKey: %v, want nil or store.ErrConflict", err)
	}
	if wins != 1 {
		t.Errorf("%d of %d replicas added generation 1, want exactly 1", wins, n)
	}
}
