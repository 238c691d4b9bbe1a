package configs

import (
	"github.com/socialbridge/socialbridge/providers"

	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The ids of the built-in clients of socialbridge's own pages.
const (
	// demoClientID is the demo page's client.
	demoClientID = "demo"
	// demoCookieClientID is the demo page's client in cookie mode.
	demoCookieClientID = "demo-cookie"
	// accountClientID is the account page's client.
	accountClientID = "socialbridge-account"
)

// DefaultMetricsAddr is metrics.addr unless configured: loopback, so that
// metrics are not exposed beyond the host by default.
const DefaultMetricsAddr = "127.0.0.1:9464"

// applyDefaults fills every unset value; it is the only place defaults
// live. A zero value means unset, so "0s" in the file also gets the
// default. Mode must already be decided.
//
// Per-client TTLs stay 0, meaning "use tokens.*": copying the defaults in
// would hide whether a client overrides them. tokens.audience stays empty,
// meaning "server.public_url" (see AudienceFor). In dev mode with port 0 in
// server.addr, server.public_url stays empty: the caller knows it only
// after listening and passes it to SetPublicURL, which adds the built-in
// clients that need it.
func (c *Config) applyDefaults() {
	dev := c.Mode == ModeDev
	setDefault(&c.DataDir, "./data")

	if dev {
		setDefault(&c.Server.Addr, "127.0.0.1:8080")
		setDefault(&c.Server.PublicURL, devPublicURL(c.Server.Addr))
	} else {
		setDefault(&c.Server.Addr, ":8080")
	}
	setDefault(&c.Server.MaxBodyBytes, 64<<10)
	setDefault(&c.Server.RateLimit, 20)
	setDefault(&c.Server.ShutdownTimeout, 15*time.Second)
	if c.Server.DemoPage == nil {
		c.Server.DemoPage = new(dev)
	}
	if c.Server.AccountPage == nil {
		c.Server.AccountPage = new(true)
	}

	setDefault(&c.Store.Database, "socialbridge")
	setDefault(&c.Store.SQLite.Path, filepath.Join(c.DataDir, "socialbridge.db"))
	setDefault(&c.Store.SQLite.Synchronous, "normal")

	t := &c.Tokens
	setDefault(&t.Algorithm, "ES256")
	setDefault(&t.AccessTTL, 15*time.Minute)
	setDefault(&t.RefreshIdleTTL, 7*24*time.Hour)
	setDefault(&t.RefreshAbsoluteTTL, 30*24*time.Hour)
	setDefault(&t.RefreshReuseGrace, 10*time.Second)
	setDefault(&t.KeyRotation, 30*24*time.Hour)
	setDefault(&t.KeyPublishAhead, 24*time.Hour)
	setDefault(&t.IDTokenAlgorithm, "RS256")

	setDefault(&c.Login.FlowTTL, 10*time.Minute)
	setDefault(&c.Login.CodeTTL, 60*time.Second)

	var newDev func() providers.Settings
	for _, t := range c.providerTypes {
		if t.Name == "dev" {
			newDev = t.NewSettings
		}
	}
	c.providerDefaults(newDev)

	setDefault(&c.Audit.Retention, 90*24*time.Hour)

	setDefault(&c.Log.Level, "info")
	setDefault(&c.Log.Format, "text")
	if c.Metrics.Addr == nil {
		c.Metrics.Addr = new(DefaultMetricsAddr)
	}

	for i := range c.Clients {
		setDefault(&c.Clients[i].Name, c.Clients[i].ID)
	}
	c.addDemoClient()
	c.addAccountClient()
}

// SetMetricsAddr records where metrics are served once the listener is
// up (the port chosen for port 0), or "" when they are not served, so that
// Summary tells the truth.
func (c *Config) SetMetricsAddr(addr string) { c.Metrics.Addr = &addr }

// SetPublicURL sets server.public_url once it is known, for a dev-mode
// configuration that listens on port 0 and so could not derive it, and adds
// the built-in clients, which need it. Call it before using the clients.
func (c *Config) SetPublicURL(publicURL string) {
	c.Server.PublicURL = publicURL
	c.addDemoClient()
	c.addAccountClient()
}

// DemoClientID returns the client id the demo page signs in with: the
// built-in dev-mode client, or a configured client with that id.
func (c *Config) DemoClientID() string { return demoClientID }

// DemoCookieClientID returns the client id the demo page signs in with in
// cookie mode: the built-in dev-mode client, or a configured client with
// that id; "" when the demo page is off or there is no such client (a
// production demo page may do without cookie mode).
func (c *Config) DemoCookieClientID() string {
	if !c.DemoPageEnabled() || !c.hasClient(demoCookieClientID) {
		return ""
	}
	return demoCookieClientID
}

// AccountClientID returns the client id the account page signs in with:
// the built-in client, or a configured client with that id; "" when the
// account page is off.
func (c *Config) AccountClientID() string {
	if !c.AccountPageEnabled() {
		return ""
	}
	return accountClientID
}

// addDemoClient appends the demo page's public clients in dev mode, one
// keeping its refresh token in the page and one in cookie mode, each
// unless one with its id is configured, and only once the public URL they
// redirect to is known.
func (c *Config) addDemoClient() {
	if c.Mode != ModeDev || !c.DemoPageEnabled() {
		return
	}
	base, origin, ok := c.publicBase()
	if !ok {
		return
	}
	demo := Client{
		ID:           demoClientID,
		Name:         "socialbridge demo",
		RedirectURIs: []string{base + "/demo/"},
		CORSOrigins:  []string{origin},
		// The demo page shows linked accounts and links more.
		AccountManagement:      true,
		PostLogoutRedirectURIs: []string{base + "/demo/"},
	}
	if !c.hasClient(demoClientID) {
		c.Clients = append(c.Clients, demo)
	}
	if !c.hasClient(demoCookieClientID) {
		demo.ID, demo.Name, demo.RefreshTokenCookie = demoCookieClientID, "socialbridge demo (cookie mode)", true
		demo.RedirectURIs = slices.Clone(demo.RedirectURIs)
		demo.CORSOrigins = slices.Clone(demo.CORSOrigins)
		demo.PostLogoutRedirectURIs = slices.Clone(demo.PostLogoutRedirectURIs)
		c.Clients = append(c.Clients, demo)
	}
}

// addAccountClient appends the account page's public client, in every
// mode, unless the page is off, one is configured, or the public URL it
// redirects to is not known yet.
func (c *Config) addAccountClient() {
	if !c.AccountPageEnabled() || c.hasClient(accountClientID) {
		return
	}
	base, origin, ok := c.publicBase()
	if !ok {
		return
	}
	c.Clients = append(c.Clients, Client{
		ID:           accountClientID,
		Name:         "Your account",
		RedirectURIs: []string{base + "/account/"},
		CORSOrigins:  []string{origin},
		// The page is served by socialbridge, and so are the account
		// endpoints its tokens are for: its own audience keeps them from
		// being accepted by the API behind tokens.audience (RFC 8707).
		Audience:          []string{c.Server.PublicURL},
		AccountManagement: true,
		// A page that lists and ends sessions keeps its own refresh token
		// where its scripts cannot read it.
		RefreshTokenCookie:     true,
		PostLogoutRedirectURIs: []string{base + "/account/"},
	})
}

// publicBase returns server.public_url without a trailing slash and its
// origin, in lower case as browsers send it; ok is false when the URL is
// not known yet, or invalid (reported by Validate).
func (c *Config) publicBase() (base, origin string, ok bool) {
	u, err := url.Parse(c.Server.PublicURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", "", false
	}
	return strings.TrimSuffix(c.Server.PublicURL, "/"), strings.ToLower(u.Scheme + "://" + u.Host), true
}

func (c *Config) hasClient(id string) bool {
	for _, cl := range c.Clients {
		if cl.ID == id {
			return true
		}
	}
	return false
}

// devPublicURL is the URL a browser on this machine reaches addr at, or ""
// when the port is not known before listening.
func devPublicURL(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n <= 0 {
		return ""
	}
	return "http://localhost:" + port
}

// setDefault sets *v to def when it is the zero value.
func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
