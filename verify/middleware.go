package verify

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// Option changes what the middleware checks.
type Option func(*options)

type options struct {
	introspect bool
}

// WithIntrospection makes the middleware call Introspect instead of
// Verify: one request to socialbridge per request, for sensitive routes.
func WithIntrospection() Option { return func(o *options) { o.introspect = true } }

// Middleware verifies the bearer token of every request and passes the
// request on with the claims in its context (ClaimsFrom). A request
// without a valid token gets 401, or 503 while revocations cannot be
// checked (see WriteError); next does not run.
func (v *Verifier) Middleware(next http.Handler) http.Handler { return v.MiddlewareWith()(next) }

// MiddlewareWith returns Middleware with options:
//
//	mux.Handle("DELETE /account", v.MiddlewareWith(verify.WithIntrospection())(deleteAccount))
func (v *Verifier) MiddlewareWith(opts ...Option) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := v.Authenticate(r, opts...)
			if err != nil {
				WriteError(w, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(ContextWithClaims(r.Context(), c)))
		})
	}
}

// Authenticate verifies the request's bearer token, as the middleware
// does, for frameworks that need their own adapter (ginverify is one).
// The token is read from the Authorization header only: never from the
// query or a cookie (RFC 6750 §5.3, RFC 9700 §4.3.2: URLs end up in logs,
// and cookies come with cross-site requests).
func (v *Verifier) Authenticate(r *http.Request, opts ...Option) (*Claims, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	token, err := bearerToken(r)
	if err != nil {
		return nil, err
	}
	var c *Claims
	if o.introspect {
		c, err = v.Introspect(r.Context(), token)
	} else {
		c, err = v.Verify(r.Context(), token)
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			v.logDebug(r.Context(), "bearer token refused", slog.String("reason", string(e.Reason)), slog.Any("err", e.Err))
		}
		return nil, err
	}
	return c, nil
}

// bearerToken reads the token of an Authorization: Bearer header (RFC
// 6750 §2.1). A request without one, or with another scheme, has no
// token; two headers or a token with spaces are malformed.
func bearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch len(values) {
	case 0:
		return "", fail(MissingToken, nil)
	case 1:
	default:
		return "", fail(Malformed, errors.New("more than one Authorization header"))
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", fail(MissingToken, errors.New("the Authorization scheme is not Bearer"))
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", fail(Malformed, errors.New("the Authorization header does not hold one bearer token"))
	}
	return token, nil
}

type claimsKey struct{}

// ContextWithClaims returns ctx carrying c, as the middleware passes it on.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFrom returns the claims the middleware verified for this request.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// RequireScope returns middleware that passes a request on only if its
// token grants every one of scopes, and otherwise answers 403
// insufficient_scope. It goes after Middleware, which provides the claims.
func RequireScope(scopes ...string) func(http.Handler) http.Handler {
	return require(func(c *Claims) error { return c.CheckScope(scopes...) })
}

// RequireRole returns middleware that passes a request on only if its
// user has every one of roles, and otherwise answers 403
// insufficient_scope. It goes after Middleware, which provides the claims.
func RequireRole(roles ...string) func(http.Handler) http.Handler {
	return require(func(c *Claims) error { return c.CheckRole(roles...) })
}

func require(check func(*Claims) error) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := ClaimsFrom(r.Context())
			if !ok {
				WriteError(w, errNoMiddleware)
				return
			}
			if err := check(c); err != nil {
				WriteError(w, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// errNoMiddleware is a wiring mistake: a requirement without the
// middleware in front of it. It answers 500, never letting the request
// through.
var errNoMiddleware = errors.New("verify: RequireScope or RequireRole used without the middleware in front of it")

// WriteError answers a request refused with err, an error of this package,
// per RFC 6750 §3, with a JSON body {"error", "error_description"} and
// Cache-Control: no-store:
//
//   - MissingToken: 401 with WWW-Authenticate: Bearer (no error code, as
//     RFC 6750 §3.1 asks when the request has no credentials);
//   - InsufficientScope: 403 with Bearer error="insufficient_scope" and,
//     for scopes, scope="...";
//   - RevocationUnavailable: 503 with Retry-After (the token may be fine;
//     this API cannot tell right now);
//   - every other reason: 401 with Bearer error="invalid_token" and
//     error_description in plain words.
//
// Any other error is this program's fault: 500, with nothing of the error
// in the response.
func WriteError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		writeJSONError(w, http.StatusInternalServerError, "server_error", "internal error")
		return
	}
	h := w.Header()
	desc := headerSafe(e.Description())
	switch e.Reason {
	case MissingToken:
		h.Set("WWW-Authenticate", "Bearer")
		writeJSONError(w, http.StatusUnauthorized, "invalid_token", desc)
	case InsufficientScope:
		v := `Bearer error="insufficient_scope", error_description="` + desc + `"`
		if e.scope != "" {
			v += `, scope="` + headerSafe(e.scope) + `"`
		}
		h.Set("WWW-Authenticate", v)
		writeJSONError(w, http.StatusForbidden, "insufficient_scope", desc)
	case RevocationUnavailable:
		h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(e.retryAfter.Seconds())))))
		writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", desc)
	default:
		h.Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+desc+`"`)
		writeJSONError(w, http.StatusUnauthorized, "invalid_token", desc)
	}
}

func writeJSONError(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, desc})
}

// headerSafe keeps the characters RFC 6750 §3 allows in error_description
// and scope (printable ASCII except " and \).
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
