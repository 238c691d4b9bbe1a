package configs

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestBuiltInClientsFollowTheModeAndThePages(t *testing.T) {
	t.Parallel()
	const (
		ownAccountClient = "  - id: socialbridge-account\n    name: Our account\n    redirect_uris: [https://auth.example.com/me/]\n" +
			"    cors_origins: [https://auth.example.com]\n    refresh_token_cookie: true\n    account_management: true\n"
		ownDemoClient    = "  - id: demo\n    redirect_uris: [https://auth.example.com/demo/]\n"
		ownCookieClient  = "  - id: demo-cookie\n    redirect_uris: [https://auth.example.com/demo/]\n    cors_origins: [https://auth.example.com]\n    refresh_token_cookie: true\n"
		devWithOwnCookie = "mode: dev\nclients:\n  - id: demo-cookie\n    redirect_uris: [http://localhost:3000/]\n"
	)
	tests := []struct {
		name        string
		yaml        string // "": no file (dev mode)
		env         map[string]string
		wantClients []string
		wantAccount string // AccountClientID
		wantCookie  string // DemoCookieClientID
	}{
		{"dev mode has the demo, demo-cookie and account clients", "", nil,
			[]string{"demo", "demo-cookie", "socialbridge-account"}, "socialbridge-account", "demo-cookie"},
		{"dev mode without the demo page has only the account client", "", map[string]string{"SOCIALBRIDGE_SERVER_DEMO_PAGE": "false"},
			[]string{"socialbridge-account"}, "socialbridge-account", ""},
		{"dev mode without the account page has only the demo clients", "", map[string]string{"SOCIALBRIDGE_SERVER_ACCOUNT_PAGE": "false"},
			[]string{"demo", "demo-cookie"}, "", "demo-cookie"},
		{"dev mode without either page has none", "", map[string]string{"SOCIALBRIDGE_SERVER_DEMO_PAGE": "false", "SOCIALBRIDGE_SERVER_ACCOUNT_PAGE": "false"},
			nil, "", ""},
		{"dev mode on port 0 waits for the public URL to add them", "", map[string]string{"SOCIALBRIDGE_SERVER_ADDR": "127.0.0.1:0"},
			nil, "socialbridge-account", ""},
		{"a configured demo-cookie client replaces the built-in one in dev mode", devWithOwnCookie, nil,
			[]string{"demo-cookie", "demo", "socialbridge-account"}, "socialbridge-account", "demo-cookie"},
		{"production has the account client only", productionYAML, nil,
			[]string{"spa", "socialbridge-account"}, "socialbridge-account", ""},
		{"production without the account page has no built-in client", productionYAML, map[string]string{"SOCIALBRIDGE_SERVER_ACCOUNT_PAGE": "false"},
			[]string{"spa"}, "", ""},
		{"production uses a configured account client as is", productionYAML + ownAccountClient, nil,
			[]string{"spa", "socialbridge-account"}, "socialbridge-account", ""},
		{"a production demo page has no cookie mode without a demo-cookie client", productionYAML + ownDemoClient, map[string]string{"SOCIALBRIDGE_SERVER_DEMO_PAGE": "true"},
			[]string{"spa", "demo", "socialbridge-account"}, "socialbridge-account", ""},
		{"a production demo page has cookie mode with a demo-cookie client", productionYAML + ownDemoClient + ownCookieClient, map[string]string{"SOCIALBRIDGE_SERVER_DEMO_PAGE": "true"},
			[]string{"spa", "demo", "demo-cookie", "socialbridge-account"}, "socialbridge-account", "demo-cookie"},
		{"a demo-cookie client does not turn on a demo page that is off", productionYAML + ownCookieClient, nil,
			[]string{"spa", "demo-cookie", "socialbridge-account"}, "socialbridge-account", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey}
			for k, v := range tt.env {
				env[k] = v
			}
			var c *Config
			var err error
			if tt.yaml == "" {
				c, err = Load("", fakeEnv(env), os.ReadFile, testTypes())
			} else {
				c, err = loadYAML(t, tt.yaml, env, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := clientIDs(c); !slices.Equal(got, tt.wantClients) {
				t.Errorf("clients %v, want %v", got, tt.wantClients)
			}
			if got := c.AccountClientID(); got != tt.wantAccount {
				t.Errorf("AccountClientID() = %q, want %q", got, tt.wantAccount)
			}
			if got := c.DemoCookieClientID(); got != tt.wantCookie {
				t.Errorf("DemoCookieClientID() = %q, want %q", got, tt.wantCookie)
			}
		})
	}
}

func TestAConfiguredAccountClientIsUsedAsIs(t *testing.T) {
	t.Parallel()
	const own = "  - id: socialbridge-account\n    name: Our account\n    redirect_uris: [https://auth.example.com/me/]\n" +
		"    cors_origins: [https://auth.example.com]\n    refresh_token_cookie: true\n    account_management: true\n"
	c, err := loadYAML(t, productionYAML+own, map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Clients[1]
	if got.Name != "Our account" || !slices.Equal(got.RedirectURIs, []string{"https://auth.example.com/me/"}) ||
		!got.RefreshTokenCookie || !got.AccountManagement || len(got.Audience) != 0 || len(got.PostLogoutRedirectURIs) != 0 {
		t.Errorf("account client = %+v, want the configured one unchanged", got)
	}
}

func TestAConfiguredAccountClientMustRunThePage(t *testing.T) {
	t.Parallel()
	_, err := loadYAML(t, productionYAML+"  - id: socialbridge-account\n    redirect_uris: [https://auth.example.com/me/]\n",
		map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey}, nil)
	for _, want := range []string{
		"clients[1] (id socialbridge-account).account_management: must be true",
		"clients[1] (id socialbridge-account).refresh_token_cookie: must be true",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want %q", err, want)
		}
	}
	// With the page off, the client is an ordinary one.
	if _, err := loadYAML(t, productionYAML+"  - id: socialbridge-account\n    redirect_uris: [https://auth.example.com/me/]\n",
		map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey, "SOCIALBRIDGE_SERVER_ACCOUNT_PAGE": "false"}, nil); err != nil {
		t.Errorf("with the account page off: %v", err)
	}
}

func TestTheAccountPagesClientIsAPublicCookieModeClientOfThePublicURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		publicURL  string
		wantBase   string
		wantOrigin string
	}{
		{"at the root", "https://auth.example.com", "https://auth.example.com", "https://auth.example.com"},
		{"under a path", "https://example.com/auth", "https://example.com/auth", "https://example.com"},
		{"with a port", "https://auth.example.com:8443", "https://auth.example.com:8443", "https://auth.example.com:8443"},
		{"on a host in upper case, whose origin browsers send in lower case", "https://Auth.Example.com", "https://Auth.Example.com", "https://auth.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadYAML(t, productionYAML, map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey, "SOCIALBRIDGE_SERVER_PUBLIC_URL": tt.publicURL}, nil)
			if err != nil {
				t.Fatal(err)
			}
			acct := clientByID(t, c, "socialbridge-account")
			want := Client{
				ID: "socialbridge-account", Name: "Your account",
				RedirectURIs: []string{tt.wantBase + "/account/"}, CORSOrigins: []string{tt.wantOrigin},
				Audience: []string{tt.publicURL}, AccountManagement: true, RefreshTokenCookie: true,
				PostLogoutRedirectURIs: []string{tt.wantBase + "/account/"},
			}
			if !sameClient(acct, want) {
				t.Errorf("account client = %+v\nwant %+v", acct, want)
			}
		})
	}
}

func TestTheDemoClientsDifferOnlyInCookieMode(t *testing.T) {
	t.Parallel()
	c, err := Load("", fakeEnv(nil), os.ReadFile, testTypes())
	if err != nil {
		t.Fatal(err)
	}
	demo := Client{
		ID: "demo", Name: "socialbridge demo",
		RedirectURIs: []string{"http://localhost:8080/demo/"}, CORSOrigins: []string{"http://localhost:8080"},
		AccountManagement: true, PostLogoutRedirectURIs: []string{"http://localhost:8080/demo/"},
	}
	cookie := demo
	cookie.ID, cookie.Name, cookie.RefreshTokenCookie = "demo-cookie", "socialbridge demo (cookie mode)", true
	for _, want := range []Client{demo, cookie} {
		if got := clientByID(t, c, want.ID); !sameClient(got, want) {
			t.Errorf("%s client = %+v\nwant %+v", want.ID, got, want)
		}
	}
	// They share no list: a change to one must not show in the other.
	clientByID(t, c, "demo").RedirectURIs[0] = "changed"
	if got := clientByID(t, c, "demo-cookie").RedirectURIs[0]; got != "http://localhost:8080/demo/" {
		t.Errorf("demo-cookie's redirect URI became %q with demo's", got)
	}
}

// clientByID returns the client of c with id, failing the test without
// one.
func clientByID(t *testing.T, c *Config, id string) *Client {
	t.Helper()
	for i := range c.Clients {
		if c.Clients[i].ID == id {
			return &c.Clients[i]
		}
	}
	t.Fatalf("no client %q among %v", id, clientIDs(c))
	return nil
}

// sameClient compares the fields the built-in clients set.
func sameClient(got *Client, want Client) bool {
	return got.ID == want.ID && got.Name == want.Name && got.Secret == "" &&
		slices.Equal(got.RedirectURIs, want.RedirectURIs) && slices.Equal(got.CORSOrigins, want.CORSOrigins) &&
		slices.Equal(got.Audience, want.Audience) && slices.Equal(got.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs) &&
		got.AccountManagement == want.AccountManagement && got.RefreshTokenCookie == want.RefreshTokenCookie &&
		!got.TokenExchange && !got.ProviderTokens && !got.Introspection && len(got.Providers) == 0
}
