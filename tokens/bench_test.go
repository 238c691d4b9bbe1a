package tokens_test

import (
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/tokens"
)

// BenchmarkMint compares what each token costs to sign: an ID token is
// minted once per sign-in (the code exchange), never on refresh.
func BenchmarkMint(b *testing.B) {
	clock := newTestClock(t0)
	opts := defaultKeyringOptions("ES256", clock)
	opts.IDAlgorithms = []string{"RS256", "ES256", "PS256", "EdDSA"}
	kr, err := tokens.NewKeyring(newMemStorage(), newSealer(b, randomBytes(b, 32)), opts)
	if err != nil {
		b.Fatal(err)
	}
	if err := kr.Load(b.Context()); err != nil {
		b.Fatal(err)
	}
	is := tokens.NewIssuer(kr, testIssuer, clock.Now)
	b.Run("access ES256", func(b *testing.B) {
		a := sampleAccess()
		for b.Loop() {
			if _, _, err := is.MintAccess(a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("refresh HS256", func(b *testing.B) {
		r := sampleRefresh(t0)
		for b.Loop() {
			if _, err := is.MintRefresh(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, alg := range opts.IDAlgorithms {
		b.Run("ID "+alg, func(b *testing.B) {
			d := tokens.ID{Subject: "user-42", ClientID: "spa", SessionID: "sess-1", Nonce: "n", TTL: 15 * time.Minute,
				Claims: map[string]any{"email": "ada@example.test", "name": "Ada"}, Algorithm: alg}
			for b.Loop() {
				if _, err := is.MintID(d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
