package facebook

import (
	"cmp"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/socialbridge/socialbridge/providers"
)

// Settings configures one Facebook instance: its keys under
// providers.<name> in configuration.
type Settings struct {
	// ClientID is the app's App ID (Meta for Developers → App settings →
	// Basic).
	ClientID string `yaml:"client_id"`
	// ClientSecret is the app's App secret, from the same page.
	ClientSecret string `yaml:"client_secret"`
	// ClientSecretFile names a file the loader reads ClientSecret from.
	ClientSecretFile string `yaml:"client_secret_file"`
	// DialogURL is the login dialog's host (default
	// https://www.facebook.com).
	DialogURL string `yaml:"dialog_url"`
	// GraphURL is the Graph API's host (default https://graph.facebook.com).
	GraphURL string `yaml:"graph_url"`
	// GraphVersion is the Graph API version, like v23.0 (default
	// DefaultGraphVersion).
	GraphVersion string `yaml:"graph_version"`
	// Scopes are the permissions asked for (default email, public_profile).
	Scopes []string `yaml:"scopes"`
	// RequireEmail refuses sign-ins for which Facebook shares no email
	// address.
	RequireEmail bool `yaml:"require_email"`
	// TrustEmail reports Facebook's email address as verified. Facebook
	// does not say whether it verified an address, so this lets anyone
	// who adds someone else's unconfirmed address to a Facebook account be
	// treated as that address's owner (and linked by email, where linking
	// by verified email is on). Leave it off unless that risk is accepted.
	TrustEmail bool `yaml:"trust_email"`
	// LimitedLogin accepts iOS Limited Login id_tokens from native apps
	// (default true). Off, native apps can sign in with access tokens
	// only.
	LimitedLogin *bool `yaml:"limited_login"`
	// LimitedLoginJWKSURL is where the keys that sign Limited Login
	// tokens are published (default
	// https://limited.facebook.com/.well-known/oauth/openid/jwks/).
	LimitedLoginJWKSURL string `yaml:"limited_login_jwks_url"`
	// LimitedLoginIssuer is the iss of Limited Login tokens (default
	// https://www.facebook.com).
	LimitedLoginIssuer string `yaml:"limited_login_issuer"`
	// LimitedLoginRequireNonce refuses a Limited Login token that the app
	// sends without the nonce it gave the SDK (default true).
	LimitedLoginRequireNonce *bool `yaml:"limited_login_require_nonce"`
}

// Validate implements providers.Settings. It checks the values as given;
// empty optional ones take their defaults in New. Base URLs must be https
// outside dev mode, except on loopback hosts (a local fake), as for every
// provider type (providers.CheckURL).
func (s *Settings) Validate(dev bool, report func(key, message string)) {
	check(s, dev, report)
}

// Endpoints returns the base URLs the instance talks to, defaults
// included: the configuration loader tells a local fake (all on loopback)
// from real Facebook credentials with them. The Limited Login key set is
// listed only when configured: socialbridge sends it no credentials, and
// with the Graph API on a local fake the default one, Facebook's, can only
// verify tokens Facebook issued to the fake's App ID.
func (s *Settings) Endpoints() []string {
	out := []string{cmp.Or(s.DialogURL, DefaultDialogURL), cmp.Or(s.GraphURL, DefaultGraphURL)}
	if s.LimitedLoginJWKSURL != "" {
		out = append(out, s.LimitedLoginJWKSURL)
	}
	return out
}

// Type returns the facebook provider type for the registry of
// cmd/socialbridge.
func Type() providers.Type {
	return providers.Type{
		Name:        TypeName,
		Label:       "Facebook",
		NewSettings: func() providers.Settings { return &Settings{} },
		New:         newInstance,
	}
}

// newInstance builds an instance from its validated settings.
func newInstance(inst providers.Instance, s providers.Settings) (providers.Provider, error) {
	fs, ok := s.(*Settings)
	if !ok || fs == nil {
		return nil, fmt.Errorf("facebook provider %q: settings are %T, want *facebook.Settings", inst.Name, s)
	}
	p, err := New(Config{
		Name:         inst.Name,
		ClientID:     fs.ClientID,
		ClientSecret: fs.ClientSecret,
		DialogURL:    fs.DialogURL,
		GraphURL:     fs.GraphURL,
		GraphVersion: fs.GraphVersion,
		Scopes:       fs.Scopes,
		RequireEmail: fs.RequireEmail,
		TrustEmail:   fs.TrustEmail,

		LimitedLoginJWKSURL:       fs.LimitedLoginJWKSURL,
		LimitedLoginIssuer:        fs.LimitedLoginIssuer,
		DisableLimitedLogin:       fs.LimitedLogin != nil && !*fs.LimitedLogin,
		LimitedLoginNonceOptional: fs.LimitedLoginRequireNonce != nil && !*fs.LimitedLoginRequireNonce,

		HTTPClient: inst.HTTPClient,
		Now:        inst.Now,
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// settingsOf returns the settings that cfg corresponds to, for New's check.
func settingsOf(cfg Config) *Settings {
	return &Settings{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		DialogURL: cfg.DialogURL, GraphURL: cfg.GraphURL, GraphVersion: cfg.GraphVersion,
		Scopes: cfg.Scopes, RequireEmail: cfg.RequireEmail, TrustEmail: cfg.TrustEmail,
		LimitedLoginJWKSURL: cfg.LimitedLoginJWKSURL, LimitedLoginIssuer: cfg.LimitedLoginIssuer,
	}
}

var (
	digits       = regexp.MustCompile(`^[0-9]{1,32}$`)
	graphVersion = regexp.MustCompile(`^v[0-9]{1,3}\.[0-9]{1,2}$`)
)

// check reports every problem of s; dev relaxes the https rule like
// providers.CheckURL.
func check(s *Settings, dev bool, report func(key, message string)) {
	const where = "Meta for Developers (developers.facebook.com/apps) → your app → App settings → Basic"
	switch {
	case s.ClientID == "":
		report("client_id", "required: the App ID from "+where)
	case !digits.MatchString(s.ClientID):
		report("client_id", fmt.Sprintf("must be the numeric App ID from %s, got %q", where, s.ClientID))
	}
	switch {
	case s.ClientSecret == "":
		report("client_secret", "required: the App secret from "+where+" (click Show), or set client_secret_file")
	case strings.TrimSpace(s.ClientSecret) != s.ClientSecret || strings.ContainsAny(s.ClientSecret, " \t\r\n"):
		report("client_secret", "must not contain spaces or line breaks (copy the App secret exactly)")
	}
	for _, u := range []struct{ key, val string }{
		{"dialog_url", s.DialogURL},
		{"graph_url", s.GraphURL},
	} {
		if u.val != "" {
			if msg := baseURLProblem(u.val, dev); msg != "" {
				report(u.key, msg)
			}
		}
	}
	if s.LimitedLoginJWKSURL != "" {
		if problem := providers.CheckURL(s.LimitedLoginJWKSURL, dev); problem != "" {
			report("limited_login_jwks_url", problem)
		}
	}
	if iss := s.LimitedLoginIssuer; iss != "" {
		// An issuer is compared, never fetched: any absolute URL will do.
		if u, err := url.Parse(iss); err != nil || u.Scheme == "" || u.Host == "" || strings.TrimSpace(iss) != iss {
			report("limited_login_issuer", fmt.Sprintf("must be an absolute URL like %s, got %q", DefaultLimitedLoginIssuer, iss))
		}
	}
	if s.LimitedLogin != nil && !*s.LimitedLogin {
		for _, k := range []struct {
			key string
			set bool
		}{
			{"limited_login_jwks_url", s.LimitedLoginJWKSURL != ""},
			{"limited_login_issuer", s.LimitedLoginIssuer != ""},
			{"limited_login_require_nonce", s.LimitedLoginRequireNonce != nil},
		} {
			if k.set {
				report(k.key, "has no effect while limited_login is false: remove it, or turn limited_login on")
			}
		}
	}
	if s.GraphVersion != "" && !graphVersion.MatchString(s.GraphVersion) {
		report("graph_version", fmt.Sprintf("must be a Graph API version like %s, got %q", DefaultGraphVersion, s.GraphVersion))
	}
	for i, sc := range s.Scopes {
		key := fmt.Sprintf("scopes[%d]", i)
		switch {
		case strings.TrimSpace(sc) == "":
			report(key, "must not be empty")
		case strings.ContainsAny(sc, ", \t\r\n"):
			report(key, fmt.Sprintf("must be one permission (list each separately), got %q", sc))
		}
	}
	if s.RequireEmail && len(s.Scopes) > 0 && !slices.Contains(s.Scopes, "email") {
		report("require_email", "needs the email permission: add email to scopes")
	}
}

// baseURLProblem describes what is wrong with a configured base URL, or
// returns "". The version and path are appended to it, so it takes no
// query or fragment.
func baseURLProblem(raw string, dev bool) string {
	if problem := providers.CheckURL(raw, dev); problem != "" {
		return problem
	}
	if strings.ContainsAny(raw, "?#") {
		return fmt.Sprintf("must not have a query or fragment, got %q", raw)
	}
	return ""
}
