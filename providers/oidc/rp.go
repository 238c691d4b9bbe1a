// Package oidc signs people in with any OpenID Connect provider: discovery
// (or configured endpoints), the authorization-code flow with PKCE and a
// nonce, and complete id_token verification with go-oidc (signature
// against the provider's rotating JWKS with an algorithm allow-list,
// issuer, audience, expiry, nonce, at_hash).
//
// RP is the relying-party core that every OIDC-based adapter shares:
// Google and Microsoft Entra ID are an RP plus their own rules. Provider
// is the generic adapter of type "oidc": an RP plus configurable claim
// names.
//
// The RP also verifies the ID tokens of native sign-in
// (VerifyNativeIDToken, in native.go): a token a mobile app got from the
// provider's SDK and sends socialbridge, checked as strictly as the
// browser flow's and against a list of client ids. Both share one cache of
// the provider's keys (keys.go), which refetches the JWKS for an unknown
// kid at most once per KeyRefetchInterval, so that tokens under made-up
// kids cannot make socialbridge hammer the provider.
package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/socialbridge/socialbridge/providers"
)

// RPConfig configures a relying party.
type RPConfig struct {
	// Name is the provider instance's name, used in errors.
	Name string
	// Label names the provider to operators in errors ("Google").
	Label string
	// ConfigKey is the configuration path of the instance, for errors
	// that tell an operator what to fix ("providers.google").
	ConfigKey    string
	ClientID     string
	ClientSecret string
	// Issuer is used for discovery and, unless CheckIssuer is set, must
	// equal the id_token's iss.
	Issuer string
	// AuthURL, TokenURL, JWKSURL and UserinfoURL override discovery.
	// When the first three are all set, discovery is skipped.
	AuthURL, TokenURL, JWKSURL, UserinfoURL string
	Scopes                                  []string
	// Algorithms allowed for id_token signatures (default RS256).
	Algorithms []string
	// CheckIssuer, when set, replaces the exact issuer comparison: it
	// gets the id_token's iss and claims and returns an error when the
	// issuer is not acceptable (Entra ID's per-tenant issuers). A
	// *providers.Error it returns is passed on as it is, so that its
	// message can say what was wrong (a wrong tenant); any other error is
	// wrapped as an unaccepted issuer.
	CheckIssuer func(iss string, claims map[string]any) error
	// NativeClientIDs are the client ids that ID tokens of native sign-in
	// (VerifyNativeIDToken) may be issued to, in aud, and by, in azp: the
	// apps' own client ids and, where the provider puts it in aud, the web
	// ClientID too (the adapter decides; the RP adds nothing). Empty: the
	// instance accepts no native token.
	NativeClientIDs []string
	// NativeRequireNonce refuses native ID tokens sent without a nonce.
	NativeRequireNonce bool
	// KeyRefetchInterval is the least time between two JWKS fetches that
	// an unknown kid causes (default DefaultKeyRefetchInterval).
	KeyRefetchInterval time.Duration
	// AuthStyle says how the client authenticates at the token endpoint
	// (default: HTTP Basic).
	AuthStyle oauth2.AuthStyle
	// HTTPClient talks to the provider (default: 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock for token expiry checks (default time.Now).
	Now func() time.Time
}

// RP is an OpenID Connect relying party. It is safe for concurrent use.
type RP struct {
	cfg RPConfig

	mu       sync.Mutex
	endpoint *endpoints // nil until discovery succeeds
	// discovering shares one discovery among concurrent first uses.
	discovering singleflight.Group
}

// endpoints is what discovery (or configuration) provides.
type endpoints struct {
	oauth2   oauth2.Endpoint
	userinfo string
	keys     *keySet
	verifier *gooidc.IDTokenVerifier
}

// NewRP returns a relying party. Discovery happens on first use, so that
// the service starts even while the provider is unreachable.
func NewRP(cfg RPConfig) *RP {
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = []string{gooidc.RS256}
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{gooidc.ScopeOpenID, "email", "profile"}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Label == "" {
		cfg.Label = cfg.Name
	}
	if cfg.ConfigKey == "" {
		cfg.ConfigKey = "providers." + cfg.Name
	}
	if cfg.AuthStyle == oauth2.AuthStyleAutoDetect {
		cfg.AuthStyle = oauth2.AuthStyleInHeader
	}
	if cfg.KeyRefetchInterval <= 0 {
		cfg.KeyRefetchInterval = DefaultKeyRefetchInterval
	}
	return &RP{cfg: cfg}
}

// Config returns the relying party's configuration, defaults applied.
func (rp *RP) Config() RPConfig { return rp.cfg }

// discover returns the endpoints and verifier, discovering them on first
// use. Concurrent first uses share one fetch; a failed one is tried again
// by the next use. The fetch is bounded by the first caller's context
// (without its cancellation), so a slow provider holds sign-ins for at
// most the HTTP client's timeout.
func (rp *RP) discover(ctx context.Context) (*endpoints, error) {
	rp.mu.Lock()
	ep := rp.endpoint
	rp.mu.Unlock()
	if ep != nil {
		return ep, nil
	}
	v, err, _ := rp.discovering.Do("", func() (any, error) {
		return rp.fetchEndpoints(context.WithoutCancel(ctx))
	})
	if err != nil {
		return nil, err
	}
	return v.(*endpoints), nil
}

// fetchEndpoints discovers (unless configured) the endpoints and stores
// them.
func (rp *RP) fetchEndpoints(ctx context.Context) (*endpoints, error) {
	pc := gooidc.ProviderConfig{
		IssuerURL: rp.cfg.Issuer, AuthURL: rp.cfg.AuthURL, TokenURL: rp.cfg.TokenURL,
		JWKSURL: rp.cfg.JWKSURL, UserInfoURL: rp.cfg.UserinfoURL, Algorithms: rp.cfg.Algorithms,
	}
	if pc.AuthURL == "" || pc.TokenURL == "" || pc.JWKSURL == "" {
		discovered, err := gooidc.NewProvider(gooidc.ClientContext(ctx, rp.cfg.HTTPClient), rp.cfg.Issuer)
		if err != nil {
			return nil, rp.fail(providers.CodeUnavailable, "discovery failed", errors.New(withoutBody(err.Error())))
		}
		var d gooidc.ProviderConfig
		if err := discovered.Claims(&d); err != nil {
			return nil, rp.fail(providers.CodeUnavailable, "read discovery document", err)
		}
		pc.AuthURL = firstNonEmpty(rp.cfg.AuthURL, d.AuthURL)
		pc.TokenURL = firstNonEmpty(rp.cfg.TokenURL, d.TokenURL)
		pc.JWKSURL = firstNonEmpty(rp.cfg.JWKSURL, d.JWKSURL)
		pc.UserInfoURL = firstNonEmpty(rp.cfg.UserinfoURL, d.UserInfoURL)
	}
	// One key set serves the browser flow and native tokens: it refetches
	// the JWKS on an unknown kid (key rotation), at most once per
	// KeyRefetchInterval (see keySet).
	keys := newKeySet(pc.JWKSURL, rp.cfg.HTTPClient, rp.cfg.Now, rp.cfg.Algorithms, rp.cfg.KeyRefetchInterval)
	ep := &endpoints{
		oauth2:   oauth2.Endpoint{AuthURL: pc.AuthURL, TokenURL: pc.TokenURL},
		userinfo: pc.UserInfoURL,
		keys:     keys,
		verifier: gooidc.NewVerifier(rp.cfg.Issuer, keys, &gooidc.Config{
			ClientID:             rp.cfg.ClientID,
			SupportedSigningAlgs: rp.cfg.Algorithms,
			SkipIssuerCheck:      rp.cfg.CheckIssuer != nil, // checked by CheckIssuer instead
			Now:                  rp.cfg.Now,
		}),
	}
	ep.oauth2.AuthStyle = rp.cfg.AuthStyle
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.endpoint == nil { // the first to finish wins, so every caller shares one key set
		rp.endpoint = ep
	}
	return rp.endpoint, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// oauth2Config returns the OAuth 2.0 client for one redirect URI.
func (rp *RP) oauth2Config(ep *endpoints, redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: rp.cfg.ClientID, ClientSecret: rp.cfg.ClientSecret,
		Endpoint: ep.oauth2, RedirectURL: redirectURI, Scopes: rp.cfg.Scopes,
	}
}

// AuthCodeURL returns the authorization URL for req with socialbridge's
// state, nonce and S256 PKCE challenge, plus opts (provider-specific
// parameters; StandardOptions gives OpenID Connect's prompt, max_age and
// login_hint).
func (rp *RP) AuthCodeURL(ctx context.Context, req providers.AuthRequest, opts ...oauth2.AuthCodeOption) (string, error) {
	ep, err := rp.discover(ctx)
	if err != nil {
		return "", err
	}
	opts = append([]oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("nonce", req.Nonce),
		oauth2.SetAuthURLParam("code_challenge", req.CodeChallenge),
		oauth2.SetAuthURLParam("code_challenge_method", "S256"),
	}, opts...)
	return rp.oauth2Config(ep, req.RedirectURI).AuthCodeURL(req.State, opts...), nil
}

// StandardOptions passes the client's OpenID Connect options on as
// OpenID Connect Core §3.1.2.1 defines them, for providers that implement
// them as written.
func StandardOptions(req providers.AuthRequest) []oauth2.AuthCodeOption {
	var opts []oauth2.AuthCodeOption
	if len(req.Prompt) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", strings.Join(req.Prompt, " ")))
	}
	if req.MaxAge != nil {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", strconv.FormatInt(*req.MaxAge, 10)))
	}
	if req.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", req.LoginHint))
	}
	return opts
}

// Verified is a code exchange whose id_token passed every check.
type Verified struct {
	// IDToken is the verified token; Claims its claims, and JSON the same
	// claims undecoded (for ids too long for a float64: ClaimID).
	IDToken *gooidc.IDToken
	Claims  map[string]any
	JSON    map[string]json.RawMessage
	// Tokens are the provider's tokens from the same response.
	Tokens providers.Tokens
}

// Exchange redeems the code with the PKCE verifier, then verifies the
// id_token completely (signature, issuer, audience, expiry, nonce,
// at_hash, and azp when there are several audiences) before any claim is
// trusted.
func (rp *RP) Exchange(ctx context.Context, req providers.ExchangeRequest) (*Verified, error) {
	ep, err := rp.discover(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := rp.oauth2Config(ep, req.RedirectURI).Exchange(
		gooidc.ClientContext(ctx, rp.cfg.HTTPClient), req.Code, oauth2.VerifierOption(req.CodeVerifier))
	if err != nil {
		return nil, rp.tokenError(err, "the code")
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, rp.invalid("token response has no id_token", nil)
	}
	v, err := rp.verify(ctx, ep, rawID)
	if err != nil {
		return nil, err
	}
	if req.Nonce == "" || subtle.ConstantTimeCompare([]byte(v.IDToken.Nonce), []byte(req.Nonce)) != 1 {
		return nil, rp.invalid("id_token nonce does not match this sign-in", nil)
	}
	if v.IDToken.AccessTokenHash != "" {
		if err := v.IDToken.VerifyAccessToken(tok.AccessToken); err != nil {
			return nil, rp.invalid("id_token at_hash does not match the access token", err)
		}
	}
	v.Tokens = tokensOf(tok, rawID, rp.cfg.Scopes)
	return v, nil
}

// verify checks one id_token: go-oidc's checks, then the issuer hook and
// azp.
func (rp *RP) verify(ctx context.Context, ep *endpoints, rawID string) (*Verified, error) {
	sig := &sigOutcome{}
	idt, err := ep.verifier.Verify(context.WithValue(ctx, sigOutcomeKey{}, sig), rawID)
	if err != nil {
		// go-oidc keeps only the text of the key set's error; the key set
		// recorded it. An unreachable JWKS is the provider being
		// unavailable, not a bad token.
		if unavailable := (*keysUnavailableError)(nil); errors.As(sig.err, &unavailable) {
			return nil, rp.fail(providers.CodeUnavailable, rp.cfg.Label+"'s signing keys could not be fetched", unavailable.err)
		}
		return nil, rp.invalid("id_token failed verification", err)
	}
	// go-oidc checks exp and nbf but not iat: a token issued in the
	// future (beyond the same 5-minute leeway it gives nbf) is forged or
	// from a broken clock.
	if idt.IssuedAt.After(rp.cfg.Now().Add(5 * time.Minute)) {
		return nil, rp.invalid("id_token is issued in the future (iat)", nil)
	}
	var raw map[string]any
	if err := idt.Claims(&raw); err != nil {
		return nil, rp.invalid("id_token claims are not an object", err)
	}
	var rawJSON map[string]json.RawMessage
	if err := idt.Claims(&rawJSON); err != nil {
		return nil, rp.invalid("id_token claims are not an object", err)
	}
	if err := rp.checkIssuerHook(idt.Issuer, raw, "id_token"); err != nil {
		return nil, err
	}
	// With several audiences, azp must name us (OpenID Connect Core §2).
	if azp, _ := raw["azp"].(string); len(idt.Audience) > 1 && azp != rp.cfg.ClientID {
		return nil, rp.invalid("id_token azp is not this client", nil)
	}
	return &Verified{IDToken: idt, Claims: raw, JSON: rawJSON}, nil
}

// checkIssuerHook runs CheckIssuer, when set. what names the token in
// the message.
func (rp *RP) checkIssuerHook(iss string, raw map[string]any, what string) error {
	if rp.cfg.CheckIssuer == nil {
		return nil
	}
	err := rp.cfg.CheckIssuer(iss, raw)
	if err == nil {
		return nil
	}
	if _, ok := providers.AsError(err); ok {
		return err
	}
	return rp.invalid(what+" issuer is not accepted", err)
}

// Refresh implements providers.Refresher.
func (rp *RP) Refresh(ctx context.Context, refreshToken string) (*providers.Tokens, error) {
	ep, err := rp.discover(ctx)
	if err != nil {
		return nil, err
	}
	// An expired token with only a refresh token makes the token source
	// refresh; RedirectURL plays no part in a refresh.
	src := rp.oauth2Config(ep, "").TokenSource(gooidc.ClientContext(ctx, rp.cfg.HTTPClient),
		&oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)})
	tok, err := src.Token()
	if err != nil {
		return nil, rp.tokenError(err, "the refresh token")
	}
	// A refresh response's id_token is not kept: it would need the
	// checks of OpenID Connect Core §12.2, and nothing uses it.
	out := tokensOf(tok, "", rp.cfg.Scopes)
	if out.RefreshToken == refreshToken {
		out.RefreshToken = "" // kept, not rotated
	}
	return &out, nil
}

// Userinfo fetches the userinfo endpoint's claims with an access token and
// checks that they describe subject (OpenID Connect Core §5.3.2). It
// returns them decoded and undecoded.
func (rp *RP) Userinfo(ctx context.Context, accessToken, subject string) (map[string]any, map[string]json.RawMessage, error) {
	ep, err := rp.discover(ctx)
	if err != nil {
		return nil, nil, err
	}
	if ep.userinfo == "" {
		return nil, nil, rp.fail(providers.CodeUnavailable, "no userinfo endpoint is known (set userinfo_url)", nil)
	}
	pc := gooidc.ProviderConfig{IssuerURL: rp.cfg.Issuer, UserInfoURL: ep.userinfo}
	info, err := pc.NewProvider(ctx).UserInfo(gooidc.ClientContext(ctx, rp.cfg.HTTPClient),
		oauth2.StaticTokenSource(&oauth2.Token{AccessToken: accessToken, TokenType: "Bearer"}))
	if err != nil {
		return nil, nil, rp.fail(providers.CodeUnavailable, "userinfo request failed", errors.New(withoutBody(err.Error())))
	}
	var raw map[string]any
	var rawJSON map[string]json.RawMessage
	if err := info.Claims(&raw); err != nil {
		return nil, nil, rp.invalid("userinfo is not a JSON object", err)
	}
	if err := info.Claims(&rawJSON); err != nil {
		return nil, nil, rp.invalid("userinfo is not a JSON object", err)
	}
	if info.Subject != subject {
		return nil, nil, rp.invalid("userinfo describes another subject than the id_token", nil)
	}
	return raw, rawJSON, nil
}

// ClaimID reads an id claim exactly: a JSON string, or an integer written
// as digits (kept as written: ids longer than 15 digits do not survive a
// float64). Anything else is "".
func ClaimID(claims map[string]json.RawMessage, name string) string {
	raw, ok := claims[name]
	if !ok {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	if digits.Match(raw) {
		return string(raw)
	}
	return ""
}

// digits is a JSON integer literal.
var digits = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// tokensOf converts an OAuth 2.0 token response.
func tokensOf(tok *oauth2.Token, rawID string, asked []string) providers.Tokens {
	scopes := asked
	if s, _ := tok.Extra("scope").(string); s != "" {
		scopes = strings.Fields(s)
	}
	return providers.Tokens{
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, IDToken: rawID,
		Expiry: tok.Expiry, Scopes: append([]string(nil), scopes...),
	}
}

// Fail returns a provider error of this relying party.
func (rp *RP) fail(code, msg string, err error) error {
	return &providers.Error{Provider: rp.cfg.Name, Code: code, Message: msg, Err: err}
}

// Invalid returns an invalid_token error of this relying party, for
// adapters' own checks of verified claims.
func (rp *RP) Invalid(msg string, err error) error { return rp.invalid(msg, err) }

func (rp *RP) invalid(msg string, err error) error {
	return rp.fail(providers.CodeInvalidToken, msg, err)
}

// tokenError classifies a failed token request (what is the code or the
// refresh token). The provider's response body is not kept: it may echo
// what we sent.
func (rp *RP) tokenError(err error, what string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		switch {
		case status >= 500 || status == http.StatusTooManyRequests:
			return rp.fail(providers.CodeUnavailable, fmt.Sprintf("token endpoint answered %d", status), nil)
		case status == http.StatusUnauthorized || re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client":
			// Our credentials were refused: an operator must fix the
			// configuration; the person can only try again later.
			return rp.fail(providers.CodeUnavailable, fmt.Sprintf("%s refused socialbridge's client credentials (check %s.client_id and client_secret)",
				rp.cfg.Label, rp.cfg.ConfigKey), nil)
		}
		code := re.ErrorCode
		if code == "" {
			code = "unknown"
		}
		return rp.fail(providers.CodeInvalidGrant, "token endpoint refused "+what+": "+sanitize(code), nil)
	}
	return rp.fail(providers.CodeUnavailable, "token endpoint unreachable", err)
}

// errorCode is what an OAuth error code looks like (RFC 6749 §5.2 codes
// and providers' own, such as invalid_grant or interaction_required).
var errorCode = regexp.MustCompile(`^[a-z][a-z_]{0,39}$`)

// sanitize passes a provider-supplied error code on only when it looks
// like one: a provider that echoes the request in its error field must not
// put a code or token in our errors and logs.
func sanitize(s string) string {
	if !errorCode.MatchString(s) {
		return "unknown"
	}
	return s
}

// statusPrefix is how go-oidc starts the error of an unexpected HTTP
// answer, before it quotes the response body: "503 Service Unavailable: ".
var statusPrefix = regexp.MustCompile(`^[0-9]{3} [^:]*`)

// withoutBody keeps a go-oidc error without the provider's response body
// it may quote (providers' answers stay out of logs): the HTTP status when
// there is one, else a short printable start of the message.
func withoutBody(msg string) string {
	if m := statusPrefix.FindString(msg); m != "" {
		return "provider answered " + m
	}
	return clip(msg, 200)
}

// clip keeps the start of s, printable, at most n bytes.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
