package configs

import (
	"slices"
	"strings"
	"time"
)

// GoogleEnabled reports whether Sign in with Google is configured.
func (c *Config) GoogleEnabled() bool { return c.Providers.Google.ClientID != "" }

// DevEnabled reports whether the dev provider is on.
func (c *Config) DevEnabled() bool {
	return c.Providers.Dev.Enabled != nil && *c.Providers.Dev.Enabled
}

// DemoPageEnabled reports whether the demo page is served at /demo/.
func (c *Config) DemoPageEnabled() bool {
	return c.Server.DemoPage != nil && *c.Server.DemoPage
}

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
	if c.GoogleEnabled() {
		providers = append(providers, "google")
	}
	if c.DevEnabled() {
		providers = append(providers, "dev")
	}
	out := []any{
		"mode", string(c.Mode),
		"providers", strings.Join(providers, ","),
		"clients", len(c.Clients),
		"demo_page", c.DemoPageEnabled(),
	}
	if c.Store.MongoDBURI == "" {
		return append(out, "store", "sqlite", "sqlite_path", c.Store.SQLite.Path, "sqlite_synchronous", c.Store.SQLite.Synchronous)
	}
	return append(out, "store", "mongodb", "mongodb_hosts", mongoDBHosts(c.Store.MongoDBURI), "database", c.Store.Database)
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
// resolved: TTLs from tokens.* where a client sets none, and the audience
// from AudienceFor.
func (c *Config) ClientSettings() []Client {
	out := make([]Client, len(c.Clients))
	for i, cl := range c.Clients {
		cl.Audience = c.AudienceFor(cl.ID)
		setDefault(&cl.AccessTTL, c.Tokens.AccessTTL)
		setDefault(&cl.RefreshIdleTTL, c.Tokens.RefreshIdleTTL)
		setDefault(&cl.RefreshAbsoluteTTL, c.Tokens.RefreshAbsoluteTTL)
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
