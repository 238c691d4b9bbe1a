// Package verify lets a backend API trust socialbridge access tokens: it
// verifies them offline against socialbridge's published keys and honours
// logouts and revoked users without a network call per request.
//
// It depends on the standard library and golang-jwt only; Gin users add
// package ginverify.
//
// # Quick start: net/http
//
//	v, err := verify.New(ctx, verify.Config{
//		// socialbridge's public URL, and the aud values this API accepts.
//		Issuer:   "https://auth.example.com",
//		Audience: []string{"https://api.example.com"},
//		// A socialbridge client with a secret and introspection: true,
//		// to read revocations (optional; see Revocation).
//		ClientID:     "orders-api",
//		ClientSecret: os.Getenv("API_CLIENT_SECRET"),
//		Logger:       logger,
//	})
//	if err != nil {
//		return err // socialbridge unreachable or misconfigured: see New
//	}
//	defer v.Close()
//
//	mux := http.NewServeMux()
//	mux.Handle("GET /me", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//		claims, _ := verify.ClaimsFrom(r.Context())
//		fmt.Fprintf(w, "hello %s", claims.Subject)
//	})))
//	mux.Handle("GET /orders", v.Middleware(verify.RequireScope("orders:read")(listOrders)))
//	mux.Handle("GET /admin", v.Middleware(verify.RequireRole("admin")(adminPage)))
//	mux.Handle("DELETE /account", v.MiddlewareWith(verify.WithIntrospection())(deleteAccount))
//
// # Quick start: Gin
//
//	api := router.Group("/api", ginverify.Middleware(v))
//	api.GET("/me", func(c *gin.Context) {
//		claims, _ := ginverify.Claims(c)
//		c.JSON(http.StatusOK, gin.H{"sub": claims.Subject})
//	})
//	api.GET("/orders", ginverify.RequireScope("orders:read"), listOrders)
//	api.GET("/admin", ginverify.RequireRole("admin"), adminPage)
//	router.DELETE("/account", ginverify.Middleware(v, verify.WithIntrospection()), deleteAccount)
//
// On the socialbridge side, register the API as a confidential client that
// may read token state:
//
//	clients:
//	  - id: orders-api
//	    secret_file: /run/secrets/orders-api  # 32+ random characters
//	    introspection: true  # may read the revocation feed and /introspect
//
// and give the apps that call the API that audience (tokens.audience or
// the app client's audience).
//
// # What is checked
//
// Verify (and the middleware) accept a token only if all of these hold,
// in this order:
//   - it is a compact JWS of at most MaxTokenBytes (8 KiB), checked before
//     any decoding, whose header and claims are JSON objects;
//   - the header's typ is at+jwt (RFC 9068 §2.1; "application/at+jwt" and
//     any letter case too), so an ID or refresh token is refused;
//   - the header has none of jwk, jku, x5u, x5c or crit. Tokens carrying
//     them are refused rather than the parameters ignored: socialbridge
//     never sets them, so such a token is forged or not ours, and refusing
//     makes the attempt visible;
//   - alg is in Config.Algorithms (ES256, RS256, PS256, EdDSA by default;
//     never none or HS256), the header has a kid, a key with that kid is in
//     the cached JWKS, and alg is that key's own alg (the key decides the
//     algorithm, RFC 8725 §3.1);
//   - the signature verifies;
//   - iss equals Config.Issuer exactly; aud names one of Config.Audience;
//     exp is present and not past, nbf (if present) and iat (required) not
//     in the future, each with Config.Leeway of clock skew (30s);
//   - sub, sid, client_id and jti are present;
//   - the token is not revoked (below).
//
// Claims are read with exact, case-sensitive names, and a repeated
// protocol claim makes the token Malformed.
//
// # Keys
//
// New reads jwks_uri from the issuer's discovery document and caches the
// keys. The set is fetched again every JWKSRefreshInterval (5 minutes;
// socialbridge publishes a new key a day before it signs with it) and
// when a token names an unknown kid, at most once per JWKSRefetchInterval
// (30 seconds) whatever the number of such tokens: concurrent requests
// share one fetch, so a flood of made-up kids costs socialbridge one
// request per interval. When socialbridge is unreachable the cached keys
// keep working; a failed fetch never empties the cache. A key that left
// the set (retired, or expired) is never taken back, even if a replica
// that has not heard of its retirement yet publishes it again.
//
// # Revocation
//
// Access tokens live up to their exp (15 minutes by default). socialbridge
// revokes them earlier when a user logs out (the session), logs out
// everywhere, is disabled, has their roles changed, or an administrator
// revokes their tokens (the user: every token issued before that second).
// It publishes these in a revocation feed, which the Verifier reads every
// FeedInterval (10 seconds) with the API's client credentials, following
// its cursor, ETag and paging. Verify refuses a token whose sid is a
// revoked session, or whose iat is before its user's not-before, with
// Revoked: a revocation reaches the API within about FeedInterval, and
// costs two map lookups per request, whatever the number of revocations.
// An entry is dropped once no token it revokes can still be accepted.
//
// Without ClientID and ClientSecret, revocation is off: a logged-out or
// disabled user's tokens stay valid until they expire. Use that only when
// the access-token lifetime is short enough for your API.
//
// For the few routes where even seconds matter (payments, deleting an
// account), WithIntrospection (or Introspect) also asks socialbridge's
// introspection endpoint (RFC 7662) on every request: one network round
// trip per request, so keep it to those routes. Introspection does not
// depend on the feed: a stale feed does not make it fail.
//
// # When socialbridge is unreachable: fail closed by default
//
// If the feed cannot be read for longer than FeedMaxStale (1 minute), the
// Verifier no longer knows whether a valid-looking token was revoked since.
// By default it then refuses tokens with RevocationUnavailable, which the
// middleware answers 503 Service Unavailable with Retry-After (the client
// may retry; nothing is wrong with its token) until the feed is read
// again. Tokens already known to be revoked are refused as Revoked either
// way. This is the safe default for an identity product: a user who logged
// out or was disabled must not regain access because a network link is
// down, and an outage is visible (503s, and an error in the log) rather
// than silent.
//
// Config.FailOpen = true trades that for availability: while the feed is
// stale, tokens are checked against the last revocations known and
// otherwise accepted; revocations made during the outage take effect when
// it ends (or when the tokens expire). Introspection never fails open: a
// route that asks for it refuses with 503 when socialbridge cannot answer.
//
// # Starting and stopping
//
// New contacts socialbridge at once (discovery, the JWKS, the whole
// revocation feed) and returns an error if any of it fails; it does not
// retry. A process that cannot verify tokens should not report itself
// ready; let its supervisor restart it, or retry New yourself if the API
// and socialbridge start together. The ctx passed to New is the lifetime of
// the background reads (Close stops them too); do not pass a context with
// a start-up timeout. After either, Verify keeps working from the cache,
// and fails closed once the feed is stale.
//
// # Errors
//
// Every refusal is an *Error whose Reason says why: MissingToken,
// Malformed, WrongType, UnknownKey, BadSignature, WrongIssuer,
// WrongAudience, Expired, NotYetValid, MissingClaim, Revoked,
// RevocationUnavailable, InsufficientScope. Reasons are errors too, so
//
//	if errors.Is(err, verify.Expired) { ... }
//
// tests the reason without a type assertion. Error.Description is safe to
// show to the client; Error.Err holds details for logs. WriteError turns an
// error into the HTTP answer the middleware gives (RFC 6750 §3):
//   - 401 with WWW-Authenticate: Bearer error="invalid_token",
//     error_description="the token has expired" (and the like) for a token
//     that must not be accepted; plain "Bearer" when there is no token;
//   - 403 with Bearer error="insufficient_scope" (and scope="..." for a
//     missing scope) from RequireScope and RequireRole;
//   - 503 with Retry-After for RevocationUnavailable;
//   - 500 for a wiring mistake (RequireRole without the middleware,
//     introspection without client credentials), never letting the request
//     through.
//
// Bodies are JSON: {"error": "invalid_token", "error_description": "..."}.
// Tokens are read from the Authorization header only, never from the query
// string or a cookie, and never logged.
//
// # Testing an API
//
// Package verifytest runs a stand-in for socialbridge (discovery, JWKS,
// revocation feed, introspection) that mints real tokens, and lists bad
// tokens every API must refuse (Issuer.BadTokens).
package verify
