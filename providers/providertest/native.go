package providertest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers"
)

// Native sign-in cases: the other half of this package's shared table.
// An adapter that implements providers.NativeVerifier for ID tokens gets
// one table of cases (NativeCases), each one ID token a native app might
// send: signed like the fake signs (Signer-style, with the fake's current
// published key) from claims the case edits, or forged. Unlike the
// browser flow's cases, nothing goes through a Rewriter: the token is
// handed to VerifyNative as the app would send it.
//
// An adapter's test implements NativeHarness and calls RunNativeCases:
//
//	type nativeHarness struct{ fake *googletest.Server }
//
//	func (h nativeHarness) Verifier(t *testing.T, requireNonce bool) providers.NativeVerifier {
//		return google.New(google.Config{ /* the fake */, NativeClientIDs: []string{androidClient}, NativeRequireNonce: requireNonce})
//	}
//	func (h nativeHarness) Claims(t *testing.T, client, nonce string) map[string]any {
//		return h.fake.NativeClaims(client, client, nonce)
//	}
//	func (h nativeHarness) Sign(t *testing.T, c map[string]any) string { return h.fake.SignIDToken(c) }
//
//	providertest.RunNativeCases(t, nativeHarness{fake}, providertest.NativeOptions{
//		Provider: "google", WebClientID: fake.ClientID(), NativeClientID: androidClient,
//	})
//
// A harness that also implements KeyRotator gets the key cases: a rotated
// key is followed with one JWKS fetch, and a flood of unknown kids costs
// at most one.

// NativeHarness is one adapter wired to its fake for native sign-in.
type NativeHarness interface {
	// Verifier returns a new adapter whose native sign-in accepts ID
	// tokens issued to NativeOptions.WebClientID and NativeClientID,
	// requiring a nonce when requireNonce is set. It is called from
	// parallel subtests.
	Verifier(t *testing.T, requireNonce bool) providers.NativeVerifier
	// Claims returns the claims of a valid ID token that the provider's
	// SDK gives an app now, for the fake's current user and the client
	// id client (aud, and azp where the provider sets it), with nonce
	// (left out when empty).
	Claims(t *testing.T, client, nonce string) map[string]any
	// Sign signs claims as they are with the fake's current published
	// key: that key's alg and kid in the header.
	Sign(t *testing.T, claims map[string]any) string
}

// KeyRotator is a NativeHarness whose fake can rotate its key, sign with
// a key it never published and count its JWKS requests.
type KeyRotator interface {
	// RotateKey makes a new key, under a new kid, the signing key; the old
	// key leaves the JWKS.
	RotateKey(t *testing.T)
	// SignWithUnknownKey signs claims with a key that is not in the JWKS,
	// under a kid of its own.
	SignWithUnknownKey(t *testing.T, claims map[string]any) string
	// JWKSRequests returns how many times the fake's JWKS was fetched.
	JWKSRequests() int
}

// NativeOptions adapt the native cases to one adapter.
type NativeOptions struct {
	// Provider is the instance name of identities and errors; empty skips
	// that check.
	Provider string
	// WebClientID is the browser flow's client id (the fake's);
	// NativeClientID an app's client id, configured for native sign-in
	// and shaped as the provider's (a GUID for Entra).
	WebClientID, NativeClientID string
	// SubjectClaims are the claims of the identity key besides sub (which
	// native sign-in always requires); each gets a "missing" and an
	// "empty" case whose message must name it.
	SubjectClaims []string
	// JWKSURL is where the fake publishes its keys, for the algorithm
	// confusion case; empty finds it by discovery from the token's iss.
	JWKSURL string
	// Now is the adapter's clock (default time.Now).
	Now func() time.Time
	// Exempt maps the IDs of cases this adapter is known to accept to the
	// reason.
	Exempt map[string]string
	// Extra are the adapter's own cases, run like the shared ones.
	Extra []NativeCase
}

// NativeEnv is what a case's claim edit may use.
type NativeEnv struct {
	Now                         time.Time
	WebClientID, NativeClientID string
}

// NativeCase is one native ID token (or, with an empty Want, one unusual
// but valid token).
type NativeCase struct {
	// ID is short and stable, for NativeOptions.Exempt.
	ID string
	// Name says what is checked, as a sentence.
	Name string
	// Claims edits a copy of valid claims issued to NativeClientID,
	// without nonce; nil keeps them.
	Claims func(c map[string]any, env NativeEnv)
	// Sign makes the token from the edited claims; nil signs like the
	// fake (AsTheFake). The Forger's Original is the valid token of the
	// unedited claims.
	Sign func(f *Forger, claims map[string]any) string
	// Type is the subject token type sent (default
	// providers.TokenTypeIDToken).
	Type string
	// Nonce is the nonce the app sends with the token.
	Nonce string
	// RequireNonce configures the adapter to require a nonce.
	RequireNonce bool
	// Want is the Error.Code of the refusal; empty means accepted.
	Want string
	// WantMessage must appear in the refusal's Message (case is ignored),
	// so that the app's developer learns what was wrong.
	WantMessage string
}

// appNonce is the nonce of the nonce cases: what an app generates.
const appNonce = "n-0S6_WzA2Mj-app-nonce"

// NativeCases returns the shared native cases. subjectClaims are the
// claims of the identity key besides sub.
func NativeCases(subjectClaims ...string) []NativeCase {
	invalid := providers.CodeInvalidToken
	other := otherClient
	sum := sha256.Sum256([]byte(appNonce))
	setNonce := func(v string) func(map[string]any, NativeEnv) {
		return func(c map[string]any, _ NativeEnv) { c["nonce"] = v }
	}
	cases := []NativeCase{
		// Audience and authorized party: one of the configured clients.
		{ID: "aud-web-client", Name: "a token issued to the web client is accepted",
			Claims: func(c map[string]any, e NativeEnv) { c["aud"], c["azp"] = e.WebClientID, e.WebClientID }},
		{ID: "aud-web-azp-app", Name: "a token for the web client requested by the app's client (Android) is accepted",
			Claims: func(c map[string]any, e NativeEnv) { c["aud"], c["azp"] = e.WebClientID, e.NativeClientID }},
		{ID: "aud-list-of-one", Name: "a token whose aud is a list of the app's client alone is accepted",
			Claims: func(c map[string]any, e NativeEnv) { c["aud"] = []any{e.NativeClientID} }},
		{ID: "aud-several-azp-app", Name: "a token for several audiences whose azp is the app's client is accepted",
			Claims: func(c map[string]any, e NativeEnv) {
				c["aud"], c["azp"] = []any{e.NativeClientID, other}, e.NativeClientID
			}},
		{ID: "aud-other", Name: "a token issued to another client is refused", Want: invalid, WantMessage: "another client",
			Claims: func(c map[string]any, _ NativeEnv) { c["aud"], c["azp"] = other, other }},
		{ID: "aud-other-azp-app", Name: "a token issued to another client is refused even when azp is the app's", Want: invalid, WantMessage: "another client",
			Claims: func(c map[string]any, e NativeEnv) { c["aud"], c["azp"] = other, e.NativeClientID }},
		{ID: "aud-missing", Name: "a token without aud is refused", Want: invalid, WantMessage: "no aud",
			Claims: func(c map[string]any, _ NativeEnv) { delete(c, "aud"); delete(c, "azp") }},
		{ID: "aud-not-a-string", Name: "a token whose aud is a number is refused", Want: invalid, WantMessage: "aud",
			Claims: func(c map[string]any, _ NativeEnv) { c["aud"] = 42 }},
		{ID: "aud-several-no-azp", Name: "a token for several audiences without azp is refused", Want: invalid, WantMessage: "azp",
			Claims: func(c map[string]any, e NativeEnv) { c["aud"] = []any{e.NativeClientID, other}; delete(c, "azp") }},
		{ID: "azp-other", Name: "a token for the app's client requested by another client (azp) is refused", Want: invalid, WantMessage: "authorized party",
			Claims: func(c map[string]any, e NativeEnv) { c["aud"], c["azp"] = e.NativeClientID, other }},

		// Issuer.
		{ID: "iss-other", Name: "a token from another issuer is refused", Want: invalid, WantMessage: "(iss)",
			Claims: func(c map[string]any, _ NativeEnv) { c["iss"] = "https://issuer.invalid" }},
		{ID: "iss-missing", Name: "a token without iss is refused", Want: invalid, WantMessage: "no iss",
			Claims: func(c map[string]any, _ NativeEnv) { delete(c, "iss") }},

		// Times.
		{ID: "exp-past", Name: "an expired token is refused", Want: invalid, WantMessage: "expired",
			Claims: func(c map[string]any, e NativeEnv) {
				c["iat"], c["exp"] = e.Now.Add(-70*time.Minute).Unix(), e.Now.Add(-10*time.Minute).Unix()
			}},
		{ID: "exp-within-leeway", Name: "a token expired half a minute ago is accepted, for clock skew",
			Claims: func(c map[string]any, e NativeEnv) {
				c["iat"], c["exp"] = e.Now.Add(-time.Hour).Unix(), e.Now.Add(-30*time.Second).Unix()
			}},
		{ID: "exp-missing", Name: "a token without exp is refused", Want: invalid, WantMessage: "no exp",
			Claims: func(c map[string]any, _ NativeEnv) { delete(c, "exp") }},
		{ID: "exp-not-a-number", Name: "a token whose exp is not a number is refused", Want: invalid, WantMessage: "exp",
			Claims: func(c map[string]any, _ NativeEnv) { c["exp"] = "tomorrow" }},
		{ID: "nbf-future", Name: "a token not valid before an hour from now is refused", Want: invalid, WantMessage: "not valid yet",
			Claims: func(c map[string]any, e NativeEnv) { c["nbf"] = e.Now.Add(time.Hour).Unix() }},
		{ID: "iat-future", Name: "a token issued an hour in the future is refused", Want: invalid, WantMessage: "issued in the future",
			Claims: func(c map[string]any, e NativeEnv) {
				c["iat"], c["exp"] = e.Now.Add(time.Hour).Unix(), e.Now.Add(2*time.Hour).Unix()
			}},
		{ID: "iat-within-skew", Name: "a token issued a minute in the future is accepted, for clock skew",
			Claims: func(c map[string]any, e NativeEnv) { c["iat"] = e.Now.Add(time.Minute).Unix() }},
		{ID: "iat-missing", Name: "a token without iat is refused", Want: invalid, WantMessage: "no iat",
			Claims: func(c map[string]any, _ NativeEnv) { delete(c, "iat") }},

		// Signature and algorithm.
		{ID: "sig-payload-altered", Name: "a token whose payload was altered after signing is refused", Want: invalid, WantMessage: "signature is invalid",
			Claims: func(c map[string]any, _ NativeEnv) { c["email"] = "mallory@attacker.example" },
			Sign:   KeepSignature},
		{ID: "sig-stripped", Name: "a token whose signature was stripped is refused", Want: invalid, WantMessage: "signature",
			Sign: StripSignature},
		{ID: "sig-unknown-kid", Name: "a token signed by an unknown key under a kid of its own is refused", Want: invalid, WantMessage: "unknown key",
			Sign: func(f *Forger, c map[string]any) string { return f.WithForeignKey(c, "") }},
		{ID: "sig-known-kid-wrong-key", Name: "a token under the fake's kid but signed by another key is refused", Want: invalid, WantMessage: "signature is invalid",
			Sign: func(f *Forger, c map[string]any) string { return f.WithForeignKey(c, f.Original().Kid()) }},
		{ID: "alg-none", Name: "an unsigned token (alg none) is refused", Want: invalid, WantMessage: "unsigned",
			Sign: func(f *Forger, c map[string]any) string { return f.Unsigned(c) }},
		{ID: "alg-hs256-public-key", Name: "a token MACed with HS256 keyed by the fake's public key is refused", Want: invalid, WantMessage: "not allowed",
			Sign: func(f *Forger, c map[string]any) string { return f.HMACWithPublicKey(c) }},

		// Shape.
		{ID: "not-a-jwt", Name: "a token that is not a JWT is refused", Want: invalid, WantMessage: "not a signed JWT",
			Sign: func(*Forger, map[string]any) string { return "this-is-not-a-jwt" }},
		{ID: "jwe", Name: "an encrypted token (five parts) is refused", Want: invalid, WantMessage: "not a signed JWT",
			Sign: func(*Forger, map[string]any) string { return "eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn" }},
		{ID: "header-not-json", Name: "a token whose header is not base64url JSON is refused", Want: invalid, WantMessage: "header",
			Sign: func(f *Forger, _ map[string]any) string {
				return "!!!." + f.Original().parts[1] + "." + f.Original().parts[2]
			}},
		{ID: "too-large", Name: "a token larger than 16 KiB is refused before it is parsed", Want: invalid, WantMessage: "larger than",
			Claims: func(c map[string]any, _ NativeEnv) { c["padding"] = strings.Repeat("a", 16<<10) }},
		{ID: "empty", Name: "an empty token is refused", Want: invalid, WantMessage: "no ID token",
			Sign: func(*Forger, map[string]any) string { return "" }},

		// Token type.
		{ID: "type-access-token", Name: "an access token is refused as an unsupported token type", Type: providers.TokenTypeAccessToken,
			Want: providers.CodeUnsupportedTokenType, WantMessage: "only ID tokens"},
		{ID: "type-unknown", Name: "an unknown token type is refused as unsupported", Type: "urn:example:token-type:saml",
			Want: providers.CodeUnsupportedTokenType, WantMessage: "only ID tokens"},

		// Nonce.
		{ID: "nonce-raw", Name: "a token carrying the app's nonce as is is accepted", Nonce: appNonce,
			Claims: setNonce(appNonce)},
		{ID: "nonce-sha256-hex", Name: "a token carrying the SHA-256 of the app's nonce in hex is accepted", Nonce: appNonce,
			Claims: setNonce(hex.EncodeToString(sum[:]))},
		{ID: "nonce-sha256-base64url", Name: "a token carrying the SHA-256 of the app's nonce in base64url is accepted", Nonce: appNonce,
			Claims: setNonce(base64.RawURLEncoding.EncodeToString(sum[:]))},
		{ID: "nonce-not-sent", Name: "a token with a nonce the app did not send is accepted when none is required",
			Claims: setNonce(appNonce)},
		{ID: "nonce-mismatch", Name: "a token carrying another nonce than the app's is refused", Nonce: appNonce, Want: invalid, WantMessage: "nonce mismatch",
			Claims: setNonce("nonce-of-another-sign-in")},
		{ID: "nonce-missing", Name: "a token without nonce is refused when the app sent one", Nonce: appNonce, Want: invalid, WantMessage: "nonce missing"},
		{ID: "nonce-required-not-sent", Name: "a token sent without nonce is refused when a nonce is required", RequireNonce: true,
			Want: invalid, WantMessage: "nonce is required", Claims: setNonce(appNonce)},
		{ID: "nonce-required-sent", Name: "a token with the app's nonce is accepted when a nonce is required", RequireNonce: true, Nonce: appNonce,
			Claims: setNonce(appNonce)},
	}
	for _, name := range append([]string{"sub"}, subjectClaims...) {
		cases = append(cases,
			NativeCase{ID: name + "-missing", Name: fmt.Sprintf("a token without %s is refused", name), Want: invalid, WantMessage: name,
				Claims: func(c map[string]any, _ NativeEnv) { delete(c, name) }},
			NativeCase{ID: name + "-empty", Name: fmt.Sprintf("a token whose %s is empty is refused", name), Want: invalid, WantMessage: name,
				Claims: func(c map[string]any, _ NativeEnv) { c[name] = "" }},
		)
	}
	return cases
}

// RunNativeCases runs a control exchange, which must accept a valid token
// of the fake, then every case of NativeCases (for opts.SubjectClaims) and
// opts.Extra as parallel subtests: a refused token must be refused with a
// *providers.Error of the case's code whose Message holds WantMessage,
// names opts.Provider and holds no part of the token, with no identity; an
// accepted one must give the control's identity key (the same person,
// whichever client the token was issued to) and an expires no earlier than
// the token's exp. When h is a KeyRotator, the key cases run last, alone.
func RunNativeCases(t *testing.T, h NativeHarness, opts NativeOptions) {
	t.Helper()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var key string
	control := t.Run("control: a native ID token of the fake is accepted", func(t *testing.T) {
		v := h.Verifier(t, false)
		if types := v.NativeTokenTypes(); len(types) != 1 || types[0] != providers.TokenTypeIDToken {
			t.Errorf("NativeTokenTypes() = %q, want ID tokens only", types)
		}
		raw := h.Sign(t, h.Claims(t, opts.NativeClientID, ""))
		ident, expires, err := v.VerifyNative(t.Context(), providers.NativeToken{Token: raw, Type: providers.TokenTypeIDToken})
		if err != nil {
			t.Fatalf("the fake's native ID token was refused: %v", err)
		}
		checkNativeAccepted(t, ident, expires, raw, opts, "")
		key = ident.Key()
	})
	if !control {
		t.Fatal("the control exchange failed, so the cases below would prove nothing")
	}
	keys := &keyring{jwksURL: opts.JWKSURL}
	t.Run("cases", func(t *testing.T) {
		for _, c := range append(NativeCases(opts.SubjectClaims...), opts.Extra...) {
			t.Run(c.Name, func(t *testing.T) {
				t.Parallel()
				runNativeCase(t, h, opts, keys, c, key)
			})
		}
	})
	if r, ok := h.(KeyRotator); ok {
		runKeyCases(t, h, r, opts)
	}
}

// nativeSigner lets a Forger sign with a NativeHarness.
type nativeSigner struct{ h NativeHarness }

func (s nativeSigner) Sign(t *testing.T, claims map[string]any) string { return s.h.Sign(t, claims) }

func (nativeSigner) SignIn(*testing.T, *Rewriter) (*providers.Identity, error) {
	return nil, errors.New("providertest: a native harness signs nobody in")
}

func runNativeCase(t *testing.T, h NativeHarness, opts NativeOptions, keys *keyring, c NativeCase, key string) {
	t.Helper()
	env := NativeEnv{Now: opts.Now(), WebClientID: opts.WebClientID, NativeClientID: opts.NativeClientID}
	orig, err := ParseUnverified(h.Sign(t, h.Claims(t, opts.NativeClientID, "")))
	if err != nil {
		t.Fatalf("the fake's native ID token: %v", err)
	}
	claims := orig.ClaimsCopy()
	if c.Claims != nil {
		c.Claims(claims, env)
	}
	sign := c.Sign
	if sign == nil {
		sign = AsTheFake
	}
	f := &Forger{t: t, h: nativeSigner{h}, orig: orig, keys: keys}
	raw := sign(f, claims)
	if f.err != nil {
		t.Fatalf("making the token failed: %v", f.err)
	}
	typ := c.Type
	if typ == "" {
		typ = providers.TokenTypeIDToken
	}

	ident, expires, err := h.Verifier(t, c.RequireNonce).VerifyNative(t.Context(), providers.NativeToken{Token: raw, Type: typ, Nonce: c.Nonce})

	if c.Want == "" {
		if err != nil {
			t.Fatalf("refused, want accepted: %v", err)
		}
		checkNativeAccepted(t, ident, expires, raw, opts, key)
		return
	}
	reason, exempt := opts.Exempt[c.ID]
	if err == nil {
		if exempt {
			t.Skipf("accepted, as this adapter is known to (case %s): %s", c.ID, reason)
		}
		k := "<nil identity>"
		if ident != nil {
			k = ident.Key()
		}
		t.Fatalf("accepted, as identity %q; want refused with %s", k, c.Want)
	}
	if exempt {
		t.Logf("case %s is refused now; its exemption (%s) can go", c.ID, reason)
	}
	if ident != nil || !expires.IsZero() {
		t.Errorf("got identity %v and expires %v along with the error, want neither", ident, expires)
	}
	pe := WantError(t, err, opts.Provider, c.Want)
	if !strings.Contains(strings.ToLower(pe.Message), strings.ToLower(c.WantMessage)) {
		t.Errorf("message %q does not say %q", pe.Message, c.WantMessage)
	}
	WantNoSecrets(t, err, raw)
}

// checkNativeAccepted checks an accepted native token's result: an
// identity of the provider with a subject (key, when not empty, as its
// key), and an expires no earlier than the token's exp.
func checkNativeAccepted(t *testing.T, ident *providers.Identity, expires time.Time, raw string, opts NativeOptions, key string) {
	t.Helper()
	if ident == nil {
		t.Fatal("no error and no identity")
	}
	if ident.Subject == "" {
		t.Error("the identity has no subject")
	}
	if opts.Provider != "" && ident.Provider != opts.Provider {
		t.Errorf("Identity.Provider = %q, want %q", ident.Provider, opts.Provider)
	}
	if key != "" && ident.Key() != key {
		t.Errorf("identity key %q, want the control's %q: the same person must be the same identity", ident.Key(), key)
	}
	tok, err := ParseUnverified(raw)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := tok.Claims["exp"].(json.Number).Int64()
	if err != nil {
		t.Fatalf("exp: %v", err)
	}
	if expires.Before(time.Unix(exp, 0)) || expires.After(time.Unix(exp, 0).Add(5*time.Minute)) {
		t.Errorf("expires = %v, want the token's exp %v (plus a small leeway)", expires, time.Unix(exp, 0))
	}
}

// runKeyCases checks how the adapter follows the fake's keys. They run
// one after the other, after the parallel cases, since they rotate the
// fake's key and count its JWKS requests.
func runKeyCases(t *testing.T, h NativeHarness, r KeyRotator, opts NativeOptions) {
	t.Helper()
	exchange := func(t *testing.T, v providers.NativeVerifier, raw string) error {
		t.Helper()
		_, _, err := v.VerifyNative(t.Context(), providers.NativeToken{Token: raw, Type: providers.TokenTypeIDToken})
		return err
	}
	t.Run("a token of a rotated key is accepted after one JWKS fetch", func(t *testing.T) {
		v := h.Verifier(t, false)
		if err := exchange(t, v, h.Sign(t, h.Claims(t, opts.NativeClientID, ""))); err != nil {
			t.Fatalf("before the rotation: %v", err)
		}
		before := r.JWKSRequests()
		r.RotateKey(t)
		if err := exchange(t, v, h.Sign(t, h.Claims(t, opts.NativeClientID, ""))); err != nil {
			t.Fatalf("a token of the new key was refused: %v", err)
		}
		if n := r.JWKSRequests() - before; n != 1 {
			t.Errorf("the JWKS was fetched %d times for the new kid, want 1", n)
		}
		if err := exchange(t, v, h.Sign(t, h.Claims(t, opts.NativeClientID, ""))); err != nil {
			t.Fatalf("a second token of the new key was refused: %v", err)
		}
		if n := r.JWKSRequests() - before; n != 1 {
			t.Errorf("the JWKS was fetched %d times, want once: the new key is cached", n)
		}
	})
	t.Run("a flood of unknown kids costs at most one JWKS fetch and is refused", func(t *testing.T) {
		v := h.Verifier(t, false)
		if err := exchange(t, v, h.Sign(t, h.Claims(t, opts.NativeClientID, ""))); err != nil {
			t.Fatalf("a valid token: %v", err)
		}
		before := r.JWKSRequests()
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Go(func() {
				errs <- exchange(t, v, r.SignWithUnknownKey(t, h.Claims(t, opts.NativeClientID, "")))
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			pe := WantError(t, err, opts.Provider, providers.CodeInvalidToken)
			if !strings.Contains(pe.Message, "unknown key") {
				t.Errorf("message %q does not say the key is unknown", pe.Message)
			}
		}
		if n := r.JWKSRequests() - before; n > 1 {
			t.Errorf("20 tokens of unknown kids made %d JWKS fetches, want at most 1", n)
		}
		if err := exchange(t, v, h.Sign(t, h.Claims(t, opts.NativeClientID, ""))); err != nil {
			t.Errorf("a valid token after the flood was refused: %v", err)
		}
	})
}
