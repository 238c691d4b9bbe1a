package oidctest

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// handleAuthorize is the authorization endpoint, with the user already
// signed in. A request that cannot be trusted with a redirect (unknown
// client, bad redirect_uri) gets an HTML error page; every other problem,
// and the person's refusal (Deny), goes back to redirect_uri as RFC 6749
// §4.1.2.1 says. A valid request is answered at once with a code, or with
// the consent page of WithConsentPage.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	parseErr := r.ParseForm()
	c, hang := s.count(Authorize, r.Form)
	if s.interfere(w, r, c, hang) {
		return
	}
	if parseErr != nil {
		errorPage(w, "invalid_request", "The request could not be parsed.")
		return
	}
	q := r.Form
	if k, ok := fake.RepeatedParam(q); ok {
		errorPage(w, "invalid_request", "Parameter included more than once: "+k)
		return
	}
	clientID := q.Get("client_id")
	s.mu.Lock()
	_, known := s.client(clientID)
	s.mu.Unlock()
	if !known {
		errorPage(w, "invalid_client", "Client not found.")
		return
	}
	target, err := url.Parse(q.Get("redirect_uri"))
	if q.Get("redirect_uri") == "" || err != nil || !fake.ValidRedirectURI(target) {
		errorPage(w, "invalid_redirect_uri", "Invalid parameter: redirect_uri")
		return
	}

	req := &authRequest{
		clientID: clientID, redirectURI: q.Get("redirect_uri"), state: q.Get("state"),
		nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), scopes: strings.Fields(q.Get("scope")),
	}
	back := func(code, description string) { s.redirectError(w, target, req.state, code, description) }
	prompt := strings.Fields(q.Get("prompt"))
	switch rt := q.Get("response_type"); {
	case rt == "":
		back("invalid_request", "Missing parameter: response_type")
		return
	case rt != "code":
		back("unsupported_response_type", "Only the authorization code flow is supported.")
		return
	case !slices.Contains(req.scopes, "openid"):
		// The fake exists to test OpenID Connect sign-in.
		back("invalid_scope", "The scope must include openid.")
		return
	case req.challenge == "":
		// PKCE is required of every client (RFC 9700 §2.1.1).
		back("invalid_request", "Missing parameter: code_challenge")
		return
	case q.Get("code_challenge_method") != "S256":
		back("invalid_request", "Invalid parameter: code_challenge_method (S256 is required)")
		return
	case !fake.ValidPKCEString(req.challenge):
		back("invalid_request", "Invalid parameter: code_challenge")
		return
	case slices.Contains(prompt, "none") && len(prompt) > 1:
		back("invalid_request", "Invalid parameter: prompt (none with other values)")
		return
	}
	maxAge := int64(-1)
	if v := q.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			back("invalid_request", "Invalid parameter: max_age")
			return
		}
		maxAge = n
	}

	s.mu.Lock()
	if s.deny {
		s.deny = false
		s.mu.Unlock()
		back("access_denied", "The user denied the request.")
		return
	}
	age := s.now().Sub(s.authTime)
	s.mu.Unlock()
	req.reauth = slices.Contains(prompt, "login") || (maxAge >= 0 && age > time.Duration(maxAge)*time.Second)
	if req.reauth && slices.Contains(prompt, "none") {
		back("login_required", "The user must sign in again.")
		return
	}
	if s.consentPage {
		if slices.Contains(prompt, "none") {
			back("interaction_required", "The user must confirm the sign-in.")
			return
		}
		s.consent(w, req)
		return
	}
	s.approve(w, target, req)
}

// approve issues a code for req to the current user and redirects back.
func (s *Server) approve(w http.ResponseWriter, target *url.URL, req *authRequest) {
	code := fake.RandomString(32)
	s.mu.Lock()
	now := s.now()
	if req.reauth {
		s.authTime = now.Truncate(time.Second)
	}
	s.codes[code] = &authCode{req: req, user: s.user, authTime: s.authTime, expiry: now.Add(codeTTL)}
	s.mu.Unlock()

	back := target.Query()
	back.Set("code", code)
	fake.SetNonEmptyParam(back, "state", req.state)
	back.Set("iss", s.Issuer()) // RFC 9207
	fake.Redirect(w, target, back)
}

// consent shows the page of WithConsentPage: the person clicks Continue
// (button id "continue") or Cancel (id "cancel").
func (s *Server) consent(w http.ResponseWriter, req *authRequest) {
	id := fake.RandomString(16)
	s.mu.Lock()
	s.pending[id] = req
	who := s.user.Email
	if who == "" {
		who = s.user.Subject
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = fmt.Fprintf(w, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body><h1>Sign in to %s</h1>
<p>%s asks to sign you in as <b id="user">%s</b>.</p>
<form method="post" action="%s">
<input type="hidden" name="request" value="%s">
<button type="submit" id="continue" name="decision" value="allow">Continue</button>
<button type="submit" id="cancel" name="decision" value="deny">Cancel</button>
</form></body></html>
`, html.EscapeString(s.Issuer()), html.EscapeString(req.clientID), html.EscapeString(who),
		html.EscapeString(s.Issuer()+DecisionPath), html.EscapeString(id))
}

// handleDecision receives the consent page's form.
func (s *Server) handleDecision(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		errorPage(w, "invalid_request", "The request could not be parsed.")
		return
	}
	s.mu.Lock()
	req, ok := s.pending[r.PostForm.Get("request")]
	delete(s.pending, r.PostForm.Get("request"))
	s.mu.Unlock()
	if !ok {
		errorPage(w, "invalid_request", "The sign-in request is unknown or already answered.")
		return
	}
	target, _ := url.Parse(req.redirectURI) // validated by handleAuthorize
	if r.PostForm.Get("decision") != "allow" {
		s.redirectError(w, target, req.state, "access_denied", "The user denied the request.")
		return
	}
	s.approve(w, target, req)
}

// redirectError sends the browser back with an RFC 6749 §4.1.2.1 error.
func (s *Server) redirectError(w http.ResponseWriter, target *url.URL, state, code, description string) {
	back := target.Query()
	back.Set("error", code)
	back.Set("error_description", description)
	fake.SetNonEmptyParam(back, "state", state)
	back.Set("iss", s.Issuer())
	fake.Redirect(w, target, back)
}

// errorPage answers 400 with an HTML page, for requests that must not be
// redirected (RFC 6749 §4.1.2.1).
func errorPage(w http.ResponseWriter, code, description string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = fmt.Fprintf(w, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in error</title></head>
<body><h1>We are sorry...</h1>
<p id="error">%s</p>
<p id="error_description">%s</p>
</body></html>
`, html.EscapeString(code), html.EscapeString(description))
}
