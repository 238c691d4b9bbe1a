package facebook

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// How the Limited Login signing keys are cached.
const (
	// keyRefetchInterval is the least time between two fetches of the key
	// set: a token naming a key id socialbridge does not hold makes it
	// fetch the keys again (Facebook rotating its keys, OpenID Connect
	// Core §10.1.1), but tokens with made-up key ids must not make it
	// hammer Facebook, so a fetch within this interval of the last one is
	// skipped and the key stays unknown. It is the interval of the other
	// providers' key sets (providers/oidc).
	keyRefetchInterval = time.Minute
	// keyMaxAge is how long fetched keys are used without asking Facebook
	// again, so that a key Facebook withdrew stops verifying tokens. When
	// that fetch fails the keys held are kept: Facebook being unreachable
	// should not stop sign-ins with keys it published an hour ago.
	keyMaxAge = time.Hour
	// keyFetchTimeout bounds one fetch, whatever the HTTP client's own
	// time-out (a fetch is shared by every verification waiting for it).
	keyFetchTimeout = 10 * time.Second
	// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3).
	minRSABits = 2048
)

var (
	// errUnknownKey: the key set, fetched again if the rate limit
	// allowed, has no key with the token's kid.
	errUnknownKey = errors.New("no key with this kid in the key set")
	// errKeysUnavailable: the key set could not be fetched or holds no
	// usable key.
	errKeysUnavailable = errors.New("the key set could not be fetched")
)

// keySet is a JSON Web Key Set at a URL (RFC 7517 §5) holding RS256
// signing keys: the equivalent of go-oidc's RemoteKeySet, plus a size
// limit on the answer, a rate limit on refetches, a maximum age and
// errors a caller can tell apart (errUnknownKey, errKeysUnavailable). It
// is safe for concurrent use.
type keySet struct {
	url    string
	client *http.Client
	now    func() time.Time

	mu        sync.Mutex
	keys      map[string]*rsa.PublicKey // by kid
	fetchedAt time.Time                 // of the keys held; zero before the first success
	triedAt   time.Time                 // of the last attempt
	lastErr   error                     // of the last attempt; nil when it succeeded
	fetching  singleflight.Group        // one fetch at a time, shared by those waiting
}

func newKeySet(url string, client *http.Client, now func() time.Time) *keySet {
	return &keySet{url: url, client: client, now: now}
}

// key returns the public key with id kid. It fetches the key set on first
// use, when the keys are older than keyMaxAge, and when kid is unknown,
// unless the last fetch was less than keyRefetchInterval ago; a known kid
// of stale keys that cannot be refreshed is still returned. The error
// wraps errUnknownKey or errKeysUnavailable.
func (ks *keySet) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	ks.mu.Lock()
	now := ks.now()
	k, known := ks.keys[kid]
	stale := ks.fetchedAt.IsZero() || now.Sub(ks.fetchedAt) >= keyMaxAge
	limited := !ks.triedAt.IsZero() && now.Sub(ks.triedAt) < keyRefetchInterval && now.Sub(ks.triedAt) >= 0
	lastErr := ks.lastErr
	ks.mu.Unlock()

	switch {
	case known && (!stale || limited):
		// Fresh, or stale with the last refresh failed: kept.
		return k, nil
	case limited && lastErr != nil:
		return nil, fmt.Errorf("%w (not tried again for %s): %w", errKeysUnavailable, keyRefetchInterval, lastErr)
	case limited:
		return nil, fmt.Errorf("%w (the key set was fetched less than %s ago)", errUnknownKey, keyRefetchInterval)
	}

	// The fetch outlives a caller that gives up: others may be waiting
	// for it, and its result is kept.
	ch := ks.fetching.DoChan("", func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyFetchTimeout)
		defer cancel()
		return nil, ks.refresh(fctx)
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", errKeysUnavailable, ctx.Err())
	case res := <-ch:
		if res.Err != nil && !known {
			return nil, fmt.Errorf("%w: %w", errKeysUnavailable, res.Err)
		}
	}
	ks.mu.Lock()
	k, known = ks.keys[kid]
	ks.mu.Unlock()
	if !known {
		return nil, errUnknownKey
	}
	return k, nil
}

// refresh fetches the key set and, when that succeeds, replaces the keys
// held.
func (ks *keySet) refresh(ctx context.Context) error {
	keys, err := ks.fetch(ctx)
	ks.mu.Lock()
	defer ks.mu.Unlock()
	now := ks.now()
	ks.triedAt, ks.lastErr = now, err
	if err != nil {
		return err
	}
	ks.keys, ks.fetchedAt = keys, now
	return nil
}

// fetch reads the key set and keeps its RS256 signing keys. Keys of other
// types, uses or algorithms are skipped (RFC 7517 §5: ignore what is not
// understood); a set without one usable key is an error.
func (ks *keySet) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, fmt.Errorf("build key set request: %w", withoutURL(err))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET key set: %w", withoutURL(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read key set: %w", err)
	case len(raw) > maxResponseBytes:
		return nil, fmt.Errorf("key set exceeds %d bytes", maxResponseBytes)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("key set answered HTTP %d", resp.StatusCode)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := decodeJSON(raw, &set); err != nil {
		return nil, fmt.Errorf("key set is not a JWK Set: %w", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, rawKey := range set.Keys {
		var meta struct{ Kty, Use, Alg, Kid string }
		if json.Unmarshal(rawKey, &meta) != nil || meta.Kty != "RSA" || meta.Kid == "" ||
			(meta.Use != "" && meta.Use != "sig") || (meta.Alg != "" && meta.Alg != string(jose.RS256)) {
			continue
		}
		var jwk jose.JSONWebKey
		if json.Unmarshal(rawKey, &jwk) != nil {
			continue
		}
		pub, ok := jwk.Key.(*rsa.PublicKey)
		if !ok || pub.N.BitLen() < minRSABits {
			continue
		}
		if _, dup := keys[meta.Kid]; !dup {
			keys[meta.Kid] = pub
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("key set has no RS256 signing key of at least %d bits", minRSABits)
	}
	return keys, nil
}
