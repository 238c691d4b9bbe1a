package verify

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/verify/verifytest"
)

// newBenchFixture returns a verifier of ES256 tokens with revoked
// sessions and users in its set, and a token as socialbridge mints it
// (with roles and user claims).
func newBenchFixture(b *testing.B, revoked int) (*Verifier, *verifytest.Issuer, string) {
	b.Helper()
	iss := verifytest.NewIssuer(b)
	v, err := New(b.Context(), Config{
		Issuer: iss.URL, Audience: []string{iss.Audience}, ClientID: iss.ClientID, ClientSecret: iss.ClientSecret,
		FeedInterval: time.Hour, FeedMaxStale: 2 * time.Hour,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = v.Close() })
	if revoked > 0 {
		// As the feed would build it: revoked sessions, and as many users
		// with a not-before, all unexpired.
		set := newRevocationSet(revoked, revoked)
		until := time.Now().Add(time.Hour).Unix()
		for i := range revoked {
			set.sessions[fmt.Sprintf("sid-revoked-%d", i)] = until
			set.users[fmt.Sprintf("user-revoked-%d", i)] = userRevocation{notBefore: time.Now().Unix(), until: until}
		}
		set.minUntil = until
		v.feed.set.Store(set)
	}
	token := iss.Token(map[string]any{"roles": []string{"staff", "admin"}, "picture": "https://example.com/p.png"})
	return v, iss, token
}

// BenchmarkVerify measures a full Verify of an ES256 access token: parse,
// header and key checks, signature, claims, revocation lookup. Compare
// with BenchmarkRawSignature in the same run (target: at most 1.15×).
func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("revoked=%d", n), func(b *testing.B) {
			v, _, token := newBenchFixture(b, n)
			ctx := b.Context()
			if _, err := v.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawSignature is the floor Verify is measured against: SHA-256
// of the same token's signing input and ecdsa.Verify, nothing else.
func BenchmarkRawSignature(b *testing.B) {
	_, iss, token := newBenchFixture(b, 0)
	pub := iss.PublicKey(iss.KeyID()).(*ecdsa.PublicKey)
	i := strings.LastIndexByte(token, '.')
	input := token[:i]
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256([]byte(input))
		if !ecdsa.Verify(pub, h[:], r, s) {
			b.Fatal("signature does not verify")
		}
	}
}

// BenchmarkVerifyOverRaw alternates one Verify and one raw signature check
// of the same token and reports their ratio: on a busy machine, load
// changes between two benchmarks run one after the other, but hardly
// between two calls 100µs apart.
func BenchmarkVerifyOverRaw(b *testing.B) {
	v, iss, token := newBenchFixture(b, 100_000)
	ctx := b.Context()
	pub := iss.PublicKey(iss.KeyID()).(*ecdsa.PublicKey)
	i := strings.LastIndexByte(token, '.')
	input := token[:i]
	sig, _ := base64.RawURLEncoding.DecodeString(token[i+1:])
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	var inVerify, inRaw time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		h := sha256.Sum256([]byte(input))
		if !ecdsa.Verify(pub, h[:], r, s) {
			b.Fatal("signature does not verify")
		}
		t2 := time.Now()
		inVerify += t1.Sub(t0)
		inRaw += t2.Sub(t1)
	}
	b.ReportMetric(float64(inVerify.Microseconds())/float64(b.N), "verify-µs/op")
	b.ReportMetric(float64(inRaw.Microseconds())/float64(b.N), "raw-µs/op")
	b.ReportMetric(float64(inVerify)/float64(inRaw), "verify/raw")
}

// BenchmarkVerifyParallel is Verify from every core at once: the key and
// revocation lookups take no lock.
func BenchmarkVerifyParallel(b *testing.B) {
	v, _, token := newBenchFixture(b, 100_000)
	ctx := b.Context()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFeedSyncWithChanges is one feed read that brings a new entry
// into a set of 100,000: the copy-on-write cost, paid by the follower
// every FeedInterval at most, never by a request.
func BenchmarkFeedSyncWithChanges(b *testing.B) {
	v, iss, _ := newBenchFixture(b, 100_000)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		iss.RevokeSession(fmt.Sprintf("sid-bench-%d", n), "u")
		if err := v.feed.sync(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
