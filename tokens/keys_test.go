package tokens_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/socialbridge/socialbridge/tokens"
)

func TestNewKeyringRefusesUnsupportedAlgorithms(t *testing.T) {
	t.Parallel()
	sealer := newSealer(t, randomBytes(t, 32))
	for _, alg := range []string{"", "none", "HS256", "ES384", "RS512", "es256", "Ed25519"} {
		_, err := tokens.NewKeyring(newMemStorage(), sealer, tokens.KeyringOptions{Algorithm: alg})
		if err == nil {
			t.Errorf("NewKeyring(Algorithm %q) succeeded, want an error", alg)
		}
	}
}

func TestEveryAlgorithmSignsTokensThatTheJWKSVerifies(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"ES256", "RS256", "PS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, alg)

			if got, want := f.storage.ids(), []string{"access-1", "id-RS256-1", "refresh-1"}; !slices.Equal(got, want) {
				t.Fatalf("stored keys = %v, want %v", got, want)
			}
			access, refresh, idKey := f.storage.get(t, "access-1"), f.storage.get(t, "refresh-1"), f.storage.get(t, "id-RS256-1")
			checkStoredKey(t, access, tokens.UseAccess, alg, 1)
			checkStoredKey(t, refresh, tokens.UseRefresh, "HS256", 1)
			checkStoredKey(t, idKey, tokens.UseID, "RS256", 1)
			if access.KID == refresh.KID || access.KID == idKey.KID || idKey.KID == refresh.KID {
				t.Fatal("keys of different uses share a kid")
			}
			if got := f.keys.AccessAlgorithms(); !slices.Equal(got, []string{alg}) {
				t.Errorf("AccessAlgorithms = %v, want [%s]", got, alg)
			}
			if got := f.keys.IDAlgorithms(); !slices.Equal(got, []string{"RS256"}) {
				t.Errorf("IDAlgorithms = %v, want [RS256] whatever the access algorithm", got)
			}

			tok := mintAccess(t, f.issuer, 15*time.Minute)
			if h := segment(t, tok, 0); h["alg"] != alg || h["kid"] != access.KID || h["typ"] != tokens.TypeAccess {
				t.Fatalf("header = %v, want alg %s, kid %s, typ at+jwt", h, alg, access.KID)
			}
			if c := mustParseAccess(t, f.issuer, tok); c.Subject != "user-42" {
				t.Fatalf("ParseAccess sub = %v, want user-42", c.Subject)
			}

			jwks := f.keys.JWKS()
			if got, want := jwksAlgs(t, jwks), map[string]string{access.KID: alg, idKey.KID: "RS256"}; !maps.Equal(got, want) {
				t.Fatalf("JWKS kid → alg = %v, want the access key and the ID key %v", got, want)
			}
			if strings.Contains(string(jwks), refresh.KID) {
				t.Fatal("the JWKS mentions the refresh key")
			}

			// An independent verifier that knows only the JWKS accepts the
			// access token and the ID token...
			claims, err := verifyWithJWKS(jwks, tok, f.clock.Now())
			if err != nil {
				t.Fatalf("go-jose verification with the JWKS: %v", err)
			}
			if claims["sub"] != "user-42" || claims["client_id"] != "spa" {
				t.Fatalf("go-jose claims = %v", claims)
			}
			id, err := f.issuer.MintID(tokens.ID{Subject: "user-42", ClientID: "spa", SessionID: "sess-1", TTL: time.Hour})
			if err != nil {
				t.Fatalf("MintID: %v", err)
			}
			if h := segment(t, id, 0); h["alg"] != "RS256" || h["kid"] != idKey.KID || h["typ"] != tokens.TypeID {
				t.Fatalf("ID token header = %v, want alg RS256, kid %s (the ID key), typ JWT", h, idKey.KID)
			}
			if _, err := verifyWithJWKS(jwks, id, f.clock.Now()); err != nil {
				t.Fatalf("go-jose verification of the ID token: %v", err)
			}
			// ...and refuses a token whose payload was altered.
			parts := strings.Split(tok, ".")
			forged := parts[0] + "." + segmentWith(t, tok, "sub", "someone-else") + "." + parts[2]
			if _, err := verifyWithJWKS(jwks, forged, f.clock.Now()); err == nil {
				t.Fatal("go-jose accepted a token with an altered payload")
			}
			if _, err := f.issuer.ParseAccess(forged); !errors.Is(err, tokens.ErrInvalidToken) {
				t.Fatalf("ParseAccess of an altered token: %v, want ErrInvalidToken", err)
			}

			// For RSA, the other RSA padding made with our very key is
			// still refused: the algorithm is bound to the key.
			if other, ok := map[string]jwt.SigningMethod{"RS256": jwt.SigningMethodPS256, "PS256": jwt.SigningMethodRS256}[alg]; ok {
				priv, kid := f.privateKey(t, "access-1")
				tok := signToken(t, other, priv, map[string]any{"kid": kid, "typ": tokens.TypeAccess}, validAccessClaims(f.clock.Now()))
				_, err := f.issuer.ParseAccess(tok)
				wantInvalid(t, err)
			}
		})
	}
}

// checkStoredKey checks the persisted form of a fresh key.
func checkStoredKey(t *testing.T, k tokens.StoredKey, use, alg string, gen int) {
	t.Helper()
	wantID := fmt.Sprintf("%s-%d", use, gen)
	if use == tokens.UseID {
		wantID = fmt.Sprintf("%s-%s-%d", use, alg, gen) // one line of keys per ID algorithm
	}
	if k.Use != use || k.Algorithm != alg || k.Generation != gen || k.ID != wantID {
		t.Errorf("stored key = {ID %s Use %s Alg %s Gen %d}, want {%s %s %s %d}", k.ID, k.Use, k.Algorithm, k.Generation, wantID, use, alg, gen)
	}
	if len(k.KID) < 16 {
		t.Errorf("kid %q is too short to be random", k.KID)
	}
	if !strings.HasPrefix(k.PrivateSealed, "v1.") {
		t.Errorf("private key is not sealed: %.20q...", k.PrivateSealed)
	}
	if k.CreatedAt.IsZero() || k.SignFrom.Before(k.CreatedAt) {
		t.Errorf("CreatedAt %v, SignFrom %v: a key cannot sign before it is published", k.CreatedAt, k.SignFrom)
	}
}

// segmentWith returns tok's payload, re-encoded with claim name set to v.
func segmentWith(t *testing.T, tok, name string, v any) string {
	t.Helper()
	claims := jwt.MapClaims(segment(t, tok, 1))
	claims[name] = v
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SigningString()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(s, ".")[1]
}

func TestReplicasOverOneStorageShareKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	krB, isB := f.replica(t)
	load(t, krB)

	if got := f.storage.ids(); len(got) != 3 {
		t.Fatalf("after two replicas loaded, stored keys = %v, want one per use", got)
	}
	if a, b := string(f.keys.JWKS()), string(krB.JWKS()); a != b {
		t.Fatalf("replicas publish different JWKS:\nA %s\nB %s", a, b)
	}

	tests := []struct {
		name           string
		minter, parser *tokens.Issuer
	}{
		{"replica B verifies replica A's tokens", f.issuer, isB},
		{"replica A verifies replica B's tokens", isB, f.issuer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mustParseAccess(t, tt.parser, mintAccess(t, tt.minter, time.Minute))
			rt, err := tt.minter.MintRefresh(sampleRefresh(f.clock.Now()))
			if err != nil {
				t.Fatalf("MintRefresh: %v", err)
			}
			if _, err := tt.parser.ParseRefresh(rt); err != nil {
				t.Fatalf("ParseRefresh: %v", err)
			}
		})
	}

	t.Run("loading again creates no keys", func(t *testing.T) {
		t.Parallel()
		before, _ := f.storage.counts()
		for range 3 {
			load(t, krB)
		}
		if after, _ := f.storage.counts(); after != before {
			t.Fatalf("reloading inserted %d keys", after-before)
		}
	})
}

// rendezvousStorage holds each InsertKey until every replica has reached
// the same insert, so that replicas race exactly as they would in the
// worst case: all of them decide to create a key before any has.
type rendezvousStorage struct {
	*memStorage
	r *rendezvous
}

func (s rendezvousStorage) InsertKey(ctx context.Context, k tokens.StoredKey) error {
	if err := s.r.wait(k.ID); err != nil {
		return err
	}
	return s.memStorage.InsertKey(ctx, k)
}

type rendezvous struct {
	n       int
	mu      sync.Mutex
	arrived map[string]int
	ready   map[string]chan struct{}
}

func newRendezvous(n int) *rendezvous {
	return &rendezvous{n: n, arrived: map[string]int{}, ready: map[string]chan struct{}{}}
}

func (r *rendezvous) wait(id string) error {
	r.mu.Lock()
	ch, ok := r.ready[id]
	if !ok {
		ch = make(chan struct{})
		r.ready[id] = ch
	}
	r.arrived[id]++
	if r.arrived[id] == r.n {
		close(ch)
	}
	r.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("rendezvous on %s: the other replicas never tried to insert it", id)
	}
}

func TestReplicasCreatingKeysAtOnceEndWithOneKeyPerGeneration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		at      time.Duration // after t0
		wantIDs []string
		preload bool // whether generation 1 exists already
	}{
		{"two replicas starting on an empty store", 0, []string{"access-1", "id-RS256-1", "refresh-1"}, false},
		{"two replicas rotating at the same moment", 23*time.Hour + time.Minute, []string{"access-1", "access-2", "id-RS256-1", "id-RS256-2", "refresh-1", "refresh-2"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newTestClock(t0)
			f := &fixture{storage: newMemStorage(), sealKey: randomBytes(t, 32), clock: clock, opts: defaultKeyringOptions("ES256", clock)}
			f.sealer = newSealer(t, f.sealKey)
			if tt.preload {
				kr, _ := f.replica(t)
				load(t, kr)
			}
			_, dupsBefore := f.storage.counts()

			r := newRendezvous(2)
			krA, isA := f.replicaOver(t, rendezvousStorage{f.storage, r})
			krB, isB := f.replicaOver(t, rendezvousStorage{f.storage, r})
			if tt.preload {
				load(t, krA)
				load(t, krB)
			}
			clock.Set(t0.Add(tt.at))

			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, kr := range []*tokens.Keyring{krA, krB} {
				wg.Go(func() { errs[i] = kr.Load(context.Background()) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("replica %d: Load: %v (a duplicate insert must be tolerated)", i, err)
				}
			}

			if got := f.storage.ids(); !slices.Equal(got, tt.wantIDs) {
				t.Fatalf("stored keys = %v, want %v", got, tt.wantIDs)
			}
			if _, dups := f.storage.counts(); dups-dupsBefore != 3 {
				t.Fatalf("storage refused %d duplicate inserts, want 3 (one per use): the race did not happen", dups-dupsBefore)
			}
			if a, b := string(krA.JWKS()), string(krB.JWKS()); a != b {
				t.Fatalf("replicas publish different JWKS:\nA %s\nB %s", a, b)
			}
			wantKIDs := []string{f.storage.get(t, "access-1").KID}
			if tt.preload {
				wantKIDs = append(wantKIDs, f.storage.get(t, "access-2").KID)
			}
			if got := jwksKIDs(t, krA.JWKS(), "ES256"); !slices.Equal(got, wantKIDs) {
				t.Fatalf("JWKS kids = %v, want %v (the stored keys, not a losing replica's own)", got, wantKIDs)
			}

			// Once the newest key signs, both sign with the stored one and
			// accept each other's tokens.
			clock.Set(t0.Add(tt.at + time.Hour))
			newest := wantKIDs[len(wantKIDs)-1]
			for _, p := range []struct{ minter, parser *tokens.Issuer }{{isA, isB}, {isB, isA}} {
				tok := mintAccess(t, p.minter, time.Minute)
				if kid := headerKID(t, tok); kid != newest {
					t.Fatalf("token signed with kid %s, want %s", kid, newest)
				}
				mustParseAccess(t, p.parser, tok)
			}
		})
	}
}

func TestRotationPublishesAheadAndRetiresAfterTheLongestTokenLifetime(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256") // Rotation 24h, PublishAhead 1h, AccessLifetime 15m
	kid1 := f.storage.get(t, "access-1").KID

	// At t0, generation 1 signs; a 48h token outlives its key on purpose.
	longLived := mintAccess(t, f.issuer, 48*time.Hour)
	refresh1, err := f.issuer.MintRefresh(sampleRefresh(t0))
	if err != nil {
		t.Fatal(err)
	}
	if got := jwksKIDs(t, f.keys.JWKS(), "ES256"); !slices.Equal(got, []string{kid1}) {
		t.Fatalf("t0: JWKS kids = %v, want [%s]", got, kid1)
	}

	// At t0+23h01m the successor is created and published, but does not
	// sign yet.
	f.clock.Set(t0.Add(23*time.Hour + time.Minute))
	load(t, f.keys)
	gen2 := f.storage.get(t, "access-2")
	checkStoredKey(t, gen2, tokens.UseAccess, "ES256", 2)
	if want := f.clock.Now().Add(time.Hour); !gen2.SignFrom.Equal(want) {
		t.Fatalf("generation 2 signs from %v, want %v (publish ahead 1h)", gen2.SignFrom, want)
	}
	if got := jwksKIDs(t, f.keys.JWKS(), "ES256"); !slices.Equal(got, []string{kid1, gen2.KID}) {
		t.Fatalf("t0+23h01m: JWKS kids = %v, want [%s %s]", got, kid1, gen2.KID)
	}
	if kid := headerKID(t, mintAccess(t, f.issuer, time.Minute)); kid != kid1 {
		t.Fatalf("t0+23h01m: token signed with %s, want generation 1 (%s)", kid, kid1)
	}
	cachedJWKS := f.keys.JWKS() // what a backend fetches now and caches

	f.clock.Set(t0.Add(23*time.Hour + 30*time.Minute))
	load(t, f.keys)
	if got := f.storage.ids(); len(got) != 6 {
		t.Fatalf("reloading while a successor waits created keys: %v", got)
	}

	// At t0+24h01m generation 2 signs; generation 1's tokens still verify.
	f.clock.Set(t0.Add(24*time.Hour + time.Minute))
	load(t, f.keys)
	tok2 := mintAccess(t, f.issuer, 20*time.Minute)
	if kid := headerKID(t, tok2); kid != gen2.KID {
		t.Fatalf("t0+24h01m: token signed with %s, want generation 2 (%s)", kid, gen2.KID)
	}
	if _, err := verifyWithJWKS(cachedJWKS, tok2, f.clock.Now()); err != nil {
		t.Fatalf("a backend that cached the JWKS an hour ago cannot verify generation 2: %v", err)
	}
	mustParseAccess(t, f.issuer, longLived)
	if _, err := f.issuer.ParseRefresh(refresh1); err != nil {
		t.Fatalf("a generation-1 refresh token no longer parses after rotation: %v", err)
	}

	// Until generation 2 has signed for the access lifetime plus the 30 s
	// verification leeway, generation 1 stays; one second later it is gone.
	f.clock.Set(gen2.SignFrom.Add(15*time.Minute + 30*time.Second - time.Second))
	load(t, f.keys)
	mustParseAccess(t, f.issuer, longLived)
	if got := jwksKIDs(t, f.keys.JWKS(), "ES256"); !slices.Contains(got, kid1) {
		t.Fatalf("generation 1 left the JWKS before its tokens expired: %v", got)
	}

	f.clock.Set(gen2.SignFrom.Add(15*time.Minute + 30*time.Second + time.Second))
	_, err = f.issuer.ParseAccess(longLived)
	wantInvalid(t, err) // refused even before the next Load
	load(t, f.keys)
	if got := jwksKIDs(t, f.keys.JWKS(), "ES256"); !slices.Equal(got, []string{gen2.KID}) {
		t.Fatalf("after retirement: JWKS kids = %v, want only [%s]", got, gen2.KID)
	}
	_, err = f.issuer.ParseAccess(longLived)
	wantInvalid(t, err)
	mustParseAccess(t, f.issuer, tok2)
	if _, err := f.issuer.ParseRefresh(refresh1); err != nil {
		t.Fatalf("the refresh key was retired with the access key's lifetime: %v", err)
	}
}

func TestLoadFailsClearly(t *testing.T) {
	t.Parallel()
	storageErr := errors.New("connection refused")
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture) *tokens.Keyring
		want  error
	}{
		{
			name: "a storage list error is returned",
			setup: func(t *testing.T, f *fixture) *tokens.Keyring {
				f.storage.listErr = storageErr
				kr, _ := f.replica(t)
				return kr
			},
			want: storageErr,
		},
		{
			name: "a storage insert error that is not a duplicate is returned",
			setup: func(t *testing.T, f *fixture) *tokens.Keyring {
				f.clock.Set(t0.Add(24 * time.Hour))
				f.storage.insertErr = storageErr
				kr, _ := f.replica(t)
				return kr
			},
			want: storageErr,
		},
		{
			name: "keys sealed with another encryption key do not open",
			setup: func(t *testing.T, f *fixture) *tokens.Keyring {
				kr, err := tokens.NewKeyring(f.storage, newSealer(t, randomBytes(t, 32)), f.opts)
				if err != nil {
					t.Fatal(err)
				}
				return kr
			},
			want: tokens.ErrUnseal,
		},
		{
			name: "a sealed private key copied to another record does not open",
			setup: func(t *testing.T, f *fixture) *tokens.Keyring {
				k := f.storage.get(t, "access-1")
				k.ID, k.Generation, k.KID = "access-2", 2, "copied"
				f.storage.put(k)
				kr, _ := f.replica(t)
				return kr
			},
			want: tokens.ErrUnseal,
		},
		{
			name: "a stored key whose algorithm does not fit its key type is refused",
			setup: func(t *testing.T, f *fixture) *tokens.Keyring {
				k := f.storage.get(t, "access-1")
				k.Algorithm = "RS256"
				f.storage.put(k)
				kr, _ := f.replica(t)
				return kr
			},
		},
		{
			name: "a stored key with an unsupported algorithm is refused",
			setup: func(t *testing.T, f *fixture) *tokens.Keyring {
				k := f.storage.get(t, "access-1")
				k.Algorithm = "HS256"
				f.storage.put(k)
				kr, _ := f.replica(t)
				return kr
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, "ES256")
			err := tt.setup(t, f).Load(context.Background())
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Load: %v, want an error wrapping %v", err, tt.want)
			}
		})
	}
}

func TestMintingBeforeLoadFailsWithErrNoSigningKey(t *testing.T) {
	t.Parallel()
	clock := newTestClock(t0)
	kr, err := tokens.NewKeyring(newMemStorage(), newSealer(t, randomBytes(t, 32)), defaultKeyringOptions("ES256", clock))
	if err != nil {
		t.Fatal(err)
	}
	is := tokens.NewIssuer(kr, testIssuer, clock.Now)
	if _, _, err := is.MintAccess(sampleAccess()); !errors.Is(err, tokens.ErrNoSigningKey) {
		t.Errorf("MintAccess: %v, want ErrNoSigningKey", err)
	}
	if _, err := is.MintRefresh(sampleRefresh(t0)); !errors.Is(err, tokens.ErrNoSigningKey) {
		t.Errorf("MintRefresh: %v, want ErrNoSigningKey", err)
	}
	if _, err := is.MintID(tokens.ID{Subject: "u", ClientID: "c", TTL: time.Minute}); !errors.Is(err, tokens.ErrNoSigningKey) {
		t.Errorf("MintID: %v, want ErrNoSigningKey", err)
	}
	if got := string(kr.JWKS()); got != "" && got != `{"keys":[]}` {
		t.Errorf("JWKS before Load = %s", got)
	}
}

func TestChangingTheAlgorithmRotatesAtOnceButPublishesAhead(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ES256")
	es := mintAccess(t, f.issuer, 2*time.Hour)
	// The operator switches to EdDSA and restarts: same storage, new keyring.
	opts := defaultKeyringOptions("EdDSA", f.clock)
	kr, err := tokens.NewKeyring(f.storage, f.sealer, opts)
	if err != nil {
		t.Fatal(err)
	}
	load(t, kr)
	iss := tokens.NewIssuer(kr, testIssuer, f.clock.Now)
	if got := kr.AccessAlgorithms(); !slices.Equal(got, []string{"ES256", "EdDSA"}) {
		t.Fatalf("AccessAlgorithms() right after the change = %v, want both", got)
	}
	if h := segment(t, mintAccess(t, iss, time.Minute), 0); h["alg"] != "ES256" {
		t.Fatalf("the new key signs before it was published ahead: alg %v", h["alg"])
	}
	f.clock.Set(f.clock.Now().Add(time.Hour + time.Minute))
	load(t, kr)
	if h := segment(t, mintAccess(t, iss, time.Minute), 0); h["alg"] != "EdDSA" {
		t.Fatalf("after the publish-ahead period: alg %v, want EdDSA", h["alg"])
	}
	mustParseAccess(t, iss, es) // old tokens still verify until they expire
	f.clock.Set(f.clock.Now().Add(16 * time.Minute))
	load(t, kr)
	if got := kr.AccessAlgorithms(); !slices.Equal(got, []string{"EdDSA"}) {
		t.Fatalf("AccessAlgorithms() after the old key retired = %v, want [EdDSA]", got)
	}
	if got := kr.IDAlgorithms(); !slices.Equal(got, []string{"RS256"}) {
		t.Fatalf("IDAlgorithms() = %v, want [RS256]: the access algorithm does not change ID tokens", got)
	}
}
