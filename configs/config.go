// Package configs holds socialbridge's configuration: the types, loading from a
// YAML file plus environment overrides (secrets also from *_FILE), defaults and
// validation with messages that name the exact key.
//
// Nothing else in socialbridge reads the environment: cmd/socialbridge calls
// Load and passes the resulting *Config down.
package configs

import (
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/providers"
)

// Mode is the run mode of the service.
type Mode string

// Run modes.
const (
	// ModeDev enables the dev provider, the demo page and the built-in demo
	// clients, and generates missing secrets under the data directory.
	ModeDev Mode = "dev"
	// ModeProduction requires real secrets and refuses the dev provider.
	ModeProduction Mode = "production"
)

// Config is the whole configuration tree. YAML keys are the snake_case tags;
// the environment variable of a key is SOCIALBRIDGE_ followed by its path in
// upper case with dots replaced by underscores (server.public_url is
// SOCIALBRIDGE_SERVER_PUBLIC_URL).
type Config struct {
	// Mode is "dev" or "production". Default: dev when no config file is
	// given, production when one is. A defaulted dev mode refuses settings
	// that look like a deployment (see Validate).
	Mode Mode `yaml:"mode"`
	// DataDir holds the embedded SQLite database and, in dev mode,
	// generated secrets.
	DataDir string `yaml:"data_dir"`

	Server    Server    `yaml:"server"`
	Store     Store     `yaml:"store"`
	Crypto    Crypto    `yaml:"crypto"`
	Tokens    Tokens    `yaml:"tokens"`
	Login     Login     `yaml:"login"`
	Providers Providers `yaml:"providers"`
	// Claims are the rules that add roles and provider claims to
	// socialbridge's tokens (file only).
	Claims claims.Rules `yaml:"claims"`
	// Clients are the registered applications. They come from the file
	// only (no environment overrides). Built-in clients are added for the
	// pages socialbridge serves itself: "socialbridge-account" for the
	// account page in every mode, "demo" and "demo-cookie" for the demo
	// page in dev mode, each unless a client with its id is configured.
	Clients []Client `yaml:"clients"`
	Admin   Admin    `yaml:"admin"`
	Audit   Audit    `yaml:"audit"`
	Log     Log      `yaml:"log"`
	Metrics Metrics  `yaml:"metrics"`

	// modeDefaulted is set by Load when Mode was chosen for lack of a
	// file or variable saying it, rather than said explicitly.
	modeDefaulted bool
	// envWarnings are Load's findings in the environment that do not stop
	// a dev-mode start (misspelt variables); see Warnings.
	envWarnings []string
	// providerTypes are the provider types Load was given.
	providerTypes []providers.Type
}

// Server configures the HTTP listener and the public identity of the service.
type Server struct {
	// Addr is the listen address, host:port.
	Addr string `yaml:"addr"`
	// PublicURL is the externally visible base URL; it is the token issuer
	// (iss) and the base of every callback URL. No trailing slash.
	PublicURL string `yaml:"public_url"`
	// MaxBodyBytes caps every request body.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// RateLimit is how many requests per second one client IP may make to
	// the endpoints that reach the database (/authorize, /callback, /token,
	// /revoke, /userinfo, /logout, /sessions, the account endpoints, the
	// dev pages, /provider-token), with bursts of twice that.
	// /introspect and /revocations authenticate the client before
	// anything else and are not limited per IP. Default 20; a negative
	// value turns the limit off.
	RateLimit int64 `yaml:"rate_limit"`
	// RateLimitShared makes RateLimit count the requests of every replica
	// on the database rather than of each replica alone: each replica
	// still limits by itself, and once a second sends the database the
	// requests it allowed per client IP in the current 10-second window,
	// getting back every replica's totals. A client IP whose total over
	// the window exceeds RateLimit × 10 plus the burst is refused until
	// the window ends. Default false (each replica limits alone, so N
	// replicas behind a load balancer allow up to N times RateLimit).
	RateLimitShared bool `yaml:"rate_limit_shared"`
	// TrustedProxies lists proxy addresses or CIDRs whose X-Forwarded-For is
	// believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// DemoPage serves the demo SPA page at /demo/ (default: on in dev mode).
	DemoPage *bool `yaml:"demo_page"`
	// AccountPage serves the account page at /account/, where users see
	// and end their sessions and linked accounts (default: on in every
	// mode). It signs in with the built-in client "socialbridge-account",
	// or a configured client with that id.
	AccountPage *bool `yaml:"account_page"`
	// AllowDevOnAllInterfaces lets dev mode listen on a non-loopback
	// address. Dev mode's test-user provider signs anyone in, so it
	// listens on loopback only, which inside a container cannot be reached
	// from the host: a container in dev mode needs this, with its port
	// published on the host's loopback only.
	AllowDevOnAllInterfaces bool `yaml:"allow_dev_on_all_interfaces"`
	// ShutdownTimeout is how long a shutdown (SIGTERM, SIGINT) waits for
	// the requests in flight to finish before it closes their connections.
	// Default 15s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Store selects the database.
type Store struct {
	// MongoDBURI points at MongoDB (replica set, Atlas, sharded cluster);
	// empty uses the embedded SQLite database under DataDir. Also read from
	// the MONGODB_URI environment variable.
	MongoDBURI string `yaml:"mongodb_uri"`
	// MongoDBURIFile reads MongoDBURI from a file.
	MongoDBURIFile string `yaml:"mongodb_uri_file"`
	// Database is the MongoDB database name.
	Database string `yaml:"database"`
	// SQLite configures the embedded database (used when MongoDBURI is
	// empty).
	SQLite SQLite `yaml:"sqlite"`
}

// SQLite configures the embedded SQLite database: one file, no network
// listener. Several socialbridge processes on one host may share the file;
// several hosts need MongoDB.
type SQLite struct {
	// Path is the database file (default: socialbridge.db under DataDir).
	Path string `yaml:"path"`
	// Synchronous is "normal" (default: a commit survives a crash of the
	// process; a power loss may lose the last commits) or "full" (every
	// commit is fsynced before it is acknowledged).
	Synchronous string `yaml:"synchronous"`
}

// Crypto holds the key that encrypts secrets at rest (provider tokens,
// private signing keys).
type Crypto struct {
	// EncryptionKey is 32 random bytes, base64 (std or url) encoded.
	EncryptionKey string `yaml:"encryption_key"`
	// EncryptionKeyFile reads EncryptionKey from a file.
	EncryptionKeyFile string `yaml:"encryption_key_file"`
}

// Tokens configures the JWTs socialbridge issues.
type Tokens struct {
	// Algorithm signs access tokens: ES256 (default), RS256, PS256 or EdDSA.
	Algorithm string `yaml:"algorithm"`
	// AccessTTL is the access-token lifetime (default 15m).
	AccessTTL time.Duration `yaml:"access_ttl"`
	// RefreshIdleTTL ends a session unused for this long (default 168h,
	// 7 days).
	RefreshIdleTTL time.Duration `yaml:"refresh_idle_ttl"`
	// RefreshAbsoluteTTL ends a session this long after sign-in (default
	// 720h, 30 days).
	RefreshAbsoluteTTL time.Duration `yaml:"refresh_absolute_ttl"`
	// RefreshReuseGrace is how long a just-rotated refresh token may be
	// presented again and get the same successor (default 10s).
	RefreshReuseGrace time.Duration `yaml:"refresh_reuse_grace"`
	// KeyRotation is how old a signing key gets before a successor is made
	// (default 720h).
	KeyRotation time.Duration `yaml:"key_rotation"`
	// KeyPublishAhead is how long a new key is published before it signs
	// (default 24h): longer than any verifier caches the JWKS, and long
	// enough that every replica and backend has learnt the key well
	// before it meets a token it signed. Must be shorter than
	// KeyRotation.
	KeyPublishAhead time.Duration `yaml:"key_publish_ahead"`
	// Audience is the default aud of access tokens (default: server.public_url).
	Audience []string `yaml:"audience"`
	// IDTokenAlgorithm signs ID tokens: RS256 (default, the algorithm
	// OpenID Connect requires every relying party to support), ES256,
	// PS256 or EdDSA. A client may ask for another with
	// id_token_signed_response_alg.
	IDTokenAlgorithm string `yaml:"id_token_algorithm"`
}

// Login configures the browser sign-in flow.
type Login struct {
	// FlowTTL bounds the time from /authorize to the provider's callback
	// (default 10m).
	FlowTTL time.Duration `yaml:"flow_ttl"`
	// CodeTTL is the lifetime of the one-time code handed to the client
	// (default 60s).
	CodeTTL time.Duration `yaml:"code_ttl"`
}

// Client is an application registered to use socialbridge.
type Client struct {
	// ID is the client_id.
	ID string `yaml:"id"`
	// Name is shown on the login page.
	Name string `yaml:"name"`
	// RedirectURIs are matched exactly (RFC 9700 §4.1.3).
	RedirectURIs []string `yaml:"redirect_uris"`
	// CORSOrigins may call the token endpoint from a browser.
	CORSOrigins []string `yaml:"cors_origins"`
	// Secret makes the client confidential; empty means a public client,
	// which must use PKCE. At least MinClientSecretLength characters.
	Secret string `yaml:"secret"`
	// SecretFile reads Secret from a file.
	SecretFile string `yaml:"secret_file"`
	// Audience overrides tokens.audience for this client's access tokens.
	Audience []string `yaml:"audience"`
	// Providers limits which provider instances this client offers
	// (default: all enabled ones).
	Providers []string `yaml:"providers"`
	// AccessTTL, RefreshIdleTTL and RefreshAbsoluteTTL override tokens.*;
	// 0 (the default) means the tokens.* value.
	AccessTTL          time.Duration `yaml:"access_ttl"`
	RefreshIdleTTL     time.Duration `yaml:"refresh_idle_ttl"`
	RefreshAbsoluteTTL time.Duration `yaml:"refresh_absolute_ttl"`
	// TokenExchange lets this client (a native app: public, no secret)
	// exchange tokens from providers' native SDKs at POST /token (RFC
	// 8693) for the providers it may use (Providers).
	TokenExchange bool `yaml:"token_exchange"`
	// AccountManagement lets this client ask for the account scope, whose
	// access tokens list, link and unlink the user's identities. Give it
	// only to your own first-party apps.
	AccountManagement bool `yaml:"account_management"`
	// ProviderTokens lets this client (a backend; it must have a secret)
	// fetch its users' provider access tokens at POST /provider-token.
	ProviderTokens bool `yaml:"provider_tokens"`
	// IDTokenSignedResponseAlg signs this client's ID tokens (OpenID
	// Connect Dynamic Client Registration's name); empty means
	// tokens.id_token_algorithm.
	IDTokenSignedResponseAlg string `yaml:"id_token_signed_response_alg"`
	// RefreshTokenCookie gives this client (a browser app: public, with
	// CORSOrigins) its refresh token as an HttpOnly cookie instead of in
	// the token response: what the page's scripts cannot read, a
	// cross-site scripting flaw cannot steal (OAuth 2.0 for Browser-Based
	// Applications). Its refreshes and logouts must come with an exact
	// Origin from CORSOrigins.
	RefreshTokenCookie bool `yaml:"refresh_token_cookie"`
	// PostLogoutRedirectURIs are where OpenID Connect RP-initiated logout
	// may send the browser back to, matched exactly like RedirectURIs.
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	// Introspection lets this client (a backend; it must have a secret)
	// call POST /introspect (RFC 7662) and read the revocation feed at
	// GET /revocations.
	Introspection bool `yaml:"introspection"`
}

// Admin configures the admin API.
type Admin struct {
	// Token is the administrators' bearer credential, at least
	// MinClientSecretLength characters; empty turns the admin API off.
	Token string `yaml:"token"`
	// TokenFile reads Token from a file.
	TokenFile string `yaml:"token_file"`
}

// Audit configures the audit trail (sign-ins, failed sign-ins, refresh
// token reuse, logouts, revocations, administrative actions).
type Audit struct {
	// Retention is how long audit events are kept (default 2160h, 90
	// days); the sweeper deletes older ones.
	Retention time.Duration `yaml:"retention"`
}

// Metrics configures the Prometheus metrics endpoint.
type Metrics struct {
	// Addr is where /metrics is served, host:port, on a listener of its
	// own: never on server.addr, which faces the internet. Default
	// 127.0.0.1:9464 (scrape it from the same host, or set e.g. :9464 in
	// a container and keep the port off the public network). "" or "off"
	// turns metrics off; in the environment, where an empty variable
	// counts as unset, use "off".
	Addr *string `yaml:"addr"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is text (default) or json.
	Format string `yaml:"format"`
}
