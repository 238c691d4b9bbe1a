package googletest

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
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

	s.mu.Lock()
	s.authRequests++
	s.lastAuthForm = cloneValues(r.Form)
	s.mu.Unlock()

	if parseErr != nil {
		authError(w, "invalid_request", "The request could not be parsed.")
		return
	}
	q := r.Form
	for k, vs := range q {
		// RFC 6749 §3.1: parameters must not be repeated.
		if len(vs) > 1 {
			authError(w, "invalid_request", "Parameter included more than once: "+k)
			return
		}
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
	if err != nil || !validRedirect(target) {
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
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		authError(w, "invalid_request", "Missing required parameter: code_challenge")
		return
	case challenge == "":
		// Google allows a confidential client to skip PKCE; the code
		// remembers it, and the token endpoint then refuses a verifier.
	case !validPKCEString(challenge):
		authError(w, "invalid_request", "Invalid code_challenge.")
		return
	case method == "":
		method = "plain" // RFC 7636 §4.3 default
	case method != "S256" && method != "plain":
		authError(w, "invalid_request", "Invalid code_challenge_method value: "+method)
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
		setNonEmptyParam(back, "state", state)
		redirect(w, target, back)
		return
	}
	code := "4/0" + randomString(32)
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
	setNonEmptyParam(back, "state", state)
	back.Set("code", code)
	back.Set("scope", strings.Join(echoedScopes(requested), " "))
	back.Set("authuser", "0")
	setNonEmptyParam(back, "hd", user.HD)
	if slices.Contains(strings.Fields(q.Get("prompt")), "consent") {
		back.Set("prompt", "consent")
	} else {
		back.Set("prompt", "none")
	}
	redirect(w, target, back)
}

// validRedirect accepts any absolute URI without a fragment (RFC 6749
// §3.1.2); http and https ones need a host. Custom schemes of native apps
// (com.example.app:/callback) pass.
func validRedirect(u *url.URL) bool {
	if !u.IsAbs() || u.Fragment != "" || u.RawFragment != "" {
		return false
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		return u.Host != ""
	}
	return u.Opaque != "" || u.Path != ""
}

// validPKCEString checks RFC 7636's syntax for code_verifier and
// code_challenge: 43 to 128 unreserved characters.
func validPKCEString(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range []byte(v) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
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

func setNonEmptyParam(v url.Values, k, val string) {
	if val != "" {
		v.Set(k, val)
	}
}

// redirect sends a 302 to target with its query replaced by q. The Location
// is set as is: http.Redirect would rewrite a relative-looking URI.
func redirect(w http.ResponseWriter, target *url.URL, q url.Values) {
	u := *target
	u.RawQuery = q.Encode()
	w.Header().Set("Location", u.String())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
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
