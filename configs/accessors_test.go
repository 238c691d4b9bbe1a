package configs

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAudienceFor(t *testing.T) {
	t.Parallel()
	c := &Config{
		Server: Server{PublicURL: "https://auth.example.com"},
		Clients: []Client{
			{ID: "api", Audience: []string{"https://api.example.com"}},
			{ID: "spa"},
		},
	}
	withDefault := *c
	withDefault.Tokens.Audience = []string{"https://default.example.com"}
	tests := []struct {
		name     string
		c        *Config
		clientID string
		want     []string
	}{
		{"a client's own audience wins", &withDefault, "api", []string{"https://api.example.com"}},
		{"a client without one gets tokens.audience", &withDefault, "spa", []string{"https://default.example.com"}},
		{"without tokens.audience it is the public URL", c, "spa", []string{"https://auth.example.com"}},
		{"an unknown client gets the default", c, "nobody", []string{"https://auth.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.c.AudienceFor(tt.clientID); !slices.Equal(got, tt.want) {
				t.Errorf("AudienceFor(%q) = %v, want %v", tt.clientID, got, tt.want)
			}
		})
	}
}

func TestSummaryNamesWhatIsEnabledWithoutSecrets(t *testing.T) {
	t.Parallel()
	c := validConfig(t, false)
	c.Store.MongoDBURI = "mongodb://admin:p@ss/w?rd@db1.example.com:27017,db2.example.com:27017/socialbridge?tls=true"
	c.Admin.Token = longSecret
	got := fmt.Sprintln(c.Summary()...)
	for _, want := range []string{"mode production", "providers google", "clients 2", "demo_page false", "account_page true", "admin_api true",
		"audit_retention 2160h0m0s", "store mongodb", "mongodb_hosts db1.example.com:27017,db2.example.com:27017"} {
		if !strings.Contains(got, want) {
			t.Errorf("Summary() = %v, want it to contain %q", c.Summary(), want)
		}
	}
	for _, secret := range []string{"p@ss", "w?rd", "google-secret", testKey, longSecret} {
		if strings.Contains(got, secret) {
			t.Errorf("Summary() reveals %q: %v", secret, c.Summary())
		}
	}
	if len(c.Summary())%2 != 0 {
		t.Errorf("Summary() has an odd number of elements: %v", c.Summary())
	}
}

func TestTheExampleFileLoads(t *testing.T) {
	t.Parallel()
	c, err := Load("socialbridge.example.yaml", fakeEnv(map[string]string{
		"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY":          testKey,
		"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_SECRET": "example-secret",
	}), os.ReadFile, testTypes())
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != ModeProduction || !c.ProviderEnabled("google") || !slices.Equal(clientIDs(c), []string{"spa", "socialbridge-account"}) {
		t.Errorf("mode %q, google %v, clients %v; want production, google, the SPA client and the account page's", c.Mode, c.ProviderEnabled("google"), clientIDs(c))
	}
}

func TestTheExampleFileDocumentsEveryKeyAndVariable(t *testing.T) {
	t.Parallel()
	example, err := os.ReadFile("socialbridge.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Every provider type's keys, and the common ones.
	for _, typ := range testTypes() {
		for _, key := range append(leaves(reflect.TypeFor[ProviderCommon](), ""), leaves(reflect.TypeOf(typ.NewSettings()).Elem(), "")...) {
			key = key[strings.LastIndex(key, ".")+1:]
			if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(key) + `:`).Match(example) {
				t.Errorf("key %s of provider type %s is not in the example file", key, typ.Name)
			}
		}
	}
	for _, leaf := range leaves(reflect.TypeFor[Config](), "") {
		key := leaf[strings.LastIndex(leaf, ".")+1:]
		if !regexp.MustCompile(`(?m)^\s*(- )?` + regexp.QuoteMeta(key) + `:`).Match(example) {
			t.Errorf("%s is not in the example file", leaf)
		}
		if !strings.HasPrefix(leaf, "clients.") && !strings.HasPrefix(leaf, "claims.") && !strings.Contains(string(example), "Env: "+envName(leaf)) {
			t.Errorf("%s is not in the example file", envName(leaf))
		}
	}
}

// leaves lists the key paths of every value in t; list items appear once,
// as path.key.
func leaves(t reflect.Type, path string) []string {
	var out []string
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if key == "" {
			continue // not configuration
		}
		p := joinKey(path, key)
		ft := t.Field(i).Type
		switch {
		case ft.Kind() == reflect.Struct:
			out = append(out, leaves(ft, p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, leaves(ft.Elem(), p)...)
		default:
			out = append(out, p)
		}
	}
	return out
}

func TestClientSettingsResolveEveryDefault(t *testing.T) {
	t.Parallel()
	c := &Config{
		Server: Server{PublicURL: "https://auth.example.com"},
		Tokens: Tokens{AccessTTL: 15 * time.Minute, RefreshIdleTTL: 24 * time.Hour, RefreshAbsoluteTTL: 72 * time.Hour, IDTokenAlgorithm: "RS256"},
		Clients: []Client{
			{ID: "spa"},
			{ID: "mobile", AccessTTL: time.Hour, RefreshIdleTTL: 200 * time.Hour, RefreshAbsoluteTTL: 100 * time.Hour, Audience: []string{"https://api.example.com"},
				IDTokenSignedResponseAlg: "ES256"},
		},
	}
	got := c.ClientSettings()
	tests := []struct {
		name                   string
		got                    Client
		access, idle, absolute time.Duration
		audience, idTokenAlg   string
	}{
		{"a client without TTLs gets tokens.*", got[0], 15 * time.Minute, 24 * time.Hour, 72 * time.Hour, "https://auth.example.com", "RS256"},
		{"a client's own TTLs, audience and ID-token algorithm are kept", got[1], time.Hour, 200 * time.Hour, 100 * time.Hour, "https://api.example.com", "ES256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.got
			if g.AccessTTL != tt.access || g.RefreshIdleTTL != tt.idle || g.RefreshAbsoluteTTL != tt.absolute || !slices.Equal(g.Audience, []string{tt.audience}) ||
				g.IDTokenSignedResponseAlg != tt.idTokenAlg {
				t.Errorf("got %+v", g)
			}
		})
	}
	if c.Clients[0].AccessTTL != 0 || c.Clients[0].IDTokenSignedResponseAlg != "" {
		t.Error("ClientSettings changed the configuration")
	}
	// The mobile client's session ends at its absolute 100h, before its idle 200h.
	if access, refresh := c.TokenLifetimes(); access != time.Hour || refresh != 100*time.Hour {
		t.Errorf("TokenLifetimes() = %v, %v; want 1h, 100h", access, refresh)
	}
}

func TestWarningsNameClientsThatShareTheDefaultAudienceInProduction(t *testing.T) {
	t.Parallel()
	const second = "  - id: mobile\n    redirect_uris: [com.example.app:/cb]\n"
	const third = "  - id: backend\n    redirect_uris: [https://backend.example.com/cb]\n    secret: " + longSecret + "\n"
	tests := []struct {
		name string
		yaml string
		want string // "": no warning
	}{
		{"one client on the default audience is alone: the account page's client has its own", productionYAML, ""},
		{"clients on the public URL are named", productionYAML + second + third,
			"clients: spa, mobile, backend share the default audience https://auth.example.com (tokens.audience, else server.public_url), " +
				"so an access token issued to one is accepted by the API of any other"},
		{"clients on tokens.audience are named with it", productionYAML + second + "tokens:\n  audience: [https://api.example.com]\n",
			"clients: spa, mobile share the default audience https://api.example.com"},
		{"a client with its own audience is not on the default", productionYAML + second + "    audience: [https://mobile-api.example.com]\n", ""},
		{"clients that name the same audience explicitly do so on purpose",
			strings.Replace(productionYAML, "cors_origins: [https://app.example.com]\n", "cors_origins: [https://app.example.com]\n    audience: [https://api.example.com]\n", 1) +
				second + "    audience: [https://api.example.com]\n", ""},
		{"dev mode does not warn", "mode: dev\nclients:\n" + second + third, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadYAML(t, tt.yaml, map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(c.Warnings(), "\n")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("Warnings() = %q, want %q", got, tt.want)
			}
		})
	}
}
