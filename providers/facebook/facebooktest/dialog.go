package facebooktest

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// knownPermissions are the permissions the dialog accepts. openid is left
// out: this fake does not implement Facebook's OpenID Connect variant.
var knownPermissions = []string{
	"public_profile", "email", "user_age_range", "user_birthday", "user_friends",
	"user_gender", "user_hometown", "user_likes", "user_link", "user_location",
	"user_photos", "user_posts", "user_videos",
}

// pendingDialog is a dialog request waiting at the consent page.
type pendingDialog struct {
	code    *authCode
	state   string
	back    *url.URL
	expires time.Time
}

// handleDialog is Facebook's login dialog with the person already logged
// in to Facebook. A valid request is answered with a redirect back to
// redirect_uri carrying a code (or the consent page, WithConsentPage); a
// request that cannot be trusted with a redirect gets an HTML error page,
// as at Facebook.
func (s *Server) handleDialog(w http.ResponseWriter, r *http.Request, version string) {
	q := r.Form
	appID := q.Get("client_id")
	s.mu.Lock()
	a, known := s.app(appID)
	s.mu.Unlock()
	if !known {
		dialogError(w, "Invalid App ID", "The provided app ID does not look like a valid app ID.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" {
		dialogError(w, "Error", "The parameter redirect_uri is required.")
		return
	}
	back, err := url.Parse(redirectURI)
	if err != nil || !back.IsAbs() || (back.Scheme != "https" && back.Scheme != "http") || back.Host == "" ||
		back.Fragment != "" || (len(s.redirectURIs) > 0 && !slices.Contains(s.redirectURIs, redirectURI)) {
		dialogError(w, "URL blocked", "This redirect failed because the redirect URI is not allowlisted in the app's "+
			"Client OAuth Settings. Make sure that the client and web OAuth login are on and add all your app domains as "+
			"valid OAuth redirect URIs.")
		return
	}
	if rt := q.Get("response_type"); rt != "" && rt != "code" {
		dialogError(w, "Error", "This fake supports response_type=code only, got "+rt+".")
		return
	}
	requested, invalid := parseScopes(q.Get("scope"))
	if len(invalid) > 0 {
		dialogError(w, "Invalid Scopes: "+strings.Join(invalid, ", "),
			"This message is only shown to developers. Users of your app will ignore these permissions if present. "+
				"Please read the documentation for valid permissions at: https://developers.facebook.com/docs/facebook-login/permissions")
		return
	}
	challenge := q.Get("code_challenge")
	method, err := fake.PKCEMethod(challenge, q.Get("code_challenge_method"))
	switch err {
	case fake.ErrChallengeMissing:
		dialogError(w, "Error", "code_challenge is required when code_challenge_method is set.")
		return
	case fake.ErrChallengeInvalid:
		dialogError(w, "Error", "Invalid code_challenge.")
		return
	case fake.ErrMethodUnsupported:
		dialogError(w, "Error", "Invalid code_challenge_method: "+q.Get("code_challenge_method")+".")
		return
	}
	switch q.Get("auth_type") {
	case "", "rerequest", "reauthenticate", "reauthorize":
	default:
		dialogError(w, "Error", "Invalid auth_type: "+q.Get("auth_type")+".")
		return
	}
	state := q.Get("state")

	s.mu.Lock()
	if s.deny {
		s.deny = false
		s.mu.Unlock()
		redirectDenied(w, back, state)
		return
	}
	user := s.user
	granted, declined := grant(requested, user)
	ac := &authCode{
		appID: a.id, redirectURI: redirectURI, user: user, granted: granted, declined: declined,
		challenge: challenge, method: method, expiry: s.now().Add(codeTTL),
	}
	if !s.consent {
		code := s.newCode(ac)
		s.mu.Unlock()
		redirectCode(w, back, code, state)
		return
	}
	id := randomAlnum(32)
	s.pending[id] = &pendingDialog{code: ac, state: state, back: back, expires: s.now().Add(pendingTTL)}
	s.mu.Unlock()

	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = consentPage.Execute(w, map[string]any{
		"App":     a.name,
		"User":    user,
		"Email":   slices.Contains(granted, "email") && user.Email != "",
		"Action":  "/" + version + "/dialog/oauth/confirm",
		"Request": id,
	})
}

// handleConsent is where the consent page posts: Continue signs the person
// in, Cancel denies.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request, _ string) {
	id := r.PostForm.Get("request")
	s.mu.Lock()
	pd, ok := s.pending[id]
	delete(s.pending, id)
	if ok && !s.now().Before(pd.expires) {
		ok = false
	}
	if !ok || r.PostForm.Get("action") != "continue" {
		s.mu.Unlock()
		if !ok {
			dialogError(w, "Error", "This login request has expired. Please go back and try again.")
			return
		}
		redirectDenied(w, pd.back, pd.state)
		return
	}
	pd.code.expiry = s.now().Add(codeTTL)
	code := s.newCode(pd.code)
	s.mu.Unlock()
	redirectCode(w, pd.back, code, pd.state)
}

// newCode records ac under a new code. s.mu is held.
func (s *Server) newCode(ac *authCode) string {
	code := "AQ" + randomAlnum(254)
	s.codes[code] = ac
	return code
}

// parseScopes splits Facebook's comma-separated scope parameter. A
// permission with spaces in it (scopes separated by spaces, as in OAuth)
// or one Facebook does not know is invalid.
func parseScopes(raw string) (requested, invalid []string) {
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
		case !slices.Contains(knownPermissions, p):
			invalid = append(invalid, p)
		case !slices.Contains(requested, p):
			requested = append(requested, p)
		}
	}
	return requested, invalid
}

// redirectCode sends the browser back with the code. Facebook appends the
// fragment #_=_ to its redirects.
func redirectCode(w http.ResponseWriter, back *url.URL, code, state string) {
	q := back.Query()
	q.Set("code", code)
	fake.SetNonEmptyParam(q, "state", state)
	redirect(w, back, q)
}

// redirectDenied sends the browser back the way Facebook does when the
// person cancels.
func redirectDenied(w http.ResponseWriter, back *url.URL, state string) {
	q := back.Query()
	q.Set("error", "access_denied")
	q.Set("error_code", "200")
	q.Set("error_description", "Permissions error")
	q.Set("error_reason", "user_denied")
	fake.SetNonEmptyParam(q, "state", state)
	redirect(w, back, q)
}

// redirect sends the browser back with query q and, as Facebook does, the
// fragment #_=_.
func redirect(w http.ResponseWriter, back *url.URL, q url.Values) {
	u := *back
	u.Fragment = "_=_"
	fake.Redirect(w, &u, q)
}

var errorPage = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Facebook</title></head>
<body><div role="alert"><h1>{{.Title}}</h1><p>{{.Message}}</p></div></body></html>
`))

// dialogError answers with the dialog's error page. Facebook shows it with
// status 200; the fake uses 400 so that a test notices it.
func dialogError(w http.ResponseWriter, title, message string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusBadRequest)
	_ = errorPage.Execute(w, map[string]string{"Title": title, "Message": message})
}

var consentPage = template.Must(template.New("consent").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Log in with Facebook</title></head>
<body>
<h1>{{.App}} is requesting access to:</h1>
<ul><li>Your name and profile picture</li>{{if .Email}}<li>Your email address</li>{{end}}</ul>
<p>Logged in as {{.User.Name}}</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="request" value="{{.Request}}">
<button type="submit" id="continue" name="action" value="continue">Continue as {{.User.FirstName}}</button>
<button type="submit" id="cancel" name="action" value="cancel">Cancel</button>
</form>
</body></html>
`))
