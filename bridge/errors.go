package bridge

import "fmt"

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

// PageError is a sign-in failure shown to the person on an error page,
// because there is no verified place to send them back to (unknown client,
// redirect URI mismatch, expired or replayed login).
type PageError struct {
	Status  int
	Title   string
	Message string
	// Err is the internal cause, for the log only.
	Err error
}

// Error implements error.
func (e *PageError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Title, e.Err)
	}
	return e.Title
}

// Unwrap returns the internal cause.
func (e *PageError) Unwrap() error { return e.Err }

func invalidGrant(desc string) error {
	return &OAuthError{Code: ErrCodeInvalidGrant, Description: desc}
}

func invalidRequest(desc string) error {
	return &OAuthError{Code: ErrCodeInvalidRequest, Description: desc}
}
