package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/socialbridge/socialbridge/bridge"
)

// listSessions is GET /sessions: the signed-in user's sessions (account
// scope).
func (s *Server) listSessions(c *gin.Context) {
	tok := bearer(c)
	if tok == "" {
		return
	}
	list, err := s.o.Bridge.ListSessions(c.Request.Context(), tok)
	if err != nil {
		s.apiError(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, gin.H{"sessions": list})
}

// endSession is DELETE /sessions/{id}: the signed-in user ends one of
// their sessions (account scope).
func (s *Server) endSession(c *gin.Context) {
	tok := bearer(c)
	if tok == "" {
		return
	}
	if err := s.o.Bridge.EndSession(c.Request.Context(), tok, c.Param("id"), c.ClientIP()); err != nil {
		s.apiError(c, err)
		return
	}
	noStore(c)
	c.Status(http.StatusNoContent)
}

// logout is POST /logout: the session of the Bearer access token, of a
// refresh_token in the form (with client_id), or of a cookie-mode
// client's refresh cookie (client_id in the form, with the CSRF header and
// its Origin), ends; scope=others ends the user's other sessions,
// scope=all every one (with an access token, those two need the account
// scope).
func (s *Server) logout(c *gin.Context) {
	form := url.Values{}
	if c.Request.ContentLength != 0 || c.GetHeader("Content-Type") != "" {
		f, err := readForm(c)
		if err != nil {
			s.apiError(c, err)
			return
		}
		form = f
	}
	req := bridge.LogoutRequest{Scope: form.Get("scope"), ClientID: form.Get("client_id"), IP: c.ClientIP()}
	cl, cookieMode := s.cookieClient(req.ClientID)
	switch {
	case c.GetHeader("Authorization") != "":
		if req.AccessToken = bearer(c); req.AccessToken == "" {
			return
		}
	case form.Get("refresh_token") != "":
		// A body-mode app logs out with its refresh token, which never
		// leaves the app (unlike access tokens, which reach APIs).
		if cookieMode {
			s.apiError(c, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest,
				Description: "this client keeps its refresh token in a cookie: do not send refresh_token"})
			return
		}
		if _, ok := s.o.Bridge.Client(req.ClientID); !ok {
			s.apiError(c, &bridge.OAuthError{Code: bridge.ErrCodeInvalidClient, Description: "client_id is required with refresh_token"})
			return
		}
		req.RefreshToken = form.Get("refresh_token")
	case cookieMode:
		if err := checkCookieRequest(c, cl); err != nil {
			s.apiError(c, err)
			return
		}
		req.RefreshToken = s.refreshCookie(c, cl.ID)
		if req.RefreshToken == "" {
			// Nothing to end here; make sure no cookie is left.
			s.clearRefreshCookie(c, cl.ID)
			noStore(c)
			c.JSON(http.StatusOK, gin.H{"sessions_ended": 0})
			return
		}
	case req.ClientID != "":
		if _, ok := s.o.Bridge.Client(req.ClientID); !ok {
			s.apiError(c, &bridge.OAuthError{Code: bridge.ErrCodeInvalidClient, Description: "unknown client"})
			return
		}
		fallthrough
	default:
		c.Header("WWW-Authenticate", `Bearer realm="socialbridge"`)
		writeOAuthError(c, http.StatusUnauthorized, bridge.ErrCodeInvalidRequest,
			"send the access token as Authorization: Bearer <token> (or, for a client in cookie mode, its client_id with the "+CSRFHeader+" header)")
		return
	}
	res, err := s.o.Bridge.Logout(c.Request.Context(), req)
	var oe *bridge.OAuthError
	refused := errors.As(err, &oe) && oe.Code == bridge.ErrCodeInvalidToken
	if cookieMode && req.RefreshToken != "" && ((err == nil && req.Scope != bridge.LogoutOthers) || refused) {
		// This session ended, or its cookie was refused (an ended
		// session, a token of another client): the cookie is of no more
		// use. Logging out the other sessions keeps this one and its
		// cookie, and any other failure (a bad parameter, a database
		// error) leaves the session, so the cookie stays for a retry.
		s.clearRefreshCookie(c, cl.ID)
	}
	if err != nil {
		s.apiError(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, gin.H{"sessions_ended": res.Ended})
}

// endSessionPath is OpenID Connect RP-initiated logout's end_session_endpoint.
const endSessionPath = "/end-session"

// endSessionRP is the end_session_endpoint (OpenID Connect RP-Initiated
// Logout 1.0), GET or POST (form): it ends the session id_token_hint names
// and sends the browser to the registered post_logout_redirect_uri with
// state, or shows a signed-out page. A refused request gets an error page,
// never a redirect.
func (s *Server) endSessionRP(c *gin.Context) {
	params := c.Request.URL.Query()
	if c.Request.Method == http.MethodPost {
		f, err := readForm(c)
		if err != nil {
			s.errorPage(c, &page{Status: http.StatusBadRequest, Title: "Sign-out refused", Message: "The sign-out request could not be read."})
			return
		}
		params = f
	}
	for k, v := range params {
		if len(v) > 1 {
			s.errorPage(c, &page{Status: http.StatusBadRequest, Title: "Sign-out refused", Message: "The sign-out request repeats the parameter " + k + "."})
			return
		}
	}
	res, err := s.o.Bridge.EndSessionRP(c.Request.Context(), bridge.EndSessionRequest{
		IDTokenHint: params.Get("id_token_hint"), ClientID: params.Get("client_id"),
		PostLogoutRedirectURI: params.Get("post_logout_redirect_uri"), State: params.Get("state"), IP: c.ClientIP(),
	})
	var refused *bridge.ErrLogoutRefused
	switch {
	case errors.As(err, &refused):
		s.errorPage(c, &page{Status: http.StatusBadRequest, Title: "Sign-out refused", Message: refused.Why})
		return
	case err != nil:
		s.o.Logger.ErrorContext(c.Request.Context(), "end session failed", "request_id", RequestID(c.Request.Context()), "err", err)
		s.errorPage(c, &page{Status: http.StatusInternalServerError, Title: "Sign-out failed",
			Message: "Something went wrong on our side; try again."})
		return
	}
	noStore(c)
	if res.Redirect != "" {
		c.Redirect(http.StatusSeeOther, res.Redirect)
		return
	}
	s.render(c, http.StatusOK, "error.html", map[string]any{
		"Title": "You are signed out", "Message": "You have signed out of " + res.ClientName + ". You can close this window.",
		"RequestID": RequestID(c.Request.Context()), "DevMode": s.o.DevMode,
	})
}

// introspect is the introspection endpoint (RFC 7662).
func (s *Server) introspect(c *gin.Context) {
	form, creds, err := s.parseClientForm(c)
	if err != nil {
		s.apiError(c, err)
		return
	}
	out, err := s.o.Bridge.Introspect(c.Request.Context(), bridge.IntrospectRequest{
		Client: creds, Token: form.Get("token"), Hint: form.Get("token_type_hint"),
	})
	if err != nil {
		s.apiError(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, out)
}

// revocations is the revocation feed backends poll (GET, client
// credentials in HTTP Basic). An unchanged feed answers 304 to the
// previous ETag.
func (s *Server) revocations(c *gin.Context) {
	id, secret, ok := c.Request.BasicAuth()
	if !ok {
		c.Header("WWW-Authenticate", `Basic realm="socialbridge"`)
		writeOAuthError(c, http.StatusUnauthorized, bridge.ErrCodeInvalidClient, "authenticate with HTTP Basic client credentials")
		return
	}
	id, err1 := url.QueryUnescape(id)
	secret, err2 := url.QueryUnescape(secret)
	if err1 != nil || err2 != nil {
		writeOAuthError(c, http.StatusUnauthorized, bridge.ErrCodeInvalidClient, "malformed client credentials")
		return
	}
	q := c.Request.URL.Query()
	for k, v := range q {
		if k != "cursor" {
			s.apiError(c, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "unknown parameter " + k + " (only cursor)"})
			return
		}
		if len(v) > 1 {
			s.apiError(c, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "cursor is repeated"})
			return
		}
	}
	feed, err := s.o.Bridge.Revocations(c.Request.Context(), bridge.FeedRequest{
		Client: bridge.ClientCredentials{ID: id, Secret: secret}, Cursor: q.Get("cursor"),
	})
	if err != nil {
		s.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-cache")
	c.Header("ETag", feed.ETag)
	if etagMatches(c.GetHeader("If-None-Match"), feed.ETag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.JSON(http.StatusOK, feed)
}

// etagMatches implements If-None-Match's weak comparison (RFC 9110
// §13.1.2) for one strong ETag.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
