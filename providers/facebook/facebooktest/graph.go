package facebooktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/providers/internal/fake"
)

// graphErr is a Graph API error.
type graphErr struct {
	message string
	typ     string
	code    int
	subcode int
}

// Graph's answers to bad calls.
var (
	errNoUserToken = graphErr{
		message: "An active access token must be used to query information about the current user.",
		typ:     "OAuthException", code: 2500,
	}
	errTokenUnparsable = graphErr{message: "Invalid OAuth access token - Cannot parse access token", typ: "OAuthException", code: 190}
	errProofMissing    = graphErr{message: "API calls from the server require an appsecret_proof argument", typ: "GraphMethodException", code: 100}
	errProofInvalid    = graphErr{message: "Invalid appsecret_proof provided in the API argument", typ: "GraphMethodException", code: 100}
	errNoToken         = graphErr{message: "An access token is required to request this resource.", typ: "OAuthException", code: 104}
	errAppTokenInvalid = graphErr{message: "Invalid OAuth access token signature.", typ: "OAuthException", code: 190}
	errNeedAppToken    = graphErr{
		message: "(#100) You must provide an app access token, or a user access token that is an owner or developer of the app",
		typ:     "OAuthException", code: 100,
	}
	errNoInputToken = graphErr{message: "(#100) The parameter input_token is required", typ: "OAuthException", code: 100}
)

// userFields are the User node fields /me serves.
var userFields = []string{"id", "name", "first_name", "last_name", "email", "picture", "permissions"}

// handleMe is Graph's /me. Like an app with "Require App Secret" on, it
// refuses a call without a correct appsecret_proof. Without fields it
// returns id and name; email comes only with the email permission granted
// and an address on the account.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, _ string) {
	token := accessToken(r)
	if token == "" || strings.Contains(token, "|") {
		writeGraphError(w, http.StatusBadRequest, errNoUserToken)
		return
	}
	now := s.now()
	s.mu.Lock()
	tok, ok := s.tokens[token]
	var ut userToken
	var a app
	if ok {
		ut = *tok
		a, _ = s.app(tok.appID)
	}
	s.mu.Unlock()
	switch proof := r.URL.Query().Get("appsecret_proof"); {
	case !ok:
		writeGraphError(w, http.StatusBadRequest, unknownToken(token))
		return
	case proof == "":
		writeGraphError(w, http.StatusBadRequest, errProofMissing)
		return
	case proof != AppSecretProof(a.secret, token):
		writeGraphError(w, http.StatusBadRequest, errProofInvalid)
		return
	case !now.Before(ut.expiry):
		writeGraphError(w, http.StatusBadRequest, expired(ut.expiry, now))
		return
	}

	fields := []string{"id", "name"}
	if raw := r.Form.Get("fields"); raw != "" {
		fields = nil
		for _, f := range strings.Split(raw, ",") {
			// Field modifiers (picture.type(large)) are accepted and ignored.
			name, _, _ := strings.Cut(strings.TrimSpace(f), ".")
			name, _, _ = strings.Cut(name, "{")
			if !slices.Contains(userFields, name) {
				writeGraphError(w, http.StatusBadRequest, graphErr{
					message: fmt.Sprintf("(#100) Tried accessing nonexisting field (%s) on node type (User)", name),
					typ:     "OAuthException", code: 100,
				})
				return
			}
			fields = append(fields, name)
		}
	}
	u := ut.user
	out := map[string]any{"id": u.ID}
	for _, f := range fields {
		switch f {
		case "name":
			fake.SetNonEmpty(out, f, u.Name)
		case "first_name":
			fake.SetNonEmpty(out, f, u.FirstName)
		case "last_name":
			fake.SetNonEmpty(out, f, u.LastName)
		case "email":
			if slices.Contains(ut.granted, "email") {
				fake.SetNonEmpty(out, f, u.Email)
			}
		case "picture":
			pic := map[string]any{"height": 50, "width": 50, "is_silhouette": u.Picture == "", "url": u.Picture}
			if u.Picture == "" {
				pic["url"] = silhouetteURL
			}
			out[f] = map[string]any{"data": pic}
		case "permissions":
			var perms []map[string]string
			for _, p := range ut.granted {
				perms = append(perms, map[string]string{"permission": p, "status": "granted"})
			}
			for _, p := range ut.declined {
				perms = append(perms, map[string]string{"permission": p, "status": "declined"})
			}
			out[f] = map[string]any{"data": perms}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleDebugToken is Graph's debug_token, called with an app access
// token ("app_id|app_secret"). It inspects tokens of any app: the caller
// must check app_id. What is wrong with the input token is reported inside
// data, with status 200.
func (s *Server) handleDebugToken(w http.ResponseWriter, r *http.Request, _ string) {
	token := accessToken(r)
	if token == "" {
		writeGraphError(w, http.StatusBadRequest, errNoToken)
		return
	}
	now := s.now()
	s.mu.Lock()
	a, isApp := s.appToken(token)
	_, isUser := s.tokens[token]
	s.mu.Unlock()
	switch proof := r.URL.Query().Get("appsecret_proof"); {
	case isUser:
		writeGraphError(w, http.StatusBadRequest, errNeedAppToken)
		return
	case !isApp:
		writeGraphError(w, http.StatusBadRequest, errAppTokenInvalid)
		return
	case proof != "" && proof != AppSecretProof(a.secret, token):
		writeGraphError(w, http.StatusBadRequest, errProofInvalid)
		return
	}
	input := r.Form.Get("input_token")
	if input == "" {
		writeGraphError(w, http.StatusBadRequest, errNoInputToken)
		return
	}

	s.mu.Lock()
	tok, known := s.tokens[input]
	var ut userToken
	var owner app
	if known {
		ut = *tok
		owner, _ = s.app(tok.appID)
	}
	mutate := s.nextDebug
	if known {
		s.nextDebug = nil
	}
	s.mu.Unlock()

	if !known {
		e := unknownToken(input)
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
			"error":    map[string]any{"code": e.code, "message": e.message},
			"is_valid": false,
			"scopes":   []string{},
		}})
		return
	}
	granular := []map[string]any{}
	for _, sc := range ut.granted {
		if sc != "public_profile" {
			granular = append(granular, map[string]any{"scope": sc})
		}
	}
	data := map[string]any{
		"app_id":                 owner.id,
		"type":                   "USER",
		"application":            owner.name,
		"data_access_expires_at": ut.issuedAt.Add(dataAccessTTL).Unix(),
		"expires_at":             ut.expiry.Unix(),
		"is_valid":               now.Before(ut.expiry),
		"issued_at":              ut.issuedAt.Unix(),
		"scopes":                 slices.Clone(ut.granted),
		"granular_scopes":        granular,
		"user_id":                ut.user.ID,
	}
	if !now.Before(ut.expiry) {
		e := expired(ut.expiry, now)
		data["error"] = map[string]any{"code": e.code, "message": e.message, "subcode": e.subcode}
	}
	if mutate != nil {
		mutate(data)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}

// unknownToken is Graph's error for a token it did not issue. Graph quotes
// a token that is not even shaped like one back in its message.
func unknownToken(token string) graphErr {
	if !strings.HasPrefix(token, "EAA") {
		return graphErr{message: "Malformed access token " + token, typ: "OAuthException", code: 190}
	}
	return errTokenUnparsable
}

// pacific is the zone of Graph's expiry messages.
var pacific = time.FixedZone("PDT", -7*3600)

// expired is Graph's error for an expired user access token.
func expired(expiry, now time.Time) graphErr {
	const layout = "Monday, 02-Jan-06 15:04:05 MST"
	return graphErr{
		message: fmt.Sprintf("Error validating access token: Session has expired on %s. The current time is %s.",
			expiry.In(pacific).Format(layout), now.In(pacific).Format(layout)),
		typ: "OAuthException", code: 190, subcode: 463,
	}
}

// writeGraphError answers with Graph's error shape and headers.
func writeGraphError(w http.ResponseWriter, status int, e graphErr) {
	body := map[string]any{"message": e.message, "type": e.typ, "code": e.code, "fbtrace_id": randomAlnum(11)}
	if e.subcode != 0 {
		body["error_subcode"] = e.subcode
	}
	reason := "invalid_request"
	if e.code == 190 {
		reason = "invalid_token"
	}
	w.Header().Set("WWW-Authenticate", `OAuth "Facebook Platform" "`+reason+`" "`+strings.ReplaceAll(e.message, `"`, `'`)+`"`)
	writeJSON(w, status, map[string]any{"error": body})
}

// writeJSON answers with v as JSON and Graph's usual headers.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-FB-Trace-ID", randomAlnum(11))
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "private, no-cache, no-store, must-revalidate")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
