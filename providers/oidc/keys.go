package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Key set timing. Providers publish a new signing key well before they
// sign with it (OpenID Connect Core §10.1.1), so a set at most keysMaxAge
// old holds every key in use, and an unknown kid is rare: a rotation this
// instance has not seen yet, or a forgery.
const (
	// DefaultKeyRefetchInterval is the least time between two fetches of
	// the JWKS that an unknown kid (or a stale set) causes.
	DefaultKeyRefetchInterval = time.Minute
	// keysMaxAge is how long a fetched set is used before it is fetched
	// again, so that a key the provider withdrew stops verifying.
	keysMaxAge = time.Hour
	// maxJWKSSize bounds the JWKS response (Google's and Entra's are a
	// few KiB).
	maxJWKSSize = 1 << 20
)

// Reasons a signature is refused, for precise errors.
var (
	errUnknownKey   = errors.New("no key the provider publishes has the token's kid")
	errBadSignature = errors.New("the signature does not verify with the provider's key")
)

// keysUnavailableError is a JWKS that could not be fetched: the provider
// is unavailable, the token is not at fault.
type keysUnavailableError struct{ err error }

func (e *keysUnavailableError) Error() string { return "fetch the JWKS: " + e.err.Error() }
func (e *keysUnavailableError) Unwrap() error { return e.err }

// keySet is a provider's JSON Web Key Set, fetched from its jwks_uri and
// cached. It stands in for go-oidc's RemoteKeySet, which coalesces
// concurrent fetches but refetches for every token with an unknown kid:
// with native sign-in anyone can present a token under any kid, and each
// would cost a request to the provider. Here the fetches are bounded:
//
//   - the first use fetches (concurrent first uses share one fetch; a
//     failed one is tried again by the next use);
//   - an unknown kid refetches at most once per refetchEvery, and tokens
//     that arrive while that fetch runs wait for it (OpenID Connect Core
//     §10.1.1: refetch on an unknown kid, which rotation needs);
//   - a set older than keysMaxAge is refetched on use, within the same
//     limit, and kept if the fetch fails;
//   - a token whose kid is known but whose signature does not verify is
//     refused without a fetch: providers do not reuse a kid for a new key.
//
// So one instance makes at most one JWKS request per refetchEvery, whatever
// it is sent, once its first fetch succeeded. It is safe for concurrent
// use and implements go-oidc's KeySet for the browser flow.
type keySet struct {
	url          string
	client       *http.Client
	now          func() time.Time
	algs         []jose.SignatureAlgorithm
	refetchEvery time.Duration

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time // of the keys; zero before the first success
	// failedAt and failure are the last failed fetch before any success:
	// for failedFetchBackoff after it, verifications fail at once rather
	// than each asking a provider that is down.
	failedAt  time.Time
	failure   error
	limitedAt time.Time  // start of the last rate-limited fetch
	call      *fetchCall // the fetch in flight, if any
}

// failedFetchBackoff is how long a key set that has never been fetched
// waits after a failed fetch before it asks again: short, so that sign-in
// comes back soon after the provider does, long enough that a stream of
// requests does not become a stream of fetches.
const failedFetchBackoff = 5 * time.Second

// fetchCall is one fetch that several verifications wait for.
type fetchCall struct {
	done chan struct{}
	keys []jose.JSONWebKey
	err  error
}

func newKeySet(url string, client *http.Client, now func() time.Time, algs []string, refetchEvery time.Duration) *keySet {
	ks := &keySet{url: url, client: client, now: now, refetchEvery: refetchEvery}
	for _, a := range algs {
		ks.algs = append(ks.algs, jose.SignatureAlgorithm(a))
	}
	return ks
}

// VerifySignature implements go-oidc's KeySet. go-oidc has checked the
// algorithm; the error is also recorded in the context's sigOutcome, since
// go-oidc keeps only its text.
func (ks *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, ks.algs)
	if err != nil {
		return nil, fmt.Errorf("malformed JWS: %w", err)
	}
	payload, err := ks.verify(ctx, jws)
	if o, ok := ctx.Value(sigOutcomeKey{}).(*sigOutcome); ok {
		o.err = err
	}
	return payload, err
}

// sigOutcome receives the error of a VerifySignature called by go-oidc.
type sigOutcome struct{ err error }

type sigOutcomeKey struct{}

// verify checks jws's one signature with the provider's key for its kid
// and returns the payload. Errors are errUnknownKey, errBadSignature or a
// *keysUnavailableError.
func (ks *keySet) verify(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	if len(jws.Signatures) != 1 {
		return nil, errBadSignature
	}
	keys, err := ks.current(ctx)
	if err != nil {
		return nil, err
	}
	if payload, known, err := verifyWith(keys, jws); known {
		return payload, err
	}
	keys, fetched, err := ks.refetch(ctx)
	switch {
	case err != nil:
		return nil, err
	case !fetched:
		return nil, errUnknownKey // refetched recently: a rotation waits
	}
	if payload, known, err := verifyWith(keys, jws); known {
		return payload, err
	}
	return nil, errUnknownKey
}

// verifyWith verifies jws with the keys of its kid. known says whether
// the set had a key for it; a token without kid is tried with every key
// and is known only when one verifies it.
func verifyWith(keys []jose.JSONWebKey, jws *jose.JSONWebSignature) (payload []byte, known bool, err error) {
	h := jws.Signatures[0].Header
	for _, k := range keys {
		if h.KeyID != "" && k.KeyID != h.KeyID {
			continue
		}
		if h.KeyID != "" {
			known = true
		}
		if (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != h.Algorithm) {
			continue // a key the provider does not sign this way with
		}
		if p, err := jws.Verify(&k); err == nil {
			return p, true, nil
		}
	}
	return nil, known, errBadSignature
}

// current returns the cached keys, fetching them on first use (or when
// they are stale and the limit allows).
func (ks *keySet) current(ctx context.Context) ([]jose.JSONWebKey, error) {
	ks.mu.Lock()
	now := ks.now()
	switch {
	case ks.fetchedAt.IsZero() && ks.call == nil && !ks.failedAt.IsZero() && now.Sub(ks.failedAt) < failedFetchBackoff && !now.Before(ks.failedAt):
		err := ks.failure
		ks.mu.Unlock()
		return nil, &keysUnavailableError{err: err}
	case ks.fetchedAt.IsZero():
		c, leader := ks.startLocked()
		ks.mu.Unlock()
		return ks.wait(ctx, c, leader)
	case now.Sub(ks.fetchedAt) >= keysMaxAge && ks.mayFetchLocked(now):
		old := ks.keys
		c, leader := ks.startLocked()
		ks.mu.Unlock()
		if keys, err := ks.wait(ctx, c, leader); err == nil {
			return keys, nil
		}
		return old, nil // the provider is down: its last keys still verify
	}
	keys := ks.keys
	ks.mu.Unlock()
	return keys, nil
}

// refetch fetches the set for an unknown kid, when the limit allows or a
// fetch is already under way; fetched is false when it does not.
func (ks *keySet) refetch(ctx context.Context) (keys []jose.JSONWebKey, fetched bool, err error) {
	ks.mu.Lock()
	if ks.call == nil && !ks.mayFetchLocked(ks.now()) {
		ks.mu.Unlock()
		return nil, false, nil
	}
	c, leader := ks.startLocked()
	ks.mu.Unlock()
	keys, err = ks.wait(ctx, c, leader)
	return keys, true, err
}

// mayFetchLocked takes the one rate-limited fetch of the interval, if it
// is free. ks.mu is held.
func (ks *keySet) mayFetchLocked(now time.Time) bool {
	if !ks.limitedAt.IsZero() && !now.Before(ks.limitedAt) && now.Before(ks.limitedAt.Add(ks.refetchEvery)) {
		return false // (a clock set back frees it)
	}
	ks.limitedAt = now
	return true
}

// startLocked returns the fetch in flight, or a new one that the caller
// (the leader) must run. ks.mu is held.
func (ks *keySet) startLocked() (c *fetchCall, leader bool) {
	if ks.call != nil {
		return ks.call, false
	}
	ks.call = &fetchCall{done: make(chan struct{})}
	return ks.call, true
}

// wait runs the fetch as its leader, or waits for it. The leader finishes
// the fetch even when its own context is canceled, since others wait for
// it; the HTTP client's timeout bounds it.
func (ks *keySet) wait(ctx context.Context, c *fetchCall, leader bool) ([]jose.JSONWebKey, error) {
	if leader {
		keys, err := ks.download(context.WithoutCancel(ctx))
		ks.mu.Lock()
		if err == nil {
			ks.keys, ks.fetchedAt = keys, ks.now()
		} else if ks.fetchedAt.IsZero() {
			ks.failedAt, ks.failure = ks.now(), err
		}
		ks.call = nil
		ks.mu.Unlock()
		c.keys, c.err = keys, err
		close(c.done)
	} else {
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, &keysUnavailableError{err: ctx.Err()}
		}
	}
	if c.err != nil {
		return nil, &keysUnavailableError{err: c.err}
	}
	return c.keys, nil
}

// download fetches and decodes the JWKS. Keys of a type or algorithm that
// go-jose does not know are skipped (RFC 7517 §5), as are private keys.
// The provider's answer is not quoted in errors.
func (ks *keySet) download(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the JWKS endpoint answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read the JWKS: %w", err)
	case len(body) > maxJWKSSize:
		return nil, fmt.Errorf("the JWKS is larger than %d bytes", maxJWKSSize)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, errors.New("the JWKS is not a JSON key set")
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := json.Unmarshal(raw, &k); err != nil || !k.Valid() || !k.IsPublic() {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("the JWKS has no usable public key")
	}
	return keys, nil
}
