package googletest

import (
	"net/http"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// discoveryDocument is Google's OpenID Provider Metadata, limited to what
// the fake really supports: advertising more would let a consumer rely on
// something the fake cannot show working.
type discoveryDocument struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	base := s.URL()
	doc := discoveryDocument{
		Issuer:                            base,
		AuthorizationEndpoint:             base + AuthPath,
		TokenEndpoint:                     base + TokenPath,
		UserinfoEndpoint:                  base + UserinfoPath,
		JWKSURI:                           base + JWKSPath,
		ResponseTypesSupported:            []string{"code"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		ScopesSupported:                   []string{"openid", "email", "profile"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "client_secret_basic"},
		ClaimsSupported: []string{
			"aud", "email", "email_verified", "exp", "family_name", "given_name",
			"hd", "iat", "iss", "locale", "name", "picture", "sub",
		},
		CodeChallengeMethodsSupported: []string{"plain", "S256"},
		GrantTypesSupported:           []string{"authorization_code", "refresh_token"},
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, doc)
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	s.calls.Record(jwksEndpoint, nil)
	s.mu.Lock()
	keys := make([]fake.JWK, 0, len(s.published))
	for _, k := range s.published {
		keys = append(keys, fake.RSAJWK(k.kid, "RS256", &k.priv.PublicKey))
	}
	s.mu.Unlock()
	// Google caches its certs for hours; a consumer must still refetch on
	// an unknown kid (OIDC Core §10.1.1), which is what RotateKey tests.
	w.Header().Set("Cache-Control", "public, max-age=3600, must-revalidate, no-transform")
	writeJSON(w, http.StatusOK, map[string][]fake.JWK{"keys": keys})
}

// writeJSON writes v as the JSON body of a response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	fake.WriteJSON(w, status, "application/json; charset=utf-8", v)
}
