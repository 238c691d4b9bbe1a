package facebook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
)

// Defaults of iOS Limited Login verification
// (developers.facebook.com/docs/facebook-login/limited-login/token/validating).
const (
	// DefaultLimitedLoginJWKSURL is where Facebook publishes the keys that
	// sign Limited Login tokens.
	DefaultLimitedLoginJWKSURL = "https://limited.facebook.com/.well-known/oauth/openid/jwks/"
	// DefaultLimitedLoginIssuer is the iss of Limited Login tokens.
	DefaultLimitedLoginIssuer = "https://www.facebook.com"
)

const (
	// maxIDTokenBytes bounds a Limited Login token before anything of it is
	// decoded. Its claims are a profile (with user_friends, a list), so it
	// is allowed more than a bare id_token.
	maxIDTokenBytes = 64 << 10
	// clockSkew is the leeway given to exp, nbf and iat for the clocks of
	// Facebook and socialbridge disagreeing (OpenID Connect Core §3.1.3.7
	// steps 9 and 10 allow "a small leeway").
	clockSkew = 2 * time.Minute
)

// verifyLimitedLogin checks an iOS Limited Login token (the Facebook SDK's
// AuthenticationToken, an OpenID Connect id_token) completely, in the
// order of Facebook's guide: a well-formed JWT within maxIDTokenBytes,
// signed with RS256 (nothing else, RFC 8725 §3.1) by a key that
// Facebook's key set publishes under the token's kid; then iss, aud (and
// azp when there are several), exp, nbf and iat with clockSkew, a sub
// that is an app-scoped user id, and the nonce (checkNonce). It
// returns the identity and when the token stops being accepted.
func (p *Provider) verifyLimitedLogin(ctx context.Context, raw, nonce string) (*providers.Identity, time.Time, error) {
	var none time.Time
	if p.cfg.DisableLimitedLogin {
		return nil, none, p.newError(providers.CodeUnsupportedTokenType, fmt.Sprintf(
			"this Facebook instance accepts no Limited Login id_tokens (providers.%s.limited_login is false); "+
				"send a Facebook access token instead", p.cfg.Name), nil)
	}
	payload, err := p.verifySignature(ctx, raw)
	if err != nil {
		return nil, none, err
	}
	c, err := p.checkClaims(payload, nonce)
	if err != nil {
		return nil, none, err
	}
	ident, err := p.limitedIdentity(c)
	if err != nil {
		return nil, none, err
	}
	ident.Tokens.IDToken = raw
	// Accepted until exp plus the leeway: a replay must be refused as long.
	return ident, c.exp.Add(clockSkew), nil
}

// jwtHeader is what is read of a JWS header before the signature is
// checked.
type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// verifySignature checks raw's shape, algorithm and signature and returns
// its payload.
func (p *Provider) verifySignature(ctx context.Context, raw string) ([]byte, error) {
	const what = "the Limited Login id_token"
	switch {
	case raw == "":
		return nil, p.refuse("no Limited Login id_token was given", nil)
	case len(raw) > maxIDTokenBytes:
		return nil, p.refuse(fmt.Sprintf("%s is larger than %d bytes", what, maxIDTokenBytes), nil)
	case strings.Count(raw, ".") != 2:
		return nil, p.refuse(what+" is not a JWT (three base64url parts separated by dots)", nil)
	}
	rawHeader, _, _ := strings.Cut(raw, ".")
	var h jwtHeader
	if b, err := base64.RawURLEncoding.DecodeString(rawHeader); err != nil || json.Unmarshal(b, &h) != nil {
		return nil, p.refuse(what+"'s header is not base64url-encoded JSON", nil)
	}
	switch {
	case h.Alg == "":
		return nil, p.refuse(what+" names no signing algorithm (alg); Facebook signs Limited Login tokens with RS256", nil)
	case strings.EqualFold(h.Alg, "none"):
		return nil, p.refuse(what+" is unsigned (alg none); Facebook signs Limited Login tokens with RS256", nil)
	case h.Alg != string(jose.RS256):
		return nil, p.refuse(fmt.Sprintf("%s is signed with %s; Facebook signs Limited Login tokens with RS256 only",
			what, short(clean(h.Alg))), nil)
	case h.Kid == "":
		return nil, p.refuse(what+" names no signing key (kid)", nil)
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, p.refuse(what+" is malformed", errors.New(clean(err.Error(), raw)))
	}
	key, err := p.keys.key(ctx, h.Kid)
	switch {
	case errors.Is(err, errUnknownKey):
		return nil, p.refuse(what+" is signed by a key Facebook does not publish (unknown kid)",
			fmt.Errorf("kid %q: %w", short(clean(h.Kid)), err))
	case err != nil:
		return nil, p.newError(providers.CodeUnavailable, fmt.Sprintf(
			"Facebook's Limited Login signing keys could not be fetched; try again later (if this persists, check providers.%s.limited_login_jwks_url)",
			p.cfg.Name), err)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, p.refuse(what+"'s signature does not verify with Facebook's key "+
			"(altered, or signed by someone else)", nil)
	}
	return payload, nil
}

// limitedClaims are the checked claims of a Limited Login token.
type limitedClaims struct {
	sub string
	exp time.Time
	// raw are every claim, decoded.
	raw map[string]any
	// profile claims
	name, givenName, familyName, email, picture string
}

// checkClaims checks the claims of a verified payload.
func (p *Provider) checkClaims(payload []byte, nonce string) (*limitedClaims, error) {
	const what = "the Limited Login id_token"
	var fields map[string]json.RawMessage
	var raw map[string]any
	if decodeJSON(payload, &fields) != nil || fields == nil || decodeJSON(payload, &raw) != nil {
		return nil, p.refuse(what+"'s claims are not a JSON object", nil)
	}
	str := func(name string) (string, bool) {
		var s string
		v, ok := fields[name]
		if !ok || json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	}
	now := p.cfg.Now()

	// Issuer (OpenID Connect Core §3.1.3.7 step 2).
	if iss, _ := str("iss"); iss != p.cfg.LimitedLoginIssuer {
		return nil, p.refuse(what+" was not issued by Facebook (iss)",
			fmt.Errorf("iss %q, want %q", short(clean(iss)), p.cfg.LimitedLoginIssuer))
	}

	// Audience and authorized party (steps 3 to 5).
	auds, ok := audiences(fields["aud"])
	switch {
	case !ok || len(auds) == 0:
		return nil, p.refuse(what+" names no audience (aud)", nil)
	case !slices.Contains(auds, p.cfg.ClientID):
		return nil, p.refuse(what+" was issued to another Facebook app (aud is not this App ID)",
			fmt.Errorf("aud %q, want %q", short(clean(strings.Join(auds, " "))), p.cfg.ClientID))
	case len(auds) > 1:
		if azp, _ := str("azp"); azp != p.cfg.ClientID {
			return nil, p.refuse(what+" names several audiences and not this App ID as its authorized party (azp)", nil)
		}
	}

	// Times (steps 9 and 10; RFC 7519 §4.1.5 for nbf).
	exp, err := timeClaim(fields, "exp")
	switch {
	case err != nil:
		return nil, p.refuse(what+" has no valid expiry (exp)", err)
	case !now.Before(exp.Add(clockSkew)):
		return nil, p.refuse(what+" has expired", &gooidc.TokenExpiredError{Expiry: exp})
	}
	iat, err := timeClaim(fields, "iat")
	switch {
	case err != nil:
		return nil, p.refuse(what+" has no valid issue time (iat)", err)
	case iat.After(now.Add(clockSkew)):
		return nil, p.refuse(what+" is issued in the future (iat)", fmt.Errorf("iat %s, now %s", iat.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
	}
	if _, present := fields["nbf"]; present {
		nbf, err := timeClaim(fields, "nbf")
		switch {
		case err != nil:
			return nil, p.refuse(what+" has an invalid not-before time (nbf)", err)
		case nbf.After(now.Add(clockSkew)):
			return nil, p.refuse(what+" is not valid yet (nbf)", nil)
		}
	}

	// The subject: the app-scoped user id, the browser flow's Graph id.
	sub, _ := str("sub")
	if !validUserID(sub) {
		return nil, p.refuse(what+" names no valid user (sub must be the app-scoped user id)", nil)
	}

	// Binding to the app's sign-in.
	if err := p.checkNonce(fields["nonce"], nonce); err != nil {
		return nil, err
	}

	c := &limitedClaims{sub: sub, exp: exp, raw: raw}
	c.name, _ = str("name")
	c.givenName, _ = str("given_name")
	c.familyName, _ = str("family_name")
	c.email, _ = str("email")
	c.picture, _ = str("picture")
	return c, nil
}

// checkNonce applies the nonce rule to the token's nonce claim (raw JSON,
// nil when absent) and the app's nonce: when the app sends a nonce the
// token must carry it, as is or as its SHA-256 in hex or base64url (the
// Firebase pattern: the app gives the SDK the hash and keeps the nonce);
// when it sends none, the token is refused unless the instance lets
// Limited Login go without a nonce.
func (p *Provider) checkNonce(claim json.RawMessage, nonce string) error {
	if nonce == "" {
		if p.cfg.LimitedLoginNonceOptional {
			return nil
		}
		return p.refuse(fmt.Sprintf("a nonce is required with a Limited Login id_token: give the Facebook SDK's LoginConfiguration "+
			"a fresh nonce and send it along (or set providers.%s.limited_login_require_nonce to false)", p.cfg.Name), nil)
	}
	var got string
	if claim == nil || json.Unmarshal(claim, &got) != nil || got == "" {
		return p.refuse("the Limited Login id_token carries no nonce, but the app sent one", nil)
	}
	if !nonceMatches(got, nonce) {
		return p.refuse("the Limited Login id_token's nonce does not match the app's "+
			"(as is, or as its SHA-256 in hex or base64url)", nil)
	}
	return nil
}

// nonceMatches reports whether claim is nonce, its SHA-256 as hex (either
// case) or as unpadded base64url. Each comparison takes constant time.
func nonceMatches(claim, nonce string) bool {
	sum := sha256.Sum256([]byte(nonce))
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	return eq(claim, nonce) ||
		eq(strings.ToLower(claim), hex.EncodeToString(sum[:])) ||
		eq(claim, base64.RawURLEncoding.EncodeToString(sum[:]))
}

// limitedIdentity builds the identity of checked claims. Its Claims are
// shaped like the browser flow's /me answer (id, name, first_name,
// last_name, email, picture.data.url), so that claim rules
// work alike for both; the token's other profile claims (user_birthday,
// user_friends, ...) are kept as they are and its protocol claims (iss,
// aud, exp, nonce, ...) are dropped.
func (p *Provider) limitedIdentity(c *limitedClaims) (*providers.Identity, error) {
	profile := claims.Profile{
		Name:       strings.TrimSpace(c.name),
		GivenName:  strings.TrimSpace(c.givenName),
		FamilyName: strings.TrimSpace(c.familyName),
		Email:      normalizeEmail(c.email),
	}
	if profile.Name == "" {
		profile.Name = strings.TrimSpace(profile.GivenName + " " + profile.FamilyName)
	}
	if isHTTPS(c.picture) {
		profile.Picture = c.picture
	}
	// Facebook does not say whether it verified the address, here either.
	profile.EmailVerified = profile.Email != "" && p.cfg.TrustEmail
	if p.cfg.RequireEmail && profile.Email == "" {
		return nil, p.newError(providers.CodeNotAllowed, noEmailMessage, nil)
	}

	out := map[string]any{}
	for k, v := range c.raw {
		if !slices.Contains(protocolClaims, k) {
			out[k] = v
		}
	}
	out["id"] = c.sub
	for from, to := range map[string]string{"given_name": "first_name", "family_name": "last_name"} {
		if v, ok := out[from]; ok {
			delete(out, from)
			out[to] = v
		}
	}
	delete(out, "picture")
	if profile.Picture != "" {
		out["picture"] = map[string]any{"data": map[string]any{"url": profile.Picture}}
	}
	return &providers.Identity{
		Provider: p.cfg.Name,
		Subject:  c.sub,
		Profile:  profile,
		Claims:   out,
	}, nil
}

// protocolClaims are the claims about the token rather than the person.
var protocolClaims = []string{"iss", "aud", "azp", "sub", "exp", "iat", "nbf", "nonce", "jti", "at_hash", "c_hash", "auth_time"}

// audiences reads an aud claim: a string or a list of strings (RFC 7519
// §4.1.3).
func audiences(raw json.RawMessage) ([]string, bool) {
	if raw == nil {
		return nil, false
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, true
		}
		return []string{one}, true
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return nil, false
	}
	return many, true
}

// timeClaim reads a NumericDate claim (RFC 7519 §2): seconds since the
// epoch, a JSON number.
func timeClaim(fields map[string]json.RawMessage, name string) (time.Time, error) {
	raw, ok := fields[name]
	if !ok {
		return time.Time{}, fmt.Errorf("%s is missing", name)
	}
	var f float64 // a JSON string, even of digits, is refused
	if json.Unmarshal(raw, &f) != nil {
		return time.Time{}, fmt.Errorf("%s is not a number", name)
	}
	if math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, fmt.Errorf("%s is not a time", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// refuse returns a CodeInvalidToken error: the token failed verification.
func (p *Provider) refuse(msg string, err error) *providers.Error {
	return p.newError(providers.CodeInvalidToken, msg, err)
}

// short cuts an attacker-chosen value quoted in an error to 64 bytes.
func short(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}
