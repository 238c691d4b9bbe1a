package facebook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/socialbridge/socialbridge/providers"
)

// maxResponseBytes bounds what is read of any Graph response.
const maxResponseBytes = 1 << 20

// maxMessageRunes bounds how much of Facebook's error message is kept.
const maxMessageRunes = 200

// GraphError is an error the Graph API reported: the fields of its
// {"error": {...}} body (developers.facebook.com/docs/graph-api/guides/error-handling)
// and the HTTP status. It is the Err of the *providers.Error an adapter
// call returns, for logs; Message is Facebook's, cleaned of control
// characters, anything that looks like a token, and shortened.
type GraphError struct {
	// Status is the HTTP status; 0 for an error debug_token reported
	// about the inspected token.
	Status int
	// Message, Type, Code, Subcode, TraceID and Transient are the error's
	// message, type, code, error_subcode, fbtrace_id and is_transient.
	Message   string
	Type      string
	Code      int
	Subcode   int
	TraceID   string
	Transient bool
}

// Error implements error.
func (e *GraphError) Error() string {
	var b strings.Builder
	b.WriteString("Graph API error")
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " code %d", e.Code)
		if e.Subcode != 0 {
			fmt.Fprintf(&b, "/%d", e.Subcode)
		}
	}
	if e.Type != "" {
		fmt.Fprintf(&b, " %s", e.Type)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.TraceID != "" {
		fmt.Fprintf(&b, " (fbtrace_id %s)", e.TraceID)
	}
	return b.String()
}

// graphErrorBody is the JSON shape of a Graph error.
type graphErrorBody struct {
	Error *struct {
		Message     string `json:"message"`
		Type        string `json:"type"`
		Code        int    `json:"code"`
		Subcode     int    `json:"error_subcode"`
		TraceID     string `json:"fbtrace_id"`
		IsTransient bool   `json:"is_transient"`
	} `json:"error"`
}

// malformedError is a 200 answer that does not decode as expected.
type malformedError struct{ err error }

func (e *malformedError) Error() string { return "malformed answer: " + e.err.Error() }
func (e *malformedError) Unwrap() error { return e.err }

// transportError is a call that got no usable answer: Facebook
// unreachable, a time-out, or an oversized response.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// graph sends one Graph API request to path below the version: GET with
// params in the query, or POST with them as a form. A non-empty token
// authenticates the call (Authorization: Bearer, so that it is not in the
// URL) and is proven with appsecret_proof. A 200 answer is decoded into
// out; anything else becomes a *GraphError, *malformedError or
// *transportError, whose text never holds one of secrets, the token or the
// app secret.
func (p *Provider) graph(ctx context.Context, method, path string, params url.Values, token string, out any, secrets []string) error {
	secrets = append(slices.Clone(secrets), p.cfg.ClientSecret, token)
	target := p.graphURL + path
	query := url.Values{}
	var body io.Reader
	if method == http.MethodGet {
		query = params
	} else {
		body = strings.NewReader(params.Encode())
	}
	if token != "" {
		// Graph reads appsecret_proof from the query string only.
		query = cloneValues(query)
		query.Set("appsecret_proof", p.appSecretProof(token))
	}
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return &transportError{fmt.Errorf("build request for %s: %w", path, withoutURL(err))}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return &transportError{fmt.Errorf("%s %s: %w", method, path, withoutURL(err))}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return &transportError{fmt.Errorf("read %s answer: %w", path, err)}
	}
	if len(raw) > maxResponseBytes {
		return &transportError{fmt.Errorf("%s answer exceeds %d bytes", path, maxResponseBytes)}
	}
	if resp.StatusCode != http.StatusOK {
		return graphError(resp.StatusCode, raw, secrets)
	}
	if err := decodeJSON(raw, out); err != nil {
		return &malformedError{fmt.Errorf("%s: %w", path, err)}
	}
	return nil
}

// withoutURL returns the cause of a *url.Error, which quotes the URL, whose
// query may hold the inspected token or the proof.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// graphError reads a Graph error body. A body that is not one (an HTML
// page of a proxy, say) gives a GraphError with just the status.
func graphError(status int, raw []byte, secrets []string) *GraphError {
	ge := &GraphError{Status: status}
	var b graphErrorBody
	if err := json.Unmarshal(raw, &b); err != nil || b.Error == nil {
		return ge
	}
	e := b.Error
	ge.Message = clean(e.Message, secrets...)
	ge.Type = clean(e.Type)
	ge.Code, ge.Subcode = e.Code, e.Subcode
	ge.TraceID = clean(e.TraceID)
	ge.Transient = e.IsTransient
	return ge
}

// decodeJSON decodes exactly one JSON value into out: mistyped fields and
// trailing data are errors.
func decodeJSON(raw []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(out); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// What a Graph call was for, which decides what its failure means.
const (
	opExchange   = "code exchange"
	opProfile    = "profile read"
	opDebugToken = "token check (debug_token)"
)

// transientCodes are Graph error codes that mean "try again later": unknown
// error, service unavailable, and the rate limits
// (developers.facebook.com/docs/graph-api/overview/rate-limiting).
var transientCodes = []int{1, 2, 4, 17, 32, 341, 613, 80001, 80004}

// classify turns a failed Graph call into a *providers.Error.
func (p *Provider) classify(op string, err error) error {
	var (
		ge *GraphError
		me *malformedError
	)
	switch {
	case errors.As(err, &ge):
		return p.graphFailure(op, ge)
	case errors.As(err, &me):
		return p.newError(providers.CodeInvalidToken, fmt.Sprintf("Facebook's %s answer is malformed", op), err)
	default:
		return p.newError(providers.CodeUnavailable, fmt.Sprintf("no usable answer from Facebook to the %s (unreachable, timed out or oversized)", op), err)
	}
}

// graphFailure classifies a Graph error. Socialbridge's own credentials
// being refused is the operator's to fix; the person can only try later,
// so it is CodeUnavailable with a message that names the setting.
func (p *Provider) graphFailure(op string, ge *GraphError) error {
	msg := strings.ToLower(ge.Message)
	key := "providers." + p.cfg.Name
	switch {
	case ge.Code == 101:
		return p.newError(providers.CodeUnavailable, fmt.Sprintf(
			"Facebook does not accept socialbridge's App ID (check %s.client_id: the App ID in Meta for Developers → App settings → Basic)", key), ge)
	case strings.Contains(msg, "client secret") || strings.Contains(msg, "client_secret") ||
		strings.Contains(msg, "appsecret_proof") || strings.Contains(msg, "app secret"):
		return p.newError(providers.CodeUnavailable, fmt.Sprintf(
			"Facebook refused socialbridge's app secret (check %s.client_secret: the App secret in Meta for Developers → App settings → Basic)", key), ge)
	case ge.Status >= 500 || ge.Status == http.StatusTooManyRequests || ge.Transient || slices.Contains(transientCodes, ge.Code):
		return p.newError(providers.CodeUnavailable, fmt.Sprintf("Facebook could not complete the %s; try again later", op), ge)
	case ge.Type == "" && ge.Code == 0:
		// Not a Graph answer at all: a proxy, or graph_url is wrong.
		return p.newError(providers.CodeUnavailable, fmt.Sprintf(
			"the Graph API answered the %s with HTTP %d and no Graph error (check %s.graph_url)", op, ge.Status, key), ge)
	case op == opDebugToken:
		// debug_token reports a bad input token inside its data; an error
		// here is about the app token socialbridge sent.
		return p.newError(providers.CodeUnavailable, fmt.Sprintf(
			"Facebook refused socialbridge's app credentials for debug_token (check %s.client_id and %s.client_secret)", key, key), ge)
	case op == opExchange:
		return p.newError(providers.CodeInvalidGrant,
			"Facebook refused the authorization code (expired, used already, or issued for another redirect URI or PKCE challenge)", ge)
	case ge.Code == 190 && ge.Subcode == 463:
		return p.newError(providers.CodeInvalidToken, "the Facebook access token has expired", ge)
	default:
		return p.newError(providers.CodeInvalidToken, "Facebook refused the access token", ge)
	}
}

// clean makes text from Facebook fit for an error message: each of
// secrets and every long token-like word is replaced by "[redacted]"
// (Graph quotes a malformed access token back), control characters become
// spaces, runs of spaces collapse, and the result is cut to
// maxMessageRunes.
func clean(s string, secrets ...string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return ' '
		}
		return r
	}, s)
	words := strings.Fields(s)
	for i, w := range words {
		if looksLikeToken(w) {
			words[i] = "[redacted]"
		}
	}
	s = strings.Join(words, " ")
	if utf8.RuneCountInString(s) > maxMessageRunes {
		s = string([]rune(s)[:maxMessageRunes]) + "…"
	}
	return s
}

// looksLikeToken reports whether w (stripped of punctuation around it) is
// a long run of the characters tokens, codes and proofs are made of.
func looksLikeToken(w string) bool {
	w = strings.Trim(w, `.,;:()[]{}"'`)
	if len(w) < 32 {
		return false
	}
	for _, c := range []byte(w) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '|', c == '.', c == '~', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return true
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+1)
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
