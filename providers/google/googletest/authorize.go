package googletest

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// handleAuthorize is Google's authorization endpoint, with the user already
// signed in and consenting: a valid request is answered at once with a 302
// back to redirect_uri. Like Google, a request that cannot be trusted with
// a redirect (unknown client, bad redirect_uri) and a malformed request get
// an HTML error page instead; only the user's refusal (Deny) goes back to
// the client.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	parseErr := r.ParseForm()
	s.calls.Record(authEndpoint, r.Form)

	if parseErr != nil {
		authError(w, "invalid_request", "The request could not be parsed.")
		return
	}
	q := r.Form
	if k, ok := fake.RepeatedParam(q); ok {
		authError(w, "invalid_request", "Parameter included more than once: "+k)
		return
	}

	clientID := q.Get("client_id")
	if clientID == "" {
		authError(w, "invalid_request", "Missing required parameter: client_id")
		return
	}
	s.mu.Lock()
	_, known := s.client(clientID)
	s.mu.Unlock()
	if !known {
		// Google's wording and status: a 400 page titled "Error 401".
		authErrorStatus(w, "Error 401: invalid_client", "The OAuth client was not found.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" {
		authError(w, "invalid_request", "Missing required parameter: redirect_uri")
		return
	}
	target, err := url.Parse(redirectURI)
	if err != nil || !fake.ValidRedirectURI(target) {
		authError(w, "redirect_uri_mismatch",
			"You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy.")
		return
	}

	switch rt := q.Get("response_type"); rt {
	case "":
		authError(w, "invalid_request", "Required parameter is missing: response_type")
		return
	case "code":
	default:
		authError(w, "invalid_request", "Unsupported response_type: "+rt)
		return
	}
	requested := strings.Fields(q.Get("scope"))
	if len(requested) == 0 {
		authError(w, "invalid_request", "Missing required parameter: scope")
		return
	}
	if !slices.Contains(requested, "openid") {
		// Google would issue a plain OAuth token; this fake exists to test
		// OpenID Connect sign-in and refuses such a request.
		authError(w, "invalid_scope", "The scope must include openid.")
		return
	}
	// Google allows a confidential client to skip PKCE; the code remembers
	// it (method ""), and the token endpoint then refuses a verifier.
	challenge := q.Get("code_challenge")
	method, err := fake.PKCEMethod(challenge, q.Get("code_challenge_method"))
	switch err {
	case fake.ErrChallengeMissing:
		authError(w, "invalid_request", "Missing required parameter: code_challenge")
		return
	case fake.ErrChallengeInvalid:
		authError(w, "invalid_request", "Invalid code_challenge.")
		return
	case fake.ErrMethodUnsupported:
		authError(w, "invalid_request", "Invalid code_challenge_method value: "+q.Get("code_challenge_method"))
		return
	}
	accessType := q.Get("access_type")
	if accessType != "" && accessType != "online" && accessType != "offline" {
		authError(w, "invalid_request", "Invalid access_type: "+accessType)
		return
	}

	state := q.Get("state")
	back := target.Query()
	s.mu.Lock()
	if s.deny {
		s.deny = false
		s.mu.Unlock()
		back.Set("error", "access_denied")
		fake.SetNonEmptyParam(back, "state", state)
		fake.Redirect(w, target, back)
		return
	}
	code := "4/0" + fake.RandomString(32)
	user := s.user
	s.codes[code] = &authCode{
		clientID:    clientID,
		redirectURI: redirectURI,
		user:        user,
		scopes:      grantedScopes(requested),
		nonce:       q.Get("nonce"),
		challenge:   challenge,
		method:      method,
		offline:     accessType == "offline",
		expiry:      s.now().Add(codeTTL),
	}
	s.mu.Unlock()

	// Google adds authuser, prompt and (for Workspace) hd, and echoes the
	// scopes in both short and URL form; a consumer must ignore extras.
	fake.SetNonEmptyParam(back, "state", state)
	back.Set("code", code)
	back.Set("scope", strings.Join(echoedScopes(requested), " "))
	back.Set("authuser", "0")
	fake.SetNonEmptyParam(back, "hd", user.HD)
	if slices.Contains(strings.Fields(q.Get("prompt")), "consent") {
		back.Set("prompt", "consent")
	} else {
		back.Set("prompt", "none")
	}
	fake.Redirect(w, target, back)
}

// grantedScopes normalizes scopes like Google's token response: email and
// profile become their userinfo URLs, duplicates go.
func grantedScopes(requested []string) []string {
	var out []string
	for _, sc := range requested {
		switch sc {
		case "email":
			sc = scopeEmailURL
		case "profile":
			sc = scopeProfileURL
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// echoedScopes is the scope parameter of Google's redirect: the requested
// scopes followed by the URL forms Google expanded them to.
func echoedScopes(requested []string) []string {
	out := slices.Clone(requested)
	for _, sc := range grantedScopes(requested) {
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// authError answers with Google's HTML error page, "Error 400: <code>".
func authError(w http.ResponseWriter, code, description string) {
	authErrorStatus(w, "Error 400: "+code, description)
}

// authErrorStatus answers 400 with an HTML page headed title. Google uses
// status 400 even for the page it titles "Error 401: invalid_client".
func authErrorStatus(w http.ResponseWriter, title, description string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = fmt.Fprintf(w, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Error 400 (OAuth2 Error)</title></head>
<body><h1>Access blocked: Authorization Error</h1>
<p>%s</p>
<p><b>%s</b></p>
</body></html>
`, html.EscapeString(description), html.EscapeString(title))
}
