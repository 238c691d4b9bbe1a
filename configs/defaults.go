package configs

import (
	"github.com/socialbridge/socialbridge/providers"

	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// demoClientID is the id of the built-in client of the demo page.
const demoClientID = "demo"

// applyDefaults fills every unset value; it is the only place defaults
// live. A zero value means unset, so "0s" in the file also gets the
// default. Mode must already be decided.
//
// Per-client TTLs stay 0, meaning "use tokens.*": copying the defaults in
// would hide whether a client overrides them. tokens.audience stays empty,
// meaning "server.public_url" (see AudienceFor). In dev mode with port 0 in
// server.addr, server.public_url stays empty: the caller knows it only
// after listening and passes it to SetPublicURL.
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
	if c.Server.DemoPage == nil {
		c.Server.DemoPage = new(dev)
	}

	setDefault(&c.Store.Database, "socialbridge")
	setDefault(&c.Store.SQLite.Path, filepath.Join(c.DataDir, "socialbridge.db"))
	setDefault(&c.Store.SQLite.Synchronous, "normal")

	t := &c.Tokens
	setDefault(&t.Algorithm, "ES256")
	setDefault(&t.AccessTTL, 15*time.Minute)
	setDefault(&t.RefreshIdleTTL, 30*24*time.Hour)
	setDefault(&t.RefreshAbsoluteTTL, 90*24*time.Hour)
	setDefault(&t.RefreshReuseGrace, 10*time.Second)
	setDefault(&t.KeyRotation, 30*24*time.Hour)
	setDefault(&t.KeyPublishAhead, time.Hour)
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

	setDefault(&c.Log.Level, "info")
	setDefault(&c.Log.Format, "text")

	for i := range c.Clients {
		setDefault(&c.Clients[i].Name, c.Clients[i].ID)
	}
	c.addDemoClient()
}

// SetPublicURL sets server.public_url once it is known, for a dev-mode
// configuration that listens on port 0 and so could not derive it, and adds
// the built-in demo client, which needs it. Call it before using the
// clients.
func (c *Config) SetPublicURL(publicURL string) {
	c.Server.PublicURL = publicURL
	c.addDemoClient()
}

// DemoClientID returns the client id the demo page signs in with: the
// built-in dev-mode client, or a configured client with that id.
func (c *Config) DemoClientID() string { return demoClientID }

// addDemoClient appends the demo page's public client in dev mode, unless
// one is configured or the public URL it redirects to is not known yet.
func (c *Config) addDemoClient() {
	if c.Mode != ModeDev || !c.DemoPageEnabled() || c.hasClient(demoClientID) {
		return
	}
	u, err := url.Parse(c.Server.PublicURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return // unknown yet, or invalid and reported by Validate
	}
	c.Clients = append(c.Clients, Client{
		ID:           demoClientID,
		Name:         "socialbridge demo",
		RedirectURIs: []string{strings.TrimSuffix(c.Server.PublicURL, "/") + "/demo/"},
		CORSOrigins:  []string{u.Scheme + "://" + u.Host},
		// The demo page shows linked accounts and links more.
		AccountManagement: true,
	})
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
