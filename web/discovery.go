package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/socialbridge/socialbridge/bridge"
)

// discovery serves OpenID Connect Discovery 1.0 and RFC 8414 metadata (one
// document serves both), so that standard client libraries configure
// themselves.
func (s *Server) discovery(c *gin.Context) {
	base := s.o.PublicURL
	// ID tokens have keys of their own, RS256 first (OpenID Connect
	// Discovery 1.0 §3 requires it), and a client may pick another with
	// id_token_signed_response_alg. Access tokens (RFC 9068) are for
	// resource servers, not relying parties, and their algorithms have no
	// registered metadata name: access_token_signing_alg_values_supported
	// is socialbridge's own.
	keys := s.o.Bridge.Issuer().Keys()
	c.Header("Cache-Control", "public, max-age=300")
	c.JSON(http.StatusOK, gin.H{
		"issuer":                 base,
		"authorization_endpoint": base + "/authorize",
		"token_endpoint":         base + "/token",
		"userinfo_endpoint":      base + "/userinfo",
		"revocation_endpoint":    base + "/revoke",
		"introspection_endpoint": base + "/introspect",
		"end_session_endpoint":   base + endSessionPath,
		// socialbridge's own: the feed of revoked sessions and users that
		// backends poll (see the README's revocation model).
		"revocation_feed_endpoint":                      base + "/revocations",
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"jwks_uri":                                   base + "/.well-known/jwks.json",
		"response_types_supported":                   []string{"code"},
		"response_modes_supported":                   []string{"query"},
		"grant_types_supported":                      []string{"authorization_code", "refresh_token", bridge.GrantTypeTokenExchange},
		"subject_types_supported":                    []string{"public"},
		"id_token_signing_alg_values_supported":      keys.IDAlgorithms(),
		"access_token_signing_alg_values_supported":  keys.AccessAlgorithms(),
		"token_endpoint_auth_methods_supported":      []string{"none", "client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported": []string{"none", "client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":           []string{"S256"},
		"prompt_values_supported":                    []string{"none", "login", "consent", "select_account"},
		"scopes_supported":                           []string{"openid", "profile", "email", "offline_access", bridge.ScopeAccount},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid",
			"email", "email_verified", "name", "given_name", "family_name", "picture", "locale", "tenant", "roles", "idp"},
		"authorization_response_iss_parameter_supported": true,
		"identity_providers":                             s.o.Bridge.ProviderNames(),
	})
}

// jwks serves the public signing keys of access and ID tokens. Verifiers
// may cache it for five minutes; new keys are published long before they
// sign, except the first ID key of an algorithm, which relying parties
// fetch when they meet its kid (OpenID Connect Core §10.1.1).
func (s *Server) jwks(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/jwk-set+json", s.o.Bridge.Issuer().Keys().JWKS())
}
