package bridge

import (
	"errors"
	"fmt"
)

// OAuth 2.0 error codes (RFC 6749 §5.2, RFC 7009, RFC 8693).
const (
	ErrCodeInvalidRequest       = "invalid_request"
	ErrCodeInvalidClient        = "invalid_client"
	ErrCodeInvalidGrant         = "invalid_grant"
	ErrCodeUnsupportedGrantType = "unsupported_grant_type"
	ErrCodeInvalidScope         = "invalid_scope"
	ErrCodeAccessDenied         = "access_denied"
	ErrCodeUnsupportedResponse  = "unsupported_response_type"
	ErrCodeServerError          = "server_error"
	ErrCodeTemporarilyUnavail   = "temporarily_unavailable"
	ErrCodeInvalidToken         = "invalid_token"
	// ErrCodeLoginRequired is OpenID Connect Core §3.1.2.6's: the person
	// must sign in interactively (prompt=none), or signed in at the
	// provider longer ago than the client's max_age allows.
	ErrCodeLoginRequired = "login_required"
)

// OAuthError is a client mistake reported in an RFC 6749 §5.2 error body.
// Description is safe to show to the client: it never holds a token.
type OAuthError struct {
	Code        string
	Description string
}

// Error implements error.
func (e *OAuthError) Error() string { return e.Code + ": " + e.Description }

// RedirectError is an authorization-request error that is reported to the
// client by redirecting to its (already verified) redirect URI, per RFC
// 6749 §4.1.2.1.
type RedirectError struct {
	RedirectURI string
	State       string
	Code        string
	Description string
}

// Error implements error.
func (e *RedirectError) Error() string { return e.Code + ": " + e.Description }

// Sign-in failures that cannot be reported to the client, because there is
// no verified place to send the person back to, or the flow can no longer
// be used. Callers branch on them with errors.Is; web shows each as an
// error page with its own status and wording.
var (
	ErrUnknownClient    = errors.New("unknown client")
	ErrRedirectMismatch = errors.New("redirect URI is not registered for the client")
	ErrUnknownProvider  = errors.New("unknown provider")
	ErrInvalidState     = errors.New("state is missing or altered")
	ErrUnboundFlow      = errors.New("sign-in was started in another browser")
	ErrFlowExpired      = errors.New("sign-in expired")
	ErrFlowUsed         = errors.New("sign-in was already used")
)

// PageError is a sign-in failure to show the person rather than send to
// the client. Kind is one of the sentinel errors above; the other fields
// fill in the page's wording.
type PageError struct {
	Kind error
	// ClientName names the application, for ErrRedirectMismatch.
	ClientName string
	// Provider names the provider, for ErrUnknownProvider.
	Provider string
	// Err is the internal cause, for the log only.
	Err error
}

// Error implements error.
func (e *PageError) Error() string {
	kind := "sign-in failed"
	if e.Kind != nil {
		kind = e.Kind.Error()
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", kind, e.Err)
	}
	return kind
}

// Unwrap returns the kind and the internal cause, so that errors.Is
// matches either.
func (e *PageError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Kind, e.Err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func invalidGrant(desc string) error {
	return &OAuthError{Code: ErrCodeInvalidGrant, Description: desc}
}

func invalidRequest(desc string) error {
	return &OAuthError{Code: ErrCodeInvalidRequest, Description: desc}
}
