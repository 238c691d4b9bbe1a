package web

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/socialbridge/socialbridge/bridge"
)

// flowCookiePrefix names the cookie that binds a login flow to the browser
// that started it (login CSRF defence). One cookie per flow, so that
// sign-ins in two tabs do not disturb each other.
const flowCookiePrefix = "sb_flow_"

// maxQueryBytes bounds the authorization request's query string.
const maxQueryBytes = 8 << 10

// authorize is the OAuth 2.0 authorization endpoint (RFC 6749 §3.1).
// Without a provider it shows the hosted login page; with one it starts the
// login and redirects to the provider.
func (s *Server) authorize(c *gin.Context) {
	raw := c.Request.URL.RawQuery
	if c.Request.Method == http.MethodPost {
		// The same parameters, form-encoded in the body (the body limit
		// middleware bounds it).
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
		Provider: q.Get("provider"),
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
	http.SetCookie(c.Writer, &http.Cookie{
		Name: flowCookiePrefix + login.FlowID, Value: "1", Path: "/callback/",
		MaxAge: int(s.o.FlowTTL.Seconds()), HttpOnly: true, Secure: s.secure,
		// Lax: sent on the provider's top-level redirect back to us.
		SameSite: http.SameSiteLaxMode,
	})
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusFound, login.ProviderURL)
}

// callback is where a provider sends the browser back.
func (s *Server) callback(c *gin.Context) {
	params, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		s.errorPage(c, &page{Status: http.StatusBadRequest, Title: "Malformed sign-in response",
			Message: "The identity provider's response could not be read."})
		return
	}
	var boundFlow string
	target, err := s.o.Bridge.FinishLogin(c.Request.Context(), c.Param("provider"), bridge.Callback{
		State: params.Get("state"), Code: params.Get("code"),
		Error: params.Get("error"),
		Bound: func(flowID string) bool {
			ck, err := c.Request.Cookie(flowCookiePrefix + flowID)
			if err == nil && ck.Value == "1" {
				boundFlow = flowID
				return true
			}
			return false
		},
	})
	if boundFlow != "" {
		http.SetCookie(c.Writer, &http.Cookie{Name: flowCookiePrefix + boundFlow, Path: "/callback/", MaxAge: -1,
			HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	}
	if err != nil {
		s.browserError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
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
		links = append(links, providerLink{Name: p, Label: providerLabel(p), URL: "/authorize?" + pq.Encode()})
	}
	s.render(c, http.StatusOK, "login.html", map[string]any{
		"Title": "Sign in", "Client": choice.Client.Name, "Providers": links, "DevMode": s.o.DevMode,
	})
}

// providerLabel is a provider's display name.
func providerLabel(name string) string {
	switch name {
	case "google":
		return "Google"
	case "dev":
		return "Dev (test users)"
	default:
		if name == "" {
			return name
		}
		return strings.ToUpper(name[:1]) + name[1:]
	}
}
