package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
)

// requestIDKey is the context key of the request id.
type requestIDKey struct{}

// RequestID returns the request id stored in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestID gives every request an id, returned in X-Request-Id and put on
// the context so that every log line of the request carries it. An
// incoming id is not trusted: it could forge or flood log correlation.
func (s *Server) requestID(c *gin.Context) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	c.Header("X-Request-Id", id)
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), requestIDKey{}, id))
	c.Next()
}

// logRequests logs one line per request. Only the path is logged: query
// strings carry codes and states, and no header, cookie or body is logged.
func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	level := slog.LevelInfo
	switch {
	case status == http.StatusServiceUnavailable:
		level = slog.LevelWarn // the database is away; said once, as a warning, by apiError
	case status >= 500:
		level = slog.LevelError
	}
	s.o.Logger.Log(c.Request.Context(), level, "request",
		"request_id", RequestID(c.Request.Context()),
		"method", c.Request.Method, "path", c.Request.URL.Path, "status", status,
		"duration_ms", float64(time.Since(start).Microseconds())/1000, "ip", c.ClientIP())
}

// Recorder receives measurements of the HTTP layer (package metrics
// implements it).
type Recorder interface {
	// Request records a finished request: route is the matched route
	// pattern (Gin's FullPath, "/sessions/:id"), or UnmatchedRoute, so
	// that a client cannot mint new series by requesting new paths.
	Request(route, method string, status int, d time.Duration)
	// RateLimited records a request refused by the per-IP rate limit.
	RateLimited()
}

// UnmatchedRoute is the route of a request no route matched (404, 405).
const UnmatchedRoute = "unmatched"

// measure times every request for Options.Metrics. It runs outside
// recoverPanics, so that a panic's 500 is measured too.
func (s *Server) measure(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = UnmatchedRoute
	}
	s.o.Metrics.Request(route, c.Request.Method, c.Writer.Status(), time.Since(start))
}

// recoverPanics turns a panic into a 500 with a generic body. The panic
// value is not logged, only its type and the stack: a value could hold a
// token.
func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			s.o.Logger.ErrorContext(c.Request.Context(), "panic in handler",
				"request_id", RequestID(c.Request.Context()), "type", fmt.Sprintf("%T", v), "stack", string(debug.Stack()))
			if !c.Writer.Written() {
				writeOAuthError(c, http.StatusInternalServerError, "server_error", "internal error")
			}
			c.Abort()
		}
	}()
	c.Next()
}

// securityHeaders applies to every response. Pages get their own
// Content-Security-Policy; API responses forbid everything. When the
// public URL is https, browsers are told to use nothing else for a year,
// subdomains included (RFC 6797); over plain http the header would be
// ignored, and dev mode on localhost must not pin other local services.
func (s *Server) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	if s.secure {
		// Not includeSubDomains: the public URL may sit on a parent
		// domain whose other subdomains are not ours to pin to https.
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	// The address bar can hold a one-time code: never leak it in Referer.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	c.Next()
}

// pageCSP is the Content-Security-Policy of HTML pages: scripts and styles
// only from our own files, no inline code.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// limitBody caps request bodies. The authorization endpoint, which
// browsers reach, answers with an HTML page like its other errors; the
// API endpoints with an RFC 6749 error body.
func (s *Server) limitBody(c *gin.Context) {
	if c.Request.ContentLength > s.o.MaxBodyBytes {
		if c.FullPath() == "/authorize" {
			s.errorPage(c, &page{Status: http.StatusRequestEntityTooLarge, Title: "Request too large",
				Message: "The sign-in request is too long."})
		} else {
			writeOAuthError(c, http.StatusRequestEntityTooLarge, "invalid_request",
				fmt.Sprintf("request body is larger than %d bytes", s.o.MaxBodyBytes))
		}
		c.Abort()
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.o.MaxBodyBytes)
	c.Next()
}

// cors allows the registered clients' origins to call the API endpoints
// from browsers. Discovery and the JWKS are public data for any origin.
func (s *Server) cors(c *gin.Context) {
	h := c.Writer.Header()
	// Always vary and, for public metadata, always allow: a shared cache
	// must not serve a response made for one origin to another.
	h.Add("Vary", "Origin")
	switch c.Request.URL.Path {
	case "/.well-known/jwks.json", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server":
		h.Set("Access-Control-Allow-Origin", "*")
	default:
		if origin := c.GetHeader("Origin"); origin != "" && slices.Contains(s.o.Bridge.CORSOrigins(), origin) {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, X-Request-Id")
			if slices.Contains(s.o.Bridge.CookieOrigins(), origin) {
				// A cookie-mode app's requests carry its refresh cookie.
				h.Set("Access-Control-Allow-Credentials", "true")
			}
		}
	}
	c.Next()
}

// preflight answers CORS preflight requests.
func (s *Server) preflight(c *gin.Context) {
	if c.Writer.Header().Get("Access-Control-Allow-Origin") == "" {
		c.Status(http.StatusForbidden)
		return
	}
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, "+CSRFHeader)
	h.Set("Access-Control-Max-Age", "600")
	c.Status(http.StatusNoContent)
}
