// Package web is socialbridge's HTTP layer (Gin): routes, thin handlers that
// parse input, call one bridge use case and render the result, middleware
// (request id, redacted logging, panic recovery, security headers, body
// limits, CORS), and the embedded pages and assets.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialbridge/socialbridge/bridge"
)

// Options configures the server.
type Options struct {
	Bridge *bridge.Bridge
	// PublicURL is the external base URL (no trailing slash).
	PublicURL string
	// MaxBodyBytes caps every request body.
	MaxBodyBytes int64
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed; none by
	// default.
	TrustedProxies []string
	// DemoClientID enables the demo page at /demo/ for this client; empty
	// disables it.
	DemoClientID string
	// DemoCookieClientID is the demo page's client in cookie mode (its
	// refresh token in an HttpOnly cookie); empty hides that mode.
	DemoCookieClientID string
	// AccountClientID enables the account page at /account/ for this
	// client (public, cookie mode, account management); empty disables
	// it.
	AccountClientID string
	// DevMode labels pages as dev mode.
	DevMode bool
	// FlowTTL is how long a login may take (the flow cookie's lifetime).
	FlowTTL time.Duration
	// Ping checks the database for /readyz.
	Ping func(context.Context) error
	// Mounts are extra handlers by path prefix (the dev provider's pages).
	Mounts map[string]http.Handler
	// RateLimit is requests per second per client IP on the endpoints
	// that reach the database (bursts of twice that); 0 or less: none.
	RateLimit int64
	Logger    *slog.Logger
	// Metrics receives request latencies and rate-limit rejections
	// (optional: nil records nothing). The metrics themselves are served
	// elsewhere, never by this handler.
	Metrics Recorder
}

// Server is the HTTP handler.
type Server struct {
	o       Options
	engine  *gin.Engine
	pages   *pages
	limiter *limiter // nil: no rate limit
	secure  bool     // public URL is https: Secure __Host- cookies, HSTS
}

// NewServer builds the routes.
func NewServer(o Options) (*Server, error) {
	if o.Bridge == nil {
		return nil, errors.New("web: bridge is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 64 << 10
	}
	pg, err := loadPages()
	if err != nil {
		return nil, err
	}
	// gin keeps its mode in package state; release mode only stops its
	// debug printing of routes, and every server here wants that.
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	if err := e.SetTrustedProxies(o.TrustedProxies); err != nil {
		return nil, fmt.Errorf("web: trusted proxies: %w", err)
	}
	s := &Server{o: o, engine: e, pages: pg, limiter: newLimiter(o.RateLimit, time.Now), secure: strings.HasPrefix(o.PublicURL, "https://")}
	e.Use(s.requestID, s.logRequests)
	if o.Metrics != nil {
		e.Use(s.measure)
	}
	e.Use(s.recoverPanics, s.securityHeaders, s.limitBody)
	s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

func (s *Server) routes() {
	e := s.engine
	api := e.Group("", s.cors)
	api.GET("/.well-known/openid-configuration", s.discovery)
	api.GET("/.well-known/oauth-authorization-server", s.discovery)
	api.GET("/.well-known/jwks.json", s.jwks)
	api.POST("/token", s.rateLimit, s.token)
	api.POST("/revoke", s.rateLimit, s.revoke)
	api.GET("/userinfo", s.rateLimit, s.userinfo)
	api.POST("/userinfo", s.rateLimit, s.userinfo)
	// The signed-in user's account: linked identities (Bearer token with
	// the account scope). A link begins at /account/links and completes
	// by creating the identity with the link code.
	api.GET("/account/identities", s.rateLimit, s.identities)
	api.POST("/account/links", s.rateLimit, s.beginLink)
	api.POST("/account/identities", s.rateLimit, s.completeLink)
	api.DELETE("/account/identities/:provider", s.rateLimit, s.unlink)
	// The signed-in user's sessions, and logging out.
	api.GET("/sessions", s.rateLimit, s.listSessions)
	api.DELETE("/sessions/:id", s.rateLimit, s.endSession)
	api.POST("/logout", s.rateLimit, s.logout)
	// Backends (client credentials): a user's provider access token,
	// token introspection and the revocation feed.
	e.POST("/provider-token", s.rateLimit, s.providerToken)
	// No per-IP limit on these two: a backend that introspects every
	// request it serves would exceed any sensible one. They reach the
	// database only after the client's secret (32+ characters) is
	// checked, which costs a hash.
	e.POST("/introspect", s.introspect)
	e.GET("/revocations", s.revocations)
	// OpenID Connect RP-initiated logout (a browser navigation).
	e.GET(endSessionPath, s.rateLimit, s.endSessionRP)
	e.POST(endSessionPath, s.rateLimit, s.endSessionRP)
	s.adminRoutes()
	for _, p := range []string{"/token", "/revoke", "/userinfo", "/account/identities", "/account/identities/:provider", "/account/links",
		"/sessions", "/sessions/:id", "/logout",
		"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/.well-known/jwks.json"} {
		api.OPTIONS(p, s.preflight)
	}

	e.GET("/authorize", s.rateLimit, s.authorize)
	e.POST("/authorize", s.rateLimit, s.authorize) // OpenID Connect Core §3.1.2.1
	// Providers return with a GET redirect. A POST (form_post) callback
	// would arrive cross-site without the SameSite=Lax flow cookie, so it
	// is not offered until a provider needs it.
	e.GET("/callback/:provider", s.rateLimit, s.callback)
	e.GET(linkStartPath, s.rateLimit, s.linkPage)
	e.POST(linkStartPath, s.rateLimit, s.startLink)

	e.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.ready)

	e.GET("/assets/*file", s.asset)
	e.GET("/", s.home)
	if s.o.DemoClientID != "" {
		e.GET("/demo/", s.demo)
		// The demo's address is /demo/ (its redirect URI); people type
		// /demo.
		// 302, not 301: browsers keep a permanent redirect even after the
		// demo page is turned off.
		e.GET("/demo", func(c *gin.Context) { c.Redirect(http.StatusFound, "/demo/") })
	}
	if s.o.AccountClientID != "" {
		e.GET("/account/", s.accountPage)
		e.GET("/account", func(c *gin.Context) { c.Redirect(http.StatusFound, "/account/") })
	}
	for prefix, h := range s.o.Mounts {
		e.Any(strings.TrimSuffix(prefix, "/")+"/*rest", s.rateLimit, gin.WrapH(h))
	}
	e.NoRoute(s.notFound)
	e.NoMethod(func(c *gin.Context) {
		writeOAuthError(c, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
	})
}

// ready answers /readyz: 200 when the database answers a ping within 2
// s, 503 "database unavailable" when it does not (MongoDB down,
// unreachable or without a primary; an SQLite file that cannot be read or
// written: the SQLite ping commits one tiny write, see sqlite.Store.Ping,
// so a read-only or failing disk is not ready, and a writer held up for
// more than 2 s by queued writes is not either). /healthz, discovery and
// JWKS never touch the database and keep answering through an outage.
func (s *Server) ready(c *gin.Context) {
	if s.o.Ping != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := s.o.Ping(ctx); err != nil {
			s.o.Logger.WarnContext(c.Request.Context(), "readiness check failed", "request_id", RequestID(c.Request.Context()), "err", err)
			c.String(http.StatusServiceUnavailable, "database unavailable\n")
			return
		}
	}
	c.String(http.StatusOK, "ready\n")
}

func (s *Server) notFound(c *gin.Context) {
	if strings.Contains(c.GetHeader("Accept"), "text/html") {
		s.errorPage(c, &page{Status: http.StatusNotFound, Title: "Not found", Message: "There is nothing at this address."})
		return
	}
	writeOAuthError(c, http.StatusNotFound, "invalid_request", "no such endpoint")
}
