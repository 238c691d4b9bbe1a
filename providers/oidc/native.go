package oidc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/socialbridge/socialbridge/providers"
)

// Native sign-in: a mobile app signs the person in with the provider's SDK
// (Google's Credential Manager, MSAL, AppAuth) and sends socialbridge the
// ID token it got. Unlike the browser flow's id_token, which comes from the
// token endpoint over TLS in answer to our own code, this token comes from
// anyone: every check is made on it, strictly, before any claim is read,
// and a refusal says precisely what was wrong (for the app's developer)
// without repeating the token.

// Limits of native ID token verification.
const (
	// MaxNativeTokenSize bounds a native ID token before anything parses
	// it; ID tokens are one to a few KiB.
	MaxNativeTokenSize = 16 << 10
	// NativeExpiryLeeway is how long after its exp a native ID token is
	// still accepted, for clock skew between socialbridge and the
	// provider. NativeIDToken.AcceptedUntil includes it.
	NativeExpiryLeeway = time.Minute
	// futureLeeway is how far in the future nbf and iat may be, for clock
	// skew: go-oidc's leeway for nbf.
	futureLeeway = 5 * time.Minute
)

// NativeIDToken is a native ID token that passed every check of
// VerifyNativeIDToken.
type NativeIDToken struct {
	// Subject is the sub claim.
	Subject string
	// Expiry is the exp claim.
	Expiry time.Time
	// AcceptedUntil is Expiry plus NativeExpiryLeeway: the last moment
	// VerifyNativeIDToken accepts the token, so that a store that refuses
	// replays must remember the token until then. It is what
	// providers.NativeVerifier's VerifyNative returns as expires.
	AcceptedUntil time.Time
	// Claims are the token's claims, and JSON the same undecoded (for
	// ClaimID).
	Claims map[string]any
	JSON   map[string]json.RawMessage
}

// NativeTokenTypes returns what providers.NativeVerifier's NativeTokenTypes
// of an adapter built on the RP returns: ID tokens when NativeClientIDs
// is set, else none.
func (rp *RP) NativeTokenTypes() []string {
	if len(rp.cfg.NativeClientIDs) == 0 {
		return nil
	}
	return []string{providers.TokenTypeIDToken}
}

// VerifyNativeIDToken verifies an ID token a native app got from the
// provider's SDK, in this order, and returns its claims:
//
//   - the type is TokenTypeIDToken and native sign-in is configured
//     (else CodeUnsupportedTokenType), a nonce was sent when
//     NativeRequireNonce says so, the token is at most MaxNativeTokenSize;
//   - it is a compact JWS signed with one of Algorithms (never alg none
//     nor a MAC), by a key the provider publishes now under its kid (an
//     unknown kid refetches the JWKS, at most once per
//     KeyRefetchInterval; see keySet);
//   - iss is Issuer (or passes CheckIssuer); aud holds one of
//     NativeClientIDs; azp, when present, is one of them, and is present
//     when there are several audiences (Google's Android tokens have aud
//     the web client and azp the Android client: both must be listed);
//   - exp is no more than NativeExpiryLeeway past, nbf and iat no more
//     than five minutes ahead; sub is set;
//   - when t.Nonce is set, the nonce claim is t.Nonce, or its SHA-256 in
//     hex or base64url (SDKs that hash the app's nonce).
//
// A refusal is a *providers.Error: CodeInvalidToken with a message that
// names the failed check, CodeUnsupportedTokenType, or CodeUnavailable
// when discovery or the JWKS cannot be fetched. Claims the adapter's own
// rules need (Entra's tid and oid) are for the adapter to check.
func (rp *RP) VerifyNativeIDToken(ctx context.Context, t providers.NativeToken) (*NativeIDToken, error) {
	if err := rp.checkNativeRequest(t); err != nil {
		return nil, err
	}
	jws, err := rp.parseNative(t.Token)
	if err != nil {
		return nil, err
	}
	ep, err := rp.discover(ctx)
	if err != nil {
		return nil, err
	}
	payload, err := ep.keys.verify(ctx, jws)
	if unavailable := (*keysUnavailableError)(nil); errors.As(err, &unavailable) {
		return nil, rp.fail(providers.CodeUnavailable, rp.cfg.Label+"'s signing keys could not be fetched", unavailable.err)
	}
	switch {
	case errors.Is(err, errUnknownKey):
		return nil, rp.invalid("ID token is signed by an unknown key: the provider publishes no key with its kid", nil)
	case err != nil:
		return nil, rp.invalid("ID token signature is invalid", nil)
	}
	var raw map[string]any
	var rawJSON map[string]json.RawMessage
	if json.Unmarshal(payload, &raw) != nil || json.Unmarshal(payload, &rawJSON) != nil {
		return nil, rp.invalid("ID token claims are not a JSON object", nil)
	}
	v := &NativeIDToken{Claims: raw, JSON: rawJSON}
	for _, check := range []func(*NativeIDToken) error{rp.checkNativeIssuer, rp.checkNativeAudience, rp.checkNativeTimes} {
		if err := check(v); err != nil {
			return nil, err
		}
	}
	if v.Subject, _ = raw["sub"].(string); v.Subject == "" {
		return nil, rp.invalid("ID token has no sub", nil)
	}
	if err := rp.checkNativeNonce(raw, t.Nonce); err != nil {
		return nil, err
	}
	return v, nil
}

// checkNativeRequest checks what needs no parsing.
func (rp *RP) checkNativeRequest(t providers.NativeToken) error {
	switch {
	case len(rp.cfg.NativeClientIDs) == 0:
		return rp.fail(providers.CodeUnsupportedTokenType, "native sign-in is not configured for this provider",
			fmt.Errorf("%s.native_client_ids is empty", rp.cfg.ConfigKey))
	case t.Type != providers.TokenTypeIDToken:
		return rp.fail(providers.CodeUnsupportedTokenType, fmt.Sprintf("%s accepts only ID tokens (%s) for native sign-in, not %s",
			rp.cfg.Label, providers.TokenTypeIDToken, clip(t.Type, 80)), nil)
	case t.Token == "":
		return rp.invalid("no ID token was sent", nil)
	case len(t.Token) > MaxNativeTokenSize:
		return rp.invalid(fmt.Sprintf("ID token is larger than %d bytes", MaxNativeTokenSize), nil)
	case rp.cfg.NativeRequireNonce && t.Nonce == "":
		return rp.invalid("a nonce is required: the app must give the provider's SDK a nonce and send it with the ID token", nil)
	}
	return nil
}

// algName is what a JWS alg looks like ("RS256", "EdDSA"); anything else
// is not quoted back.
var algName = regexp.MustCompile(`^[A-Za-z0-9+-]{1,16}$`)

// parseNative parses the token as a compact JWS signed with an allowed
// algorithm.
func (rp *RP) parseNative(raw string) (*jose.JSONWebSignature, error) {
	if strings.Count(raw, ".") != 2 {
		return nil, rp.invalid("ID token is not a signed JWT (a JWS in compact form: three dot-separated parts)", nil)
	}
	header, err := base64.RawURLEncoding.DecodeString(raw[:strings.IndexByte(raw, '.')])
	var h struct {
		Alg string `json:"alg"`
	}
	if err != nil || json.Unmarshal(header, &h) != nil {
		return nil, rp.invalid("ID token header is not base64url-encoded JSON", nil)
	}
	switch {
	case strings.EqualFold(h.Alg, "none"):
		return nil, rp.invalid("ID token is unsigned (alg none)", nil)
	case !slices.Contains(rp.cfg.Algorithms, h.Alg):
		alg := h.Alg
		if !algName.MatchString(alg) {
			alg = "an unknown algorithm"
		}
		return nil, rp.invalid(fmt.Sprintf("ID token is signed with %s, which is not allowed here (allowed: %s)", alg, strings.Join(rp.cfg.Algorithms, ", ")), nil)
	}
	algs := make([]jose.SignatureAlgorithm, len(rp.cfg.Algorithms))
	for i, a := range rp.cfg.Algorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSignedCompact(raw, algs)
	if err != nil {
		return nil, rp.invalid("ID token is not a well-formed signed JWT", errors.New(clip(err.Error(), 200)))
	}
	return jws, nil
}

// googleIssuer is Google's issuer, which Google also writes without its
// scheme; go-oidc accepts both for Google alone, and so does the native
// check, for the same tokens.
const googleIssuer = "https://accounts.google.com"

func (rp *RP) checkNativeIssuer(v *NativeIDToken) error {
	iss, _ := v.Claims["iss"].(string)
	switch {
	case iss == "":
		return rp.invalid("ID token has no iss", nil)
	case rp.cfg.CheckIssuer != nil:
		return rp.checkIssuerHook(iss, v.Claims, "ID token")
	case iss == rp.cfg.Issuer, rp.cfg.Issuer == googleIssuer && iss == "accounts.google.com":
		return nil
	}
	return rp.invalid("ID token is from another issuer (iss)", fmt.Errorf("iss %q, want %q", clip(iss, 100), rp.cfg.Issuer))
}

// checkNativeAudience checks aud and azp against NativeClientIDs (OpenID
// Connect Core §3.1.3.7 steps 3 to 5, with a list of our clients in place
// of one).
func (rp *RP) checkNativeAudience(v *NativeIDToken) error {
	var aud []string
	switch a := v.Claims["aud"].(type) {
	case string:
		aud = []string{a}
	case []any:
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return rp.invalid("ID token aud is not a string or a list of strings", nil)
			}
			aud = append(aud, s)
		}
	case nil:
	default:
		return rp.invalid("ID token aud is not a string or a list of strings", nil)
	}
	ours := func(id string) bool { return id != "" && slices.Contains(rp.cfg.NativeClientIDs, id) }
	switch {
	case len(aud) == 0:
		return rp.invalid("ID token has no aud", nil)
	case !slices.ContainsFunc(aud, ours):
		return rp.invalid("ID token was issued to another client: its audience (aud) is none of the client ids allowed for native sign-in",
			fmt.Errorf("aud %q; add the app's client id to %s.native_client_ids if it is yours", clipAll(aud), rp.cfg.ConfigKey))
	}
	azp, present := v.Claims["azp"]
	switch azp := azp.(type) {
	case nil:
		switch {
		case present:
			return rp.invalid("ID token azp is not a string", nil)
		case len(aud) > 1:
			return rp.invalid("ID token has several audiences but no authorized party (azp)", nil)
		}
	case string:
		if !ours(azp) {
			return rp.invalid("ID token was requested by another client: its authorized party (azp) is none of the client ids allowed for native sign-in",
				fmt.Errorf("azp %q; add the app's client id to %s.native_client_ids if it is yours", clip(azp, 100), rp.cfg.ConfigKey))
		}
	default:
		return rp.invalid("ID token azp is not a string", nil)
	}
	return nil
}

// checkNativeTimes checks exp, nbf and iat, and sets Expiry and
// AcceptedUntil.
func (rp *RP) checkNativeTimes(v *NativeIDToken) error {
	now := rp.cfg.Now()
	exp, err := numericDate(v.Claims, "exp", true)
	if err != nil {
		return rp.invalid("ID token "+err.Error(), nil)
	}
	if now.After(exp.Add(NativeExpiryLeeway)) {
		return rp.invalid("ID token has expired", fmt.Errorf("exp %s, now %s", exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
	}
	nbf, err := numericDate(v.Claims, "nbf", false)
	switch {
	case err != nil:
		return rp.invalid("ID token "+err.Error(), nil)
	case nbf.After(now.Add(futureLeeway)):
		return rp.invalid("ID token is not valid yet (nbf)", nil)
	}
	iat, err := numericDate(v.Claims, "iat", true)
	switch {
	case err != nil:
		return rp.invalid("ID token "+err.Error(), nil)
	case iat.After(now.Add(futureLeeway)):
		return rp.invalid("ID token is issued in the future (iat)", fmt.Errorf("iat %s, now %s", iat.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
	}
	v.Expiry, v.AcceptedUntil = exp, exp.Add(NativeExpiryLeeway)
	return nil
}

// numericDate reads a NumericDate claim (RFC 7519 §2): seconds since the
// epoch, between 1970 and 9999. An absent optional claim is the zero
// time.
func numericDate(claims map[string]any, name string, required bool) (time.Time, error) {
	v, ok := claims[name]
	if !ok {
		if required {
			return time.Time{}, fmt.Errorf("has no %s", name)
		}
		return time.Time{}, nil
	}
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || f < 0 || f >= 253402300800 {
		return time.Time{}, fmt.Errorf("%s is not a date (seconds since 1970)", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// checkNativeNonce applies the nonce rule: when the app sent a nonce, the
// token must carry it, as is or as its SHA-256 (hex or base64url).
func (rp *RP) checkNativeNonce(claims map[string]any, sent string) error {
	if sent == "" {
		return nil
	}
	got, _ := claims["nonce"].(string)
	switch {
	case got == "":
		return rp.invalid("ID token has no nonce, but the app sent one (nonce missing)", nil)
	case !nonceMatches(got, sent):
		return rp.invalid("ID token nonce does not match the nonce sent (nonce mismatch)", nil)
	}
	return nil
}

// nonceMatches reports whether the nonce claim got is sent, or sent's
// SHA-256 in lower- or upper-case hex, or in base64url with or without
// padding.
func nonceMatches(got, sent string) bool {
	sum := sha256.Sum256([]byte(sent))
	forms := [][]byte{
		[]byte(sent),
		[]byte(hex.EncodeToString(sum[:])),
		[]byte(base64.RawURLEncoding.EncodeToString(sum[:])),
		[]byte(base64.URLEncoding.EncodeToString(sum[:])),
	}
	match := 0
	for i, want := range forms {
		g := []byte(got)
		if i == 1 {
			g = bytes.ToLower(g)
		}
		match |= subtle.ConstantTimeCompare(g, want)
	}
	return match == 1
}

// clipAll clips each of ss for an error message.
func clipAll(ss []string) []string {
	out := make([]string, 0, min(len(ss), 5))
	for i, s := range ss {
		if i == 5 {
			out = append(out, "…")
			break
		}
		out = append(out, clip(s, 100))
	}
	return out
}

// CheckNativeClientIDs reports the problems of a native_client_ids
// setting: empty entries, spaces, repeats, and what problem (when not nil)
// says of an id ("" when it is fine), such as Entra's ids not being GUIDs.
func CheckNativeClientIDs(ids []string, problem func(id string) string, report func(key, message string)) {
	for i, id := range ids {
		key := fmt.Sprintf("native_client_ids[%d]", i)
		switch {
		case strings.TrimSpace(id) == "":
			report(key, "must not be empty")
		case strings.TrimSpace(id) != id || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			report(key, fmt.Sprintf("must be a client id without spaces, got %q", id))
		case slices.Index(ids, id) < i:
			report(key, fmt.Sprintf("repeats %q", id))
		case problem != nil:
			if msg := problem(id); msg != "" {
				report(key, msg)
			}
		}
	}
}
