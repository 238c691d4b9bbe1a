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
	if got.ID != k.ID || got.KID != k.KID || got.Use != k.Use || got.Algorithm != k.Algorithm || got.Generation != k.Generation ||
		got.PrivateSealed != k.PrivateSealed || !sameTime(got.CreatedAt, k.CreatedAt) || !sameTime(got.SignFrom, k.SignFrom) {
		t.Errorf("ListKeys()[0] = %+v\nwant %+v", got, k)
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
