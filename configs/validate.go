package configs

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Validate reports every problem of a configuration whose defaults are
// applied, one per line, each starting with the full key path. Messages
// never contain secret values (client secrets, the encryption key, the
// MongoDB URI).
func (c *Config) Validate() error {
	var errs []error
	for _, p := range c.problems() {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// problems lists what Validate reports, in key order.
func (c *Config) problems() []problem {
	v := validator{prod: c.Mode != ModeDev} // an unknown mode gets the strict rules
	if c.Mode != ModeDev && c.Mode != ModeProduction {
		v.add("mode", "must be %q or %q, got %q", ModeDev, ModeProduction, c.Mode)
	}
	v.defaultedDevMode(c)
	if c.DataDir == "" {
		v.add("data_dir", "must not be empty")
	}
	v.server(c)
	v.store(c.Store)
	v.crypto(c.Crypto)
	v.tokens(c.Tokens)
	v.login(c.Login)
	v.validateProviders(c, c.providerTypeNames())
	c.Claims.Validate(c.providerNames(), func(key, msg string) { v.add("claims."+key, "%s", msg) })
	c.Claims.CheckSources(c.openTenancy(), func(key, msg string) { v.add("claims."+key, "%s", msg) })
	v.clients(c)
	v.admin(c.Admin)
	v.positive("audit.retention", c.Audit.Retention)
	v.metrics(c)
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.Log.Level)) {
		v.add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		v.add("log.format", "must be text or json, got %q", c.Log.Format)
	}
	return v.problems
}

// problem is one thing wrong with one key.
type problem struct {
	key string // as shown: clients[0] (id "spa").secret
	msg string
}

func (p problem) Error() string { return p.key + ": " + p.msg }

// Key decodes the encryption key: base64, standard or URL alphabet, with
// or without padding, of exactly 32 bytes.
func (c Crypto) Key() ([]byte, error) {
	s := strings.TrimSpace(c.EncryptionKey)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		key, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("decodes to %d bytes, want 32 (make one with: openssl rand -base64 32)", len(key))
		}
		return key, nil
	}
	return nil, errors.New("is not base64 (make one with: openssl rand -base64 32)")
}

// validator collects problems.
type validator struct {
	prod     bool
	problems []problem
}

func (v *validator) add(key, format string, args ...any) {
	v.problems = append(v.problems, problem{key: key, msg: fmt.Sprintf(format, args...)})
}

// defaultedDevMode refuses a dev mode nobody asked for when the settings
// look like a deployment: without a config file socialbridge defaults to
// dev mode, whose test-user provider signs anyone in, so an
// environment-only deployment that forgot SOCIALBRIDGE_MODE must not start.
func (v *validator) defaultedDevMode(c *Config) {
	if c.Mode != ModeDev || !c.modeDefaulted {
		return
	}
	var keys []string
	if u, err := url.Parse(c.Server.PublicURL); err == nil && u.Scheme == "https" {
		keys = append(keys, "server.public_url (https)")
	}
	keys = append(keys, c.realProviders()...)
	if len(keys) == 0 {
		return
	}
	v.add("mode", "not set, so dev mode applies (there is no config file), whose test-user provider signs anyone in, but production "+
		"settings are set: %s. Set mode: production (SOCIALBRIDGE_MODE=production) and crypto.encryption_key, or mode: dev "+
		"(SOCIALBRIDGE_MODE=dev) explicitly to keep the dev provider", strings.Join(keys, ", "))
}

func (v *validator) server(c *Config) {
	s := c.Server
	host, port, err := net.SplitHostPort(s.Addr)
	switch {
	case err != nil || !validPort(port):
		v.add("server.addr", "must be host:port with a numeric port (e.g. :8080 or 127.0.0.1:8080), got %q", s.Addr)
	case c.Mode == ModeDev && !s.AllowDevOnAllInterfaces && !isLoopback(host):
		// An empty host or 0.0.0.0 means every interface.
		v.add("server.addr", "dev mode listens on loopback only (127.0.0.1, ::1 or localhost), got %q: its test-user provider "+
			"signs anyone in. Use e.g. 127.0.0.1:%s, or set mode: production for a deployment; in a container, set "+
			"server.allow_dev_on_all_interfaces: true and publish the port on the host's loopback (docker run -p 127.0.0.1:8080:8080)", s.Addr, port)
	}
	switch {
	case s.PublicURL == "" && v.prod:
		v.add("server.public_url", "required in production: the URL clients reach socialbridge at, e.g. https://auth.example.com")
	case s.PublicURL != "":
		v.publicURL(s.PublicURL)
	}
	if s.MaxBodyBytes <= 0 {
		v.add("server.max_body_bytes", "must be greater than 0, got %d", s.MaxBodyBytes)
	}
	if s.RateLimitShared && s.RateLimit <= 0 {
		v.add("server.rate_limit_shared", "needs a rate limit to share, but server.rate_limit is %d (off); "+
			"set server.rate_limit to a positive number, or drop rate_limit_shared", s.RateLimit)
	}
	v.positive("server.shutdown_timeout", s.ShutdownTimeout)
	for i, p := range s.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				v.add(fmt.Sprintf("server.trusted_proxies[%d]", i), "must be an IP address or a CIDR like 10.0.0.0/8, got %q", p)
			}
		}
	}
	if v.prod && c.DemoPageEnabled() && !c.hasClient(demoClientID) {
		v.add("server.demo_page", "needs a client with id %q outside dev mode (the built-in one exists only in dev mode)", demoClientID)
	}
	// The account page's built-in client exists in every mode; a
	// configured client with its id replaces it, and must be able to run
	// the page (it signs in with the account scope, in cookie mode).
	if c.AccountPageEnabled() {
		for i, cl := range c.Clients {
			if cl.ID != accountClientID {
				continue
			}
			key := fmt.Sprintf("clients[%d] (id %s)", i, cl.ID)
			if !cl.AccountManagement {
				v.add(key+".account_management", "must be true: the account page (server.account_page) signs in with this client and manages the account")
			}
			if !cl.RefreshTokenCookie {
				v.add(key+".refresh_token_cookie", "must be true: the account page (server.account_page) keeps its refresh token in a cookie")
			}
		}
	}
}

func (v *validator) publicURL(raw string) {
	const key = "server.public_url"
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(raw, "?#") {
		v.add(key, "must be an absolute http(s) URL without query or fragment, got %q", redact(raw))
		return
	}
	if problem := v.httpURL(raw); problem != "" {
		v.add(key, "%s", problem)
		return
	}
	if strings.HasSuffix(u.Path, "/") {
		v.add(key, "must not end with a slash, got %q (use %q)", raw, strings.TrimRight(raw, "/"))
	}
}

// httpURL describes what makes raw unusable as an absolute http(s) URL,
// or returns "".
func (v *validator) httpURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return fmt.Sprintf("must be an absolute http(s) URL, got %q", redact(raw))
	case u.User != nil:
		return "must not contain a user name or password"
	case v.prod && u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Sprintf("must use https in production (http only for localhost, 127.0.0.1 or ::1), got %q", raw)
	}
	return ""
}

// redact hides the password of a URL that has one.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}

func (v *validator) store(s Store) {
	uri := s.MongoDBURI
	if uri != "" && !strings.HasPrefix(uri, "mongodb://") && !strings.HasPrefix(uri, "mongodb+srv://") {
		v.add("store.mongodb_uri", "must start with mongodb:// or mongodb+srv://") // the URI may hold a password: not shown
	}
	if s.Database == "" || len(s.Database) >= 64 || strings.ContainsAny(s.Database, `/\. "$`) {
		v.add("store.database", `must be a MongoDB database name (1 to 63 bytes, none of /\. "$), got %q`, s.Database)
	}
	if s.SQLite.Synchronous != "normal" && s.SQLite.Synchronous != "full" {
		v.add("store.sqlite.synchronous", `must be "normal" or "full", got %q`, s.SQLite.Synchronous)
	}
	if strings.HasSuffix(s.SQLite.Path, "/") {
		v.add("store.sqlite.path", "must name a file, not a directory, got %q", s.SQLite.Path)
	}
}

func (v *validator) crypto(c Crypto) {
	switch {
	case c.EncryptionKey != "":
		if _, err := c.Key(); err != nil {
			v.add("crypto.encryption_key", "%v", err)
		}
	case v.prod:
		v.add("crypto.encryption_key", "required in production (set SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY or crypto.encryption_key_file)")
	}
}

// signingAlgorithms are the JWS algorithms socialbridge signs with.
var signingAlgorithms = []string{"ES256", "RS256", "PS256", "EdDSA"}

// idTokenAlgorithms are the same, listed RS256 first: the one OpenID
// Connect requires every relying party to support (Discovery §3).
var idTokenAlgorithms = []string{"RS256", "ES256", "PS256", "EdDSA"}

func (v *validator) tokens(t Tokens) {
	if !slices.Contains(signingAlgorithms, t.Algorithm) {
		v.add("tokens.algorithm", "must be one of %s, got %q", strings.Join(signingAlgorithms, ", "), t.Algorithm)
	}
	if !slices.Contains(idTokenAlgorithms, t.IDTokenAlgorithm) {
		v.add("tokens.id_token_algorithm", "must be one of %s, got %q", strings.Join(idTokenAlgorithms, ", "), t.IDTokenAlgorithm)
	}
	v.positive("tokens.access_ttl", t.AccessTTL)
	v.positive("tokens.refresh_idle_ttl", t.RefreshIdleTTL)
	v.positive("tokens.refresh_absolute_ttl", t.RefreshAbsoluteTTL)
	v.positive("tokens.key_rotation", t.KeyRotation)
	v.positive("tokens.key_publish_ahead", t.KeyPublishAhead)
	v.ttls("tokens", t.AccessTTL, t.RefreshIdleTTL, t.RefreshAbsoluteTTL)
	if t.RefreshReuseGrace < 0 || t.RefreshReuseGrace >= t.AccessTTL {
		v.add("tokens.refresh_reuse_grace", "must be at least 0 and shorter than tokens.access_ttl (%s), got %s", t.AccessTTL, t.RefreshReuseGrace)
	}
	if t.KeyPublishAhead >= t.KeyRotation && t.KeyRotation > 0 {
		v.add("tokens.key_publish_ahead", "must be shorter than tokens.key_rotation (%s), got %s", t.KeyRotation, t.KeyPublishAhead)
	}
	v.nonEmpty("tokens.audience", t.Audience)
}

// ttls checks the access and refresh lifetimes of tokens.* against each
// other (clientTTLs does a client's).
func (v *validator) ttls(path string, access, idle, absolute time.Duration) {
	if access > 24*time.Hour {
		v.add(path+".access_ttl", "must be at most 24h (a backend that does not follow the revocation feed accepts one until it expires), got %s", access)
	}
	if access > idle && idle > 0 {
		v.add(path+".access_ttl", "must not exceed refresh_idle_ttl (%s): an access token must not outlive its session, got %s", idle, access)
	}
	if idle > absolute {
		v.add(path+".refresh_idle_ttl", "must not exceed refresh_absolute_ttl (%s), got %s", absolute, idle)
	}
}

func (v *validator) login(l Login) {
	v.positive("login.flow_ttl", l.FlowTTL)
	v.positive("login.code_ttl", l.CodeTTL)
	if l.CodeTTL > 10*time.Minute {
		v.add("login.code_ttl", "must be at most 10m (RFC 6749 §4.1.2), got %s", l.CodeTTL)
	}
}

// clientID is what a client_id may look like: safe in URLs, logs and keys.
var clientID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// MinClientSecretLength is the shortest client secret accepted. A client
// secret is a password no person types: 32 characters is what 128 random
// bits take in hex (openssl rand -hex 16) and fewer than base64 of 32 bytes
// (openssl rand -base64 32), and it refuses the short human-chosen ones
// ("secret", "changeme") that a guessing attack finds (RFC 6749 §10.10,
// RFC 6819 §5.1.4.2.2). It is also the 256-bit minimum of an HS256 key
// (RFC 7518 §3.2), should client_secret_jwt be added.
const MinClientSecretLength = 32

func (v *validator) clients(c *Config) {
	first := map[string]int{}
	for i, cl := range c.Clients {
		path := listItem("clients", i, cl.ID)
		switch j, dup := first[cl.ID]; {
		case cl.ID == "":
			v.add(path+".id", "required")
		case !clientID.MatchString(cl.ID):
			v.add(path+".id", "must be 1 to 128 of A-Z a-z 0-9 . _ -")
		case dup:
			v.add(fmt.Sprintf("clients[%d].id", i), "%q is already used by clients[%d]", cl.ID, j)
		default:
			first[cl.ID] = i
		}
		if cl.Secret != "" && utf8.RuneCountInString(cl.Secret) < MinClientSecretLength {
			v.add(path+".secret", "must be at least %d characters: it is a password no person types, so make it long and random "+
				"(openssl rand -base64 32), or leave it empty for a public client", MinClientSecretLength)
		}

		// A backend (a client with a secret that only introspects, reads
		// the feed or fetches provider tokens) and a native app that only
		// exchanges SDK tokens never sign anyone in through a browser.
		if len(cl.RedirectURIs) == 0 && cl.Secret == "" && cl.SecretFile == "" && !cl.TokenExchange {
			v.add(path+".redirect_uris", "at least one redirect URI is required (only a client with a secret, a backend, "+
				"or a native app with token_exchange may have none)")
		}
		v.redirectURIs(path+".redirect_uris", cl.RedirectURIs)
		for j, raw := range cl.CORSOrigins {
			if problem := v.origin(raw); problem != "" {
				v.add(fmt.Sprintf("%s.cors_origins[%d]", path, j), "%s", problem)
			}
		}

		enabled := false
		for j, p := range cl.Providers {
			switch {
			case c.ProviderEnabled(p):
				enabled = true
			case !slices.ContainsFunc(c.Providers.Instances, func(i ProviderInstance) bool { return i.Name == p }):
				v.add(fmt.Sprintf("%s.providers[%d]", path, j), "%q is not a configured provider (configured: %s)", p, strings.Join(c.providerNames(), ", "))
			}
		}
		if len(cl.Providers) > 0 && !enabled {
			v.add(path+".providers", "none of the listed providers is enabled")
		}

		if cl.TokenExchange && cl.Secret != "" {
			v.add(path+".token_exchange", "is for native apps, which are public clients: remove the secret (a secret in an app is not a secret)")
		}
		if cl.ProviderTokens && cl.Secret == "" {
			v.add(path+".provider_tokens", "needs a confidential client (secret): provider tokens are for backends, never for browsers or apps")
		}
		v.nonNegative(path+".access_ttl", cl.AccessTTL, "tokens.access_ttl")
		v.nonNegative(path+".refresh_idle_ttl", cl.RefreshIdleTTL, "tokens.refresh_idle_ttl")
		v.nonNegative(path+".refresh_absolute_ttl", cl.RefreshAbsoluteTTL, "tokens.refresh_absolute_ttl")
		v.clientTTLs(path, cl, c.Tokens)
		v.nonEmpty(path+".audience", cl.Audience)
		if a := cl.IDTokenSignedResponseAlg; a != "" && !slices.Contains(idTokenAlgorithms, a) {
			v.add(path+".id_token_signed_response_alg", "must be one of %s (empty: tokens.id_token_algorithm), got %q", strings.Join(idTokenAlgorithms, ", "), a)
		}
		if cl.RefreshTokenCookie {
			v.refreshTokenCookie(path, cl)
		}
		v.redirectURIs(path+".post_logout_redirect_uris", cl.PostLogoutRedirectURIs)
		if cl.Introspection && cl.Secret == "" {
			// RFC 7662 §2.1: the endpoint must authorize its callers,
			// or anyone could scan for valid tokens.
			v.add(path+".introspection", "needs a confidential client: set secret or secret_file")
		}
	}
}

// redirectURIs checks a client's list of redirect URIs at key: each
// valid (see redirectURI) and none repeated.
func (v *validator) redirectURIs(key string, uris []string) {
	name := key[strings.LastIndex(key, ".")+1:]
	seen := map[string]int{}
	for j, raw := range uris {
		item := fmt.Sprintf("%s[%d]", key, j)
		if k, dup := seen[raw]; dup {
			v.add(item, "duplicate of %s[%d]", name, k)
			continue
		}
		seen[raw] = j
		if problem := v.redirectURI(raw); problem != "" {
			v.add(item, "%s", problem)
		}
	}
}

// refreshTokenCookie checks a client in cookie mode: a browser app, whose
// refresh token an HttpOnly cookie keeps from its scripts. A secret has no
// place in a browser, and a native app (token exchange) has no cookies.
// The cookie goes with every request to socialbridge, so refreshes and
// logouts must prove where they come from with an exact Origin.
func (v *validator) refreshTokenCookie(path string, cl Client) {
	key := path + ".refresh_token_cookie"
	if cl.Secret != "" {
		v.add(key, "is for browser apps, which are public clients: remove the secret (a secret in a browser is not a secret)")
	}
	if cl.TokenExchange {
		v.add(key, "cannot be combined with token_exchange: token exchange is for native apps, which keep their refresh token themselves")
	}
	if len(cl.CORSOrigins) == 0 {
		v.add(key, "needs cors_origins: its refreshes and logouts must come with an exact Origin from that list")
	}
}

// MinAdminTokenLength is the shortest admin.token accepted: like a client
// secret (MinClientSecretLength), it is a password no person types.
const MinAdminTokenLength = MinClientSecretLength

func (v *validator) admin(a Admin) {
	if a.Token != "" && utf8.RuneCountInString(a.Token) < MinAdminTokenLength {
		v.add("admin.token", "at least %d characters: it is a password no person types, so make it long and random "+
			"(openssl rand -base64 32), or leave it empty to turn the admin API off", MinAdminTokenLength)
	}
}

// clientTTLs checks a client's effective lifetimes the way ttls checks
// tokens.*, but only where the client sets one of the values compared: a
// problem of the inherited values alone is reported once, under tokens.
func (v *validator) clientTTLs(path string, cl Client, t Tokens) {
	if cl.AccessTTL > 24*time.Hour {
		v.add(path+".access_ttl", "must be at most 24h (a backend that does not follow the revocation feed accepts one until it expires), got %s", cl.AccessTTL)
	}
	idle, absolute := or(cl.RefreshIdleTTL, t.RefreshIdleTTL), or(cl.RefreshAbsoluteTTL, t.RefreshAbsoluteTTL)
	if (cl.RefreshIdleTTL > 0 || cl.RefreshAbsoluteTTL > 0) && idle > absolute {
		v.add(path+".refresh_idle_ttl", "must not exceed refresh_absolute_ttl (%s), got %s", absolute, idle)
	}
}

// redirectURI describes what is wrong with a client's redirect URI, or
// returns "". RFC 9700 §4.1.3: redirect URIs are compared exactly, so they
// must be complete; RFC 8252 §7: native apps may use custom schemes or
// http on a loopback host.
func (v *validator) redirectURI(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Scheme == "":
		return fmt.Sprintf("must be an absolute URI, got %q", raw)
	case u.User != nil:
		return "must not contain a user name or password"
	case strings.Contains(raw, "#"):
		return fmt.Sprintf("must not contain a fragment (RFC 6749 §3.1.2), got %q", raw)
	case strings.Contains(raw, "*"):
		return fmt.Sprintf("must not contain wildcards: redirect URIs are matched exactly, got %q", raw)
	case slices.Contains([]string{"javascript", "data", "vbscript", "file"}, strings.ToLower(u.Scheme)):
		return fmt.Sprintf("scheme %q is not allowed", u.Scheme)
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host == "":
		return fmt.Sprintf("must have a host, got %q", raw)
	case u.Scheme == "http" && v.prod && !isLoopback(u.Hostname()):
		return fmt.Sprintf("must use https (http only for localhost, 127.0.0.1 or ::1 outside dev mode), got %q", raw)
	}
	return ""
}

// origin describes what is wrong with a CORS origin, or returns "".
// Browsers send the Origin header as scheme://host[:port] in lower case,
// and it is compared exactly.
func (v *validator) origin(raw string) string {
	if raw == "*" {
		return `"*" is not allowed: list each origin (scheme://host[:port])`
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || strings.ContainsAny(raw, "?#"):
		return fmt.Sprintf("must be an origin like https://app.example.com (scheme://host[:port]), got %q", raw)
	case u.Path == "/":
		return fmt.Sprintf("must not end with a slash, got %q (use %q)", raw, strings.TrimSuffix(raw, "/"))
	case u.Path != "":
		return fmt.Sprintf("must be an origin without a path, got %q (use %q)", raw, u.Scheme+"://"+u.Host)
	case raw != strings.ToLower(raw):
		return fmt.Sprintf("must be lower case, as browsers send it, got %q", raw)
	case u.Scheme == "http" && v.prod && !isLoopback(u.Hostname()):
		return fmt.Sprintf("must use https (http only for localhost, 127.0.0.1 or ::1 outside dev mode), got %q", raw)
	}
	return ""
}

func (v *validator) positive(key string, d time.Duration) {
	if d <= 0 {
		v.add(key, "must be greater than 0, got %s", d)
	}
}

func (v *validator) nonNegative(key string, d time.Duration, fallback string) {
	if d < 0 {
		v.add(key, "must not be negative (0 means %s), got %s", fallback, d)
	}
}

func (v *validator) nonEmpty(key string, list []string) {
	for i, s := range list {
		if strings.TrimSpace(s) == "" {
			v.add(fmt.Sprintf("%s[%d]", key, i), "must not be empty")
		}
	}
}

// metrics checks metrics.addr: a listen address of its own, so that the
// metrics never share the public listener.
func (v *validator) metrics(c *Config) {
	addr := c.MetricsAddr()
	if addr == "" {
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !validPort(port) {
		v.add("metrics.addr", "must be host:port with a numeric port (e.g. 127.0.0.1:9464 or :9464), or \"off\", got %q", addr)
		return
	}
	sHost, sPort, err := net.SplitHostPort(c.Server.Addr)
	if err != nil || port != sPort || port == "0" {
		return
	}
	if host == sHost || anyInterface(host) || anyInterface(sHost) {
		v.add("metrics.addr", "must differ from server.addr (%s): metrics are served on a listener of their own, never the public one", c.Server.Addr)
	}
}

// anyInterface reports whether a listen host means every interface.
func anyInterface(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func validPort(port string) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

// or returns v, or def when v is 0.
func or(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}
