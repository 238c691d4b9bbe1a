package bridge_test

import (
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
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
