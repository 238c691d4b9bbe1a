package bridge_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/providers"
)

// BenchmarkRefresh measures the refresh use case without HTTP: one
// signature check, one conditional update, two signatures.
func BenchmarkRefresh(b *testing.B) {
	e := newEnv(b)
	ts, _ := e.signIn(b)
	tok := ts.RefreshToken
	b.ResetTimer()
	for b.Loop() {
		next, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: tok})
		if err != nil {
			b.Fatal(err)
		}
		tok = next.RefreshToken
	}
}

// BenchmarkRotateOnly is the baseline of BenchmarkRefresh: the store's
// conditional update alone, on a session document.
func BenchmarkRotateOnly(b *testing.B) {
	e := newEnv(b)
	ts, _ := e.signIn(b)
	rt, _ := e.issuer.ParseRefresh(ts.RefreshToken)
	gen := rt.Generation
	b.ResetTimer()
	for b.Loop() {
		now := time.Now()
		if _, err := e.store.Rotate(bg, rt.SessionID, gen, now, now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		gen++
	}
}

// BenchmarkExchangeToken measures a native sign-in's own cost, the
// provider's verification aside (the fake verifier does no cryptography):
// the replay guard, the identity and user writes, the session and the
// signatures (RS256 ID token included, as scope openid asks). Each
// iteration exchanges a new token of the same person.
func BenchmarkExchangeToken(b *testing.B) {
	e, _ := nativeEnv(b)
	i := 0
	b.ResetTimer()
	for b.Loop() {
		i++
		if _, err := e.b.ExchangeToken(bg, bridge.TokenExchangeGrant{
			Client: bridge.ClientCredentials{ID: "mobile"}, SubjectToken: fmt.Sprintf("native-token-%d", i),
			SubjectTokenType: providers.TokenTypeIDToken, Provider: "fake",
		}); err != nil {
			b.Fatal(err)
		}
	}
}
