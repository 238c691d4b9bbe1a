package web

import (
	"crypto/subtle"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialbridge/socialbridge/bridge"
)

// bearer reads the access token of the Authorization header (RFC 6750
// §2.1; never the query), or answers 401 and returns "".
func bearer(c *gin.Context) string {
	scheme, tok, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		c.Header("WWW-Authenticate", `Bearer realm="socialbridge"`)
		writeOAuthError(c, http.StatusUnauthorized, bridge.ErrCodeInvalidRequest, "send the access token as Authorization: Bearer <token>")
		return ""
	}
	return strings.TrimSpace(tok)
}

// readForm reads an application/x-www-form-urlencoded body strictly (no
// repeated parameters).
func readForm(c *gin.Context) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "the body must be application/x-www-form-urlencoded"}
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "the request body is too large"}
		}
		return nil, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "could not read the request body"}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "the body is not valid form encoding"}
	}
	for k, v := range form {
		if len(v) > 1 {
			return nil, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "parameter " + k + " is repeated"}
		}
	}
	return form, nil
}

// linkStartPath is where the browser starts a link flow.
const linkStartPath = "/link/start"

// beginLink records a link request of the signed-in user and answers with
// the one-time URL the application sends the browser to; the browser comes
// back to the application with a link code for completeLink.
func (s *Server) beginLink(c *gin.Context) {
	tok := bearer(c)
	if tok == "" {
		return
	}
	form, err := readForm(c)
	if err != nil {
		s.apiError(c, err)
		return
	}
	start, err := s.o.Bridge.BeginLink(c.Request.Context(), bridge.LinkRequest{
		AccessToken: tok, Provider: form.Get("provider"), RedirectURI: form.Get("redirect_uri"), State: form.Get("state"),
		CodeChallenge: form.Get("code_challenge"),
	})
	if err != nil {
		s.apiError(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, gin.H{
		"location":   s.o.PublicURL + linkStartPath + "?" + url.Values{"ticket": {start.Ticket}}.Encode(),
		"expires_in": int64(s.o.FlowTTL / time.Second),
	})
}

// linkCookiePrefix names the cookie of a link start page: SameSite=Strict,
// so that the confirmation can only come from the page itself, never from
// a form of another site.
const linkCookiePrefix = "sb_link_"

// linkPage shows a link's start page: the provider, the application and
// the account the identity would join; nothing changes until the person
// confirms (a link scanner's fetch uses nothing up).
func (s *Server) linkPage(c *gin.Context) {
	preview, err := s.o.Bridge.PreviewLink(c.Request.Context(), c.Query("ticket"))
	if err != nil {
		s.browserError(c, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: linkCookiePrefix + preview.FlowID, Value: s.o.Bridge.LinkConfirmation(preview.FlowID), Path: linkStartPath,
		MaxAge: int(s.o.FlowTTL.Seconds()), HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode,
	})
	s.render(c, http.StatusOK, "link.html", map[string]any{
		"Title": "Link your " + preview.ProviderLabel + " account", "Provider": preview.ProviderLabel, "Client": preview.ClientName,
		"Account": preview.Account, "Ticket": preview.Ticket, "DevMode": s.o.DevMode,
	})
}

// startLink takes the start page's answer: with its cookie, it binds the
// flow to this browser and goes to the provider, or tells the application
// the person declined.
func (s *Server) startLink(c *gin.Context) {
	form, err := readForm(c)
	if err != nil {
		s.errorPage(c, &page{Status: http.StatusBadRequest, Title: "Malformed request", Message: "The link request could not be read."})
		return
	}
	ticket := form.Get("ticket")
	flowID, ok := s.o.Bridge.TicketFlowID(ticket)
	if !ok {
		s.browserError(c, &bridge.PageError{Kind: bridge.ErrInvalidState})
		return
	}
	ck, err := c.Request.Cookie(linkCookiePrefix + flowID)
	if err != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(s.o.Bridge.LinkConfirmation(flowID))) != 1 {
		s.errorPage(c, &page{Status: http.StatusForbidden, Title: "Link not confirmed here",
			Message: "This link must be confirmed on its own page. Go back to the application and start linking again."})
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: linkCookiePrefix + flowID, Value: "", Path: linkStartPath, MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode})
	noStore(c)
	decision := form.Get("decision")
	if decision != "continue" && decision != "cancel" {
		s.errorPage(c, &page{Status: http.StatusBadRequest, Title: "Malformed request", Message: "The link request could not be read."})
		return
	}
	if decision == "cancel" {
		target, err := s.o.Bridge.CancelLink(c.Request.Context(), ticket)
		if err != nil {
			s.browserError(c, err)
			return
		}
		c.Redirect(http.StatusSeeOther, target)
		return
	}
	login, err := s.o.Bridge.StartLink(c.Request.Context(), ticket)
	if err != nil {
		s.browserError(c, err)
		return
	}
	if login.FlowID != "" {
		http.SetCookie(c.Writer, s.flowCookie(login.FlowID, s.o.Bridge.FlowBinding(login.FlowID), int(s.o.FlowTTL.Seconds())))
	}
	c.Redirect(http.StatusSeeOther, login.ProviderURL)
}

// completeLink redeems a link code: the application that began the link
// proves it with its PKCE verifier and the same session's access token,
// and the identity is linked.
func (s *Server) completeLink(c *gin.Context) {
	tok := bearer(c)
	if tok == "" {
		return
	}
	form, err := readForm(c)
	if err != nil {
		s.apiError(c, err)
		return
	}
	linked, err := s.o.Bridge.CompleteLink(c.Request.Context(), bridge.CompleteLinkRequest{
		AccessToken: tok, LinkCode: form.Get("link_code"), CodeVerifier: form.Get("code_verifier"),
	})
	if err != nil {
		s.apiError(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusCreated, linked)
}

// identities lists the signed-in user's linked identities.
func (s *Server) identities(c *gin.Context) {
	tok := bearer(c)
	if tok == "" {
		return
	}
	list, err := s.o.Bridge.Identities(c.Request.Context(), tok)
	if err != nil {
		s.apiError(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, gin.H{"identities": list})
}

// unlink removes one of the signed-in user's identities.
func (s *Server) unlink(c *gin.Context) {
	tok := bearer(c)
	if tok == "" {
		return
	}
	if err := s.o.Bridge.Unlink(c.Request.Context(), tok, c.Param("provider")); err != nil {
		s.apiError(c, err)
		return
	}
	noStore(c)
	c.Status(http.StatusNoContent)
}

// providerToken hands a backend (a confidential client allowed to) a
// fresh provider access token of a user.
func (s *Server) providerToken(c *gin.Context) {
	form, creds, err := s.parseClientForm(c)
	if err != nil {
		s.apiError(c, err)
		return
	}
	tok, err := s.o.Bridge.ProviderToken(c.Request.Context(), bridge.ProviderTokenRequest{
		Client: creds, UserID: form.Get("user_id"), Provider: form.Get("provider"),
	})
	if err != nil {
		s.apiError(c, err)
		return
	}
	out := gin.H{"access_token": tok.AccessToken, "token_type": "Bearer", "provider": form.Get("provider")}
	if !tok.Expiry.IsZero() {
		out["expires_in"] = tok.ExpiresIn(s.o.Bridge.Now())
	}
	if len(tok.Scopes) > 0 {
		out["scope"] = strings.Join(tok.Scopes, " ")
	}
	noStore(c)
	c.JSON(http.StatusOK, out)
}
