// Command backend is an example API that trusts socialbridge access tokens
// with package verify: the same routes served twice, by a net/http mux and
// by a Gin router, to show both middlewares.
//
//	GET    /public      anyone
//	GET    /api/me      any valid access token: who is calling
//	GET    /api/email   a token with the "email" scope
//	GET    /api/admin   a user with the "admin" role
//	DELETE /api/account a valid token that socialbridge confirms is still
//	                    active right now (introspection), for actions that
//	                    cannot wait for the revocation feed
//
// Configuration comes from the environment:
//
//	SOCIALBRIDGE_ISSUER  socialbridge's public URL (default http://localhost:8080)
//	API_AUDIENCE         comma-separated aud values this API accepts
//	                     (default: the issuer, socialbridge's default audience)
//	API_CLIENT_ID        this API's client at socialbridge, with a secret and
//	API_CLIENT_SECRET    introspection: true; without them revocation is off
//	                     and DELETE /api/account is not served
//
// and the flags -http (net/http, default 127.0.0.1:8081) and -gin (Gin,
// default 127.0.0.1:8082).
//
// # Running it against socialbridge in dev mode
//
// 1. Give socialbridge a client for this API and an admin role rule, in a
// file such as dev.yaml:
//
//	mode: dev
//	clients:
//	  - id: example-api
//	    secret: example-api-dev-secret-0123456789abcdef
//	    introspection: true
//	claims:
//	  roles:
//	    - provider: dev
//	      email_domain: example.com
//	      roles: [admin]
//
// 2. Start socialbridge, then this API:
//
//	go run ./cmd/socialbridge -config dev.yaml
//	API_CLIENT_ID=example-api API_CLIENT_SECRET=example-api-dev-secret-0123456789abcdef \
//	    go run ./examples/backend
//
// 3. Sign in at http://localhost:8080/demo/ with Dev as alice (verified
// example.com email: the admin role) or bob (no role), and copy the access
// token from the browser console:
//
//	JSON.parse(sessionStorage.getItem("sb_tokens")).access_token
//
// 4. Call the API:
//
//	curl -i localhost:8081/api/me -H "Authorization: Bearer $TOKEN"
//	curl -i localhost:8082/api/admin -H "Authorization: Bearer $TOKEN"
//	curl -i -X DELETE localhost:8081/api/account -H "Authorization: Bearer $TOKEN"
//
// Log out on the demo page: within about ten seconds (the feed interval)
// the same token gets 401 "the token has been revoked", and DELETE
// /api/account refuses it at once.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialbridge/socialbridge/verify"
	"github.com/socialbridge/socialbridge/verify/ginverify"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}

// run starts both servers and serves until ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	httpAddr := fs.String("http", "127.0.0.1:8081", "address of the net/http server")
	ginAddr := fs.String("gin", "127.0.0.1:8082", "address of the Gin server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stdout, nil))

	cfg := configFromEnv(getenv)
	cfg.Logger = logger
	v, err := verify.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer v.Close()
	if cfg.ClientID == "" {
		logger.Warn("API_CLIENT_ID and API_CLIENT_SECRET are not set: revocation is off (tokens stay valid until they expire) and DELETE /api/account is not served")
	}

	servers := []*http.Server{
		{Addr: *httpAddr, Handler: newMux(v, cfg.ClientID != ""), ReadHeaderTimeout: 10 * time.Second},
		{Addr: *ginAddr, Handler: newGinRouter(v, cfg.ClientID != ""), ReadHeaderTimeout: 10 * time.Second},
	}
	errs := make(chan error, len(servers))
	for i, srv := range servers {
		ln, err := net.Listen("tcp", srv.Addr)
		if err != nil {
			return err
		}
		logger.Info("listening", "server", []string{"net/http", "gin"}[i], "addr", ln.Addr().String())
		go func() { errs <- srv.Serve(ln) }()
	}
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

// configFromEnv reads the verifier's configuration; the defaults suit
// socialbridge in dev mode on this machine.
func configFromEnv(getenv func(string) string) verify.Config {
	issuer := getenv("SOCIALBRIDGE_ISSUER")
	if issuer == "" {
		issuer = "http://localhost:8080"
	}
	var audience []string
	for _, a := range strings.Split(getenv("API_AUDIENCE"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			audience = append(audience, a)
		}
	}
	if len(audience) == 0 {
		audience = []string{issuer}
	}
	return verify.Config{
		Issuer: issuer, Audience: audience,
		ClientID: getenv("API_CLIENT_ID"), ClientSecret: getenv("API_CLIENT_SECRET"),
	}
}

// The answers, shared by both routers, from the claims the middleware
// verified.

func meBody(c *verify.Claims) map[string]any {
	return map[string]any{
		"sub": c.Subject, "name": c.Name, "email": c.Email, "idp": c.IDP,
		"client_id": c.ClientID, "scopes": c.Scopes, "roles": c.Roles,
		"expires_at": c.ExpiresAt.UTC().Format(time.RFC3339),
	}
}

func emailBody(c *verify.Claims) map[string]any {
	return map[string]any{"email": c.Email, "email_verified": c.EmailVerified}
}

func adminBody(c *verify.Claims) map[string]any {
	return map[string]any{"message": "welcome, administrator " + c.Subject}
}

func deleteBody(c *verify.Claims) map[string]any {
	return map[string]any{"message": "account " + c.Subject + " would be deleted now"}
}

var publicBody = map[string]any{"message": "hello, whoever you are"}

// newMux serves the routes with net/http. introspection says whether the
// verifier has client credentials for DELETE /api/account.
func newMux(v *verify.Verifier, introspection bool) http.Handler {
	// handler answers with body(claims); the middleware in front has put
	// the claims in the request's context.
	handler := func(body func(*verify.Claims) map[string]any) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := verify.ClaimsFrom(r.Context())
			writeJSON(w, body(c))
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /public", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, publicBody) })
	mux.Handle("GET /api/me", v.Middleware(handler(meBody)))
	mux.Handle("GET /api/email", v.Middleware(verify.RequireScope("email")(handler(emailBody))))
	mux.Handle("GET /api/admin", v.Middleware(verify.RequireRole("admin")(handler(adminBody))))
	if introspection {
		mux.Handle("DELETE /api/account", v.MiddlewareWith(verify.WithIntrospection())(handler(deleteBody)))
	}
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// newGinRouter serves the same routes with Gin.
func newGinRouter(v *verify.Verifier, introspection bool) http.Handler {
	handler := func(body func(*verify.Claims) map[string]any) gin.HandlerFunc {
		return func(c *gin.Context) {
			claims, _ := ginverify.Claims(c)
			c.JSON(http.StatusOK, body(claims))
		}
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/public", func(c *gin.Context) { c.JSON(http.StatusOK, publicBody) })
	api := r.Group("/api", ginverify.Middleware(v))
	api.GET("/me", handler(meBody))
	api.GET("/email", ginverify.RequireScope("email"), handler(emailBody))
	api.GET("/admin", ginverify.RequireRole("admin"), handler(adminBody))
	if introspection {
		// Outside the group: its middleware verifies and introspects.
		r.DELETE("/api/account", ginverify.Middleware(v, verify.WithIntrospection()), handler(deleteBody))
	}
	return r
}
