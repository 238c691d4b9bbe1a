// Package fake holds what the fake providers of this module (googletest,
// oidctest, azuretest and facebooktest) do alike: the protocol rules they
// all follow (RFC 6749 client authentication and redirects, RFC 7636 PKCE,
// RFC 6750 Bearer tokens), JWT signing and JSON Web Keys, and the
// bookkeeping behind their request counters. Each fake keeps what makes it
// its provider: error bodies, status codes, pages and token shapes.
//
// It is internal to providers, so only the fakes use it, and it depends
// only on the standard library and jwt/v5, so every fake stays importable
// from any package of this module.
package fake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// RandomString returns n random bytes, base64url-encoded without padding:
// unguessable codes, tokens and ids.
func RandomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// CloneValues returns a deep copy of v (nil for nil), so that what a fake
// records of a request cannot change under a test, nor the other way.
func CloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// RepeatedParam returns the name of a parameter that v holds more than
// once, which RFC 6749 §3.1 and §3.2 forbid, and whether there is one.
func RepeatedParam(v url.Values) (string, bool) {
	for k, vs := range v {
		if len(vs) > 1 {
			return k, true
		}
	}
	return "", false
}

// SetNonEmptyParam sets parameter k of q to v unless v is empty: optional
// parameters such as state are left out rather than sent empty.
func SetNonEmptyParam(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// SetNonEmpty sets m[k] to v unless v is empty: optional claims and fields
// are left out rather than sent empty.
func SetNonEmpty(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// Lookup returns the first of items whose id, as idOf tells, is id, and
// whether there is one: a fake's registered client or app by its id.
func Lookup[T any](items []T, id string, idOf func(T) string) (T, bool) {
	for _, it := range items {
		if idOf(it) == id {
			return it, true
		}
	}
	var zero T
	return zero, false
}

// WriteJSON answers status with v as its JSON body, sent as contentType:
// the fakes differ in the parameters of their application/json.
func WriteJSON(w http.ResponseWriter, status int, contentType string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// Redirect sends a 302 to target with its query replaced by q, and
// Cache-Control: no-store unless the caller has set a Cache-Control of its
// own. The Location is set as is: http.Redirect would rewrite a
// relative-looking URI such as a native app's com.example.app:/callback.
func Redirect(w http.ResponseWriter, target *url.URL, q url.Values) {
	u := *target
	u.RawQuery = q.Encode()
	w.Header().Set("Location", u.String())
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(http.StatusFound)
}

// ValidRedirectURI accepts any absolute URI without a fragment (RFC 6749
// §3.1.2); http and https ones need a host. Custom schemes of native apps
// (com.example.app:/callback) pass.
func ValidRedirectURI(u *url.URL) bool {
	if !u.IsAbs() || u.Fragment != "" || u.RawFragment != "" {
		return false
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		return u.Host != ""
	}
	return u.Opaque != "" || u.Path != ""
}

// BearerToken returns the access token of r's "Authorization: Bearer"
// header (RFC 6750 §2.1; the scheme is case-insensitive), and false when r
// carries none.
func BearerToken(r *http.Request) (string, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}
