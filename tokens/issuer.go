package tokens

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token types in the JWT typ header. RFC 9068 §2.1 names at+jwt; rt+jwt is
// socialbridge's own, so that no token can be used as the other kind. ID
// tokens say JWT (RFC 7519 §5.1), which every relying party accepts; that
// and their own key use keep an ID token from passing as an access token.
const (
	TypeAccess  = "at+jwt"
	TypeRefresh = "rt+jwt"
	TypeID      = "JWT"
)

// MaxTokenBytes bounds a token before any parsing.
const MaxTokenBytes = 8 << 10

// leeway tolerates clock skew between replicas and verifiers.
const leeway = 30 * time.Second

// ErrInvalidToken wraps every reason a token is refused; callers branch on
// it, and the wrapped message says which check failed.
var ErrInvalidToken = errors.New("invalid token")

// Issuer mints and parses socialbridge's JWTs.
type Issuer struct {
	keys   *Keyring
	issuer string
	now    func() time.Time
}

// NewIssuer returns an Issuer that signs as issuer (the public URL).
func NewIssuer(keys *Keyring, issuer string, now func() time.Time) *Issuer {
	if now == nil {
		now = time.Now
	}
	return &Issuer{keys: keys, issuer: issuer, now: now}
}

// Keys returns the keyring.
func (i *Issuer) Keys() *Keyring { return i.keys }

// Access describes an access token to mint (RFC 9068).
type Access struct {
	Subject   string
	Audience  []string
	ClientID  string
	SessionID string
	Scope     string
	AuthTime  time.Time
	IDP       string
	TTL       time.Duration
	// Claims are the normalized user claims (email, name, roles, ...). They
	// cannot override the registered claims above.
	Claims map[string]any
}

// MintAccess signs an access token and returns it with its expiry.
func (i *Issuer) MintAccess(a Access) (string, time.Time, error) {
	now := i.now()
	exp := now.Add(a.TTL)
	c := make(jwt.MapClaims, len(a.Claims)+11)
	copyUserClaims(c, a.Claims)
	c["iss"] = i.issuer
	c["sub"] = a.Subject
	c["aud"] = a.Audience
	c["exp"] = exp.Unix()
	c["iat"] = now.Unix()
	c["jti"] = randomID(16)
	c["client_id"] = a.ClientID
	c["sid"] = a.SessionID
	c["auth_time"] = a.AuthTime.Unix()
	c["idp"] = a.IDP
	if a.Scope != "" {
		c["scope"] = a.Scope
	} else {
		delete(c, "scope")
	}
	s, err := i.sign(UseAccess, "", TypeAccess, c)
	return s, exp, err
}

// reservedClaim reports whether a claim is a protocol claim that user
// claims never set: those decide how, when and by whom a token is accepted.
func reservedClaim(name string) bool {
	switch name {
	case "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "sid", "scope", "auth_time",
		"idp", "azp", "nonce", "at_hash", "c_hash", "cnf", "act", "typ", "gen",
		"amr", "acr", "scp", "s_hash", "may_act", "sub_jwk", "events", "toe", "txn", "authorization_details",
		"_claim_names", "_claim_sources":
		return true
	}
	return false
}

// copyUserClaims copies the normalized user claims, leaving out reserved
// ones whatever their source.
func copyUserClaims(dst jwt.MapClaims, src map[string]any) {
	for k, v := range src {
		if !reservedClaim(k) {
			dst[k] = v
		}
	}
}

// ID describes an OpenID Connect ID token to mint.
type ID struct {
	Subject   string
	ClientID  string
	SessionID string
	Nonce     string
	AuthTime  time.Time
	TTL       time.Duration
	Claims    map[string]any
	// Algorithm is the client's id_token_signed_response_alg (OpenID
	// Connect Dynamic Client Registration §2); empty means the keyring's
	// default ID algorithm. It must be one of KeyringOptions.IDAlgorithms.
	Algorithm string
}

// MintID signs an ID token for the client (OpenID Connect Core §2) with the
// current ID key of its algorithm, never with an access key.
func (i *Issuer) MintID(d ID) (string, error) {
	now := i.now()
	c := make(jwt.MapClaims, len(d.Claims)+8)
	copyUserClaims(c, d.Claims)
	c["iss"] = i.issuer
	c["sub"] = d.Subject
	c["aud"] = d.ClientID
	c["azp"] = d.ClientID
	c["exp"] = now.Add(d.TTL).Unix()
	c["iat"] = now.Unix()
	c["auth_time"] = d.AuthTime.Unix()
	c["sid"] = d.SessionID
	if d.Nonce != "" {
		c["nonce"] = d.Nonce
	} else {
		delete(c, "nonce")
	}
	return i.sign(UseID, d.Algorithm, TypeID, c)
}

// Refresh is the content of a refresh token. The session record stays
// authoritative; the token only names the session and its generation.
type Refresh struct {
	Subject    string
	ClientID   string
	SessionID  string
	Generation int64
	IssuedAt   time.Time
	Expiry     time.Time
	// Scope is the session's granted scope, so that a refresh can check a
	// requested scope before it rotates anything ("" in tokens minted
	// before it was carried).
	Scope string
}

// refreshClaims is the JSON form of Refresh.
type refreshClaims struct {
	jwt.RegisteredClaims
	ClientID   string `json:"client_id"`
	SessionID  string `json:"sid"`
	Generation int64  `json:"gen"`
	Scope      string `json:"scope,omitempty"`
}

// MintRefresh signs a refresh token. Its audience is socialbridge itself.
func (i *Issuer) MintRefresh(r Refresh) (string, error) {
	c := refreshClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.issuer,
			Subject:   r.Subject,
			Audience:  jwt.ClaimStrings{i.issuer},
			ExpiresAt: jwt.NewNumericDate(r.Expiry),
			IssuedAt:  jwt.NewNumericDate(r.IssuedAt),
			ID:        fmt.Sprintf("%s.%d", r.SessionID, r.Generation),
		},
		ClientID:   r.ClientID,
		SessionID:  r.SessionID,
		Generation: r.Generation,
		Scope:      r.Scope,
	}
	return i.sign(UseRefresh, "", TypeRefresh, c)
}

// ParseRefresh verifies a refresh token's signature, type, issuer, audience
// and expiry, without touching storage.
func (i *Issuer) ParseRefresh(token string) (Refresh, error) {
	var c refreshClaims
	if err := i.parse(token, UseRefresh, TypeRefresh, []string{i.issuer}, &c); err != nil {
		return Refresh{}, err
	}
	if c.SessionID == "" || c.Subject == "" || c.Generation < 1 || c.IssuedAt == nil {
		return Refresh{}, fmt.Errorf("%w: refresh token lacks sid, sub, gen or iat", ErrInvalidToken)
	}
	return Refresh{
		Subject: c.Subject, ClientID: c.ClientID, SessionID: c.SessionID, Generation: c.Generation,
		IssuedAt: c.IssuedAt.Time, Expiry: c.ExpiresAt.Time, Scope: c.Scope,
	}, nil
}

// IDHint is what an ID token we issued says, read back as an OpenID
// Connect RP-initiated logout's id_token_hint.
type IDHint struct {
	Subject   string
	ClientID  string
	SessionID string
	Expiry    time.Time
}

// ParseIDHint verifies an ID token issued here (signature by one of our
// published ID keys, type, issuer) and returns whose session it names. An
// expired token is accepted: RP-Initiated Logout 1.0 §2 lets the hint be
// expired, since applications log out long after sign-in. Its audience
// must be exactly one client, and azp, when present, that client.
func (i *Issuer) ParseIDHint(token string) (IDHint, error) {
	c := jwt.MapClaims{}
	var expired *TokenExpiredError
	if err := i.parse(token, UseID, TypeID, nil, &c); err != nil && !errors.As(err, &expired) {
		return IDHint{}, err
	}
	aud, _ := c.GetAudience()
	sub, _ := c.GetSubject()
	sid, _ := c["sid"].(string)
	azp, hasAzp := c["azp"].(string)
	switch {
	case len(aud) != 1 || aud[0] == "":
		return IDHint{}, fmt.Errorf("%w: id_token_hint must have exactly one audience", ErrInvalidToken)
	case hasAzp && azp != aud[0]:
		return IDHint{}, fmt.Errorf("%w: id_token_hint azp is not its audience", ErrInvalidToken)
	case sub == "" || sid == "":
		return IDHint{}, fmt.Errorf("%w: id_token_hint lacks sub or sid", ErrInvalidToken)
	}
	h := IDHint{Subject: sub, ClientID: aud[0], SessionID: sid}
	if exp, _ := c.GetExpirationTime(); exp != nil {
		h.Expiry = exp.UTC()
	}
	return h, nil
}

// AccessClaims are the verified claims of an access token.
type AccessClaims struct {
	Issuer    string
	Subject   string
	Audience  []string
	ClientID  string
	SessionID string
	// Scope is the granted scope, space separated ("" when none).
	Scope    string
	IDP      string
	JTI      string
	IssuedAt time.Time
	Expiry   time.Time
	AuthTime time.Time
	// User holds the normalized user claims (email, name, roles, ...):
	// every claim that is not a protocol claim.
	User map[string]any
}

// ParseAccess verifies an access token (any audience) and returns its
// claims. An expired but otherwise valid token fails with a
// *TokenExpiredError; every failure matches ErrInvalidToken.
func (i *Issuer) ParseAccess(token string) (AccessClaims, error) {
	c := jwt.MapClaims{}
	if err := i.parse(token, UseAccess, TypeAccess, nil, &c); err != nil {
		return AccessClaims{}, err
	}
	str := func(name string) string { s, _ := c[name].(string); return s }
	at := AccessClaims{
		Issuer: str("iss"), Subject: str("sub"), ClientID: str("client_id"), SessionID: str("sid"),
		Scope: str("scope"), IDP: str("idp"), JTI: str("jti"), User: map[string]any{},
	}
	for _, r := range []struct {
		name string
		v    string
	}{{"sub", at.Subject}, {"sid", at.SessionID}, {"client_id", at.ClientID}} {
		if r.v == "" {
			return AccessClaims{}, fmt.Errorf("%w: access token lacks %s", ErrInvalidToken, r.name)
		}
	}
	at.Audience, _ = c.GetAudience()
	if iat, _ := c.GetIssuedAt(); iat != nil {
		at.IssuedAt = iat.UTC()
	}
	if exp, _ := c.GetExpirationTime(); exp != nil {
		at.Expiry = exp.UTC()
	}
	if t, ok := c["auth_time"].(float64); ok {
		at.AuthTime = time.Unix(int64(t), 0).UTC()
	}
	for k, v := range c {
		if !reservedClaim(k) {
			at.User[k] = v
		}
	}
	return at, nil
}

// TokenExpiredError means a token's signature and every other check held,
// but it has expired. It matches ErrInvalidToken too, so callers that do
// not care why a token is refused need not know it.
type TokenExpiredError struct {
	// Expiry is when the token expired.
	Expiry time.Time
}

// Error implements error.
func (e *TokenExpiredError) Error() string {
	return fmt.Sprintf("%v: expired at %s", ErrInvalidToken, e.Expiry.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrInvalidToken) hold for an expired token.
func (e *TokenExpiredError) Is(target error) bool { return target == ErrInvalidToken }

// sign signs claims with the current key of use (and, for ID tokens, of
// algorithm alg).
func (i *Issuer) sign(use, alg, typ string, claims jwt.Claims) (string, error) {
	k, err := i.keys.signing(use, alg)
	if err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(k.method, claims)
	t.Header["kid"] = k.KID
	t.Header["typ"] = typ
	s, err := t.SignedString(k.signKey)
	if err != nil {
		return "", fmt.Errorf("sign %s token: %w", use, err)
	}
	return s, nil
}

// parse verifies token into claims. The key is chosen by kid among our own
// keys of use only, and its algorithm must be the one the key was made for;
// header keys (jwk, jku, x5u, x5c) are never consulted.
func (i *Issuer) parse(token, use, typ string, audience []string, claims jwt.Claims) error {
	if len(token) > MaxTokenBytes {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxTokenBytes)
	}
	methods := []string{"ES256", "RS256", "PS256", "EdDSA"}
	if use == UseRefresh {
		methods = []string{refreshAlg}
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithIssuer(i.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(i.now),
	}
	if len(audience) > 0 {
		opts = append(opts, jwt.WithAudience(audience...))
	}
	_, err := jwt.NewParser(opts...).ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if got, _ := t.Header["typ"].(string); !strings.EqualFold(got, typ) && !strings.EqualFold(got, "application/"+typ) {
			return nil, fmt.Errorf("typ %q is not %s", got, typ)
		}
		kid, _ := t.Header["kid"].(string)
		k, ok := i.keys.verifying(use, kid)
		if !ok {
			return nil, fmt.Errorf("unknown or retired kid %q", kid)
		}
		if t.Method.Alg() != k.Algorithm {
			return nil, fmt.Errorf("alg %s does not match key %s (%s)", t.Method.Alg(), kid, k.Algorithm)
		}
		return k.verifyKey, nil
	})
	if err != nil {
		if exp, ok := onlyExpired(err, claims, opts); ok {
			return &TokenExpiredError{Expiry: exp}
		}
		return fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return nil
}

// onlyExpired reports whether expiry is the one reason claims were refused
// (the signature checks before the claims, so it held): the same checks
// pass at an instant just before the expiry.
func onlyExpired(err error, claims jwt.Claims, opts []jwt.ParserOption) (time.Time, bool) {
	if !errors.Is(err, jwt.ErrTokenExpired) {
		return time.Time{}, false
	}
	exp, _ := claims.GetExpirationTime()
	if exp == nil {
		return time.Time{}, false
	}
	before := func() time.Time { return exp.Add(-time.Second) }
	if jwt.NewValidator(append(opts, jwt.WithTimeFunc(before), jwt.WithLeeway(0))...).Validate(claims) != nil {
		return time.Time{}, false
	}
	return exp.Time, true
}
