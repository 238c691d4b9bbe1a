package tokens_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/tokens"
)

// life is how long a succeeded access key still verifies after its
// successor signs: the fixture's access lifetime plus the 30 s leeway.
const life = 15*time.Minute + 30*time.Second

func TestReloadIntervalLetsEveryReplicaLearnANewKeyBeforeItSigns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		publishAhead, want time.Duration
	}{
		{24 * time.Hour, 10 * time.Second},
		{time.Hour, 10 * time.Second},
		{40 * time.Second, 10 * time.Second},
		{20 * time.Second, 5 * time.Second},
		{10 * time.Second, 2500 * time.Millisecond},
		{2 * time.Second, time.Second},
	}
	for _, tt := range tests {
		clock := newTestClock(t0)
		opts := defaultKeyringOptions("ES256", clock)
		opts.PublishAhead = tt.publishAhead
		kr, err := tokens.NewKeyring(newMemStorage(), newSealer(t, randomBytes(t, 32)), opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := kr.ReloadInterval(); got != tt.want {
			t.Errorf("publish ahead %s: ReloadInterval() = %s, want %s", tt.publishAhead, got, tt.want)
		}
	}
}

// keyInfo returns the listed key with this kid.
func keyInfo(t *testing.T, kr *tokens.Keyring, kid string) tokens.KeyInfo {
	t.Helper()
	for _, k := range kr.Keys() {
		if k.KID == kid {
			return k
		}
	}
	t.Fatalf("Keys() lists no kid %s", kid)
	return tokens.KeyInfo{}
}

// signingKIDs returns the kids Keys() marks as signing, by use.
func signingKIDs(kr *tokens.Keyring) map[string][]string {
	m := map[string][]string{}
	for _, k := range kr.Keys() {
		if k.Signing {
			m[k.Use] = append(m[k.Use], k.KID)
		}
	}
	return m
}

func TestRotateNowPublishesSuccessorsThatSignAfterThePublishAheadPeriod(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256") // Rotation 24h, PublishAhead 1h
	kid1 := f.storage.get(t, "access-1").KID
	f.clock.Set(t0.Add(time.Hour)) // long before the schedule's 23h
	old := mintAccess(t, f.issuer, time.Hour)
	oldRefresh, err := f.issuer.MintRefresh(sampleRefresh(f.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	rotatedAt := f.clock.Now()

	rotations, err := f.keys.RotateNow(context.Background())
	if err != nil {
		t.Fatalf("RotateNow: %v", err)
	}
	if got, want := f.storage.ids(), []string{"access-1", "access-2", "id-RS256-1", "id-RS256-2", "refresh-1", "refresh-2"}; !slices.Equal(got, want) {
		t.Fatalf("stored keys = %v, want %v", got, want)
	}
	if len(rotations) != 3 {
		t.Fatalf("RotateNow reported %d lines, want 3 (access, refresh, id-RS256): %+v", len(rotations), rotations)
	}
	for _, r := range rotations {
		if !r.Created || r.Key.Generation != 2 || !r.Key.SignFrom.Equal(rotatedAt.Add(time.Hour)) || !r.Key.CreatedAt.Equal(rotatedAt) ||
			r.Key.Signing || !r.Key.Verifying || r.Key.Published != (r.Key.Use != tokens.UseRefresh) {
			t.Errorf("rotation = %+v, want a created generation 2, published now (unless refresh), signing an hour later", r)
		}
	}
	access2 := f.storage.get(t, "access-2")
	checkStoredKey(t, access2, tokens.UseAccess, "ES256", 2)
	if got := jwksKIDs(t, f.keys.JWKS(), "ES256"); !slices.Equal(got, []string{kid1, access2.KID}) {
		t.Fatalf("JWKS right after RotateNow = %v, want both generations", got)
	}
	cached := f.keys.JWKS()
	if kid := headerKID(t, mintAccess(t, f.issuer, time.Minute)); kid != kid1 {
		t.Fatalf("right after RotateNow a token is signed by %s, want generation 1 until the successor is published long enough", kid)
	}

	t.Run("rotating again while successors wait creates nothing", func(t *testing.T) {
		again, err := f.keys.RotateNow(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range again {
			if r.Created || r.Key.KID != rotations[i].Key.KID {
				t.Errorf("second RotateNow = %+v, want the waiting successor %s reported, not created", r, rotations[i].Key.KID)
			}
		}
		if got := f.storage.ids(); len(got) != 6 {
			t.Errorf("second RotateNow stored keys: %v", got)
		}
	})

	t.Run("the successor signs after the publish-ahead period, and verifiers that cached the JWKS know it", func(t *testing.T) {
		f.clock.Set(access2.SignFrom.Add(time.Second))
		load(t, f.keys)
		tok := mintAccess(t, f.issuer, time.Minute)
		if kid := headerKID(t, tok); kid != access2.KID {
			t.Fatalf("token signed by %s, want generation 2", kid)
		}
		if _, err := verifyWithJWKS(cached, tok, f.clock.Now()); err != nil {
			t.Fatalf("a backend that cached the JWKS at rotation cannot verify generation 2: %v", err)
		}
		mustParseAccess(t, f.issuer, old)
		if _, err := f.issuer.ParseRefresh(oldRefresh); err != nil {
			t.Fatalf("a refresh token of generation 1 no longer parses: %v", err)
		}
		if got := signingKIDs(f.keys)[tokens.UseAccess]; !slices.Equal(got, []string{access2.KID}) {
			t.Errorf("Keys() marks %v as signing access tokens, want generation 2", got)
		}
		if k := keyInfo(t, f.keys, kid1); !k.Until.Equal(access2.SignFrom.Add(life)) || k.Signing || !k.Verifying {
			t.Errorf("generation 1 = %+v, want it verifying until %v, not signing", k, access2.SignFrom.Add(life))
		}
	})

	t.Run("once the successor signs, rotating makes the next generation", func(t *testing.T) {
		next, err := f.keys.RotateNow(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range next {
			if !r.Created || r.Key.Generation != 3 {
				t.Errorf("RotateNow after the successor signs = %+v, want generation 3 created", r)
			}
		}
	})
}

func TestReplicasRotatingNowAtOnceStoreOneKeyPerLine(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	r := newRendezvous(2)
	krA, _ := f.replicaOver(t, rendezvousStorage{f.storage, r})
	krB, _ := f.replicaOver(t, rendezvousStorage{f.storage, r})
	load(t, krA)
	load(t, krB)
	f.clock.Set(t0.Add(time.Hour))
	_, dupsBefore := f.storage.counts()

	var wg sync.WaitGroup
	results := make([][]tokens.Rotation, 2)
	errs := make([]error, 2)
	for i, kr := range []*tokens.Keyring{krA, krB} {
		wg.Go(func() { results[i], errs[i] = kr.RotateNow(context.Background()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: RotateNow: %v", i, err)
		}
	}
	if got, want := f.storage.ids(), []string{"access-1", "access-2", "id-RS256-1", "id-RS256-2", "refresh-1", "refresh-2"}; !slices.Equal(got, want) {
		t.Fatalf("stored keys = %v, want %v", got, want)
	}
	if _, dups := f.storage.counts(); dups-dupsBefore != 3 {
		t.Fatalf("storage refused %d duplicates, want 3: the race did not happen", dups-dupsBefore)
	}
	for i := range results[0] {
		a, b := results[0][i], results[1][i]
		if a.Key.KID != b.Key.KID || a.Created == b.Created {
			t.Errorf("line %s: replica A %+v, replica B %+v; want the same successor, created by exactly one", a.Key.Use, a, b)
		}
	}
	if a, b := string(krA.JWKS()), string(krB.JWKS()); a != b {
		t.Fatalf("replicas publish different JWKS:\nA %s\nB %s", a, b)
	}
}

func TestRetiringTheSigningAccessKeyRefusesItsTokensAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	access1, refresh1 := f.storage.get(t, "access-1"), f.storage.get(t, "refresh-1")
	f.clock.Set(t0.Add(time.Hour))
	tok := mintAccess(t, f.issuer, 15*time.Minute)
	rt, err := f.issuer.MintRefresh(sampleRefresh(f.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	cached := f.keys.JWKS()
	retiredAt := f.clock.Now()

	r, err := f.keys.Retire(context.Background(), access1.KID)
	if err != nil {
		t.Fatalf("Retire: %v", err)
	}
	access2 := f.storage.get(t, "access-2")
	checkStoredKey(t, access2, tokens.UseAccess, "ES256", 2)
	if !access2.SignFrom.Equal(retiredAt) {
		t.Errorf("replacement signs from %v, want at once (%v)", access2.SignFrom, retiredAt)
	}
	if got := f.storage.get(t, "access-1").RetiredAt; !got.Equal(retiredAt) {
		t.Errorf("stored RetiredAt = %v, want %v", got, retiredAt)
	}
	if r.Key.KID != access1.KID || !r.Key.RetiredAt.Equal(retiredAt) || !r.Key.Until.Equal(retiredAt) || r.Key.Signing || r.Key.Verifying || r.Key.Published {
		t.Errorf("Retirement.Key = %+v, want the retired key, ended now", r.Key)
	}
	if r.Replacement == nil || r.Replacement.KID != access2.KID || !r.Replacement.Signing || !r.Replacement.Published {
		t.Fatalf("Retirement.Replacement = %+v, want generation 2 signing and published", r.Replacement)
	}

	_, err = f.issuer.ParseAccess(tok)
	wantInvalid(t, err)
	fresh := mintAccess(t, f.issuer, time.Minute)
	if kid := headerKID(t, fresh); kid != access2.KID {
		t.Fatalf("a new token is signed by %s, want the replacement %s at once", kid, access2.KID)
	}
	mustParseAccess(t, f.issuer, fresh)
	if got := jwksKIDs(t, f.keys.JWKS(), "ES256"); !slices.Equal(got, []string{access2.KID}) {
		t.Errorf("JWKS kids = %v, want only the replacement", got)
	}
	if _, err := verifyWithJWKS(f.keys.JWKS(), tok, f.clock.Now()); err == nil {
		t.Error("a backend that fetches the JWKS again still verifies a token of the retired key")
	}
	if _, err := verifyWithJWKS(cached, fresh, f.clock.Now()); err == nil {
		t.Error("the replacement was in a JWKS cached before it existed") // the verifier must fetch again, for the unknown kid
	}
	// The refresh line is untouched.
	if _, err := f.issuer.ParseRefresh(rt); err != nil {
		t.Errorf("retiring the access key refused a refresh token: %v", err)
	}
	if got := f.storage.ids(); !slices.Equal(got, []string{"access-1", "access-2", "id-RS256-1", "refresh-1"}) {
		t.Errorf("stored keys = %v, want one replacement only", got)
	}
	if got := f.storage.get(t, "refresh-1"); !got.RetiredAt.IsZero() || got.KID != refresh1.KID {
		t.Errorf("refresh key after retiring the access key = %+v", got)
	}

	t.Run("retiring it again changes nothing", func(t *testing.T) {
		f.clock.Set(retiredAt.Add(time.Minute))
		again, err := f.keys.Retire(context.Background(), access1.KID)
		if err != nil {
			t.Fatal(err)
		}
		if again.Replacement != nil || !again.Key.RetiredAt.Equal(retiredAt) {
			t.Errorf("second Retire = %+v, want no replacement and the first retirement time", again)
		}
		if got := f.storage.ids(); len(got) != 4 {
			t.Errorf("second Retire stored keys: %v", got)
		}
	})

	t.Run("the replacement is rotated on its own schedule", func(t *testing.T) {
		f.clock.Set(retiredAt.Add(22 * time.Hour))
		load(t, f.keys)
		if got := f.storage.ids(); slices.Contains(got, "access-3") {
			t.Errorf("the replacement was rotated before its own rotation was due: %v", got)
		}
		f.clock.Set(retiredAt.Add(23*time.Hour + time.Minute))
		load(t, f.keys)
		if got := f.storage.get(t, "access-3"); !got.SignFrom.Equal(f.clock.Now().Add(time.Hour)) {
			t.Errorf("access-3 signs from %v, want published an hour ahead", got.SignFrom)
		}
	})
}

func TestRetiringTheSigningRefreshKeyEndsItsRefreshTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	refresh1 := f.storage.get(t, "refresh-1")
	access := mintAccess(t, f.issuer, 15*time.Minute)
	rt, err := f.issuer.MintRefresh(sampleRefresh(f.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.keys.Retire(context.Background(), refresh1.KID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Replacement == nil || r.Replacement.Use != tokens.UseRefresh || r.Replacement.Algorithm != "HS256" || r.Replacement.Published {
		t.Fatalf("replacement = %+v, want an unpublished HS256 refresh key", r.Replacement)
	}
	if _, err := f.issuer.ParseRefresh(rt); !errors.Is(err, tokens.ErrInvalidToken) {
		t.Fatalf("ParseRefresh of a retired key's token: %v, want ErrInvalidToken", err)
	}
	next, err := f.issuer.MintRefresh(sampleRefresh(f.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if kid := headerKID(t, next); kid != r.Replacement.KID {
		t.Errorf("new refresh token signed by %s, want the replacement %s", kid, r.Replacement.KID)
	}
	if _, err := f.issuer.ParseRefresh(next); err != nil {
		t.Errorf("ParseRefresh of the replacement's token: %v", err)
	}
	mustParseAccess(t, f.issuer, access) // access keys are another line
}

func TestRetiringAnIDKeyReplacesItForThatAlgorithmOnly(t *testing.T) {
	t.Parallel()
	f := newIDFixture(t, "RS256", "EdDSA")
	rs1, ed1 := f.storage.get(t, "id-RS256-1"), f.storage.get(t, "id-EdDSA-1")
	hint := mintID(t, f.issuer, "RS256")
	r, err := f.keys.Retire(context.Background(), rs1.KID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Replacement == nil || r.Replacement.Algorithm != "RS256" || r.Replacement.Generation != 2 {
		t.Fatalf("replacement = %+v, want id-RS256-2", r.Replacement)
	}
	if _, err := f.issuer.ParseIDHint(hint); !errors.Is(err, tokens.ErrInvalidToken) {
		t.Errorf("ParseIDHint of a retired key's ID token: %v, want ErrInvalidToken", err)
	}
	if kid := headerKID(t, mintID(t, f.issuer, "RS256")); kid != r.Replacement.KID {
		t.Errorf("new RS256 ID token signed by %s, want %s", kid, r.Replacement.KID)
	}
	if kid := headerKID(t, mintID(t, f.issuer, "EdDSA")); kid != ed1.KID {
		t.Errorf("EdDSA ID token signed by %s, want its own line's key %s", kid, ed1.KID)
	}
	if got := jwksAlgs(t, f.keys.JWKS()); got[rs1.KID] != "" || got[r.Replacement.KID] != "RS256" || got[ed1.KID] != "EdDSA" {
		t.Errorf("JWKS = %v, want the replacement and the EdDSA key, not the retired one", got)
	}
}

// Retiring a successor that was only waiting leaves the key that signs
// now signing, and publishes a replacement ahead like any successor, so
// that verifiers learn it before they meet it.
func TestRetiringAWaitingSuccessorPublishesItsReplacementAhead(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	kid1 := f.storage.get(t, "access-1").KID
	f.clock.Set(t0.Add(time.Hour))
	old := mintAccess(t, f.issuer, time.Hour)
	if _, err := f.keys.RotateNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	waiting := f.storage.get(t, "access-2")
	f.clock.Set(t0.Add(time.Hour + time.Minute))
	retiredAt := f.clock.Now()

	r, err := f.keys.Retire(context.Background(), waiting.KID)
	if err != nil {
		t.Fatal(err)
	}
	access3 := f.storage.get(t, "access-3")
	if r.Replacement == nil || r.Replacement.KID != access3.KID || !access3.SignFrom.Equal(retiredAt.Add(f.opts.PublishAhead)) {
		t.Fatalf("replacement = %+v (access-3 signs from %v), want access-3 signing a publish-ahead from now", r.Replacement, access3.SignFrom)
	}
	if got := jwksKIDs(t, f.keys.JWKS(), "ES256"); !slices.Equal(got, []string{kid1, access3.KID}) {
		t.Errorf("JWKS kids = %v, want generation 1 and the replacement, not the retired successor", got)
	}
	if kid := headerKID(t, mintAccess(t, f.issuer, time.Minute)); kid != kid1 {
		t.Errorf("token signed by %s, want generation 1, which still signs", kid)
	}
	mustParseAccess(t, f.issuer, old)
	// Once the replacement's time comes, it signs; the retired key never.
	f.clock.Set(access3.SignFrom.Add(time.Second))
	load(t, f.keys)
	if kid := headerKID(t, mintAccess(t, f.issuer, time.Minute)); kid != access3.KID {
		t.Errorf("after the replacement's SignFrom, token signed by %s, want the replacement", kid)
	}
}

func TestRetiringASucceededKeyEndsItsTokensWithoutAReplacement(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	kid1 := f.storage.get(t, "access-1").KID
	old := mintAccess(t, f.issuer, 2*time.Hour)
	if _, err := f.keys.RotateNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	access2 := f.storage.get(t, "access-2")
	f.clock.Set(access2.SignFrom.Add(time.Minute))
	load(t, f.keys)
	mustParseAccess(t, f.issuer, old) // generation 1 still verifies on schedule

	r, err := f.keys.Retire(context.Background(), kid1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Replacement != nil {
		t.Errorf("replacement = %+v, want none: generation 2 signs already", r.Replacement)
	}
	if got := f.storage.ids(); slices.Contains(got, "access-3") {
		t.Errorf("retiring a succeeded key stored another: %v", got)
	}
	_, err = f.issuer.ParseAccess(old)
	wantInvalid(t, err)
	if kid := headerKID(t, mintAccess(t, f.issuer, time.Minute)); kid != access2.KID {
		t.Errorf("token signed by %s, want generation 2 still", kid)
	}
	if got := jwksKIDs(t, f.keys.JWKS(), "ES256"); !slices.Equal(got, []string{access2.KID}) {
		t.Errorf("JWKS kids = %v, want generation 2 only", got)
	}
}

func TestRetiringAnUnknownKidFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	for _, kid := range []string{"", "no-such-kid", "access-1"} { // a storage id is not a kid
		if _, err := f.keys.Retire(context.Background(), kid); !errors.Is(err, tokens.ErrUnknownKey) {
			t.Errorf("Retire(%q) = %v, want ErrUnknownKey", kid, err)
		}
	}
	if got := f.storage.ids(); len(got) != 3 {
		t.Errorf("stored keys after refused retirements: %v", got)
	}
	for _, k := range f.keys.Keys() {
		if !k.RetiredAt.IsZero() {
			t.Errorf("key %s retired by a refused call", k.KID)
		}
	}
}

func TestARetirementThatFailsHalfWayIsFinishedByRepeatingIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	kid1 := f.storage.get(t, "access-1").KID
	tok := mintAccess(t, f.issuer, time.Minute)
	f.storage.mu.Lock()
	f.storage.retireErr = errors.New("connection reset")
	f.storage.mu.Unlock()
	if _, err := f.keys.Retire(context.Background(), kid1); err == nil {
		t.Fatal("Retire succeeded while storage fails")
	}
	// The replacement is stored and signs; the key is not retired yet.
	replacement := f.storage.get(t, "access-2")
	load(t, f.keys)
	if kid := headerKID(t, mintAccess(t, f.issuer, time.Minute)); kid != replacement.KID {
		t.Errorf("after the failed retirement, token signed by %s, want the replacement", kid)
	}

	f.storage.mu.Lock()
	f.storage.retireErr = nil
	f.storage.mu.Unlock()
	r, err := f.keys.Retire(context.Background(), kid1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Replacement != nil || !r.Key.RetiredAt.Equal(t0) {
		t.Errorf("repeated Retire = %+v, want the key retired now, and no new replacement: the first try's signs", r)
	}
	if got := signingKIDs(f.keys)[tokens.UseAccess]; !slices.Equal(got, []string{replacement.KID}) {
		t.Errorf("signing access keys = %v, want the first try's replacement", got)
	}
	if got := f.storage.ids(); slices.Contains(got, "access-3") {
		t.Errorf("the repeated retirement stored another replacement: %v", got)
	}
	_, err = f.issuer.ParseAccess(tok)
	wantInvalid(t, err)
}

func TestARetirementReachesAnotherReplicaAtItsNextReload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	krB, isB := f.replica(t)
	load(t, krB)
	kid1 := f.storage.get(t, "access-1").KID
	tok := mintAccess(t, f.issuer, 15*time.Minute)

	r, err := f.keys.Retire(context.Background(), kid1)
	if err != nil {
		t.Fatal(err)
	}
	mustParseAccess(t, isB, tok) // B has not reloaded yet
	load(t, krB)
	_, err = isB.ParseAccess(tok)
	wantInvalid(t, err)
	fresh := mintAccess(t, isB, time.Minute)
	if kid := headerKID(t, fresh); kid != r.Replacement.KID {
		t.Errorf("replica B signs with %s after reloading, want the replacement %s", kid, r.Replacement.KID)
	}
	mustParseAccess(t, f.issuer, fresh)
	if a, b := string(f.keys.JWKS()), string(krB.JWKS()); a != b {
		t.Errorf("replicas publish different JWKS:\nA %s\nB %s", a, b)
	}
}

func TestReplicasRetiringOneKeyAtOnceStoreOneReplacement(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	r := newRendezvous(2)
	krA, isA := f.replicaOver(t, rendezvousStorage{f.storage, r})
	krB, isB := f.replicaOver(t, rendezvousStorage{f.storage, r})
	load(t, krA)
	load(t, krB)
	kid1 := f.storage.get(t, "access-1").KID
	tok := mintAccess(t, isA, time.Minute)

	var wg sync.WaitGroup
	results := make([]tokens.Retirement, 2)
	errs := make([]error, 2)
	for i, kr := range []*tokens.Keyring{krA, krB} {
		wg.Go(func() { results[i], errs[i] = kr.Retire(context.Background(), kid1) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Retire: %v", i, err)
		}
	}
	if got := f.storage.ids(); !slices.Equal(got, []string{"access-1", "access-2", "id-RS256-1", "refresh-1"}) {
		t.Fatalf("stored keys = %v, want one replacement", got)
	}
	replacement := f.storage.get(t, "access-2").KID
	for i, res := range results {
		if res.Replacement == nil || res.Replacement.KID != replacement {
			t.Errorf("replica %d reports replacement %+v, want %s", i, res.Replacement, replacement)
		}
	}
	for _, is := range []*tokens.Issuer{isA, isB} {
		_, err := is.ParseAccess(tok)
		wantInvalid(t, err)
		if kid := headerKID(t, mintAccess(t, is, time.Minute)); kid != replacement {
			t.Errorf("token signed by %s, want the replacement %s", kid, replacement)
		}
	}
	if a, b := string(krA.JWKS()), string(krB.JWKS()); a != b {
		t.Errorf("replicas publish different JWKS:\nA %s\nB %s", a, b)
	}
}

// preemptStorage runs first, once, before the first InsertKey: another
// replica storing keys just before this one.
type preemptStorage struct {
	*memStorage
	once  *sync.Once
	first func()
}

func (s preemptStorage) InsertKey(ctx context.Context, k tokens.StoredKey) error {
	s.once.Do(s.first)
	return s.memStorage.InsertKey(ctx, k)
}

func TestARetirementRacingAScheduledRotationStillReplacesAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	kid1 := f.storage.get(t, "access-1").KID
	krA, _ := f.replica(t) // rotates on schedule
	load(t, krA)
	krB, isB := f.replicaOver(t, preemptStorage{f.storage, &sync.Once{}, func() { load(t, krA) }})
	load(t, krB)
	f.clock.Set(t0.Add(23*time.Hour + time.Minute)) // the rotation is due
	retiredAt := f.clock.Now()

	r, err := krB.Retire(context.Background(), kid1)
	if err != nil {
		t.Fatal(err)
	}
	scheduled, replacement := f.storage.get(t, "access-2"), f.storage.get(t, "access-3")
	if !scheduled.SignFrom.Equal(retiredAt.Add(time.Hour)) || !replacement.SignFrom.Equal(retiredAt) {
		t.Fatalf("access-2 signs from %v, access-3 from %v; want the scheduled successor an hour ahead and the replacement at once",
			scheduled.SignFrom, replacement.SignFrom)
	}
	if r.Replacement == nil || r.Replacement.KID != replacement.KID {
		t.Fatalf("replacement = %+v, want access-3", r.Replacement)
	}
	load(t, krA)
	for _, kr := range []*tokens.Keyring{krA, krB} {
		if got := signingKIDs(kr)[tokens.UseAccess]; !slices.Equal(got, []string{replacement.KID}) {
			t.Errorf("signing access keys = %v, want the replacement", got)
		}
	}
	// The scheduled successor never signs: the replacement is newer, and
	// the successor leaves the JWKS once the replacement has signed for
	// the access lifetime.
	f.clock.Set(scheduled.SignFrom.Add(time.Minute))
	load(t, krB)
	if kid := headerKID(t, mintAccess(t, isB, time.Minute)); kid != replacement.KID {
		t.Errorf("after the successor's SignFrom, token signed by %s, want the replacement", kid)
	}
	if got := jwksKIDs(t, krB.JWKS(), "ES256"); !slices.Equal(got, []string{replacement.KID}) {
		t.Errorf("JWKS kids = %v, want the replacement only", got)
	}
}

func TestAKeyRetiredInStorageNeverSignsAndVerifiesUntilItsRetirement(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	access1 := f.storage.get(t, "access-1")
	tok := mintAccess(t, f.issuer, time.Hour)
	// Retired (by hand, or by a replica that failed before its
	// replacement) ten minutes from now, with no successor.
	access1.RetiredAt = t0.Add(10 * time.Minute)
	f.storage.put(access1)
	load(t, f.keys)

	access2 := f.storage.get(t, "access-2")
	if !access2.SignFrom.Equal(t0) {
		t.Errorf("the line's next key signs from %v, want at once: nothing else may sign", access2.SignFrom)
	}
	if kid := headerKID(t, mintAccess(t, f.issuer, time.Minute)); kid != access2.KID {
		t.Errorf("token signed by %s, want generation 2: a retired key never signs", kid)
	}
	mustParseAccess(t, f.issuer, tok)
	if k := keyInfo(t, f.keys, access1.KID); !k.Until.Equal(access1.RetiredAt) || k.Signing || !k.Verifying {
		t.Errorf("generation 1 = %+v, want verifying until its retirement, not signing", k)
	}
	f.clock.Set(access1.RetiredAt)
	_, err := f.issuer.ParseAccess(tok)
	wantInvalid(t, err)
	load(t, f.keys)
	if got := jwksKIDs(t, f.keys.JWKS(), "ES256"); !slices.Equal(got, []string{access2.KID}) {
		t.Errorf("JWKS kids after the retirement = %v, want generation 2 only", got)
	}
}

func TestKeysListsEveryKeyWithItsState(t *testing.T) {
	t.Parallel()
	f := newIDFixture(t, "RS256")
	keys := f.keys.Keys()
	if len(keys) != 3 {
		t.Fatalf("Keys() = %+v, want 3", keys)
	}
	for i, want := range []struct {
		use, alg  string
		published bool
	}{{tokens.UseAccess, "ES256", true}, {tokens.UseID, "RS256", true}, {tokens.UseRefresh, "HS256", false}} {
		k := keys[i]
		if k.Use != want.use || k.Algorithm != want.alg || k.Generation != 1 || !k.Signing || !k.Verifying || k.Published != want.published ||
			!k.CreatedAt.Equal(t0) || !k.SignFrom.Equal(t0) || !k.Until.IsZero() || !k.RetiredAt.IsZero() || k.KID == "" {
			t.Errorf("Keys()[%d] = %+v, want a signing %s %s key of generation 1, published %v", i, k, want.use, want.alg, want.published)
		}
	}
}
