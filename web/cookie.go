package web

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialbridge/socialbridge/bridge"
)

// Cookie mode: a client with refresh_token_cookie gets its refresh token
// as an HttpOnly cookie that page scripts cannot read, instead of in the
// token response. Since the browser then sends the credential by itself,
// every token and logout request of such a client must prove it comes
// from the app's own pages: the CSRF header (a custom header, which a
// cross-site form cannot send and a cross-site script can send only after
// a CORS preflight that we answer for the registered origins alone) and
// an Origin that is exactly one of the client's cors_origins.
const (
	// CSRFHeader is the header cookie-mode requests carry, with value "1".
	CSRFHeader = "X-Socialbridge-CSRF"
	// refreshCookiePrefix names the refresh cookie; over https it gets
	// the __Host- prefix (Secure, Path=/, no Domain). Browsers refuse
	// Secure cookies over plain http, so a dev setup on http gets neither.
	refreshCookiePrefix = "sb_rt_"
)

// refreshCookieName is the refresh cookie of client id: its name carries
// a digest of the id, so that two apps of one site keep separate cookies
// and an id's characters never reach the header.
func (s *Server) refreshCookieName(clientID string) string {
	sum := sha256.Sum256([]byte(clientID))
	name := refreshCookiePrefix + base64.RawURLEncoding.EncodeToString(sum[:9])
	if s.secure {
		return "__Host-" + name
	}
	return name
}

// setRefreshCookie stores a refresh token until expires.
func (s *Server) setRefreshCookie(c *gin.Context, clientID, token string, expires time.Time) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: s.refreshCookieName(clientID), Value: token, Path: "/", MaxAge: max(int(expires.Sub(s.o.Bridge.Now())/time.Second), 1),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode,
	})
}

// clearRefreshCookie deletes the refresh cookie, with the attributes it
// was set with (browsers match them).
func (s *Server) clearRefreshCookie(c *gin.Context, clientID string) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: s.refreshCookieName(clientID), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode,
	})
}

// refreshCookie reads the refresh cookie of client id, or "".
func (s *Server) refreshCookie(c *gin.Context, clientID string) string {
	ck, err := c.Request.Cookie(s.refreshCookieName(clientID))
	if err != nil {
		return ""
	}
	return ck.Value
}

// checkCookieRequest refuses a cookie-mode request that does not come
// from the client's own pages: invalid_request (400), RFC 6749 §5.2's
// code for a request missing what it requires.
func checkCookieRequest(c *gin.Context, cl *bridge.Client) error {
	if c.GetHeader(CSRFHeader) != "1" {
		return &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest,
			Description: "this client keeps its refresh token in a cookie: its requests must carry the header " + CSRFHeader + ": 1"}
	}
	origin := c.GetHeader("Origin")
	if origin == "" || !slices.Contains(cl.CORSOrigins, origin) {
		return &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest,
			Description: "this client keeps its refresh token in a cookie: its requests must come from one of its cors_origins (Origin did not match)"}
	}
	return nil
}

// cookieClient returns the client id names when it is in cookie mode.
func (s *Server) cookieClient(id string) (*bridge.Client, bool) {
	cl, ok := s.o.Bridge.Client(id)
	if !ok || !cl.RefreshCookie {
		return nil, false
	}
	return cl, true
}
