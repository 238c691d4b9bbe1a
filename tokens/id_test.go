package tokens_test

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/socialbridge/socialbridge/tokens"
)

// newIDFixture is newFixture with ES256 access tokens and ID tokens signed
// with idAlgs (the first is the default).
func newIDFixture(t *testing.T, idAlgs ...string) *fixture {
	t.Helper()
	clock := newTestClock(t0)
	f := &fixture{storage: newMemStorage(), sealKey: randomBytes(t, 32), clock: clock, opts: defaultKeyringOptions("ES256", clock)}
	f.opts.IDAlgorithms = idAlgs
	f.sealer = newSealer(t, f.sealKey)
	f.keys, f.issuer = f.replica(t)
	load(t, f.keys)
	return f
}

// mintID mints an ID token signed with alg ("" for the default) and fails
// the test on error.
func mintID(t *testing.T, is *tokens.Issuer, alg string) string {
	t.Helper()
	tok, err := is.MintID(tokens.ID{Subject: "user-42", ClientID: "spa", SessionID: "sess-1", TTL: 15 * time.Minute, Algorithm: alg})
	if err != nil {
		t.Fatalf("MintID(%q): %v", alg, err)
	}
	return tok
}

func TestNewKeyringRefusesUnsupportedIDAlgorithms(t *testing.T) {
	t.Parallel()
	sealer := newSealer(t, randomBytes(t, 32))
	for _, algs := range [][]string{{"HS256"}, {"none"}, {""}, {"rs256"}, {"RS256", "ES384"}, {"RS512"}} {
		_, err := tokens.NewKeyring(newMemStorage(), sealer, tokens.KeyringOptions{Algorithm: "ES256", IDAlgorithms: algs})
		if err == nil {
			t.Errorf("NewKeyring(IDAlgorithms %q) succeeded, want an error", algs)
		}
	}
}

func TestEveryIDAlgorithmHasACurrentKeyOfItsOwn(t *testing.T) {
	t.Parallel()
	// ES256 is the default here, and twice, as the union of a default and
	// every client's choice may well be.
	f := newIDFixture(t, "ES256", "RS256", "PS256", "EdDSA", "ES256")
	want := []string{"access-1", "id-ES256-1", "id-EdDSA-1", "id-PS256-1", "id-RS256-1", "refresh-1"}
	if got := f.storage.ids(); !slices.Equal(got, want) {
		t.Fatalf("stored keys = %v, want %v", got, want)
	}
	if got := f.keys.IDAlgorithms(); !slices.Equal(got, []string{"RS256", "ES256", "PS256", "EdDSA"}) {
		t.Errorf("IDAlgorithms() = %v, want RS256 first (OpenID Connect Discovery), then the rest as configured", got)
	}
	if got := f.keys.AccessAlgorithms(); !slices.Equal(got, []string{"ES256"}) {
		t.Errorf("AccessAlgorithms() = %v, want [ES256]: ID algorithms are not access algorithms", got)
	}
	access := f.storage.get(t, "access-1")
	wantJWKS := map[string]string{access.KID: "ES256"}

	for _, alg := range []string{"RS256", "ES256", "PS256", "EdDSA"} {
		t.Run("an ID token for a client of "+alg+" is signed by the "+alg+" ID key", func(t *testing.T) {
			idKey := f.storage.get(t, "id-"+alg+"-1")
			checkStoredKey(t, idKey, tokens.UseID, alg, 1)
			wantJWKS[idKey.KID] = alg
			tok := mintID(t, f.issuer, alg)
			if h := segment(t, tok, 0); h["alg"] != alg || h["kid"] != idKey.KID || h["typ"] != tokens.TypeID {
				t.Fatalf("header = %v, want alg %s, kid %s, typ JWT", h, alg, idKey.KID)
			}
			if _, err := verifyWithJWKS(f.keys.JWKS(), tok, f.clock.Now()); err != nil {
				t.Fatalf("a relying party cannot verify it with the JWKS: %v", err)
			}
			_, err := f.issuer.ParseAccess(tok)
			wantInvalid(t, err)
		})
	}
	t.Run("the JWKS publishes the access key and every ID key", func(t *testing.T) {
		if got := jwksAlgs(t, f.keys.JWKS()); !maps.Equal(got, wantJWKS) {
			t.Fatalf("JWKS kid → alg = %v, want %v", got, wantJWKS)
		}
	})
	t.Run("a client that names no algorithm gets the default", func(t *testing.T) {
		if kid := headerKID(t, mintID(t, f.issuer, "")); kid != f.storage.get(t, "id-ES256-1").KID {
			t.Fatalf("kid %s, want the ES256 ID key", kid)
		}
	})
	t.Run("an algorithm the keyring was not configured for is refused", func(t *testing.T) {
		for _, alg := range []string{"RS384", "HS256", "none", "es256"} {
			_, err := f.issuer.MintID(tokens.ID{Subject: "u", ClientID: "c", TTL: time.Minute, Algorithm: alg})
			if !errors.Is(err, tokens.ErrNoSigningKey) {
				t.Errorf("MintID(%q): %v, want ErrNoSigningKey", alg, err)
			}
		}
	})
	t.Run("access tokens stay on the access key although an ID key has the same algorithm", func(t *testing.T) {
		tok := mintAccess(t, f.issuer, time.Minute)
		if kid := headerKID(t, tok); kid != access.KID {
			t.Fatalf("access token kid %s, want the access key %s", kid, access.KID)
		}
		idKey, idKID := f.privateKey(t, "id-ES256-1")
		for _, kid := range []string{idKID, access.KID} {
			forged := signToken(t, jwt.SigningMethodES256, idKey, map[string]any{"kid": kid, "typ": tokens.TypeAccess}, validAccessClaims(f.clock.Now()))
			_, err := f.issuer.ParseAccess(forged)
			wantInvalid(t, err)
		}
	})
}

func TestIDKeysRotatePublishAheadAndRetire(t *testing.T) {
	t.Parallel()
	f := newIDFixture(t, "RS256", "ES256") // Rotation 24h, PublishAhead 1h, AccessLifetime 15m
	algs := []string{"RS256", "ES256"}
	gen1 := map[string]string{}
	for _, alg := range algs {
		gen1[alg] = f.storage.get(t, "id-"+alg+"-1").KID
	}

	// At t0+23h01m each ID line gets a successor, published but not yet
	// signing.
	f.clock.Set(t0.Add(23*time.Hour + time.Minute))
	load(t, f.keys)
	gen2 := map[string]tokens.StoredKey{}
	for _, alg := range algs {
		k := f.storage.get(t, "id-"+alg+"-2")
		checkStoredKey(t, k, tokens.UseID, alg, 2)
		if want := f.clock.Now().Add(time.Hour); !k.SignFrom.Equal(want) {
			t.Fatalf("%s generation 2 signs from %v, want %v (publish ahead 1h)", alg, k.SignFrom, want)
		}
		gen2[alg] = k
		published := jwksAlgs(t, f.keys.JWKS())
		if published[gen1[alg]] != alg || published[k.KID] != alg {
			t.Fatalf("t0+23h01m: JWKS %v, want both %s ID keys", published, alg)
		}
		if kid := headerKID(t, mintID(t, f.issuer, alg)); kid != gen1[alg] {
			t.Fatalf("t0+23h01m: %s ID token signed with %s, want generation 1", alg, kid)
		}
	}
	cachedJWKS := f.keys.JWKS()

	// At t0+24h01m generation 2 signs, with a key relying parties have
	// had for an hour.
	f.clock.Set(t0.Add(24*time.Hour + time.Minute))
	load(t, f.keys)
	for _, alg := range algs {
		tok := mintID(t, f.issuer, alg)
		if kid := headerKID(t, tok); kid != gen2[alg].KID {
			t.Fatalf("t0+24h01m: %s ID token signed with %s, want generation 2", alg, kid)
		}
		if _, err := verifyWithJWKS(cachedJWKS, tok, f.clock.Now()); err != nil {
			t.Fatalf("a relying party that cached the JWKS an hour ago cannot verify generation 2: %v", err)
		}
	}

	// Generation 1 stays published until generation 2 has signed for the
	// token lifetime plus the leeway, then leaves.
	for _, alg := range algs {
		f.clock.Set(gen2[alg].SignFrom.Add(15*time.Minute + 30*time.Second - time.Second))
		load(t, f.keys)
		if _, ok := jwksAlgs(t, f.keys.JWKS())[gen1[alg]]; !ok {
			t.Fatalf("%s generation 1 left the JWKS before its ID tokens expired", alg)
		}
		f.clock.Set(gen2[alg].SignFrom.Add(15*time.Minute + 30*time.Second + time.Second))
		load(t, f.keys)
		published := jwksAlgs(t, f.keys.JWKS())
		if _, ok := published[gen1[alg]]; ok {
			t.Fatalf("%s generation 1 is still published after its last ID token expired: %v", alg, published)
		}
		if published[gen2[alg].KID] != alg {
			t.Fatalf("%s generation 2 is not published: %v", alg, published)
		}
	}
}

func TestIDKeysForAlgorithmsComingAndGoing(t *testing.T) {
	t.Parallel()
	t.Run("a key store from before ID keys gets one at Load that signs at once", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, "ES256")
		accessKID := f.storage.get(t, "access-1").KID
		f.storage.remove("id-RS256-1") // what earlier versions left: access and refresh keys only
		f.clock.Set(t0.Add(time.Hour))
		kr, is := f.replica(t)
		load(t, kr)
		if got, want := f.storage.ids(), []string{"access-1", "id-RS256-1", "refresh-1"}; !slices.Equal(got, want) {
			t.Fatalf("stored keys = %v, want %v: an ID key and no other change", got, want)
		}
		idKey := f.storage.get(t, "id-RS256-1")
		if !idKey.SignFrom.Equal(f.clock.Now()) {
			t.Fatalf("the first ID key signs from %v, want at once (%v)", idKey.SignFrom, f.clock.Now())
		}
		tok := mintID(t, is, "")
		if h := segment(t, tok, 0); h["kid"] != idKey.KID || h["alg"] != "RS256" {
			t.Fatalf("ID token header %v, want the new RS256 ID key", h)
		}
		if _, err := verifyWithJWKS(kr.JWKS(), tok, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if kid := headerKID(t, mintAccess(t, is, time.Minute)); kid != accessKID {
			t.Fatalf("access tokens moved to kid %s, want the access key %s", kid, accessKID)
		}
	})

	t.Run("an algorithm a client newly asks for gets a key that signs at once", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, "ES256")
		f.clock.Set(t0.Add(2 * time.Hour))
		opts := f.opts
		opts.IDAlgorithms = []string{"RS256", "EdDSA"}
		kr, err := tokens.NewKeyring(f.storage, f.sealer, opts)
		if err != nil {
			t.Fatal(err)
		}
		load(t, kr)
		is := tokens.NewIssuer(kr, testIssuer, f.clock.Now)
		ed := f.storage.get(t, "id-EdDSA-1")
		if kid := headerKID(t, mintID(t, is, "EdDSA")); kid != ed.KID {
			t.Fatalf("EdDSA ID token signed with %s, want %s", kid, ed.KID)
		}
		if kid := headerKID(t, mintID(t, is, "RS256")); kid != f.storage.get(t, "id-RS256-1").KID {
			t.Fatalf("RS256 ID token signed with %s, want the existing RS256 key", kid)
		}
	})

	t.Run("an algorithm no client asks for any more retires like a succeeded key and never signs again", func(t *testing.T) {
		t.Parallel()
		f := newIDFixture(t, "RS256", "ES256")
		esKID := f.storage.get(t, "id-ES256-1").KID
		// The operator removes the last ES256 client and restarts.
		f.clock.Set(t0.Add(time.Hour))
		opts := f.opts
		opts.IDAlgorithms = []string{"RS256"}
		kr, err := tokens.NewKeyring(f.storage, f.sealer, opts)
		if err != nil {
			t.Fatal(err)
		}
		load(t, kr)
		is := tokens.NewIssuer(kr, testIssuer, f.clock.Now)
		if got := kr.IDAlgorithms(); !slices.Equal(got, []string{"RS256"}) {
			t.Fatalf("IDAlgorithms() = %v, want [RS256]", got)
		}
		if _, err := is.MintID(tokens.ID{Subject: "u", ClientID: "c", TTL: time.Minute, Algorithm: "ES256"}); !errors.Is(err, tokens.ErrNoSigningKey) {
			t.Fatalf("MintID(ES256) after ES256 was removed: %v, want ErrNoSigningKey", err)
		}
		// ID tokens it signed before the restart still verify: it stays
		// published for as long as if a successor had taken over on
		// schedule (Rotation 24h), plus their lifetime and the leeway.
		retire := t0.Add(24*time.Hour + 15*time.Minute + 30*time.Second)
		f.clock.Set(retire.Add(-time.Second))
		load(t, kr)
		if _, ok := jwksAlgs(t, kr.JWKS())[esKID]; !ok {
			t.Fatal("the ES256 ID key left the JWKS before the ID tokens it may have signed expired")
		}
		if slices.Contains(f.storage.ids(), "id-ES256-2") {
			t.Fatal("the keyring rotated an ID algorithm nobody uses")
		}
		f.clock.Set(retire.Add(time.Second))
		load(t, kr)
		if _, ok := jwksAlgs(t, kr.JWKS())[esKID]; ok {
			t.Fatal("the ES256 ID key is still published after every ID token it signed expired")
		}

		// A client asks for ES256 again: the retired key does not come
		// back to sign; a new one does, at once.
		opts.IDAlgorithms = []string{"RS256", "ES256"}
		kr2, err := tokens.NewKeyring(f.storage, f.sealer, opts)
		if err != nil {
			t.Fatal(err)
		}
		load(t, kr2)
		is2 := tokens.NewIssuer(kr2, testIssuer, f.clock.Now)
		fresh := f.storage.get(t, "id-ES256-2")
		if !fresh.SignFrom.Equal(f.clock.Now()) {
			t.Fatalf("the new ES256 ID key signs from %v, want at once", fresh.SignFrom)
		}
		tok := mintID(t, is2, "ES256")
		if kid := headerKID(t, tok); kid != fresh.KID {
			t.Fatalf("ES256 ID token signed with %s, want the new key %s (not the retired %s)", kid, fresh.KID, esKID)
		}
		if _, err := verifyWithJWKS(kr2.JWKS(), tok, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
	})
}
