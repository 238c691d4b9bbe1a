package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// minRSABits refuses RSA keys too short to trust (NIST SP 800-131A).
const minRSABits = 2048

// publicKey is one verification key from the JWKS.
type publicKey struct {
	alg string
	key any // *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey
}

// keySet caches the issuer's published keys. Lookups read an immutable map
// through an atomic pointer; fetches replace it.
type keySet struct {
	url   string
	algs  []string
	get   func(ctx context.Context, url string, v any) error
	now   func() time.Time
	every time.Duration // least time between fetches for unknown kids
	life  context.Context

	keys atomic.Pointer[map[string]publicKey]

	fetches sync.WaitGroup // the fetch goroutines, which Close waits for

	mu        sync.Mutex
	lastFetch time.Time  // when the last fetch began, of any cause
	inflight  *keysFetch // the fetch under way, shared by its waiters
	// gone holds the kids that were published and then left the set
	// (retired or expired). socialbridge never publishes a key again once
	// it left, so one that reappears (a replica that has not yet reloaded
	// a retirement answered the fetch) is not taken back. Owned by fetch,
	// which runs one at a time.
	gone map[string]bool
}

type keysFetch struct {
	done chan struct{}
	err  error
}

// lookup returns the key with kid from the cache.
func (s *keySet) lookup(kid string) (publicKey, bool) {
	k, ok := (*s.keys.Load())[kid]
	return k, ok
}

// refetch fetches the set again for a token with an unknown kid, unless a
// fetch began less than s.every ago: a flood of made-up kids costs
// socialbridge at most one request per interval. Concurrent callers share
// one fetch, which runs on the verifier's own context so that one caller
// giving up does not cancel it for the others.
func (s *keySet) refetch(ctx context.Context) {
	s.mu.Lock()
	f := s.inflight
	if f == nil {
		if !s.lastFetch.IsZero() && s.now().Sub(s.lastFetch) < s.every {
			s.mu.Unlock()
			return
		}
		f = s.startLocked()
	}
	s.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
	}
}

// refresh fetches the set now (start-up, the periodic refresh) and waits.
func (s *keySet) refresh(ctx context.Context) error {
	s.mu.Lock()
	f := s.inflight
	if f == nil {
		f = s.startLocked()
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *keySet) startLocked() *keysFetch {
	f := &keysFetch{done: make(chan struct{})}
	s.inflight = f
	s.lastFetch = s.now()
	s.fetches.Go(func() {
		f.err = s.fetch(s.life)
		s.mu.Lock()
		s.inflight = nil
		s.mu.Unlock()
		close(f.done)
	})
	return f
}

// fetch reads the JWKS and replaces the cache. A set without a usable key
// is an error and leaves the cache as it was: socialbridge always
// publishes its current key, so an empty set is a broken response.
func (s *keySet) fetch(ctx context.Context) error {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := s.get(ctx, s.url, &doc); err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	keys := make(map[string]publicKey, len(doc.Keys))
	repeated := map[string]bool{}
	var skipped []error
	for i, raw := range doc.Keys {
		kid, k, err := parseJWK(raw, s.algs)
		switch {
		case err != nil:
			skipped = append(skipped, fmt.Errorf("key %d (kid %q): %w", i, kid, err))
		case repeated[kid]:
		default:
			if _, dup := keys[kid]; dup {
				// Two keys with one kid: a token cannot say which.
				delete(keys, kid)
				repeated[kid] = true
				skipped = append(skipped, fmt.Errorf("key %d: kid %q is repeated", i, kid))
				continue
			}
			keys[kid] = k
		}
	}
	for kid := range keys {
		if s.gone[kid] {
			delete(keys, kid)
		}
	}
	if len(keys) == 0 {
		return fmt.Errorf("fetch JWKS: no usable key in %d: %w", len(doc.Keys), errors.Join(skipped...))
	}
	for kid := range *s.keys.Load() {
		if _, ok := keys[kid]; !ok {
			if s.gone == nil {
				s.gone = map[string]bool{}
			}
			s.gone[kid] = true
		}
	}
	s.keys.Store(&keys)
	return nil
}

// jwk holds the members of a JSON Web Key (RFC 7517) that matter here.
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// parseJWK turns one published key into a verification key. Each key
// must say its alg (RFC 7517 §4.4), one of algs, and be of the type and
// curve that alg uses: a token's alg is then checked against the key's,
// never trusted on its own.
func parseJWK(raw json.RawMessage, algs []string) (string, publicKey, error) {
	var j jwk
	if err := json.Unmarshal(raw, &j); err != nil {
		return "", publicKey{}, fmt.Errorf("not a JSON object: %w", err)
	}
	switch {
	case j.Kid == "":
		return "", publicKey{}, errors.New("no kid")
	case j.Use != "" && j.Use != "sig":
		return j.Kid, publicKey{}, fmt.Errorf("use is %q, not sig", j.Use)
	case !slices.Contains(algs, j.Alg):
		return j.Kid, publicKey{}, fmt.Errorf("alg %q is not allowed (%v)", j.Alg, algs)
	}
	b64 := base64.RawURLEncoding.Strict()
	var key any
	switch j.Alg {
	case "ES256":
		if j.Kty != "EC" || j.Crv != "P-256" {
			return j.Kid, publicKey{}, fmt.Errorf("ES256 needs an EC P-256 key, got %s %s", j.Kty, j.Crv)
		}
		x, err1 := b64.DecodeString(j.X)
		y, err2 := b64.DecodeString(j.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return j.Kid, publicKey{}, errors.New("x and y must be 32 bytes, base64url")
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point) // checks the point is on the curve
		if err != nil {
			return j.Kid, publicKey{}, fmt.Errorf("not a P-256 point: %w", err)
		}
		key = pub
	case "RS256", "PS256":
		if j.Kty != "RSA" {
			return j.Kid, publicKey{}, fmt.Errorf("%s needs an RSA key, got %s", j.Alg, j.Kty)
		}
		n, err1 := b64.DecodeString(j.N)
		e, err2 := b64.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return j.Kid, publicKey{}, errors.New("n and e must be base64url, e at most 4 bytes")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < minRSABits || pub.E < 3 || pub.E%2 == 0 {
			return j.Kid, publicKey{}, fmt.Errorf("RSA key of %d bits with exponent %d is too weak", pub.N.BitLen(), pub.E)
		}
		key = pub
	case "EdDSA":
		if j.Kty != "OKP" || j.Crv != "Ed25519" {
			return j.Kid, publicKey{}, fmt.Errorf("EdDSA needs an OKP Ed25519 key, got %s %s", j.Kty, j.Crv)
		}
		x, err := b64.DecodeString(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return j.Kid, publicKey{}, errors.New("x must be 32 bytes, base64url")
		}
		key = ed25519.PublicKey(x)
	}
	return j.Kid, publicKey{alg: j.Alg, key: key}, nil
}
