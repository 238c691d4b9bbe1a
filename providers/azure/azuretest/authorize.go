package azuretest

import (
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// actionField is the form field of the sign-in page's buttons.
const actionField = "azuretest_action"

// handleAuthorize is the authorization endpoint, with the user already
// signed in and consenting: a valid request is answered at once with a 302
// back to the redirect URI carrying a code (or, WithSignInPage, with a page
// whose Continue button does that). As with Entra, a request whose app or
// redirect URI cannot be trusted, and an account that cannot sign in here,
// get an error page; other request errors go back to the app.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	parseErr := r.ParseForm()
	s.calls.Record(authEndpoint, r.Form)

	if parseErr != nil {
		writePage(w, &pageError{aadsts: 9002313, message: "Invalid request. Request is malformed or invalid."})
		return
	}
	q := r.Form
	if k, ok := fake.RepeatedParam(q); ok {
		writePage(w, &pageError{aadsts: 9002313, message: "Invalid request. Parameter included more than once: " + k})
		return
	}

	s.mu.Lock()
	seg, known := s.resolve(r.PathValue("tenant"))
	s.mu.Unlock()
	if !known {
		writePage(w, &pageError{aadsts: 90002, message: fmt.Sprintf(
			"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", r.PathValue("tenant"))})
		return
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		writePage(w, &pageError{aadsts: 900144, message: "The request body must contain the following parameter: 'client_id'."})
		return
	}
	s.mu.Lock()
	app, known := s.app(clientID)
	user := s.user
	s.mu.Unlock()
	if !known {
		writePage(w, &pageError{aadsts: 700016, message: fmt.Sprintf(
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.",
			clientID, segmentName(seg))})
		return
	}
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" {
		writePage(w, &pageError{aadsts: 900144, message: "The request body must contain the following parameter: 'redirect_uri'."})
		return
	}
	target, err := url.Parse(redirectURI)
	if err != nil || !validRedirect(app, redirectURI, target) {
		writePage(w, &pageError{aadsts: 50011, message: fmt.Sprintf(
			"The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", redirectURI, clientID)})
		return
	}
	if perr := s.admit(app, seg, user); perr != nil {
		writePage(w, perr)
		return
	}

	// From here on, errors go back to the app.
	state := q.Get("state")
	fail := func(code string, aadsts int, description string) {
		back := target.Query()
		back.Set("error", code)
		back.Set("error_description", fmt.Sprintf("AADSTS%d: %s", aadsts, description))
		fake.SetNonEmptyParam(back, "state", state)
		redirect(w, target, back)
	}
	switch rt := q.Get("response_type"); rt {
	case "code":
	case "":
		fail("invalid_request", 900144, "The request body must contain the following parameter: 'response_type'.")
		return
	default:
		// The fake implements the code flow only; Entra would want the
		// implicit grant enabled for id_token or token.
		fail("unsupported_response_type", 700054, "response_type '"+rt+"' is not enabled for the application.")
		return
	}
	scopes := strings.Fields(q.Get("scope"))
	if !slices.Contains(scopes, "openid") {
		// Entra would issue a plain OAuth 2.0 code; this fake exists to
		// test OpenID Connect sign-in and refuses such a request.
		fail("invalid_scope", 70011, "The provided request must include an 'openid' scope input parameter.")
		return
	}
	if p := strings.Fields(q.Get("prompt")); len(p) > 1 || (len(p) == 1 && !slices.Contains([]string{"login", "none", "consent", "select_account", "create"}, p[0])) {
		// Entra documents prompt as one of these values, not a list.
		fail("invalid_request", 90023, "Invalid prompt value: '"+q.Get("prompt")+"'.")
		return
	}
	challenge := q.Get("code_challenge")
	method, err := fake.PKCEMethod(challenge, q.Get("code_challenge_method"))
	switch err {
	case fake.ErrChallengeMissing:
		fail("invalid_request", 900144, "The request body must contain the following parameter: 'code_challenge'.")
		return
	case fake.ErrChallengeInvalid:
		fail("invalid_request", 501491, "Invalid size of Code_Challenge parameter.")
		return
	case fake.ErrMethodUnsupported:
		fail("invalid_request", 501492, "The code_challenge_method parameter '"+q.Get("code_challenge_method")+"' is not supported.")
		return
	}

	if s.signInPage {
		switch q.Get(actionField) {
		case "continue":
		case "cancel":
			fail("access_denied", 65004, "User declined to consent to access the app.")
			return
		default:
			writeSignInPage(w, app, user)
			return
		}
	}

	s.mu.Lock()
	if s.deny {
		s.deny = false
		s.mu.Unlock()
		fail("access_denied", 65004, "User declined to consent to access the app.")
		return
	}
	code := "1.A" + fake.RandomString(96)
	s.codes[code] = &authCode{
		clientID:    clientID,
		redirectURI: redirectURI,
		segment:     seg,
		user:        user,
		scopes:      scopes,
		nonce:       q.Get("nonce"),
		challenge:   challenge,
		method:      method,
		expiry:      s.now().Add(codeTTL),
	}
	s.mu.Unlock()

	back := target.Query()
	back.Set("code", code)
	fake.SetNonEmptyParam(back, "state", state)
	back.Set("session_state", randomGUID())
	redirect(w, target, back)
}

// admit applies the app's supported account types and the tenant segment
// to the user, as Entra does before it signs anyone in.
func (s *Server) admit(app App, seg segment, u User) *pageError {
	personal := u.TenantID == PersonalTenantID
	notInTenant := func(t Tenant) *pageError {
		return &pageError{aadsts: 50020, message: fmt.Sprintf(
			"User account '%s' from identity provider '%s' does not exist in tenant '%s' and cannot access the application '%s' in that tenant. The account needs to be added as an external user in the tenant first.",
			u.PreferredUsername, s.Issuer(u.TenantID), t.Name, app.ClientID)}
	}
	personalRefused := &pageError{message: "You can't sign in here with a personal account. Use your work or school account instead."}

	// The app and the endpoint.
	switch app.Audience {
	case AudienceMyOrg:
		if seg.kind != oneTenant {
			return &pageError{aadsts: 50194, message: fmt.Sprintf(
				"Application '%s' is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant.",
				app.ClientID)}
		}
		if seg.tenant.ID != app.HomeTenantID {
			return &pageError{aadsts: 700016, message: fmt.Sprintf(
				"Application with identifier '%s' was not found in the directory '%s'.", app.ClientID, seg.tenant.Name)}
		}
	case AudienceAnyOrg:
		if seg.kind == consumers || (seg.kind == oneTenant && seg.tenant.ID == PersonalTenantID) {
			return &pageError{message: "unauthorized_client: The client does not exist or is not enabled for consumers."}
		}
	case AudiencePersonal:
		if seg.kind == organizations || (seg.kind == oneTenant && seg.tenant.ID != PersonalTenantID) {
			return &pageError{aadsts: 50194, message: fmt.Sprintf(
				"Application '%s' is configured for use by Microsoft Account users only. Please use the /consumers endpoint to serve this request.", app.ClientID)}
		}
	}

	// The account and the endpoint.
	switch seg.kind {
	case oneTenant:
		if u.TenantID != seg.tenant.ID {
			return notInTenant(seg.tenant)
		}
	case organizations:
		if personal {
			return personalRefused
		}
	case consumers:
		if !personal {
			return &pageError{message: "We couldn't find a Microsoft account with that username. Try another, or get a new account."}
		}
	}

	// The account and the app.
	switch app.Audience {
	case AudienceMyOrg:
		if u.TenantID != app.HomeTenantID {
			home, _ := s.tenantByIDLocked(app.HomeTenantID)
			return notInTenant(home)
		}
	case AudienceAnyOrg:
		if personal {
			return personalRefused
		}
	case AudiencePersonal:
		if !personal {
			return &pageError{message: "This application can only be used with a personal Microsoft account."}
		}
	}
	return nil
}

// tenantByIDLocked is tenantByID taking the lock.
func (s *Server) tenantByIDLocked(id string) (Tenant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tenantByID(id)
}

// segmentName names the directory of a segment in Entra's messages.
func segmentName(seg segment) string {
	if seg.kind == oneTenant {
		return seg.tenant.Name
	}
	return seg.raw
}

// validRedirect checks the redirect URI against the app's registered ones,
// exactly; an app without any accepts an absolute https URI, or http on a
// loopback host, without a fragment.
func validRedirect(app App, raw string, u *url.URL) bool {
	if len(app.RedirectURIs) > 0 {
		return slices.Contains(app.RedirectURIs, raw)
	}
	if !u.IsAbs() || u.Host == "" || u.Fragment != "" || u.RawFragment != "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		h := u.Hostname()
		ip := net.ParseIP(h)
		return h == "localhost" || (ip != nil && ip.IsLoopback())
	}
	return false
}

// redirect sends a 302 to target with its query replaced by q, with
// Entra's Cache-Control.
func redirect(w http.ResponseWriter, target *url.URL, q url.Values) {
	w.Header().Set("Cache-Control", "no-store, no-cache")
	fake.Redirect(w, target, q)
}

// writeSignInPage shows who is about to sign in to which app. Its form
// posts back to the same URL (whose query keeps every parameter) with
// azuretest_action=continue or cancel.
func writeSignInPage(w http.ResponseWriter, app App, u User) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprintf(w, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to your account</title></head>
<body>
<h1>Microsoft (azuretest fake)</h1>
<p>Sign in to <b id="app">%s</b> as <b id="user">%s</b> (<span id="username">%s</span>)?</p>
<form method="post">
<button type="submit" id="continue" name="%s" value="continue">Continue</button>
<button type="submit" id="cancel" name="%s" value="cancel">Cancel</button>
</form>
</body></html>
`, html.EscapeString(app.ClientID), html.EscapeString(u.Name), html.EscapeString(u.PreferredUsername), actionField, actionField)
}
