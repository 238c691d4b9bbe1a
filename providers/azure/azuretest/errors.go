package azuretest

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strconv"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// entraError is an error of the token, discovery or keys endpoint, or
// one the authorization endpoint sends back to the redirect URI.
type entraError struct {
	status      int
	code        string // RFC 6749 error code
	aadsts      int    // Entra's AADSTS number
	description string // Entra's text, without the "AADSTS<n>: " prefix
}

// entraErrorBody is Entra's JSON error body.
type entraErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
}

// guidPattern matches a GUID.
var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// correlationID is the client-request-id the client sent, which Entra
// echoes, or a new one.
func correlationID(r *http.Request) string {
	if id := r.Header.Get("client-request-id"); guidPattern.MatchString(id) {
		return id
	}
	return randomGUID()
}

// body renders e as Entra does, with the trace and correlation ids and
// the timestamp repeated at the end of the description.
func (s *Server) errorBody(r *http.Request, e *entraError) entraErrorBody {
	ts := s.now().UTC().Format("2006-01-02 15:04:05Z")
	trace, corr := randomGUID(), correlationID(r)
	return entraErrorBody{
		Error: e.code,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			e.aadsts, e.description, trace, corr, ts),
		ErrorCodes:    []int{e.aadsts},
		Timestamp:     ts,
		TraceID:       trace,
		CorrelationID: corr,
		ErrorURI:      s.URL() + "/error?code=" + strconv.Itoa(e.aadsts),
	}
}

// writeEntraError answers with e as Entra's JSON error body.
func (s *Server) writeEntraError(w http.ResponseWriter, r *http.Request, e *entraError) {
	w.Header().Set("Cache-Control", "no-store, no-cache")
	writeJSON(w, e.status, s.errorBody(r, e))
}

// unknownTenant is Entra's answer for a {tenant} segment that names no
// tenant.
func unknownTenant(raw string) *entraError {
	return &entraError{status: http.StatusBadRequest, code: "invalid_tenant", aadsts: 90002, description: fmt.Sprintf(
		"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", raw)}
}

func badRequest(aadsts int, description string) *entraError {
	return &entraError{status: http.StatusBadRequest, code: "invalid_request", aadsts: aadsts, description: description}
}

func missingParameter(name string) *entraError {
	return badRequest(900144, fmt.Sprintf("The request body must contain the following parameter: '%s'.", name))
}

func invalidGrant(aadsts int, description string) *entraError {
	return &entraError{status: http.StatusBadRequest, code: "invalid_grant", aadsts: aadsts, description: description}
}

// malformedGrant is what Entra answers for a code or refresh token it
// cannot read at all (unknown, or issued to another app).
var malformedGrant = invalidGrant(9002313, "Invalid request. Request is malformed or invalid.")

// pageError is an error the authorization endpoint shows in its own page
// rather than sending to the app: the app or its redirect URI cannot be
// trusted, or the account cannot sign in here.
type pageError struct {
	aadsts  int // 0 when the message has no AADSTS number
	message string
}

// writePage answers with Entra's sign-in error page. Entra renders these
// in its UI with status 200; the fake answers 400 so that a test sees at
// once that nothing was sent back to the app.
func writePage(w http.ResponseWriter, e *pageError) {
	msg := e.message
	if e.aadsts != 0 {
		msg = fmt.Sprintf("AADSTS%d: %s", e.aadsts, e.message)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = fmt.Fprintf(w, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to your account</title></head>
<body><h1>Sign in</h1>
<p>Sorry, but we're having trouble signing you in.</p>
<p id="error">%s</p>
</body></html>
`, html.EscapeString(msg))
}

// writeJSON writes v as the JSON body of a response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	fake.WriteJSON(w, status, "application/json; charset=utf-8", v)
}
