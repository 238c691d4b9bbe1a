package configs

import (
	"encoding/base64"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// validConfig returns a loaded, valid configuration: the dev-mode
// defaults, or productionYAML with testKey.
func validConfig(t *testing.T, dev bool) *Config {
	t.Helper()
	if dev {
		c, err := Load("", fakeEnv(nil), os.ReadFile, testTypes())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c, err := loadYAML(t, productionYAML, map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestValidate(t *testing.T) {
	t.Parallel()
	spa := func(c *Config) *Client { return &c.Clients[0] } // "spa" in production, "demo" in dev mode
	tests := []struct {
		name   string
		dev    bool
		mutate func(c *Config)
		want   string // "" means valid
	}{
		{"an unknown mode is rejected", false, func(c *Config) { c.Mode = "prod" },
			`mode: must be "dev" or "production", got "prod"`},
		{"data_dir is required", false, func(c *Config) { c.DataDir = "" }, "data_dir: must not be empty"},

		{"addr needs a port", false, func(c *Config) { c.Server.Addr = "localhost" }, "server.addr: must be host:port"},
		{"a relative public URL is rejected", false, func(c *Config) { c.Server.PublicURL = "auth.example.com" },
			`server.public_url: must be an absolute http(s) URL without query or fragment, got "auth.example.com"`},
		{"a public URL with a query is rejected", false, func(c *Config) { c.Server.PublicURL = "https://a.example.com?x=1" },
			"server.public_url: must be an absolute http(s) URL without query or fragment"},
		{"a public URL with a trailing slash is rejected", false, func(c *Config) { c.Server.PublicURL = "https://a.example.com/" },
			`server.public_url: must not end with a slash, got "https://a.example.com/" (use "https://a.example.com")`},
		{"an http public URL is rejected in production", false, func(c *Config) { c.Server.PublicURL = "http://a.example.com" },
			"server.public_url: must use https in production"},
		{"an http loopback public URL is allowed in production", false, func(c *Config) { c.Server.PublicURL = "http://127.0.0.1:8080" }, ""},
		{"an http public URL is allowed in dev mode", true, func(c *Config) { c.Server.PublicURL = "http://devbox.lan:8080" }, ""},
		{"a public URL with a path is allowed", false, func(c *Config) { c.Server.PublicURL = "https://example.com/auth" }, ""},
		{"the public URL is required in production", false, func(c *Config) { c.Server.PublicURL = "" },
			"server.public_url: required in production"},
		{"max_body_bytes must be positive", false, func(c *Config) { c.Server.MaxBodyBytes = -1 }, "server.max_body_bytes: must be greater than 0"},
		{"the shutdown timeout must be positive", false, func(c *Config) { c.Server.ShutdownTimeout = -time.Second },
			"server.shutdown_timeout: must be greater than 0, got -1s"},
		{"a shared rate limit needs a rate limit", false, func(c *Config) { c.Server.RateLimit = -1; c.Server.RateLimitShared = true },
			"server.rate_limit_shared: needs a rate limit to share, but server.rate_limit is -1 (off)"},
		{"a shared rate limit is allowed with a rate limit", false, func(c *Config) { c.Server.RateLimitShared = true }, ""},
		{"an unshared rate limit may be off", false, func(c *Config) { c.Server.RateLimit = -1 }, ""},
		{"trusted proxies are IPs or CIDRs", false, func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.1", "10.0.0.0/8", "proxy"} },
			`server.trusted_proxies[2]: must be an IP address or a CIDR like 10.0.0.0/8, got "proxy"`},
		{"the demo page needs a demo client in production", false, func(c *Config) { c.Server.DemoPage = new(true) },
			`server.demo_page: needs a client with id "demo"`},

		{"the MongoDB URI needs a mongodb scheme", false, func(c *Config) { c.Store.MongoDBURI = "postgres://db" },
			"store.mongodb_uri: must start with mongodb:// or mongodb+srv://"},
		{"a mongodb+srv URI is accepted", false, func(c *Config) { c.Store.MongoDBURI = "mongodb+srv://cluster.example.net" }, ""},
		{"the database name is checked", false, func(c *Config) { c.Store.Database = "my.db" }, "store.database: must be a MongoDB database name"},
		{"production on the embedded SQLite store is allowed", false, func(c *Config) { c.Store.MongoDBURI = ""; c.Store.SQLite.Synchronous = "full" }, ""},
		{"the SQLite synchronous mode is normal or full", false, func(c *Config) { c.Store.SQLite.Synchronous = "off" }, `store.sqlite.synchronous: must be "normal" or "full", got "off"`},
		{"the SQLite path names a file", false, func(c *Config) { c.Store.SQLite.Path = "/var/lib/socialbridge/" }, "store.sqlite.path: must name a file"},

		{"a key that is not base64 is rejected", false, func(c *Config) { c.Crypto.EncryptionKey = "not base64!" },
			"crypto.encryption_key: is not base64 (make one with: openssl rand -base64 32)"},
		{"a short key is rejected", false, func(c *Config) { c.Crypto.EncryptionKey = base64.StdEncoding.EncodeToString(make([]byte, 16)) },
			"crypto.encryption_key: decodes to 16 bytes, want 32 (make one with: openssl rand -base64 32)"},
		{"a raw URL-safe key is accepted", false, func(c *Config) { c.Crypto.EncryptionKey = base64.RawURLEncoding.EncodeToString(make([]byte, 32)) }, ""},
		{"the key is required in production", false, func(c *Config) { c.Crypto.EncryptionKey = "" },
			"crypto.encryption_key: required in production (set SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY or crypto.encryption_key_file)"},
		{"the key is optional in dev mode", true, func(c *Config) { c.Crypto.EncryptionKey = "" }, ""},

		{"an unknown algorithm is rejected", false, func(c *Config) { c.Tokens.Algorithm = "HS256" },
			"tokens.algorithm: must be one of ES256, RS256, PS256, EdDSA"},
		{"durations must be positive", false, func(c *Config) { c.Tokens.KeyRotation = -time.Hour },
			"tokens.key_rotation: must be greater than 0"},
		{"access tokens live at most 24h", false, func(c *Config) { c.Tokens.AccessTTL = 25 * time.Hour },
			"tokens.access_ttl: must be at most 24h"},
		{"the idle TTL cannot exceed the absolute TTL", false, func(c *Config) { c.Tokens.RefreshIdleTTL = 3000 * time.Hour },
			"tokens.refresh_idle_ttl: must not exceed refresh_absolute_ttl"},
		{"the reuse grace cannot be negative", false, func(c *Config) { c.Tokens.RefreshReuseGrace = -time.Second },
			"tokens.refresh_reuse_grace: must be at least 0 and shorter than tokens.access_ttl"},
		{"the reuse grace is shorter than an access token", false, func(c *Config) { c.Tokens.RefreshReuseGrace = c.Tokens.AccessTTL },
			"tokens.refresh_reuse_grace: must be at least 0 and shorter than tokens.access_ttl"},
		{"a key is published ahead for less than its rotation", false, func(c *Config) { c.Tokens.KeyPublishAhead = c.Tokens.KeyRotation },
			"tokens.key_publish_ahead: must be shorter than tokens.key_rotation"},
		{"a rotation no longer than the default publish-ahead needs a shorter publish-ahead", false, func(c *Config) { c.Tokens.KeyRotation = 24 * time.Hour },
			"tokens.key_publish_ahead: must be shorter than tokens.key_rotation (24h0m0s), got 24h0m0s"},
		{"a short rotation with a shorter publish-ahead is valid", false, func(c *Config) { c.Tokens.KeyRotation, c.Tokens.KeyPublishAhead = 24*time.Hour, time.Hour }, ""},
		{"an audience entry cannot be empty", false, func(c *Config) { c.Tokens.Audience = []string{""} }, "tokens.audience[0]: must not be empty"},
		{"the ID-token algorithm is a known one", false, func(c *Config) { c.Tokens.IDTokenAlgorithm = "HS256" },
			`tokens.id_token_algorithm: must be one of RS256, ES256, PS256, EdDSA, got "HS256"`},
		{"ID tokens may be signed with EdDSA", false, func(c *Config) { c.Tokens.IDTokenAlgorithm = "EdDSA" }, ""},
		{"a client's ID-token algorithm is a known one", false, func(c *Config) { spa(c).IDTokenSignedResponseAlg = "none" },
			`clients[0] (id "spa").id_token_signed_response_alg: must be one of RS256, ES256, PS256, EdDSA (empty: tokens.id_token_algorithm), got "none"`},
		{"a client may ask for ES256 ID tokens", false, func(c *Config) { spa(c).IDTokenSignedResponseAlg = "ES256" }, ""},

		{"the flow TTL must be positive", false, func(c *Config) { c.Login.FlowTTL = 0 }, "login.flow_ttl: must be greater than 0"},
		{"codes live at most 10m", false, func(c *Config) { c.Login.CodeTTL = 11 * time.Minute }, "login.code_ttl: must be at most 10m"},

		{"a Google client id needs its secret", false, func(c *Config) { googleOf(c).ClientSecret = "" },
			"providers.google.client_secret: required: the client secret from Google Cloud console"},
		{"a Google secret needs a client id", true, func(c *Config) { googleOf(c).ClientSecret = "x" },
			"providers.google.client_id: required: the client (application) id from Google Cloud console"},
		{"Google endpoints are http(s) URLs", false, func(c *Config) { googleOf(c).TokenURL = "ftp://x.example.com/token" },
			`providers.google.token_url: must be an absolute https URL, got "ftp://x.example.com/token"`},
		{"Google endpoints use https in production", false, func(c *Config) { googleOf(c).JWKSURL = "http://x.example.com/jwks" },
			"providers.google.jwks_url: must use https outside dev mode"},
		{"Google endpoints may be http on loopback", false, func(c *Config) { googleOf(c).Issuer = "http://localhost:9999" }, ""},
		{"hosted domains are lower-case domain names", false, func(c *Config) { googleOf(c).HostedDomains = []string{"example.com", "Example.COM"} },
			`providers.google.hosted_domains[1]: must be a lower-case domain name like example.com, got "Example.COM"`},
		{"Google scopes include openid", false, func(c *Config) { googleOf(c).Scopes = []string{"email"} },
			"providers.google.scopes: must include openid"},
		{"the dev provider is refused in production", false, func(c *Config) { instanceOf(c, "dev").Enabled = new(true) },
			"providers.dev.enabled: the dev provider is only allowed in dev mode"},
		{"production needs a provider", false, func(c *Config) { instanceOf(c, "google").Enabled = new(false) },
			"providers: no provider is enabled (configure one, e.g. providers.google.client_id)"},
		{"dev mode needs a provider too", true, func(c *Config) { instanceOf(c, "dev").Enabled = new(false) },
			"providers: no provider is enabled"},

		{"a client id is required", false, func(c *Config) { spa(c).ID = "" }, "clients[0].id: required"},
		{"a client id has safe characters", false, func(c *Config) { spa(c).ID = "my app" },
			`clients[0] (id "my app").id: must be 1 to 128 of A-Z a-z 0-9 . _ -`},
		{"client ids are unique", false, func(c *Config) { c.Clients = slices.Insert(c.Clients, 1, *spa(c)) },
			`clients[1].id: "spa" is already used by clients[0]`},
		{"a client secret shorter than 32 characters is refused", false, func(c *Config) { spa(c).Secret = longSecret[:31] },
			`clients[0] (id "spa").secret: must be at least 32 characters`},
		{"a client secret counts characters, not bytes", false, func(c *Config) { spa(c).Secret = strings.Repeat("é", 31) },
			`clients[0] (id "spa").secret: must be at least 32 characters`},
		{"a 32-character client secret is accepted", false, func(c *Config) { spa(c).Secret = longSecret[:32] }, ""},
		{"a short client secret is refused in dev mode too", true, func(c *Config) { spa(c).Secret = "s3cret" },
			`clients[0] (id "demo").secret: must be at least 32 characters`},
		{"an access token must not outlive its session's idle lifetime", false, func(c *Config) {
			c.Tokens.AccessTTL, c.Tokens.RefreshIdleTTL = 2*time.Hour, time.Hour
		}, "tokens.access_ttl: must not exceed refresh_idle_ttl (1h0m0s): an access token must not outlive its session, got 2h0m0s"},
		{"a client needs a redirect URI", false, func(c *Config) { spa(c).RedirectURIs = nil },
			`clients[0] (id "spa").redirect_uris: at least one redirect URI is required`},
		{"a backend client with a secret needs no redirect URI", false, func(c *Config) {
			spa(c).RedirectURIs, spa(c).Secret, spa(c).Introspection = nil, longSecret, true
		}, ""},
		{"a native app that only exchanges tokens needs no redirect URI", false, func(c *Config) {
			spa(c).RedirectURIs, spa(c).TokenExchange = nil, true
		}, ""},
		{"a redirect URI is absolute", false, func(c *Config) { spa(c).RedirectURIs = append(spa(c).RedirectURIs, "/cb") },
			`clients[0] (id "spa").redirect_uris[1]: must be an absolute URI, got "/cb"`},
		{"a redirect URI has no fragment", false, func(c *Config) { spa(c).RedirectURIs = []string{"https://app.example.com/cb#x"} },
			`clients[0] (id "spa").redirect_uris[0]: must not contain a fragment`},
		{"a redirect URI has no wildcard", false, func(c *Config) { spa(c).RedirectURIs = []string{"https://*.example.com/cb"} },
			`clients[0] (id "spa").redirect_uris[0]: must not contain wildcards`},
		{"an http redirect URI is refused in production", false, func(c *Config) { spa(c).RedirectURIs = []string{"http://app.example.com/cb"} },
			`clients[0] (id "spa").redirect_uris[0]: must use https`},
		{"an http loopback redirect URI is allowed in production", false, func(c *Config) { spa(c).RedirectURIs = []string{"http://127.0.0.1:7000/cb", "http://[::1]/cb"} }, ""},
		{"an http redirect URI on any host is allowed in dev mode", true, func(c *Config) { spa(c).RedirectURIs = []string{"http://devbox.lan/cb"} }, ""},
		{"a native app's custom scheme is allowed", false, func(c *Config) { spa(c).RedirectURIs = []string{"com.example.app:/oauth2redirect"} }, ""},
		{"a javascript: redirect URI is refused", false, func(c *Config) { spa(c).RedirectURIs = []string{"javascript:alert(1)"} },
			`clients[0] (id "spa").redirect_uris[0]: scheme "javascript" is not allowed`},
		{"a repeated redirect URI is rejected", false, func(c *Config) { spa(c).RedirectURIs = append(spa(c).RedirectURIs, spa(c).RedirectURIs[0]) },
			`clients[0] (id "spa").redirect_uris[1]: duplicate of redirect_uris[0]`},
		{"a wildcard CORS origin is refused", false, func(c *Config) { spa(c).CORSOrigins = []string{"*"} },
			`clients[0] (id "spa").cors_origins[0]: "*" is not allowed`},
		{"a CORS origin has no trailing slash", false, func(c *Config) { spa(c).CORSOrigins = []string{"https://app.example.com/"} },
			`clients[0] (id "spa").cors_origins[0]: must not end with a slash`},
		{"a CORS origin has no path", false, func(c *Config) { spa(c).CORSOrigins = []string{"https://app.example.com/app"} },
			`clients[0] (id "spa").cors_origins[0]: must be an origin without a path, got "https://app.example.com/app" (use "https://app.example.com")`},
		{"a CORS origin is lower case", false, func(c *Config) { spa(c).CORSOrigins = []string{"https://App.example.com"} },
			`clients[0] (id "spa").cors_origins[0]: must be lower case`},
		{"a CORS origin is an http(s) origin", false, func(c *Config) { spa(c).CORSOrigins = []string{"app.example.com"} },
			`clients[0] (id "spa").cors_origins[0]: must be an origin like https://app.example.com`},
		{"a client's providers are known ones", false, func(c *Config) { spa(c).Providers = []string{"google", "facebook"} },
			`clients[0] (id "spa").providers[1]: "facebook" is not a configured provider (configured: google)`},
		{"a client needs one of its providers enabled", false, func(c *Config) { spa(c).Providers = []string{"dev"} },
			`clients[0] (id "spa").providers: none of the listed providers is enabled`},
		{"client TTLs cannot be negative", false, func(c *Config) { spa(c).RefreshIdleTTL = -time.Hour },
			`clients[0] (id "spa").refresh_idle_ttl: must not be negative (0 means tokens.refresh_idle_ttl)`},
		{"a client's access TTL is at most 24h", false, func(c *Config) { spa(c).AccessTTL = 48 * time.Hour },
			`clients[0] (id "spa").access_ttl: must be at most 24h`},
		{"a client's idle TTL cannot exceed the absolute TTL it gets", false, func(c *Config) { spa(c).RefreshAbsoluteTTL = time.Hour },
			`clients[0] (id "spa").refresh_idle_ttl: must not exceed refresh_absolute_ttl (1h0m0s), got 168h0m0s`},

		{"a browser app may keep its refresh token in a cookie", false, func(c *Config) { spa(c).RefreshTokenCookie = true }, ""},
		{"cookie mode is refused for a confidential client", false, func(c *Config) { spa(c).RefreshTokenCookie = true; spa(c).Secret = longSecret },
			`clients[0] (id "spa").refresh_token_cookie: is for browser apps, which are public clients: remove the secret`},
		{"cookie mode needs CORS origins", false, func(c *Config) { spa(c).RefreshTokenCookie = true; spa(c).CORSOrigins = nil },
			`clients[0] (id "spa").refresh_token_cookie: needs cors_origins: its refreshes and logouts must come with an exact Origin from that list`},
		{"cookie mode is refused together with token exchange", false, func(c *Config) { spa(c).RefreshTokenCookie = true; spa(c).TokenExchange = true },
			`clients[0] (id "spa").refresh_token_cookie: cannot be combined with token_exchange`},
		{"cookie mode is checked in dev mode too", true, func(c *Config) { spa(c).RefreshTokenCookie = true; spa(c).CORSOrigins = nil },
			`clients[0] (id "demo").refresh_token_cookie: needs cors_origins`},

		{"post-logout redirect URIs are optional", false, func(c *Config) { spa(c).PostLogoutRedirectURIs = nil }, ""},
		{"a post-logout redirect URI may be https, http on loopback or a custom scheme", false, func(c *Config) {
			spa(c).PostLogoutRedirectURIs = []string{"https://app.example.com/", "http://127.0.0.1:7000/bye", "com.example.app:/logout"}
		}, ""},
		{"a post-logout redirect URI is absolute", false, func(c *Config) { spa(c).PostLogoutRedirectURIs = []string{"https://app.example.com/", "/bye"} },
			`clients[0] (id "spa").post_logout_redirect_uris[1]: must be an absolute URI, got "/bye"`},
		{"a post-logout redirect URI has no fragment", false, func(c *Config) { spa(c).PostLogoutRedirectURIs = []string{"https://app.example.com/#bye"} },
			`clients[0] (id "spa").post_logout_redirect_uris[0]: must not contain a fragment`},
		{"a post-logout redirect URI has no wildcard", false, func(c *Config) { spa(c).PostLogoutRedirectURIs = []string{"https://*.example.com/"} },
			`clients[0] (id "spa").post_logout_redirect_uris[0]: must not contain wildcards`},
		{"an http post-logout redirect URI is refused in production", false, func(c *Config) { spa(c).PostLogoutRedirectURIs = []string{"http://app.example.com/"} },
			`clients[0] (id "spa").post_logout_redirect_uris[0]: must use https`},
		{"an http post-logout redirect URI on any host is allowed in dev mode", true, func(c *Config) { spa(c).PostLogoutRedirectURIs = []string{"http://devbox.lan/"} }, ""},
		{"a javascript: post-logout redirect URI is refused", false, func(c *Config) { spa(c).PostLogoutRedirectURIs = []string{"javascript:alert(1)"} },
			`clients[0] (id "spa").post_logout_redirect_uris[0]: scheme "javascript" is not allowed`},
		{"a repeated post-logout redirect URI is rejected", false, func(c *Config) {
			spa(c).PostLogoutRedirectURIs = []string{"https://app.example.com/", "https://app.example.com/"}
		}, `clients[0] (id "spa").post_logout_redirect_uris[1]: duplicate of post_logout_redirect_uris[0]`},

		{"introspection needs a confidential client", false, func(c *Config) { spa(c).Introspection = true },
			`clients[0] (id "spa").introspection: needs a confidential client: set secret or secret_file`},
		{"a confidential client may introspect", false, func(c *Config) { spa(c).Introspection = true; spa(c).Secret = longSecret }, ""},

		{"the admin API is off by default", false, func(c *Config) { c.Admin.Token = "" }, ""},
		{"an admin token shorter than 32 characters is refused", false, func(c *Config) { c.Admin.Token = longSecret[:31] },
			"admin.token: at least 32 characters"},
		{"an admin token counts characters, not bytes", false, func(c *Config) { c.Admin.Token = strings.Repeat("é", 31) },
			"admin.token: at least 32 characters"},
		{"a 32-character admin token is accepted", false, func(c *Config) { c.Admin.Token = longSecret[:32] }, ""},
		{"a short admin token is refused in dev mode too", true, func(c *Config) { c.Admin.Token = "admin" }, "admin.token: at least 32 characters"},

		{"the audit retention must be positive", false, func(c *Config) { c.Audit.Retention = 0 }, "audit.retention: must be greater than 0, got 0s"},
		{"a negative audit retention is refused", false, func(c *Config) { c.Audit.Retention = -time.Hour }, "audit.retention: must be greater than 0, got -1h0m0s"},

		{"log levels are debug, info, warn or error", false, func(c *Config) { c.Log.Level = "verbose" },
			`log.level: must be debug, info, warn or error, got "verbose"`},
		{"log levels ignore case", false, func(c *Config) { c.Log.Level = "DEBUG" }, ""},
		{"log formats are text or json", false, func(c *Config) { c.Log.Format = "xml" }, `log.format: must be text or json, got "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig(t, tt.dev)
			tt.mutate(c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v, want no error", err)
			case tt.want != "" && err == nil:
				t.Errorf("Validate succeeded, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Validate:\n%v\nwant a line containing %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	c := validConfig(t, false)
	c.Mode = "prod"
	c.Tokens.Algorithm = "none"
	c.Clients[0].CORSOrigins = []string{"*"}
	c.Log.Format = "xml"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	wants := []string{"mode:", "tokens.algorithm:", `clients[0] (id "spa").cors_origins[0]:`, "log.format:"}
	if len(lines) != len(wants) {
		t.Errorf("got %d problems, want %d:\n%v", len(lines), len(wants), err)
	}
	for i, want := range wants {
		if i < len(lines) && !strings.HasPrefix(lines[i], want) {
			t.Errorf("problem %d = %q, want it to start with %q", i, lines[i], want)
		}
	}
}

func TestErrorsNeverContainSecrets(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-Sup3rSecret"
	tests := []struct {
		name   string
		mutate func(c *Config)
	}{
		{"a malformed encryption key", func(c *Config) { c.Crypto.EncryptionKey = secret }},
		{"a short encryption key", func(c *Config) { c.Crypto.EncryptionKey = base64.StdEncoding.EncodeToString([]byte(secret)) }},
		{"a MongoDB URI with the wrong scheme", func(c *Config) { c.Store.MongoDBURI = "postgres://admin:" + secret + "@db.example.com" }},
		{"a Google secret without a client id", func(c *Config) { googleOf(c).ClientID = ""; googleOf(c).ClientSecret = secret }},
		{"a public URL with a password", func(c *Config) { c.Server.PublicURL = "https://u:" + secret + "@auth.example.com/" }},
		{"a Google endpoint with a password", func(c *Config) { googleOf(c).TokenURL = "ftp://u:" + secret + "@x.example.com" }},
		{"a client secret that is too short", func(c *Config) { c.Clients[0].Secret = secret }},
		{"an admin token that is too short", func(c *Config) { c.Admin.Token = secret }},
		{"a confidential client that is otherwise invalid", func(c *Config) {
			c.Clients[0].Secret = secret
			c.Clients[0].RedirectURIs = []string{"https://u:" + secret + "@app.example.com/cb"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig(t, false)
			tt.mutate(c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate succeeded, want an error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error reveals the secret: %v", err)
			}
		})
	}
}

func TestKeyAcceptsEveryBase64Form(t *testing.T) {
	t.Parallel()
	raw := []byte("0123456789abcdef0123456789abcdef")
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		s := enc.EncodeToString(raw)
		key, err := Crypto{EncryptionKey: s + "\n"}.Key()
		if err != nil || string(key) != string(raw) {
			t.Errorf("Key(%q) = %q, %v; want the 32 bytes", s, key, err)
		}
	}
}

func TestAProblemClientsInheritIsReportedOnceUnderTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string // every line of the error
	}{
		{"an idle TTL longer than the absolute one", func(c *Config) { c.Tokens.RefreshIdleTTL = 3000 * time.Hour },
			[]string{"tokens.refresh_idle_ttl: must not exceed refresh_absolute_ttl (720h0m0s), got 3000h0m0s"}},
		{"an access TTL over 24h", func(c *Config) { c.Tokens.AccessTTL = 25 * time.Hour },
			[]string{"tokens.access_ttl: must be at most 24h (a backend that does not follow the revocation feed accepts one until it expires), got 25h0m0s"}},
		{"a client that sets one of the values compared is reported too", func(c *Config) {
			c.Tokens.RefreshIdleTTL = 3000 * time.Hour
			c.Clients[1].RefreshAbsoluteTTL = time.Hour
		}, []string{
			"tokens.refresh_idle_ttl: must not exceed refresh_absolute_ttl (720h0m0s), got 3000h0m0s",
			`clients[1] (id "mobile").refresh_idle_ttl: must not exceed refresh_absolute_ttl (1h0m0s), got 3000h0m0s`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig(t, false)
			c.Clients = slices.Insert(c.Clients, 1, Client{ID: "mobile", Name: "mobile", RedirectURIs: []string{"com.example.app:/cb"}})
			tt.mutate(c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate succeeded")
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("Validate:\n%v\nwant exactly:\n%s", err, strings.Join(tt.want, "\n"))
			}
		})
	}
}
