// Package ginverify adapts package verify to Gin: the same checks, status
// codes, WWW-Authenticate headers and JSON bodies as verify's net/http
// middleware.
//
//	v, err := verify.New(ctx, verify.Config{...})
//	api := router.Group("/api", ginverify.Middleware(v))
//	api.GET("/me", func(c *gin.Context) {
//		claims, _ := ginverify.Claims(c)
//		c.JSON(http.StatusOK, gin.H{"sub": claims.Subject})
//	})
//	api.GET("/orders", ginverify.RequireScope("orders:read"), listOrders)
//	api.GET("/reports", ginverify.RequireRole("admin"), reports)
//	// Outside the group, so that the token is checked once, with
//	// introspection.
//	router.DELETE("/api/account", ginverify.Middleware(v, verify.WithIntrospection()), deleteAccount)
//
// The claims are in the request's context too, so that code which does not
// know Gin finds them with verify.ClaimsFrom.
package ginverify

import (
	"github.com/gin-gonic/gin"

	"github.com/socialbridge/socialbridge/verify"
)

// Middleware verifies the request's bearer token with v and puts the claims
// in the request's context; a refused request is answered with
// verify.WriteError and the chain stops.
func Middleware(v *verify.Verifier, opts ...verify.Option) gin.HandlerFunc {
	return func(c *gin.Context) {
		claims, err := v.Authenticate(c.Request, opts...)
		if err != nil {
			verify.WriteError(c.Writer, err)
			c.Abort()
			return
		}
		c.Request = c.Request.WithContext(verify.ContextWithClaims(c.Request.Context(), claims))
		c.Next()
	}
}

// Claims returns the claims Middleware verified for this request.
func Claims(c *gin.Context) (*verify.Claims, bool) {
	return verify.ClaimsFrom(c.Request.Context())
}

// RequireScope lets a request through only if its token grants every one of
// scopes (403 insufficient_scope otherwise). It goes after Middleware.
func RequireScope(scopes ...string) gin.HandlerFunc {
	return require(func(cl *verify.Claims) error { return cl.CheckScope(scopes...) })
}

// RequireRole lets a request through only if its user has every one of
// roles (403 insufficient_scope otherwise). It goes after Middleware.
func RequireRole(roles ...string) gin.HandlerFunc {
	return require(func(cl *verify.Claims) error { return cl.CheckRole(roles...) })
}

func require(check func(*verify.Claims) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		cl, ok := Claims(c)
		if !ok {
			// A wiring mistake: never let the request through.
			verify.WriteError(c.Writer, errNoMiddleware)
			c.Abort()
			return
		}
		if err := check(cl); err != nil {
			verify.WriteError(c.Writer, err)
			c.Abort()
			return
		}
		c.Next()
	}
}

type wiringError struct{}

func (wiringError) Error() string {
	return "ginverify: RequireScope or RequireRole used without ginverify.Middleware in front of it"
}

var errNoMiddleware error = wiringError{}
