package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialbridge/socialbridge/bridge"
)

// tokenResponse is RFC 6749 §5.1's successful response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	// RefreshExpiresIn is how long the refresh token works if unused.
	RefreshExpiresIn int64  `json:"refresh_expires_in,omitempty"`
	IDToken          string `json:"id_token,omitempty"`
	Scope            string `json:"scope,omitempty"`
	// IssuedTokenType answers a token exchange (RFC 8693 §2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// token is the token endpoint (RFC 6749 §3.2).
func (s *Server) token(c *gin.Context) {
	form, creds, err := s.parseClientForm(c)
	if err != nil {
		s.apiError(c, err)
		return
	}
	cl, cookieMode := s.cookieClient(creds.ID)
	if cookieMode {
		if err := checkCookieRequest(c, cl); err != nil {
			s.apiError(c, err)
			return
		}
		if form.Get("grant_type") == "refresh_token" {
			if form.Get("refresh_token") != "" {
				s.apiError(c, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest,
					Description: "this client keeps its refresh token in a cookie: do not send refresh_token"})
				return
			}
			rt := s.refreshCookie(c, cl.ID)
			if rt == "" {
				s.apiError(c, &bridge.OAuthError{Code: bridge.ErrCodeInvalidGrant, Description: "no refresh token cookie: sign in again"})
				return
			}
			form.Set("refresh_token", rt)
		}
	}
	var ts *bridge.TokenSet
	switch form.Get("grant_type") {
	case "authorization_code":
		ts, err = s.o.Bridge.ExchangeCode(c.Request.Context(), bridge.CodeGrant{
			Client: creds, Code: form.Get("code"), RedirectURI: form.Get("redirect_uri"), CodeVerifier: form.Get("code_verifier"),
		})
	case "refresh_token":
		ts, err = s.o.Bridge.Refresh(c.Request.Context(), bridge.RefreshGrant{
			Client: creds, RefreshToken: form.Get("refresh_token"), Scope: form.Get("scope"),
		})
	case bridge.GrantTypeTokenExchange:
		ts, err = s.o.Bridge.ExchangeToken(c.Request.Context(), bridge.TokenExchangeGrant{
			Client: creds, SubjectToken: form.Get("subject_token"), SubjectTokenType: form.Get("subject_token_type"),
			Provider: form.Get("provider"), Nonce: form.Get("nonce"), Scope: form.Get("scope"),
			UserAgent: c.GetHeader("User-Agent"), IP: c.ClientIP(),
		})
	case "":
		err = &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "grant_type is required"}
	default:
		err = &bridge.OAuthError{Code: bridge.ErrCodeUnsupportedGrantType,
			Description: "grant_type must be authorization_code, refresh_token or " + bridge.GrantTypeTokenExchange}
	}
	if err != nil {
		var oe *bridge.OAuthError
		if cookieMode && form.Get("grant_type") == "refresh_token" && errors.As(err, &oe) && oe.Code == bridge.ErrCodeInvalidGrant {
			s.clearRefreshCookie(c, cl.ID) // the session has ended
		}
		s.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	if cookieMode && ts.RefreshToken != "" {
		if old := s.refreshCookie(c, cl.ID); old != "" && form.Get("grant_type") == "authorization_code" {
			// A new sign-in replaces the cookie: end the session it held
			// rather than leave it to its idle expiry.
			if err := s.o.Bridge.Revoke(c.Request.Context(), bridge.RevokeRequest{Client: creds, Token: old, IP: c.ClientIP()}); err != nil {
				s.o.Logger.WarnContext(c.Request.Context(), "could not end the session of a replaced refresh cookie",
					"request_id", RequestID(c.Request.Context()), "client_id", cl.ID, "err", err)
			}
		}
		s.setRefreshCookie(c, cl.ID, ts.RefreshToken, ts.RefreshExpiresAt)
		ts.RefreshToken = ""
	}
	c.JSON(http.StatusOK, tokenResponse{
		AccessToken: ts.AccessToken, TokenType: ts.TokenType, ExpiresIn: ts.ExpiresIn,
		RefreshToken: ts.RefreshToken, RefreshExpiresIn: int64(ts.RefreshExpiresAt.Sub(s.o.Bridge.Now()) / time.Second),
		IDToken: ts.IDToken, Scope: ts.Scope, IssuedTokenType: ts.IssuedTokenType,
	})
}

// revoke is the revocation endpoint (RFC 7009).
func (s *Server) revoke(c *gin.Context) {
	form, creds, err := s.parseClientForm(c)
	if err == nil {
		if form.Get("token") == "" {
			err = &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "token is required"}
		} else {
			err = s.o.Bridge.Revoke(c.Request.Context(), bridge.RevokeRequest{
				Client: creds, Token: form.Get("token"), Hint: form.Get("token_type_hint"), IP: c.ClientIP(),
			})
		}
	}
	if err != nil {
		s.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
}

// userinfo is OpenID Connect's UserInfo endpoint; the token comes in the
// Authorization header only (RFC 6750 §2.1), never in the query.
func (s *Server) userinfo(c *gin.Context) {
	scheme, tok, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		c.Header("WWW-Authenticate", `Bearer realm="socialbridge"`)
		writeOAuthError(c, http.StatusUnauthorized, bridge.ErrCodeInvalidRequest, "send the access token as Authorization: Bearer <token>")
		return
	}
	out, err := s.o.Bridge.UserInfo(c.Request.Context(), strings.TrimSpace(tok))
	if err != nil {
		s.apiError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

// parseClientForm reads an application/x-www-form-urlencoded body strictly
// (no repeated parameters, RFC 6749 §3.2) and the client's credentials from
// HTTP Basic or the body, not both (RFC 6749 §2.3.1).
func (s *Server) parseClientForm(c *gin.Context) (url.Values, bridge.ClientCredentials, error) {
	var creds bridge.ClientCredentials
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, creds, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest,
			Description: "the body must be application/x-www-form-urlencoded"}
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, creds, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest,
				Description: fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)}
		}
		return nil, creds, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "could not read the request body"}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, creds, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "the body is not valid form encoding"}
	}
	for k, v := range form {
		if len(v) > 1 {
			return nil, creds, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: fmt.Sprintf("parameter %q is repeated", k)}
		}
	}
	creds = bridge.ClientCredentials{ID: form.Get("client_id"), Secret: form.Get("client_secret")}
	if user, pass, ok := c.Request.BasicAuth(); ok {
		if creds.Secret != "" {
			return nil, creds, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "use one client authentication method, not both"}
		}
		// Basic credentials are form-encoded first (RFC 6749 §2.3.1).
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil || (creds.ID != "" && creds.ID != id) {
			return nil, creds, &bridge.OAuthError{Code: bridge.ErrCodeInvalidClient, Description: "malformed client credentials"}
		}
		creds = bridge.ClientCredentials{ID: id, Secret: secret}
	}
	if creds.ID == "" {
		return nil, creds, &bridge.OAuthError{Code: bridge.ErrCodeInvalidClient, Description: "client_id is required"}
	}
	return form, creds, nil
}
