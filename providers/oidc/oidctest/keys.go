package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// signingKey is a private key, its algorithm and the kid it is published
// under.
type signingKey struct {
	kid  string
	alg  string // RS256 or ES256
	priv crypto.Signer
}

// newKey generates a key for alg with a random kid. RSA keys take tens of
// milliseconds, so callers do not hold the lock.
func (s *Server) newKey(alg string) *signingKey {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		err = fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		s.t.Fatalf("oidctest: generate %s key: %v", alg, err)
	}
	return &signingKey{kid: fake.RandomString(16), alg: alg, priv: priv}
}

// RotateKey makes a new key, with a new kid, the signing key of the
// signing algorithm. With keepOld the keys published so far stay in the
// JWKS, so tokens they signed still verify; without it the old key of that
// algorithm leaves the JWKS (the other algorithm's current key stays).
func (s *Server) RotateKey(keepOld bool) {
	k := s.newKey(s.alg)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[s.alg] = k
	if !keepOld {
		s.published = slices.DeleteFunc(s.published, func(p *signingKey) bool { return p.alg == s.alg })
	}
	s.published = append([]*signingKey{k}, s.published...)
}

// SignIDToken signs claims as they are with the current signing key
// (header alg, typ JWT and kid of that key), for tests of id_tokens a
// client obtained from the provider itself. Claims gives a valid start.
func (s *Server) SignIDToken(claims map[string]any) string {
	s.mu.Lock()
	k := s.keys[s.alg]
	s.mu.Unlock()
	raw, err := sign(k, k.kid, claims)
	if err != nil {
		s.t.Fatalf("oidctest: sign id_token: %v", err)
	}
	return raw
}

// SignWithForeignKey signs claims with a key of the signing algorithm that
// is not in the JWKS, under the current key's kid: a forgery that only
// signature verification catches.
func (s *Server) SignWithForeignKey(claims map[string]any) string {
	raw, err := s.forge(ForeignKey, claims)
	if err != nil {
		s.t.Fatalf("oidctest: sign forged id_token: %v", err)
	}
	return raw
}

// SignWithUnknownKey signs claims with a key of the signing algorithm that
// is not in the JWKS, under a kid of its own: a relying party refetches the
// JWKS (once) and still finds no key for it.
func (s *Server) SignWithUnknownKey(claims map[string]any) string {
	raw, err := s.forge(UnknownKid, claims)
	if err != nil {
		s.t.Fatalf("oidctest: sign id_token with an unknown key: %v", err)
	}
	return raw
}

// NativeClaims returns the claims of the ID token a native app gets now
// from the provider's SDK (AppAuth and the like) for the current user and
// its client clientID (aud and azp), after an "openid email profile"
// sign-in with nonce (left out when empty). A starting point for
// SignIDToken.
func (s *Server) NativeClaims(clientID, nonce string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idTokenClaims(clientID, s.user, []string{"openid", "email", "profile"}, nonce, "", s.authTime, s.now())
}

// NativeIDToken returns NativeClaims(clientID, nonce) signed with the
// current signing key.
func (s *Server) NativeIDToken(clientID, nonce string) string {
	return s.SignIDToken(s.NativeClaims(clientID, nonce))
}

// forge signs claims as f says.
func (s *Server) forge(f Forgery, claims map[string]any) (string, error) {
	if f == AlgNone {
		return unsigned(claims)
	}
	s.mu.Lock()
	foreign, kid := s.foreign[s.alg], s.keys[s.alg].kid
	s.mu.Unlock()
	if foreign == nil {
		k := s.newKey(s.alg)
		s.mu.Lock()
		if s.foreign[s.alg] == nil {
			s.foreign[s.alg] = k
		}
		foreign = s.foreign[s.alg]
		s.mu.Unlock()
	}
	if f == UnknownKid {
		kid = foreign.kid
	}
	return sign(foreign, kid, claims)
}

// Claims returns the id_token claims the fake would issue now for the
// current user to the default client after an "openid email profile"
// sign-in without nonce: a starting point for SignIDToken.
func (s *Server) Claims() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idTokenClaims(s.clients[0].id, s.user, []string{"openid", "email", "profile"}, "", "", s.authTime, s.now())
}

// idTokenClaims builds an id_token's claims: the user's claims the scopes
// allow, then the protocol claims. nonce and accessToken (for at_hash) are
// left out when empty. s.mu is held.
func (s *Server) idTokenClaims(clientID string, u User, scopes []string, nonce, accessToken string, authTime, now time.Time) map[string]any {
	c := userClaims(u, scopes)
	c["iss"] = s.Issuer()
	c["aud"] = clientID
	c["azp"] = clientID
	c["iat"] = now.Unix()
	c["exp"] = now.Add(idTokenTTL).Unix()
	c["auth_time"] = authTime.Unix()
	fake.SetNonEmpty(c, "nonce", nonce)
	if accessToken != "" {
		c["at_hash"] = fake.AtHash(accessToken)
	}
	return c
}

// userClaims are the claims about u that scopes allow, in the id_token and
// userinfo alike.
func userClaims(u User, scopes []string) map[string]any {
	c := map[string]any{}
	if slices.Contains(scopes, "email") && u.Email != "" {
		c["email"] = u.Email
		c["email_verified"] = u.EmailVerified
	}
	if slices.Contains(scopes, "profile") {
		fake.SetNonEmpty(c, "name", u.Name)
		fake.SetNonEmpty(c, "given_name", u.GivenName)
		fake.SetNonEmpty(c, "family_name", u.FamilyName)
		fake.SetNonEmpty(c, "preferred_username", u.PreferredUsername)
		fake.SetNonEmpty(c, "picture", u.Picture)
		fake.SetNonEmpty(c, "locale", u.Locale)
	}
	apply(c, u.Claims)
	delete(c, "sub")
	fake.SetNonEmpty(c, "sub", u.Subject)
	return c
}

// apply sets extra's claims in c; nil values remove them.
func apply(c, extra map[string]any) {
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
}

// sign makes a JWT signed by k under kid, with header typ JWT.
func sign(k *signingKey, kid string, claims map[string]any) (string, error) {
	return fake.SignJWT(jwt.GetSigningMethod(k.alg), k.priv, kid, claims)
}

// unsigned makes an unsecured JWT (RFC 7519 §6): header alg "none", empty
// signature.
func unsigned(claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + ".", nil
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if c, hang := s.count(JWKS, nil); s.interfere(w, r, c, hang) {
		return
	}
	s.mu.Lock()
	published := slices.Clone(s.published)
	s.mu.Unlock()
	keys := make([]fake.JWK, 0, len(published))
	for _, k := range published {
		j, err := fake.PublicJWK(k.kid, k.alg, k.priv.Public())
		if err != nil {
			http.Error(w, "encode key", http.StatusInternalServerError)
			return
		}
		keys = append(keys, j)
	}
	// A relying party may cache the set, but must refetch it on an unknown
	// kid (OpenID Connect Core §10.1.1), which RotateKey tests.
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, map[string][]fake.JWK{"keys": keys})
}

// discoveryDocument is the OpenID Provider Metadata, limited to what the
// fake really supports: advertising more would let a relying party rely on
// something the fake cannot show working.
type discoveryDocument struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	PromptValuesSupported             []string `json:"prompt_values_supported"`
	AuthorizationResponseISSParameter bool     `json:"authorization_response_iss_parameter_supported"`
	ClaimsParameterSupported          bool     `json:"claims_parameter_supported"`
	RequestParameterSupported         bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	if c, hang := s.count(Discovery, nil); s.interfere(w, r, c, hang) {
		return
	}
	iss := s.Issuer()
	algs := []string{"RS256", "ES256"}
	if s.alg == "ES256" {
		algs = []string{"ES256", "RS256"}
	}
	doc := discoveryDocument{
		Issuer:                            iss,
		AuthorizationEndpoint:             iss + AuthPath,
		TokenEndpoint:                     iss + TokenPath,
		UserinfoEndpoint:                  iss + UserinfoPath,
		JWKSURI:                           iss + JWKSPath,
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               []string{"authorization_code", "refresh_token"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  algs,
		ScopesSupported:                   []string{"openid", "email", "profile", "offline_access"},
		TokenEndpointAuthMethodsSupported: slices.Clone(s.authMethods),
		ClaimsSupported: []string{
			"aud", "auth_time", "azp", "email", "email_verified", "exp", "family_name", "given_name",
			"iat", "iss", "locale", "name", "nonce", "picture", "preferred_username", "sub",
		},
		CodeChallengeMethodsSupported:     []string{"S256"},
		PromptValuesSupported:             []string{"none", "login", "consent", "select_account"},
		AuthorizationResponseISSParameter: true,
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, doc)
}

// writeJSON writes v as the JSON body of a response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	fake.WriteJSON(w, status, "application/json", v)
}
