package web

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/socialbridge/socialbridge/bridge"
)

// flowCookiePrefix names the cookie that binds a login flow to the browser
// that started it (login CSRF defence). One cookie per flow, so that
// sign-ins in two tabs do not disturb each other; its value is the flow's
// binding MAC (bridge.FlowBinding). Over https the name gets the __Host-
// prefix, so that no sibling subdomain, and no plain-http page, can plant
// or overwrite it (RFC 6265bis §4.1.3.2).
const (
	flowCookiePrefix       = "sb_flow_"
	secureFlowCookiePrefix = "__Host-" + flowCookiePrefix
)

// maxQueryBytes bounds the authorization request's query string.
const maxQueryBytes = 8 << 10

// authorize is the OAuth 2.0 authorization endpoint (RFC 6749 §3.1).
// Without a provider it shows the hosted login page; with one it starts the
// login and redirects to the provider.
func (s *Server) authorize(c *gin.Context) {
	raw := c.Request.URL.RawQuery
	if c.Request.Method == http.MethodPost {
		// The same parameters, form-encoded in the body (the body limit
		// middleware bounds it), OpenID Connect Core §3.1.2.1.
		if mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
			s.errorPage(c, &page{Status: http.StatusUnsupportedMediaType, Title: "Malformed sign-in request",
				Message: "The application sent the sign-in request in a form this service does not read: " +
					"a POST to /authorize must be application/x-www-form-urlencoded."})
			return
		}
		body, err := io.ReadAll(c.Request.Body)
		if err != nil {
			s.errorPage(c, &page{Status: http.StatusRequestEntityTooLarge, Title: "Request too large",
				Message: "The sign-in request is too long."})
			return
		}
		raw = string(body)
	}
	if len(raw) > maxQueryBytes {
		s.errorPage(c, &page{Status: http.StatusRequestURITooLong, Title: "Request too large",
			Message: "The sign-in request is too long."})
		return
	}
	q, err := url.ParseQuery(raw)
	if err == nil {
		for k, v := range q {
			if len(v) > 1 {
				err = fmt.Errorf("parameter %q is repeated", k)
			}
		}
	}
	if err != nil {
		s.errorPage(c, &page{Status: http.StatusBadRequest, Title: "Malformed sign-in request",
			Message: "The application sent a malformed sign-in request: " + err.Error() + "."})
		return
	}
	req := bridge.AuthorizeRequest{
		ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), ResponseType: q.Get("response_type"),
		Scope: q.Get("scope"), State: q.Get("state"), Nonce: q.Get("nonce"),
		CodeChallenge: q.Get("code_challenge"), CodeChallengeMethod: q.Get("code_challenge_method"),
		Provider: q.Get("provider"), Prompt: q.Get("prompt"), MaxAge: q.Get("max_age"), LoginHint: q.Get("login_hint"),
		UserAgent: c.GetHeader("User-Agent"), IP: c.ClientIP(),
	}
	if req.Provider == "" {
		choice, err := s.o.Bridge.CheckAuthorize(req)
		if err != nil {
			s.browserError(c, err)
			return
		}
		s.loginPage(c, choice, q)
		return
	}
	login, err := s.o.Bridge.BeginLogin(c.Request.Context(), req)
	if err != nil {
		s.browserError(c, err)
		return
	}
	http.SetCookie(c.Writer, s.flowCookie(login.FlowID, s.o.Bridge.FlowBinding(login.FlowID), int(s.o.FlowTTL.Seconds())))
	noStore(c)
	c.Redirect(http.StatusFound, login.ProviderURL)
}

// flowCookie is the cookie binding flow flowID to this browser, with value
// and max age (-1 deletes it). Over https it is a __Host- cookie (Secure,
// Path=/, no Domain). Over plain http (dev mode on localhost) browsers
// refuse Secure and __Host- cookies, so it has neither there.
func (s *Server) flowCookie(flowID, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: s.flowCookieName(flowID), Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: s.secure,
		// Lax: sent on the provider's top-level redirect back to us.
		SameSite: http.SameSiteLaxMode,
	}
}

// flowCookieName names the binding cookie of flow flowID.
func (s *Server) flowCookieName(flowID string) string {
	if s.secure {
		return secureFlowCookiePrefix + flowID
	}
	return flowCookiePrefix + flowID
}

// callback is where a provider sends the browser back.
func (s *Server) callback(c *gin.Context) {
	params, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		s.errorPage(c, &page{Status: http.StatusBadRequest, Title: "Malformed sign-in response",
			Message: "The identity provider's response could not be read."})
		return
	}
	state := params.Get("state")
	var binding string
	if flowID, ok := s.o.Bridge.StateFlowID(state); ok {
		if ck, err := c.Request.Cookie(s.flowCookieName(flowID)); err == nil {
			binding = ck.Value
			// One callback per flow: the cookie has served its purpose.
			http.SetCookie(c.Writer, s.flowCookie(flowID, "", -1))
		}
	}
	target, err := s.o.Bridge.FinishLogin(c.Request.Context(), c.Param("provider"), bridge.Callback{
		State: state, Code: params.Get("code"), Error: params.Get("error"), Binding: binding,
	})
	if err != nil {
		s.browserError(c, err)
		return
	}
	noStore(c)
	c.Redirect(http.StatusSeeOther, target)
}

// providerLink is one button of the login page.
type providerLink struct {
	Name  string
	Label string
	URL   string
}

// loginPage shows one button per provider; each repeats the authorization
// request with the provider chosen.
func (s *Server) loginPage(c *gin.Context, choice *bridge.LoginChoice, q url.Values) {
	links := make([]providerLink, 0, len(choice.Providers))
	for _, p := range choice.Providers {
		pq := url.Values{}
		for k, v := range q {
			pq[k] = v
		}
		pq.Set("provider", p)
		links = append(links, providerLink{Name: p, Label: s.o.Bridge.ProviderLabel(p), URL: "/authorize?" + pq.Encode()})
	}
	s.render(c, http.StatusOK, "login.html", map[string]any{
		"Title": "Sign in", "Client": choice.Client.Name, "Providers": links, "DevMode": s.o.DevMode,
	})
}
