package configs

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// DemoPageEnabled reports whether the demo page is served at /demo/.
func (c *Config) DemoPageEnabled() bool {
	return c.Server.DemoPage != nil && *c.Server.DemoPage
}

// MetricsAddr returns where /metrics is served, or "" when metrics are
// off (metrics.addr empty or "off").
func (c *Config) MetricsAddr() string {
	if c.Metrics.Addr == nil || strings.EqualFold(strings.TrimSpace(*c.Metrics.Addr), "off") {
		return ""
	}
	return strings.TrimSpace(*c.Metrics.Addr)
}

// AccountPageEnabled reports whether the account page is served at
// /account/.
func (c *Config) AccountPageEnabled() bool {
	return c.Server.AccountPage != nil && *c.Server.AccountPage
}

// AdminAPIEnabled reports whether the admin API is on: admin.token is set.
func (c *Config) AdminAPIEnabled() bool { return c.Admin.Token != "" }

// AudienceFor returns the aud of access tokens issued to clientID: the
// client's own audience, else tokens.audience, else server.public_url.
func (c *Config) AudienceFor(clientID string) []string {
	for _, cl := range c.Clients {
		if cl.ID == clientID && len(cl.Audience) > 0 {
			return slices.Clone(cl.Audience)
		}
	}
	if len(c.Tokens.Audience) > 0 {
		return slices.Clone(c.Tokens.Audience)
	}
	if c.Server.PublicURL == "" {
		return nil
	}
	return []string{c.Server.PublicURL}
}

// Summary returns slog key/value pairs that describe what is enabled, for
// the start-up log line. It holds no secrets: the MongoDB URI is reduced to
// its hosts.
func (c *Config) Summary() []any {
	var providers []string
	for _, p := range c.EnabledProviders() {
		if p.Type == p.Name {
			providers = append(providers, p.Name)
		} else {
			providers = append(providers, p.Name+" ("+p.Type+")")
		}
	}
	out := []any{
		"mode", string(c.Mode),
		"providers", strings.Join(providers, ","),
		"clients", len(c.Clients),
		"demo_page", c.DemoPageEnabled(),
		"account_page", c.AccountPageEnabled(),
		"admin_api", c.AdminAPIEnabled(),
		"audit_retention", c.Audit.Retention.String(),
		"metrics", cmpOr(c.MetricsAddr(), "off"),
		"rate_limit", c.rateLimitSummary(),
	}
	if c.Store.MongoDBURI == "" {
		return append(out, "store", "sqlite", "sqlite_path", c.Store.SQLite.Path, "sqlite_synchronous", c.Store.SQLite.Synchronous)
	}
	return append(out, "store", "mongodb", "mongodb_hosts", mongoDBHosts(c.Store.MongoDBURI), "database", c.Store.Database)
}

// rateLimitSummary says how requests are limited per client IP.
func (c *Config) rateLimitSummary() string {
	switch {
	case c.Server.RateLimit <= 0:
		return "off"
	case c.Server.RateLimitShared:
		return fmt.Sprintf("%d/s per IP, shared by the replicas", c.Server.RateLimit)
	default:
		return fmt.Sprintf("%d/s per IP, per replica", c.Server.RateLimit)
	}
}

// mongoDBHosts returns the host list of a MongoDB URI, without the
// credentials, database and options around it. The URI is not parsed with
// net/url, which rejects the comma-separated host lists MongoDB allows.
func mongoDBHosts(uri string) string {
	_, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return ""
	}
	// Credentials end at the last "@": cutting there first never leaves
	// part of a password behind, whatever it contains.
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// ClientSettings returns the configured clients with every default
// resolved: TTLs and the ID-token algorithm from tokens.* where a client
// sets none, and the audience from AudienceFor.
func (c *Config) ClientSettings() []Client {
	out := make([]Client, len(c.Clients))
	for i, cl := range c.Clients {
		cl.Audience = c.AudienceFor(cl.ID)
		setDefault(&cl.AccessTTL, c.Tokens.AccessTTL)
		setDefault(&cl.RefreshIdleTTL, c.Tokens.RefreshIdleTTL)
		setDefault(&cl.RefreshAbsoluteTTL, c.Tokens.RefreshAbsoluteTTL)
		setDefault(&cl.IDTokenSignedResponseAlg, c.Tokens.IDTokenAlgorithm)
		out[i] = cl
	}
	return out
}

// TokenLifetimes returns the longest access-token and refresh-token
// lifetimes any client can get, so that a retired signing key stays
// published until every token it signed has expired.
func (c *Config) TokenLifetimes() (access, refresh time.Duration) {
	access, refresh = c.Tokens.AccessTTL, c.Tokens.RefreshAbsoluteTTL
	for _, cl := range c.ClientSettings() {
		access = max(access, cl.AccessTTL)
		refresh = max(refresh, min(cl.RefreshIdleTTL, cl.RefreshAbsoluteTTL))
	}
	return access, refresh
}

// Warnings returns what the configuration allows but is probably a
// mistake, one line each starting with the key or variable it is about,
// for the start-up log: SOCIALBRIDGE_* variables that set nothing (dev
// mode; production refuses them), clients that share the default audience
// (production), and dev mode listening beyond loopback.
func (c *Config) Warnings() []string {
	out := slices.Clone(c.envWarnings)
	if c.Mode == ModeProduction {
		var shared []string
		for _, cl := range c.Clients {
			if len(cl.Audience) == 0 {
				shared = append(shared, cl.ID)
			}
		}
		if len(shared) > 1 {
			// An API checks aud, not client_id: with one audience for all,
			// a token any of these clients obtained passes at every API
			// that accepts the others' (RFC 9068 §4, RFC 8707).
			out = append(out, fmt.Sprintf("clients: %s share the default audience %s (tokens.audience, else server.public_url), "+
				"so an access token issued to one is accepted by the API of any other; give each client its own audience "+
				"(clients[].audience; set the same value on each explicitly when they do call the same API)",
				strings.Join(shared, ", "), strings.Join(c.AudienceFor(shared[0]), ", ")))
		}
	}
	if c.Server.AllowDevOnAllInterfaces {
		if c.Mode == ModeDev {
			out = append(out, fmt.Sprintf("server.allow_dev_on_all_interfaces: dev mode listens on %s: whoever reaches it can sign in as a test user; "+
				"publish the port on loopback only (docker run -p 127.0.0.1:8080:8080)", c.Server.Addr))
		} else {
			out = append(out, "server.allow_dev_on_all_interfaces: has no effect outside dev mode")
		}
	}
	return out
}
