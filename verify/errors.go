package verify

import (
	"strings"
	"time"
)

// Reason says why a request was refused. Reasons are errors themselves, so
// errors.Is(err, verify.Expired) tests the reason of an error returned by
// this package.
type Reason string

// The reasons. Every one but RevocationUnavailable and InsufficientScope
// means the client sent a token this API must not accept (HTTP 401).
const (
	// MissingToken: the request has no Authorization: Bearer header.
	MissingToken Reason = "missing_token"
	// Malformed: not a compact JWS of at most MaxTokenBytes; its header
	// or claims are not JSON objects; the header has no kid or carries a
	// parameter that is never trusted (jwk, jku, x5u, x5c, crit); or a
	// protocol claim is repeated or of the wrong JSON type.
	Malformed Reason = "malformed"
	// WrongType: the typ header is not at+jwt (RFC 9068 §2.1): an ID
	// token or another kind of JWT sent as an access token.
	WrongType Reason = "wrong_type"
	// UnknownKey: no published key has the token's kid, even after
	// fetching the JWKS again.
	UnknownKey Reason = "unknown_key"
	// BadSignature: the signature does not verify, or alg is not the
	// key's algorithm or not in Config.Algorithms ("none" and HS256 never
	// are).
	BadSignature Reason = "bad_signature"
	// WrongIssuer: iss is not Config.Issuer.
	WrongIssuer Reason = "wrong_issuer"
	// WrongAudience: aud names none of Config.Audience.
	WrongAudience Reason = "wrong_audience"
	// Expired: exp is past, beyond Config.Leeway.
	Expired Reason = "expired"
	// NotYetValid: nbf, or iat, is in the future beyond Config.Leeway.
	NotYetValid Reason = "not_yet_valid"
	// MissingClaim: a required claim (exp, iat, sub, sid, client_id,
	// jti) is absent or empty.
	MissingClaim Reason = "missing_claim"
	// Revoked: the token's session was revoked or its user's tokens were
	// revoked after it was issued (the revocation feed), or introspection
	// says it is no longer active.
	Revoked Reason = "revoked"
	// RevocationUnavailable: the token is valid, but whether it was
	// revoked cannot be known: the revocation feed has not been read for
	// longer than Config.FeedMaxStale (and Config.FailOpen is false), or
	// introspection failed. HTTP 503 with Retry-After: the client may try
	// again.
	RevocationUnavailable Reason = "revocation_unavailable"
	// InsufficientScope: the token is valid but lacks a scope or role the
	// route requires (HTTP 403).
	InsufficientScope Reason = "insufficient_scope"
)

// Error implements error: errors.Is(err, verify.Revoked) holds when err is
// an *Error with that reason.
func (r Reason) Error() string { return "verify: " + r.describe() }

// describe says what the reason means in plain words, for error_description:
// nothing in it comes from the token or from socialbridge.
func (r Reason) describe() string {
	switch r {
	case MissingToken:
		return "no bearer token in the Authorization header"
	case Malformed:
		return "the token is not a well-formed access token"
	case WrongType:
		return "the token is not an access token (typ is not at+jwt)"
	case UnknownKey:
		return "the token is signed with an unknown key"
	case BadSignature:
		return "the token signature is invalid"
	case WrongIssuer:
		return "the token is from another issuer"
	case WrongAudience:
		return "the token is not meant for this API"
	case Expired:
		return "the token has expired"
	case NotYetValid:
		return "the token is not valid yet"
	case MissingClaim:
		return "the token lacks a required claim"
	case Revoked:
		return "the token has been revoked"
	case RevocationUnavailable:
		return "cannot check whether the token was revoked; try again shortly"
	case InsufficientScope:
		return "the token does not grant access to this resource"
	}
	return "the token was refused (" + string(r) + ")"
}

// Error is what Verify, Introspect and the middleware refuse a request
// with. Reason is what callers branch on; Err, when set, has the details
// for logs (it may name URLs and values that the client is not told).
type Error struct {
	Reason Reason
	Err    error

	// description overrides Reason's plain words (a missing claim's
	// name, the scopes a route requires); never anything secret.
	description string
	// scope is the required scope of an InsufficientScope error, for the
	// WWW-Authenticate scope attribute (RFC 6750 §3).
	scope string
	// retryAfter is how long a client should wait after a
	// RevocationUnavailable error.
	retryAfter time.Duration
}

// Error implements error.
func (e *Error) Error() string {
	s := "verify: " + e.Description()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the detail.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, reason) hold for the error's own Reason.
func (e *Error) Is(target error) bool {
	r, ok := target.(Reason)
	return ok && r == e.Reason
}

// Description is what the client is told in error_description: plain
// words that say what was wrong, never a token, key or internal detail.
func (e *Error) Description() string {
	if e.description != "" {
		return e.description
	}
	return e.Reason.describe()
}

func fail(r Reason, err error) *Error { return &Error{Reason: r, Err: err} }

func missingClaim(name string) *Error {
	return &Error{Reason: MissingClaim, description: "the token lacks the " + name + " claim"}
}

func insufficientScope(need []string) *Error {
	s := strings.Join(need, " ")
	return &Error{Reason: InsufficientScope, scope: s, description: "the token lacks a scope this resource requires: " + s}
}

func insufficientRole(need []string) *Error {
	return &Error{Reason: InsufficientScope, description: "the user lacks a role this resource requires: " + strings.Join(need, " ")}
}
