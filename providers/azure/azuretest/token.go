package azuretest

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// tokenResponse is Entra's successful token response.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	ExpiresIn    int    `json:"expires_in"`
	ExtExpiresIn int    `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// handleToken is the token endpoint.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	parseErr := r.ParseForm()
	s.calls.Record(tokenEndpoint, r.PostForm)

	s.mu.Lock()
	canned, delay := s.failToken, s.delayToken
	s.failToken, s.delayToken = nil, 0
	s.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
	if canned != nil {
		if canned.entra != nil {
			s.writeEntraError(w, r, canned.entra)
			return
		}
		w.Header().Set("Content-Type", canned.contentType)
		w.WriteHeader(canned.status)
		_, _ = w.Write([]byte(canned.body))
		return
	}
	resp, terr := s.token(r, parseErr)
	if terr != nil {
		s.writeEntraError(w, r, terr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// token validates the request and mints the tokens it asks for.
func (s *Server) token(r *http.Request, parseErr error) (*tokenResponse, *entraError) {
	s.mu.Lock()
	seg, known := s.resolve(r.PathValue("tenant"))
	s.mu.Unlock()
	if !known {
		return nil, unknownTenant(r.PathValue("tenant"))
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType != "application/x-www-form-urlencoded" || parseErr != nil {
		return nil, badRequest(900144, "The request body must contain the following parameter: 'grant_type'.")
	}
	form := r.PostForm
	if _, repeated := fake.RepeatedParam(form); repeated {
		return nil, malformedRequest
	}
	app, terr := s.authenticate(r, form)
	if terr != nil {
		return nil, terr
	}
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
		return s.redeemCode(app, seg, form)
	case "refresh_token":
		return s.refresh(app, seg, form)
	case "":
		return nil, missingParameter("grant_type")
	default:
		return nil, &entraError{status: http.StatusBadRequest, code: "unsupported_grant_type", aadsts: 70003,
			description: fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt)}
	}
}

// malformedRequest is Entra's answer to a request it cannot read.
var malformedRequest = badRequest(9002313, "Invalid request. Request is malformed or invalid.")

// authenticate accepts client_secret_post and client_secret_basic, as
// Entra does, but not both at once (RFC 6749 §2.3).
func (s *Server) authenticate(r *http.Request, form url.Values) (App, *entraError) {
	id, secret, _, err := fake.ClientCredentials(r, form)
	switch {
	case err != nil:
		return App{}, malformedRequest
	case id == "":
		return App{}, missingParameter("client_id")
	}
	s.mu.Lock()
	app, ok := s.app(id)
	expired := s.expiredSecrets[id]
	s.mu.Unlock()
	switch {
	case !ok:
		return App{}, &entraError{status: http.StatusBadRequest, code: "unauthorized_client", aadsts: 700016, description: fmt.Sprintf(
			"Application with identifier '%s' was not found in the directory. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", id)}
	case app.Secret == "":
		return app, nil // a public client
	case secret == "":
		return App{}, &entraError{status: http.StatusUnauthorized, code: "invalid_client", aadsts: 7000218,
			description: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."}
	case !constantTimeEqual(secret, app.Secret):
		return App{}, &entraError{status: http.StatusUnauthorized, code: "invalid_client", aadsts: 7000215, description: fmt.Sprintf(
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", id)}
	case expired:
		return App{}, &entraError{status: http.StatusUnauthorized, code: "invalid_client", aadsts: 7000222, description: fmt.Sprintf(
			"The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", id)}
	}
	return app, nil
}

// redeemCode serves the authorization_code grant. A code is burnt by the
// first attempt of its own app to redeem it, even a failed one.
func (s *Server) redeemCode(app App, seg segment, form url.Values) (*tokenResponse, *entraError) {
	code := form.Get("code")
	if code == "" {
		return nil, missingParameter("code")
	}
	now := s.now()
	s.mu.Lock()
	ac, ok := s.codes[code]
	switch {
	case !ok || ac.clientID != app.ClientID:
		s.mu.Unlock()
		return nil, malformedGrant
	case ac.used:
		s.mu.Unlock()
		return nil, invalidGrant(54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case !now.Before(ac.expiry):
		delete(s.codes, code)
		s.mu.Unlock()
		return nil, invalidGrant(70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	}
	ac.used = true
	s.mu.Unlock()

	if !sameDirectory(ac.segment, seg) {
		return nil, invalidGrant(700005, "Provided Authorization Code is intended to use against other tenant, thus rejected.")
	}
	if !form.Has("redirect_uri") {
		return nil, missingParameter("redirect_uri")
	}
	if got := form.Get("redirect_uri"); got != ac.redirectURI {
		return nil, invalidGrant(500112, fmt.Sprintf(
			"The reply address '%s' does not match the reply address '%s' provided when requesting Authorization code.", got, ac.redirectURI))
	}
	if terr := checkPKCE(ac, form); terr != nil {
		return nil, terr
	}
	s.mu.Lock()
	var refresh string
	if slices.Contains(ac.scopes, "offline_access") {
		refresh = s.newRefreshToken(&grant{clientID: app.ClientID, segment: ac.segment, user: ac.user, scopes: ac.scopes, issued: now})
	}
	s.mu.Unlock()
	return s.respond(app.ClientID, ac.user, ac.scopes, ac.nonce, refresh, now)
}

// sameDirectory reports whether a code issued under one segment may be
// redeemed under another: the same segment, or the user's own tenant.
func sameDirectory(issued, redeemed segment) bool {
	if strings.EqualFold(issued.raw, redeemed.raw) {
		return true
	}
	return issued.kind == oneTenant && redeemed.kind == oneTenant && issued.tenant.ID == redeemed.tenant.ID
}

// checkPKCE verifies code_verifier against the code's challenge (RFC 7636
// §4.6), refusing a verifier for a code issued without one (RFC 9700
// §2.1.1), with Entra's AADSTS codes.
func checkPKCE(ac *authCode, form url.Values) *entraError {
	switch fake.VerifyPKCE(ac.challenge, ac.method, form) {
	case fake.ErrVerifierMissing:
		return invalidGrant(50148, "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.")
	case fake.ErrVerifierMismatch:
		return invalidGrant(501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
	}
	return nil
}

// refresh serves the refresh_token grant. Like Entra, it rotates: each
// use returns a new refresh token. The old one stays valid until it is
// revoked, as Entra's do.
func (s *Server) refresh(app App, seg segment, form url.Values) (*tokenResponse, *entraError) {
	rt := form.Get("refresh_token")
	if rt == "" {
		return nil, missingParameter("refresh_token")
	}
	now := s.now()
	s.mu.Lock()
	g, ok := s.refreshTokens[rt]
	switch {
	case !ok || g.clientID != app.ClientID || !sameDirectory(g.segment, seg):
		s.mu.Unlock()
		return nil, malformedGrant
	case g.revoked:
		s.mu.Unlock()
		return nil, invalidGrant(50173, fmt.Sprintf(
			"The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '%s' and the TokensValidFrom date (before which tokens are not valid) for this user is '%s'.",
			g.issued.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
	}
	scopes := g.scopes
	if asked := strings.Fields(form.Get("scope")); len(asked) > 0 {
		for _, sc := range asked {
			if !slices.Contains(g.scopes, sc) {
				s.mu.Unlock()
				return nil, invalidGrant(65001, fmt.Sprintf(
					"The user or administrator has not consented to use the application with ID '%s'. Send an interactive authorization request for this user and resource.", app.ClientID))
			}
		}
		scopes = asked
	}
	next := s.newRefreshToken(&grant{clientID: app.ClientID, segment: g.segment, user: g.user, scopes: g.scopes, issued: now})
	s.mu.Unlock()
	return s.respond(app.ClientID, g.user, scopes, "", next, now)
}

// newRefreshToken records g under a new refresh token. s.mu is held.
func (s *Server) newRefreshToken(g *grant) string {
	rt := "1.A" + fake.RandomString(180)
	s.refreshTokens[rt] = g
	return rt
}

// respond mints the access token and id_token, applying the NextIDToken
// and ForgeNextIDToken hooks.
func (s *Server) respond(clientID string, u User, scopes []string, nonce, refresh string, now time.Time) (*tokenResponse, *entraError) {
	claims := s.idTokenClaims(clientID, u, scopes, nonce, now)
	s.mu.Lock()
	mutate, forge := s.nextIDToken, s.forge
	s.nextIDToken, s.forge = nil, 0
	s.mu.Unlock()
	if mutate != nil {
		mutate(claims)
	}
	var idToken string
	if slices.Contains(scopes, "openid") {
		var err error
		if idToken, err = s.signIDToken(claims, forge); err != nil {
			return nil, &entraError{status: http.StatusInternalServerError, code: "server_error", aadsts: 90033,
				description: "A transient error has occurred. Please try again."}
		}
	}
	// Entra's access tokens for Microsoft Graph are JWTs that only Graph
	// may read; to anyone else they are opaque.
	access := "eyJ0eXAiOiJKV1QiLCJub25jZSI6" + fake.RandomString(96)
	s.mu.Lock()
	for _, tok := range []string{access, idToken, refresh} {
		if tok != "" {
			s.issued = append(s.issued, tok)
		}
	}
	s.mu.Unlock()
	return &tokenResponse{
		TokenType:    "Bearer",
		Scope:        strings.Join(grantedScopes(scopes), " "),
		ExpiresIn:    int(accessTokenTTL / time.Second),
		ExtExpiresIn: int(accessTokenTTL / time.Second),
		AccessToken:  access,
		RefreshToken: refresh,
		IDToken:      idToken,
	}, nil
}

// grantedScopes is the scope of Entra's token response: the OpenID
// Connect scopes asked for, and the access token's Graph permission.
func grantedScopes(asked []string) []string {
	var out []string
	for _, sc := range asked {
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if !slices.ContainsFunc(out, func(sc string) bool { return strings.HasPrefix(sc, "https://") }) {
		out = append(out, graphUserRead)
	}
	return out
}

// hasScope reports whether scopes holds sc.
func hasScope(scopes []string, sc string) bool { return slices.Contains(scopes, sc) }
