package google

import (
	"fmt"
	"slices"
	"strings"

	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/oidc"
)

// Settings is the configuration of one Google instance, under
// providers.<name> (type: google).
type Settings struct {
	// ClientID is the OAuth client id from the Google Cloud console.
	ClientID string `yaml:"client_id"`
	// ClientSecret goes with ClientID.
	ClientSecret string `yaml:"client_secret"`
	// ClientSecretFile reads ClientSecret from a file.
	ClientSecretFile string `yaml:"client_secret_file"`
	// Issuer is the OIDC issuer used for discovery (default
	// https://accounts.google.com).
	Issuer string `yaml:"issuer"`
	// AuthURL, TokenURL, JWKSURL and UserinfoURL override what discovery
	// returns (proxies, tests). When all of AuthURL, TokenURL and JWKSURL
	// are set, discovery is skipped.
	AuthURL     string `yaml:"auth_url"`
	TokenURL    string `yaml:"token_url"`
	JWKSURL     string `yaml:"jwks_url"`
	UserinfoURL string `yaml:"userinfo_url"`
	// Scopes requested (default openid, email, profile).
	Scopes []string `yaml:"scopes"`
	// HostedDomains, when set, admits only Google Workspace accounts whose
	// hd claim is in the list.
	HostedDomains []string `yaml:"hosted_domains"`
	// OfflineAccess asks Google for a refresh token, for backends that
	// call Google APIs on the user's behalf.
	OfflineAccess bool `yaml:"offline_access"`
	// NativeClientIDs are the OAuth client ids of the Android and iOS apps
	// (Google Cloud console → Credentials, type Android or iOS), whose
	// Google ID tokens may be exchanged for native sign-in; client_id, the
	// web client, always counts.
	NativeClientIDs []string `yaml:"native_client_ids"`
	// NativeRequireNonce refuses native ID tokens sent without the nonce
	// the app gave Google's SDK.
	NativeRequireNonce bool `yaml:"native_require_nonce"`
}

// Validate implements providers.Settings.
func (s *Settings) Validate(dev bool, report func(key, message string)) {
	providers.CheckClient(s.ClientID, s.ClientSecret, "Google Cloud console → APIs & Services → Credentials", report)
	providers.CheckEndpoints(dev, report, providers.Endpoint{Key: "issuer", URL: s.Issuer}, providers.Endpoint{Key: "auth_url", URL: s.AuthURL},
		providers.Endpoint{Key: "token_url", URL: s.TokenURL}, providers.Endpoint{Key: "jwks_url", URL: s.JWKSURL},
		providers.Endpoint{Key: "userinfo_url", URL: s.UserinfoURL})
	if len(s.Scopes) > 0 && !slices.Contains(s.Scopes, "openid") {
		report("scopes", "must include openid: sign-in relies on Google's ID token")
	}
	oidc.CheckNativeClientIDs(s.NativeClientIDs, func(id string) string { return nativeClientIDProblem(id, dev) }, report)
	for i, d := range s.HostedDomains {
		if !providers.ValidDomain(d) {
			report(fmt.Sprintf("hosted_domains[%d]", i), fmt.Sprintf("must be a lower-case domain name like example.com, got %q", d))
		}
	}
}

// clientIDSuffix ends every Google OAuth client id.
const clientIDSuffix = ".apps.googleusercontent.com"

// nativeClientIDProblem catches the usual pastes in place of a client id:
// the iOS client's reversed id (its URL scheme) and, outside dev mode,
// anything that is not shaped like a client id (a package name, a SHA-1).
func nativeClientIDProblem(id string, dev bool) string {
	if rest, ok := strings.CutPrefix(id, "com.googleusercontent.apps."); ok {
		return fmt.Sprintf("is the iOS client's reversed client id (its URL scheme); use the client id %s%s", rest, clientIDSuffix)
	}
	if !dev && !strings.HasSuffix(id, clientIDSuffix) {
		return fmt.Sprintf("must be an OAuth client id ending in %s (Google Cloud console → APIs & Services → Credentials), got %q", clientIDSuffix, id)
	}
	return ""
}

// Endpoints lists the URLs this instance talks to, for the check that
// tells a local fake from the real Google.
func (s *Settings) Endpoints() []string {
	issuer := s.Issuer
	if issuer == "" {
		issuer = DefaultIssuer
	}
	return []string{issuer, s.AuthURL, s.TokenURL, s.JWKSURL, s.UserinfoURL}
}

// Type is the google provider type.
func Type() providers.Type {
	return providers.Type{
		Name: Name, Label: "Google",
		NewSettings: func() providers.Settings { return &Settings{} },
		New: func(inst providers.Instance, ps providers.Settings) (providers.Provider, error) {
			s, ok := ps.(*Settings)
			if !ok {
				return nil, fmt.Errorf("google: settings of type %T", ps)
			}
			return New(Config{
				Name: inst.Name, ClientID: s.ClientID, ClientSecret: s.ClientSecret, Issuer: s.Issuer,
				AuthURL: s.AuthURL, TokenURL: s.TokenURL, JWKSURL: s.JWKSURL, UserinfoURL: s.UserinfoURL,
				Scopes: s.Scopes, HostedDomains: s.HostedDomains, OfflineAccess: s.OfflineAccess,
				NativeClientIDs: s.NativeClientIDs, NativeRequireNonce: s.NativeRequireNonce,
				HTTPClient: inst.HTTPClient, Now: inst.Now,
			}), nil
		},
	}
}
