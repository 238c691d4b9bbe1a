package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/socialbridge/socialbridge/bridge"
)

// oauthErrorBody is an RFC 6749 §5.2 error body.
type oauthErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// writeOAuthError writes an RFC 6749 §5.2 error. Error responses of the
// token endpoint must not be cached either.
func writeOAuthError(c *gin.Context, status int, code, desc string) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.JSON(status, oauthErrorBody{Error: code, ErrorDescription: desc})
}

// apiError maps a bridge error to an HTTP response; this is the one place
// where use-case errors become status codes. Only our own faults are 5xx,
// and their details go to the log, never to the client.
func (s *Server) apiError(c *gin.Context, err error) {
	var oe *bridge.OAuthError
	if errors.As(err, &oe) {
		status := http.StatusBadRequest
		switch oe.Code {
		case bridge.ErrCodeInvalidClient:
			status = http.StatusUnauthorized
			if _, _, basic := c.Request.BasicAuth(); basic {
				c.Header("WWW-Authenticate", `Basic realm="socialbridge"`)
			}
		case bridge.ErrCodeInvalidToken:
			status = http.StatusUnauthorized
			c.Header("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+strings.ReplaceAll(oe.Description, `"`, "'")+`"`)
		}
		writeOAuthError(c, status, oe.Code, oe.Description)
		return
	}
	s.o.Logger.ErrorContext(c.Request.Context(), "request failed", "request_id", RequestID(c.Request.Context()),
		"path", c.Request.URL.Path, "err", err)
	writeOAuthError(c, http.StatusInternalServerError, bridge.ErrCodeServerError, "internal error; see the server log for request id "+RequestID(c.Request.Context()))
}

// browserError renders a sign-in failure: a redirect to the client for
// errors it should handle, an error page when there is nowhere safe to go.
func (s *Server) browserError(c *gin.Context, err error) {
	var re *bridge.RedirectError
	if errors.As(err, &re) {
		c.Redirect(http.StatusFound, s.o.Bridge.ErrorRedirect(re))
		return
	}
	var pe *bridge.PageError
	if errors.As(err, &pe) {
		if pe.Err != nil {
			s.o.Logger.InfoContext(c.Request.Context(), "sign-in refused", "request_id", RequestID(c.Request.Context()),
				"reason", pe.Title, "err", pe.Err)
		}
		s.errorPage(c, pe)
		return
	}
	s.o.Logger.ErrorContext(c.Request.Context(), "sign-in failed", "request_id", RequestID(c.Request.Context()), "err", err)
	s.errorPage(c, &bridge.PageError{Status: http.StatusInternalServerError, Title: "Something went wrong",
		Message: "Sign-in failed because of a problem on our side. Try again in a moment; if it keeps failing, give the operator this request id: " +
			RequestID(c.Request.Context())})
}
