package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Verifier verifies socialbridge access tokens. It is safe for concurrent
// use; create one per process with New and share it.
type Verifier struct {
	cfg        Config
	keys       *keySet
	feed       *feed  // nil when revocation is off
	introspect string // the introspection endpoint
	retryAfter time.Duration

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closed    atomic.Bool
}

// New reads the issuer's discovery document (its "issuer" must equal
// cfg.Issuer exactly), fetches the JWKS and, with client credentials, reads
// the whole revocation feed; then it keeps both up to date in the
// background until ctx is done or Close is called.
//
// New fails if any of these requests fails: it does not retry. A Verifier
// that started without keys could only refuse every request, and a process
// that fails to start is visible to its supervisor, which restarts it.
// Once started, a Verifier keeps working from its cache while socialbridge
// is unreachable (see the package documentation for revocations).
//
// ctx is the lifetime of the background work, not a start-up timeout:
// requests are bounded by the HTTP client's timeout. When ctx is done,
// keys and revocations stop being refreshed; Verify keeps using the last
// ones, until the feed turns stale.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	get := getJSON(cfg.HTTPClient)
	disc, err := discover(ctx, get, cfg)
	if err != nil {
		return nil, err
	}
	life, cancel := context.WithCancel(ctx)
	v := &Verifier{
		cfg: cfg,
		keys: &keySet{
			url: disc.JWKSURI, algs: cfg.Algorithms, get: get, now: cfg.Now,
			every: cfg.JWKSRefetchInterval, life: life,
		},
		introspect: disc.IntrospectionEndpoint,
		retryAfter: cfg.FeedInterval,
		cancel:     cancel,
	}
	empty := map[string]publicKey{}
	v.keys.keys.Store(&empty)
	if err := v.keys.refresh(ctx); err != nil {
		cancel()
		return nil, fmt.Errorf("verify: %w", err)
	}
	if cfg.ClientID != "" {
		v.feed = &feed{
			url: disc.RevocationFeedEndpoint, clientID: cfg.ClientID, secret: cfg.ClientSecret,
			client: cfg.HTTPClient, now: cfg.Now, leeway: cfg.Leeway, maxStale: cfg.FeedMaxStale,
			failOpen: cfg.FailOpen, logger: cfg.Logger,
		}
		v.feed.set.Store(newRevocationSet(0, 0))
		if err := v.feed.sync(ctx); err != nil {
			cancel()
			return nil, fmt.Errorf("verify: %w", err)
		}
		v.wg.Go(func() { v.feed.follow(life, cfg.FeedInterval) })
	}
	v.wg.Go(func() { v.refreshKeys(life) })
	v.wg.Go(func() {
		<-life.Done()
		if !v.closed.Load() {
			// A common mistake (a start-up timeout or a request's context
			// passed to New) that would otherwise fail silently.
			cfg.Logger.Error("verify: the context given to New ended before Close: keys and revocations are no longer refreshed" +
				" (tokens get 503 once the feed is stale); pass a context that lives as long as the Verifier")
		}
	})
	set := v.revocations()
	cfg.Logger.Info("verifier started", "issuer", cfg.Issuer, "keys", len(*v.keys.keys.Load()),
		"revocation", v.feed != nil, "revoked_sessions", len(set.sessions), "revoked_users", len(set.users))
	return v, nil
}

// discover reads the discovery document and checks what New needs of it.
func discover(ctx context.Context, get func(context.Context, string, any) error, cfg Config) (discovery, error) {
	var d discovery
	if err := get(ctx, strings.TrimSuffix(cfg.Issuer, "/")+"/.well-known/openid-configuration", &d); err != nil {
		return d, fmt.Errorf("verify: discovery: %w", err)
	}
	var errs []error
	if d.Issuer != cfg.Issuer {
		// OpenID Connect Discovery 1.0 §4.3: they must be identical.
		errs = append(errs, fmt.Errorf("issuer is %q, not %q", d.Issuer, cfg.Issuer))
	}
	check := func(name, u string) {
		if u == "" {
			errs = append(errs, fmt.Errorf("%s is missing", name))
		} else if problem := checkURL(u); problem != "" {
			errs = append(errs, fmt.Errorf("%s: %s", name, problem))
		}
	}
	check("jwks_uri", d.JWKSURI)
	if cfg.ClientID != "" {
		check("revocation_feed_endpoint", d.RevocationFeedEndpoint)
		check("introspection_endpoint", d.IntrospectionEndpoint)
	}
	if len(errs) > 0 {
		return d, fmt.Errorf("verify: discovery: %w", errors.Join(errs...))
	}
	return d, nil
}

// refreshKeys fetches the JWKS every JWKSRefreshInterval, keeping the
// cached keys when a fetch fails.
func (v *Verifier) refreshKeys(ctx context.Context) {
	t := time.NewTicker(v.cfg.JWKSRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := v.keys.refresh(ctx); err != nil && ctx.Err() == nil {
			v.cfg.Logger.Warn("JWKS refresh failed; verifying with the cached keys", "err", err)
		}
	}
}

// Close stops the background work and waits for it. Verify keeps working
// from the cache afterwards, until the revocation feed turns stale.
func (v *Verifier) Close() error {
	v.closeOnce.Do(func() {
		v.closed.Store(true)
		v.cancel()
		v.wg.Wait()
		v.keys.fetches.Wait() // a key fetch under way ends with the context
	})
	return nil
}

// revocations returns the current revocation set (empty when off).
func (v *Verifier) revocations() *revocationSet {
	if v.feed == nil {
		return newRevocationSet(0, 0)
	}
	return v.feed.set.Load()
}

// Verify checks an access token and returns its claims. In order: size and
// shape (a compact JWS of at most MaxTokenBytes), header (typ at+jwt, a
// kid, none of jwk, jku, x5u, x5c or crit), key (by kid from the cached
// JWKS, fetched again once for an unknown kid), alg (the key's own, in
// Config.Algorithms), signature, iss, aud, exp, nbf, iat, the required
// claims (sub, sid, client_id, jti), and last the revocation set.
//
// Every error is an *Error; errors.Is(err, verify.Expired) and the like
// test its Reason.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	return v.verify(ctx, token, true)
}

// verify is Verify; staleCheck false skips the stale-feed policy (for
// Introspect, which asks socialbridge itself).
func (v *Verifier) verify(ctx context.Context, token string, staleCheck bool) (*Claims, error) {
	if token == "" {
		return nil, fail(MissingToken, nil)
	}
	if len(token) > MaxTokenBytes {
		return nil, fail(Malformed, fmt.Errorf("longer than %d bytes", MaxTokenBytes))
	}
	h, payload, signingInput, sig, err := splitToken(token)
	if err != nil {
		return nil, fail(Malformed, err)
	}
	key, e := v.keyFor(ctx, h)
	if e != nil {
		return nil, e
	}
	raw, err := parseClaims(payload)
	if err != nil {
		return nil, fail(Malformed, err)
	}
	if err := methods[h.alg].Verify(signingInput, sig, key.key); err != nil {
		return nil, fail(BadSignature, err)
	}
	c, e := v.checkClaims(&raw, token)
	if e != nil {
		return nil, e
	}
	if v.feed != nil {
		if v.feed.set.Load().revoked(c.SessionID, c.Subject, c.IssuedAt.Unix()) {
			return nil, fail(Revoked, nil)
		}
		if staleCheck && !v.cfg.FailOpen && v.feed.isStale(v.cfg.Now()) {
			return nil, &Error{Reason: RevocationUnavailable, retryAfter: v.retryAfter,
				Err: fmt.Errorf("revocation feed not read for more than %s", v.cfg.FeedMaxStale)}
		}
	}
	return c, nil
}

// keyFor checks the header and returns the key that must have signed the
// token.
func (v *Verifier) keyFor(ctx context.Context, h header) (publicKey, *Error) {
	if h.refused != "" {
		return publicKey{}, fail(Malformed, fmt.Errorf("header parameter %q is not accepted", h.refused))
	}
	if !strings.EqualFold(h.typ, "at+jwt") && !strings.EqualFold(h.typ, "application/at+jwt") {
		return publicKey{}, fail(WrongType, fmt.Errorf("typ is %q", h.typ))
	}
	if !slices.Contains(v.cfg.Algorithms, h.alg) {
		// "none", HS256 and anything else not allowed.
		return publicKey{}, fail(BadSignature, fmt.Errorf("alg %q is not allowed", h.alg))
	}
	if h.kid == "" {
		return publicKey{}, fail(Malformed, errors.New("header has no kid"))
	}
	k, ok := v.keys.lookup(h.kid)
	if !ok {
		v.keys.refetch(ctx)
		if k, ok = v.keys.lookup(h.kid); !ok {
			return publicKey{}, fail(UnknownKey, fmt.Errorf("no published key has kid %q", h.kid))
		}
	}
	if h.alg != k.alg {
		// RFC 8725 §3.1: the key decides the algorithm, not the token.
		return publicKey{}, fail(BadSignature, fmt.Errorf("alg %s is not key %s's %s", h.alg, h.kid, k.alg))
	}
	return k, nil
}

// checkClaims validates the registered claims and builds Claims.
func (v *Verifier) checkClaims(raw *accessClaims, token string) (*Claims, *Error) {
	switch {
	case raw.iss == "":
		return nil, missingClaim("iss")
	case raw.iss != v.cfg.Issuer:
		return nil, fail(WrongIssuer, fmt.Errorf("iss is %q", raw.iss))
	case len(raw.aud) == 0:
		return nil, missingClaim("aud")
	case !anyIn(raw.aud, v.cfg.Audience):
		return nil, fail(WrongAudience, fmt.Errorf("aud %q names none of %q", raw.aud, v.cfg.Audience))
	case raw.exp.IsZero():
		return nil, missingClaim("exp")
	case raw.iat.IsZero():
		return nil, missingClaim("iat")
	}
	now := v.cfg.Now()
	if !now.Add(-v.cfg.Leeway).Before(raw.exp) {
		return nil, fail(Expired, fmt.Errorf("expired at %s", raw.exp.UTC().Format(time.RFC3339)))
	}
	if !raw.nbf.IsZero() && now.Add(v.cfg.Leeway).Before(raw.nbf) {
		return nil, fail(NotYetValid, fmt.Errorf("nbf is %s", raw.nbf.UTC().Format(time.RFC3339)))
	}
	if now.Add(v.cfg.Leeway).Before(raw.iat) {
		return nil, fail(NotYetValid, fmt.Errorf("issued in the future, at %s", raw.iat.UTC().Format(time.RFC3339)))
	}
	switch {
	case raw.sub == "":
		return nil, missingClaim("sub")
	case raw.sid == "":
		return nil, missingClaim("sid")
	case raw.clientID == "":
		return nil, missingClaim("client_id")
	case raw.jti == "":
		return nil, missingClaim("jti")
	}
	c := &Claims{
		Issuer: raw.iss, Subject: raw.sub, Audience: raw.aud, ClientID: raw.clientID,
		SessionID: raw.sid, JTI: raw.jti, IDP: raw.idp,
		Email: raw.email, EmailVerified: raw.emailVerified, Name: raw.name, Picture: raw.picture,
		Roles: raw.roles, IssuedAt: raw.iat, ExpiresAt: raw.exp, AuthTime: raw.authTime,
		token: token,
	}
	if raw.scope != "" {
		c.Scopes = strings.Fields(raw.scope)
	}
	return c, nil
}

func anyIn(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

// logDebug logs a refused request at debug level, with what identifies it
// and never the token.
func (v *Verifier) logDebug(ctx context.Context, msg string, attrs ...slog.Attr) {
	if v.cfg.Logger.Enabled(ctx, slog.LevelDebug) {
		v.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
	}
}
