package providertest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/socialbridge/socialbridge/providers"
)

// Case is one way an id_token can be wrong (or, with an empty Want, one
// way it can look unusual yet be right).
type Case struct {
	// ID is short and stable, for Options.Exempt ("nonce-missing").
	ID string
	// Name says what is checked, as a sentence; it names the subtest.
	Name string
	// Claims edits a copy of the claims of the fake's id_token; nil keeps
	// them. now is the adapter's clock.
	Claims func(c map[string]any, now time.Time)
	// Sign makes the id_token to deliver from the edited claims; nil signs
	// like the fake (AsTheFake).
	Sign func(f *Forger, claims map[string]any) string
	// Want is the Error.Code the adapter must refuse the token with; empty
	// means the adapter must accept it.
	Want string
}

// otherClient is the audience of tokens issued to someone else.
const otherClient = "another-client.example.test"

// Cases returns the shared cases. subjectClaims are the claims the adapter
// takes the identity key from (default sub); each gets a "missing" and an
// "empty" case.
func Cases(subjectClaims ...string) []Case {
	if len(subjectClaims) == 0 {
		subjectClaims = []string{"sub"}
	}
	invalid := providers.CodeInvalidToken
	cases := []Case{
		// Issuer (OpenID Connect Core §3.1.3.7 step 2).
		{ID: "iss-other", Name: "an id_token from another issuer is refused", Want: invalid,
			Claims: func(c map[string]any, _ time.Time) { c["iss"] = "https://issuer.invalid" }},
		{ID: "iss-missing", Name: "an id_token without iss is refused", Want: invalid,
			Claims: func(c map[string]any, _ time.Time) { delete(c, "iss") }},

		// Audience and authorized party (steps 3 to 5).
		{ID: "aud-other", Name: "an id_token issued to another client is refused", Want: invalid,
			Claims: func(c map[string]any, _ time.Time) { c["aud"], c["azp"] = otherClient, otherClient }},
		{ID: "aud-missing", Name: "an id_token without aud is refused", Want: invalid,
			Claims: func(c map[string]any, _ time.Time) { delete(c, "aud"); delete(c, "azp") }},
		{ID: "aud-several-no-azp", Name: "an id_token for several audiences without azp is refused", Want: invalid,
			Claims: func(c map[string]any, _ time.Time) { c["aud"] = []any{audience(c), otherClient}; delete(c, "azp") }},
		{ID: "aud-several-azp-other", Name: "an id_token for several audiences whose azp is another client is refused", Want: invalid,
			Claims: func(c map[string]any, _ time.Time) { c["aud"], c["azp"] = []any{audience(c), otherClient}, otherClient }},
		{ID: "aud-several-azp-ours", Name: "an id_token for several audiences whose azp is this client is accepted",
			Claims: func(c map[string]any, _ time.Time) { c["aud"], c["azp"] = []any{audience(c), otherClient}, audience(c) }},
		{ID: "aud-list-of-one", Name: "an id_token whose aud is a list of this client alone is accepted",
			Claims: func(c map[string]any, _ time.Time) { c["aud"] = []any{audience(c)} }},

		// Times (steps 9 and 10; RFC 7519 §4.1.5 for nbf).
		{ID: "exp-past", Name: "an expired id_token is refused", Want: invalid,
			Claims: func(c map[string]any, now time.Time) {
				c["iat"], c["exp"] = now.Add(-70*time.Minute).Unix(), now.Add(-10*time.Minute).Unix()
			}},
		{ID: "exp-missing", Name: "an id_token without exp is refused", Want: invalid,
			Claims: func(c map[string]any, _ time.Time) { delete(c, "exp") }},
		{ID: "exp-not-a-number", Name: "an id_token whose exp is not a number is refused", Want: invalid,
			Claims: func(c map[string]any, _ time.Time) { c["exp"] = "tomorrow" }},
		{ID: "nbf-future", Name: "an id_token not valid before an hour from now is refused", Want: invalid,
			Claims: func(c map[string]any, now time.Time) { c["nbf"] = now.Add(time.Hour).Unix() }},
		{ID: "nbf-within-leeway", Name: "an id_token valid from a minute from now is accepted, for clock skew",
			Claims: func(c map[string]any, now time.Time) { c["nbf"] = now.Add(time.Minute).Unix() }},
		{ID: "iat-future", Name: "an id_token issued an hour in the future is refused", Want: invalid,
			Claims: func(c map[string]any, now time.Time) {
				c["iat"], c["exp"] = now.Add(time.Hour).Unix(), now.Add(2*time.Hour).Unix()
			}},

		// Signature (steps 6 to 8; RFC 8725 §2.1 and §3.1 for alg).
		{ID: "sig-payload-altered", Name: "an id_token whose payload was altered after signing is refused", Want: invalid,
			Claims: func(c map[string]any, _ time.Time) { c["email"] = "mallory@attacker.example" },
			Sign:   KeepSignature},
		{ID: "sig-stripped", Name: "an id_token whose signature was stripped is refused", Want: invalid,
			Sign: StripSignature},
		{ID: "sig-unknown-kid", Name: "an id_token signed by an unknown key under a kid of its own is refused", Want: invalid,
			Sign: func(f *Forger, c map[string]any) string { return f.WithForeignKey(c, "") }},
		{ID: "sig-known-kid-wrong-key", Name: "an id_token under the fake's kid but signed by another key is refused", Want: invalid,
			Sign: func(f *Forger, c map[string]any) string { return f.WithForeignKey(c, f.Original().Kid()) }},
		{ID: "alg-none", Name: "an unsigned id_token (alg none) is refused", Want: invalid,
			Sign: func(f *Forger, c map[string]any) string { return f.Unsigned(c) }},
		{ID: "alg-hs256-public-key", Name: "an id_token MACed with HS256 keyed by the fake's public key is refused", Want: invalid,
			Sign: func(f *Forger, c map[string]any) string { return f.HMACWithPublicKey(c) }},

		// Binding to this sign-in (steps 11 and §3.1.3.8).
		{ID: "nonce-other", Name: "an id_token with the nonce of another sign-in is refused", Want: invalid,
			Claims: func(c map[string]any, _ time.Time) { c["nonce"] = "nonce-of-another-sign-in" }},
		{ID: "nonce-missing", Name: "an id_token without nonce is refused", Want: invalid,
			Claims: func(c map[string]any, _ time.Time) { delete(c, "nonce") }},
		{ID: "at-hash-other", Name: "an id_token whose at_hash is not the access token's is refused", Want: invalid,
			Claims: func(c map[string]any, _ time.Time) { c["at_hash"] = "ZGlmZmVyZW50LXRva2VuIQ" }},

		// Shape of the response.
		{ID: "id-token-missing", Name: "a token response without id_token is refused", Want: invalid,
			Sign: func(*Forger, map[string]any) string { return "" }},
		{ID: "not-a-jwt", Name: "an id_token that is not a JWT is refused", Want: invalid,
			Sign: func(*Forger, map[string]any) string { return "this-is-not-a-jwt" }},
	}
	for _, name := range subjectClaims {
		cases = append(cases,
			Case{ID: name + "-missing", Name: fmt.Sprintf("an id_token without %s is refused", name), Want: invalid,
				Claims: func(c map[string]any, _ time.Time) { delete(c, name) }},
			Case{ID: name + "-empty", Name: fmt.Sprintf("an id_token whose %s is empty is refused", name), Want: invalid,
				Claims: func(c map[string]any, _ time.Time) { c[name] = "" }},
		)
	}
	return cases
}

// audience returns the client id the fake issued the token to.
func audience(c map[string]any) string {
	switch aud := c["aud"].(type) {
	case string:
		return aud
	case []any:
		if len(aud) > 0 {
			s, _ := aud[0].(string)
			return s
		}
	case []string:
		if len(aud) > 0 {
			return aud[0]
		}
	}
	return ""
}

// Token is a decoded, unverified JWT.
type Token struct {
	Raw    string
	Header map[string]any
	Claims map[string]any
	// parts are the three base64url parts of Raw.
	parts [3]string
}

// ParseUnverified decodes a compact JWS without checking anything. Numbers
// stay json.Number, so that re-encoding keeps them exact.
func ParseUnverified(raw string) (*Token, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("a JWT has 3 parts, this one %d", len(parts))
	}
	tok := &Token{Raw: raw, parts: [3]string(parts)}
	for i, dst := range []*map[string]any{&tok.Header, &tok.Claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, fmt.Errorf("decode JWT part %d: %w", i, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(dst); err != nil {
			return nil, fmt.Errorf("decode JWT part %d: %w", i, err)
		}
	}
	return tok, nil
}

// ClaimsCopy returns a deep copy of the claims.
func (t *Token) ClaimsCopy() map[string]any {
	b, _ := base64.RawURLEncoding.DecodeString(t.parts[1])
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var c map[string]any
	_ = dec.Decode(&c) // decoded once already by ParseUnverified
	return c
}

// Kid returns the header's kid.
func (t *Token) Kid() string { return stringClaim(t.Header, "kid") }

// Alg returns the header's alg.
func (t *Token) Alg() string { return stringClaim(t.Header, "alg") }

func stringClaim(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// Forger makes the id_token a case delivers. Its methods record their
// first failure, which fails the case.
type Forger struct {
	t    *testing.T
	h    Harness
	orig *Token
	keys *keyring
	err  error
}

// Original returns the fake's id_token as it was issued.
func (f *Forger) Original() *Token { return f.orig }

func (f *Forger) fail(err error) string {
	if f.err == nil {
		f.err = err
	}
	return ""
}

// AsTheFake signs claims like the fake does (Signer.Sign).
func AsTheFake(f *Forger, claims map[string]any) string {
	s, ok := f.h.(Signer)
	if !ok {
		return f.fail(errors.New("the case re-signs claims as the fake, but the Harness is no Signer"))
	}
	return s.Sign(f.t, claims)
}

// KeepSignature delivers claims under the original header and signature.
func KeepSignature(f *Forger, claims map[string]any) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		return f.fail(err)
	}
	return f.orig.parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + f.orig.parts[2]
}

// StripSignature delivers the original header and claims without their
// signature.
func StripSignature(f *Forger, _ map[string]any) string {
	return f.orig.parts[0] + "." + f.orig.parts[1] + "."
}

// WithForeignKey signs claims with a key of the original's algorithm that
// the fake never published, under kid (empty: the key's own, unknown kid).
func (f *Forger) WithForeignKey(claims map[string]any, kid string) string {
	alg := f.orig.Alg()
	k, err := f.keys.foreign(alg)
	if err != nil {
		return f.fail(err)
	}
	if kid == "" {
		kid = k.kid
	}
	return f.signWith(jwt.GetSigningMethod(alg), k.priv, kid, claims)
}

// Unsigned makes an unsecured JWT (alg "none", RFC 7519 §6) of claims,
// keeping the original's kid.
func (f *Forger) Unsigned(claims map[string]any) string {
	header, err := json.Marshal(map[string]any{"alg": "none", "typ": "JWT", "kid": f.orig.Kid()})
	if err != nil {
		return f.fail(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return f.fail(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(header) + "." + enc(payload) + "."
}

// HMACWithPublicKey signs claims with HS256 keyed by the PEM encoding of
// the fake's public key for the original's kid: the algorithm confusion
// attack (RFC 8725 §2.1) on a verifier that lets the token pick the
// algorithm.
func (f *Forger) HMACWithPublicKey(claims map[string]any) string {
	pub, err := f.keys.published(f.t, f.orig)
	if err != nil {
		return f.fail(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return f.fail(fmt.Errorf("encode the fake's public key: %w", err))
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return f.signWith(jwt.SigningMethodHS256, secret, f.orig.Kid(), claims)
}

func (f *Forger) signWith(method jwt.SigningMethod, key any, kid string, claims map[string]any) string {
	if method == nil {
		return f.fail(fmt.Errorf("the fake's algorithm %q is not one providertest can sign with", f.orig.Alg()))
	}
	tok := jwt.NewWithClaims(method, jwt.MapClaims(claims))
	tok.Header["kid"] = kid
	raw, err := tok.SignedString(key)
	if err != nil {
		return f.fail(fmt.Errorf("sign %s: %w", method.Alg(), err))
	}
	return raw
}

// keyring holds what the forgeries of one RunIDTokenCases share: foreign
// keys by algorithm, made on first use, and the fakes' published key sets
// by URL (a Harness may start a fake per sign-in).
type keyring struct {
	jwksURL string // Options.JWKSURL

	mu         sync.Mutex
	foreigners map[string]*foreignKey
	sets       map[string]jose.JSONWebKeySet
}

type foreignKey struct {
	kid  string
	priv crypto.Signer
}

func (k *keyring) foreign(alg string) (*foreignKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if fk := k.foreigners[alg]; fk != nil {
		return fk, nil
	}
	var (
		priv crypto.Signer
		err  error
	)
	switch {
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case alg == "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case alg == "ES384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case alg == "ES512":
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case alg == "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		err = fmt.Errorf("no foreign key for algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	if k.foreigners == nil {
		k.foreigners = map[string]*foreignKey{}
	}
	fk := &foreignKey{kid: "foreign-" + RandomString()[:16], priv: priv}
	k.foreigners[alg] = fk
	return fk, nil
}

// published returns the public key the issuer of tok publishes under its
// kid.
func (k *keyring) published(t *testing.T, tok *Token) (crypto.PublicKey, error) {
	url := k.jwksURL
	if url == "" {
		var doc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		iss := strings.TrimSuffix(stringClaim(tok.Claims, "iss"), "/")
		if err := getJSON(t, iss+"/.well-known/openid-configuration", &doc); err != nil {
			return nil, fmt.Errorf("find the fake's JWKS by discovery from iss (set Options.JWKSURL instead): %w", err)
		}
		if url = doc.JWKSURI; url == "" {
			return nil, errors.New("the fake's discovery document has no jwks_uri (set Options.JWKSURL)")
		}
	}
	k.mu.Lock()
	set, ok := k.sets[url]
	k.mu.Unlock()
	if !ok {
		if err := getJSON(t, url, &set); err != nil {
			return nil, fmt.Errorf("fetch the fake's JWKS: %w", err)
		}
		k.mu.Lock()
		if k.sets == nil {
			k.sets = map[string]jose.JSONWebKeySet{}
		}
		k.sets[url] = set
		k.mu.Unlock()
	}
	for _, key := range set.Key(tok.Kid()) {
		if key.Valid() && key.IsPublic() {
			return key.Key, nil
		}
	}
	return nil, fmt.Errorf("the fake's JWKS at %s has no public key with kid %q", url, tok.Kid())
}

func getJSON(t *testing.T, url string, v any) error {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
