package verify_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"

	"github.com/socialbridge/socialbridge/verify"
)

func Example() {
	ctx := context.Background()
	v, err := verify.New(ctx, verify.Config{
		Issuer:       "https://auth.example.com",
		Audience:     []string{"https://api.example.com"},
		ClientID:     "orders-api",
		ClientSecret: os.Getenv("API_CLIENT_SECRET"),
		Logger:       slog.Default(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	mux := http.NewServeMux()
	mux.Handle("GET /me", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := verify.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "hello %s", claims.Subject)
	})))
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "[]") })
	mux.Handle("GET /orders", v.Middleware(verify.RequireScope("orders:read")(orders)))
	mux.Handle("DELETE /account", v.MiddlewareWith(verify.WithIntrospection())(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })))
	log.Fatal(http.ListenAndServe(":8081", mux))
}

// Verify works without the middleware too, for a protocol of your own.
func ExampleVerifier_Verify() {
	var v *verify.Verifier // from verify.New
	var token string       // from the request
	claims, err := v.Verify(context.Background(), token)
	switch {
	case errors.Is(err, verify.Expired):
		// Tell the client to refresh its token.
	case errors.Is(err, verify.RevocationUnavailable):
		// Ask the client to retry shortly.
	case err != nil:
		var e *verify.Error
		errors.As(err, &e)
		log.Printf("token refused: %s (%v)", e.Reason, e.Err)
	default:
		log.Printf("user %s, session %s, roles %v", claims.Subject, claims.SessionID, claims.Roles)
	}
}
