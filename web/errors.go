package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

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
	noStore(c)
	c.JSON(status, oauthErrorBody{Error: code, ErrorDescription: desc})
}

// noStore forbids caching the response (RFC 6749 §5.1): token responses,
// and every redirect that carries a code or an error to a client, which a
// shared cache or the browser's history must not keep.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
}

// retryAfterOutage is the Retry-After, in seconds, of an answer to a
// request that failed because the database is unavailable: short, since
// most outages are a restart or a failover, and clients back off anyway.
const retryAfterOutage = "5"

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
		case bridge.ErrCodeAccessDenied:
			status = http.StatusForbidden
		case bridge.ErrCodeUnauthorizedClient:
			// RFC 6749 §5.2 answers the token endpoint's unauthorized_client
			// with 400; elsewhere (provider tokens) it is a 403.
			status = http.StatusForbidden
			if c.Request.URL.Path == "/token" {
				status = http.StatusBadRequest
			}
		case bridge.ErrCodeInsufficientScope:
			status = http.StatusForbidden
			c.Header("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+bridge.ScopeAccount+`", error_description="`+
				strings.ReplaceAll(oe.Description, `"`, "'")+`"`)
		case bridge.ErrCodeInsufficientAuth:
			// RFC 9470: sign in again, no longer ago than max_age.
			status = http.StatusUnauthorized
			c.Header("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_user_authentication", error_description="%s", max_age=%d`,
				strings.ReplaceAll(oe.Description, `"`, "'"), int(bridge.AccountChangeMaxAge/time.Second)))
		case bridge.ErrCodeNotLinked, bridge.ErrCodeSessionNotFound, bridge.ErrCodeUserNotFound, bridge.ErrCodeAdminDisabled,
			bridge.ErrCodeKeyNotFound:
			status = http.StatusNotFound
		case bridge.ErrCodeLastIdentity, bridge.ErrCodeAlreadyLinked, bridge.ErrCodeIdentityInUse:
			status = http.StatusConflict
		case bridge.ErrCodeTemporarilyUnavail:
			status = http.StatusServiceUnavailable
			c.Header("Retry-After", "30")
		}
		writeOAuthError(c, status, oe.Code, oe.Description)
		return
	}
	if bridge.Unavailable(err) {
		// An outage of the database, not a fault of this request: the
		// client retries (RFC 6749 §4.1.2.1 temporarily_unavailable; RFC
		// 9110 §10.2.3 Retry-After).
		s.o.Logger.WarnContext(c.Request.Context(), "database unavailable", "request_id", RequestID(c.Request.Context()),
			"path", c.Request.URL.Path, "err", err)
		c.Header("Retry-After", retryAfterOutage)
		writeOAuthError(c, http.StatusServiceUnavailable, bridge.ErrCodeTemporarilyUnavail,
			"the service cannot reach its database right now; try again in a few seconds")
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
		noStore(c)
		c.Redirect(http.StatusFound, s.o.Bridge.ErrorRedirect(re))
		return
	}
	var pe *bridge.PageError
	if errors.As(err, &pe) {
		p := signInPage(pe)
		if pe.Err != nil {
			s.o.Logger.InfoContext(c.Request.Context(), "sign-in refused", "request_id", RequestID(c.Request.Context()),
				"reason", p.Title, "err", pe.Err)
		}
		s.errorPage(c, p)
		return
	}
	if bridge.Unavailable(err) {
		s.o.Logger.WarnContext(c.Request.Context(), "database unavailable", "request_id", RequestID(c.Request.Context()),
			"path", c.Request.URL.Path, "err", err)
		c.Header("Retry-After", retryAfterOutage)
		s.errorPage(c, &page{Status: http.StatusServiceUnavailable, Title: "Temporarily unavailable",
			Message: "Sign-in is unavailable for a moment because the service cannot reach its database. Wait a few seconds and try again."})
		return
	}
	s.o.Logger.ErrorContext(c.Request.Context(), "sign-in failed", "request_id", RequestID(c.Request.Context()), "err", err)
	s.errorPage(c, &page{Status: http.StatusInternalServerError, Title: "Something went wrong",
		Message: "Sign-in failed because of a problem on our side. Try again in a moment; if it keeps failing, give the operator this request id: " +
			RequestID(c.Request.Context())})
}

// signInPage is the error page of a sign-in failure that has nowhere safe
// to go back to; this is the one place its kinds become statuses and words.
func signInPage(pe *bridge.PageError) *page {
	const again = " Go back to the application and sign in again."
	switch {
	case errors.Is(pe, bridge.ErrUnknownClient):
		return &page{http.StatusBadRequest, "Unknown application",
			"The application that sent you here is not registered with this sign-in service."}
	case errors.Is(pe, bridge.ErrRedirectMismatch):
		return &page{http.StatusBadRequest, "Redirect URI mismatch",
			fmt.Sprintf("The application %q asked to return to an address it has not registered. "+
				"Its developer must add the exact redirect URI to its client configuration.", pe.ClientName)}
	case errors.Is(pe, bridge.ErrUnknownProvider):
		return &page{http.StatusNotFound, "Unknown provider", fmt.Sprintf("Sign-in with %q is not enabled here.", pe.Provider)}
	case errors.Is(pe, bridge.ErrInvalidState):
		return &page{http.StatusBadRequest, "Invalid sign-in response",
			"The sign-in response is missing its state or the state was altered." + again}
	case errors.Is(pe, bridge.ErrUnboundFlow):
		return &page{http.StatusBadRequest, "Sign-in started elsewhere",
			"This sign-in was started in another browser or tab that we cannot see, or your browser blocked our cookie." + again}
	case errors.Is(pe, bridge.ErrFlowExpired):
		return &page{http.StatusBadRequest, "Sign-in expired", "This sign-in took too long and has expired." + again}
	case errors.Is(pe, bridge.ErrFlowUsed):
		return &page{http.StatusBadRequest, "Sign-in already used", "This sign-in response was already used." + again}
	default:
		return &page{http.StatusBadRequest, "Sign-in failed", "This sign-in cannot continue." + again}
	}
}
