package configs

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testKey is a valid encryption key.
var testKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

// longSecret is a client secret of the accepted length and more (44
// characters, as openssl rand -base64 32 makes).
const longSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlYw=="

// productionYAML is a minimal valid production file, given testKey.
const productionYAML = `
server:
  public_url: https://auth.example.com
providers:
  google:
    client_id: id.apps.googleusercontent.com
    client_secret: google-secret
clients:
  - id: spa
    redirect_uris: [https://app.example.com/cb]
    cors_origins: [https://app.example.com]
`

// fakeEnv is the environment Load sees: vars and nothing else.
func fakeEnv(vars map[string]string) Env {
	names := slices.Collect(maps.Keys(vars))
	return Env{Getenv: func(name string) string { return vars[name] }, Names: names}
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadYAML loads content as config.yaml in a fresh directory; "$DIR" in
// content and in env values stands for that directory, where files can
// be placed beforehand with the files map.
func loadYAML(t *testing.T, content string, env, files map[string]string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		writeFile(t, dir, name, body)
	}
	vars := map[string]string{}
	for k, v := range env {
		vars[k] = strings.ReplaceAll(v, "$DIR", dir)
	}
	path := writeFile(t, dir, "config.yaml", strings.ReplaceAll(content, "$DIR", dir))
	return Load(path, fakeEnv(vars), os.ReadFile, testTypes())
}

func TestLoadWithoutAFileRunsDevModeWithDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load("", fakeEnv(nil), os.ReadFile, testTypes())
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"mode", c.Mode, ModeDev},
		{"data_dir", c.DataDir, "./data"},
		{"server.addr", c.Server.Addr, "127.0.0.1:8080"},
		{"server.public_url", c.Server.PublicURL, "http://localhost:8080"},
		{"server.max_body_bytes", c.Server.MaxBodyBytes, int64(65536)},
		{"server.shutdown_timeout", c.Server.ShutdownTimeout, 15 * time.Second},
		{"server.rate_limit", c.Server.RateLimit, int64(20)},
		{"server.rate_limit_shared", c.Server.RateLimitShared, false},
		{"demo page", c.DemoPageEnabled(), true},
		{"store.database", c.Store.Database, "socialbridge"},
		{"tokens.algorithm", c.Tokens.Algorithm, "ES256"},
		{"tokens.access_ttl", c.Tokens.AccessTTL, 15 * time.Minute},
		{"tokens.refresh_idle_ttl", c.Tokens.RefreshIdleTTL, 168 * time.Hour},
		{"tokens.refresh_absolute_ttl", c.Tokens.RefreshAbsoluteTTL, 720 * time.Hour},
		{"tokens.refresh_reuse_grace", c.Tokens.RefreshReuseGrace, 10 * time.Second},
		{"tokens.key_rotation", c.Tokens.KeyRotation, 720 * time.Hour},
		{"tokens.key_publish_ahead", c.Tokens.KeyPublishAhead, 24 * time.Hour},
		{"tokens.id_token_algorithm", c.Tokens.IDTokenAlgorithm, "RS256"},
		{"server.allow_dev_on_all_interfaces", c.Server.AllowDevOnAllInterfaces, false},
		{"login.flow_ttl", c.Login.FlowTTL, 10 * time.Minute},
		{"login.code_ttl", c.Login.CodeTTL, 60 * time.Second},
		{"providers", strings.Join(c.providerNames(), " "), "dev"},
		{"google enabled", c.ProviderEnabled("google"), false},
		{"dev enabled", c.DevEnabled(), true},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"account page", c.AccountPageEnabled(), true},
		{"admin API", c.AdminAPIEnabled(), false},
		{"audit.retention", c.Audit.Retention, 2160 * time.Hour},
		{"clients", strings.Join(clientIDs(c), " "), "demo demo-cookie socialbridge-account"},
		{"demo client id", c.Clients[0].ID, c.DemoClientID()},
		{"demo client name", c.Clients[0].Name, "socialbridge demo"},
		{"demo redirect", strings.Join(c.Clients[0].RedirectURIs, " "), "http://localhost:8080/demo/"},
		{"demo origin", strings.Join(c.Clients[0].CORSOrigins, " "), "http://localhost:8080"},
		{"demo audience", strings.Join(c.AudienceFor("demo"), " "), "http://localhost:8080"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadWithAFileDefaultsToProduction(t *testing.T) {
	t.Parallel()
	c, err := loadYAML(t, productionYAML, map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != ModeProduction || c.Server.Addr != ":8080" || c.DevEnabled() || c.DemoPageEnabled() || !c.ProviderEnabled("google") {
		t.Errorf("mode %q, addr %q, dev %v, demo page %v, google %v; want production defaults",
			c.Mode, c.Server.Addr, c.DevEnabled(), c.DemoPageEnabled(), c.ProviderEnabled("google"))
	}
	if !slices.Equal(clientIDs(c), []string{"spa", "socialbridge-account"}) || c.Clients[0].Name != "spa" || c.Clients[0].AccessTTL != 0 {
		t.Errorf("clients = %+v, want spa, named after its id, with TTLs left at 0, and the account page's", c.Clients)
	}
	if !c.AccountPageEnabled() || c.AdminAPIEnabled() || c.Audit.Retention != 2160*time.Hour {
		t.Errorf("account page %v, admin API %v, audit retention %s; want on, off, 2160h", c.AccountPageEnabled(), c.AdminAPIEnabled(), c.Audit.Retention)
	}
}

func TestDevModeDerivesThePublicURLAndBuiltInClients(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		env         map[string]string
		wantURL     string
		wantClients []string
	}{
		{"another port in addr is the port of the public URL",
			map[string]string{"SOCIALBRIDGE_SERVER_ADDR": "127.0.0.1:9000"}, "http://localhost:9000", []string{"demo", "demo-cookie", "socialbridge-account"}},
		{"port 0 leaves the public URL and built-in clients to SetPublicURL",
			map[string]string{"SOCIALBRIDGE_SERVER_ADDR": "127.0.0.1:0"}, "", nil},
		{"an explicit public URL is kept",
			map[string]string{"SOCIALBRIDGE_SERVER_PUBLIC_URL": "http://dev.example.test:8080"}, "http://dev.example.test:8080", []string{"demo", "demo-cookie", "socialbridge-account"}},
		{"the demo page off means no demo clients",
			map[string]string{"SOCIALBRIDGE_SERVER_DEMO_PAGE": "false"}, "http://localhost:8080", []string{"socialbridge-account"}},
		{"the account page off means no account client",
			map[string]string{"SOCIALBRIDGE_SERVER_ACCOUNT_PAGE": "false"}, "http://localhost:8080", []string{"demo", "demo-cookie"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load("", fakeEnv(tt.env), os.ReadFile, testTypes())
			if err != nil {
				t.Fatal(err)
			}
			if c.Server.PublicURL != tt.wantURL || !slices.Equal(clientIDs(c), tt.wantClients) {
				t.Errorf("public_url %q, clients %v; want %q, %v", c.Server.PublicURL, clientIDs(c), tt.wantURL, tt.wantClients)
			}
		})
	}
}

func TestSetPublicURLAddsTheBuiltInClientsOnceThePortIsKnown(t *testing.T) {
	t.Parallel()
	c, err := Load("", fakeEnv(map[string]string{"SOCIALBRIDGE_SERVER_ADDR": "127.0.0.1:0"}), os.ReadFile, testTypes())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Clients) != 0 {
		t.Fatalf("clients = %+v before SetPublicURL, want none", c.Clients)
	}
	c.SetPublicURL("http://localhost:43210")
	if !slices.Equal(clientIDs(c), []string{"demo", "demo-cookie", "socialbridge-account"}) ||
		c.Clients[0].RedirectURIs[0] != "http://localhost:43210/demo/" || c.Clients[2].RedirectURIs[0] != "http://localhost:43210/account/" {
		t.Fatalf("clients = %+v, want the demo, demo-cookie and account clients for http://localhost:43210", c.Clients)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after SetPublicURL: %v", err)
	}
}

func TestAConfiguredDemoClientReplacesTheBuiltInOne(t *testing.T) {
	t.Parallel()
	c, err := loadYAML(t, `
mode: dev
clients:
  - id: demo
    redirect_uris: [http://localhost:3000/]
`, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(clientIDs(c), []string{"demo", "demo-cookie", "socialbridge-account"}) || c.Clients[0].RedirectURIs[0] != "http://localhost:3000/" {
		t.Errorf("clients = %+v, want the configured demo client instead of the built-in one, and the other built-in ones", c.Clients)
	}
}

func TestLoadTakesValuesFromTheEnvironmentAndFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		yaml  string
		env   map[string]string
		files map[string]string
		check func(c *Config) (got, want any)
	}{
		{
			name:  "a variable overrides the file",
			yaml:  productionYAML,
			env:   map[string]string{"SOCIALBRIDGE_SERVER_PUBLIC_URL": "https://id.example.org"},
			check: func(c *Config) (any, any) { return c.Server.PublicURL, "https://id.example.org" },
		},
		{
			name:  "the mode variable wins over the file default",
			yaml:  productionYAML,
			env:   map[string]string{"SOCIALBRIDGE_MODE": "dev"},
			check: func(c *Config) (any, any) { return c.Mode, ModeDev },
		},
		{
			name: "a list variable is comma-separated, trimmed, without empty items",
			yaml: productionYAML,
			env:  map[string]string{"SOCIALBRIDGE_TOKENS_AUDIENCE": " https://a.example, ,https://b.example "},
			check: func(c *Config) (any, any) {
				return strings.Join(c.Tokens.Audience, " "), "https://a.example https://b.example"
			},
		},
		{
			name:  "a duration variable is a Go duration",
			yaml:  productionYAML,
			env:   map[string]string{"SOCIALBRIDGE_TOKENS_ACCESS_TTL": "5m"},
			check: func(c *Config) (any, any) { return c.Tokens.AccessTTL, 5 * time.Minute },
		},
		{
			name:  "a number variable",
			yaml:  productionYAML,
			env:   map[string]string{"SOCIALBRIDGE_SERVER_MAX_BODY_BYTES": "1024"},
			check: func(c *Config) (any, any) { return c.Server.MaxBodyBytes, int64(1024) },
		},
		{
			name:  "a boolean variable",
			yaml:  productionYAML,
			env:   map[string]string{"SOCIALBRIDGE_PROVIDERS_GOOGLE_OFFLINE_ACCESS": "true"},
			check: func(c *Config) (any, any) { return googleOf(c).OfflineAccess, true },
		},
		{
			name:  "the shared rate limit from its variable",
			yaml:  productionYAML,
			env:   map[string]string{"SOCIALBRIDGE_SERVER_RATE_LIMIT_SHARED": "true"},
			check: func(c *Config) (any, any) { return c.Server.RateLimitShared, true },
		},
		{
			name:  "the shared rate limit from the file",
			yaml:  strings.Replace(productionYAML, "server:\n", "server:\n  rate_limit_shared: true\n", 1),
			check: func(c *Config) (any, any) { return c.Server.RateLimitShared, true },
		},
		{
			name:  "a file duration is a Go duration",
			yaml:  productionYAML + "tokens:\n  access_ttl: 90s\n",
			check: func(c *Config) (any, any) { return c.Tokens.AccessTTL, 90 * time.Second },
		},
		{
			name:  "any key can be read from the file named by its _FILE variable, trimmed",
			yaml:  productionYAML,
			env:   map[string]string{"SOCIALBRIDGE_SERVER_PUBLIC_URL_FILE": "$DIR/url"},
			files: map[string]string{"url": "https://file.example.org\n"},
			check: func(c *Config) (any, any) { return c.Server.PublicURL, "https://file.example.org" },
		},
		{
			name:  "a secret _FILE variable",
			yaml:  productionYAML,
			env:   map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": "", "SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY_FILE": "$DIR/key"},
			files: map[string]string{"key": testKey + "\n"},
			check: func(c *Config) (any, any) { return c.Crypto.EncryptionKey, testKey },
		},
		{
			name:  "a *_file key in the file",
			yaml:  strings.Replace(productionYAML, "client_secret: google-secret", "client_secret_file: $DIR/gs", 1),
			files: map[string]string{"gs": "  from-file \n"},
			check: func(c *Config) (any, any) { return googleOf(c).ClientSecret, "from-file" },
		},
		{
			name:  "a client's secret_file",
			yaml:  productionYAML + "    secret_file: $DIR/cs\n",
			files: map[string]string{"cs": longSecret + "\n"},
			check: func(c *Config) (any, any) { return c.Clients[0].Secret, longSecret },
		},
		{
			name:  "a secret variable replaces the file's *_file key, which is then not read",
			yaml:  productionYAML + "crypto:\n  encryption_key_file: $DIR/missing\n",
			check: func(c *Config) (any, any) { return c.Crypto.EncryptionKey, testKey },
		},
		{
			name:  "MONGODB_URI stands in for store.mongodb_uri",
			yaml:  productionYAML,
			env:   map[string]string{"MONGODB_URI": "mongodb://alias:27017"},
			check: func(c *Config) (any, any) { return c.Store.MongoDBURI, "mongodb://alias:27017" },
		},
		{
			name: "SOCIALBRIDGE_STORE_MONGODB_URI wins over MONGODB_URI",
			yaml: productionYAML,
			env: map[string]string{
				"MONGODB_URI":                    "mongodb://alias:27017",
				"SOCIALBRIDGE_STORE_MONGODB_URI": "mongodb://own:27017",
			},
			check: func(c *Config) (any, any) { return c.Store.MongoDBURI, "mongodb://own:27017" },
		},
		{
			name: "an empty file with everything from the environment",
			yaml: "",
			env: map[string]string{
				"SOCIALBRIDGE_SERVER_PUBLIC_URL":              "https://auth.example.com",
				"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_ID":     "id",
				"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_SECRET": "secret",
			},
			check: func(c *Config) (any, any) { return c.Mode, ModeProduction },
		},
		{
			name:  "the admin token from its variable",
			yaml:  productionYAML,
			env:   map[string]string{"SOCIALBRIDGE_ADMIN_TOKEN": longSecret},
			check: func(c *Config) (any, any) { return c.Admin.Token, longSecret },
		},
		{
			name:  "the admin token from the file named by its _FILE variable, trimmed",
			yaml:  productionYAML,
			env:   map[string]string{"SOCIALBRIDGE_ADMIN_TOKEN_FILE": "$DIR/admin"},
			files: map[string]string{"admin": longSecret + "\n"},
			check: func(c *Config) (any, any) { return c.Admin.Token, longSecret },
		},
		{
			name:  "admin.token_file in the file",
			yaml:  productionYAML + "admin:\n  token_file: $DIR/admin\n",
			files: map[string]string{"admin": " " + longSecret + "\n"},
			check: func(c *Config) (any, any) { return c.Admin.Token, longSecret },
		},
		{
			name:  "the admin token variable replaces the file's admin.token_file, which is then not read",
			yaml:  productionYAML + "admin:\n  token_file: $DIR/missing\n",
			env:   map[string]string{"SOCIALBRIDGE_ADMIN_TOKEN": longSecret},
			check: func(c *Config) (any, any) { return c.Admin.Token, longSecret },
		},
		{
			name:  "the audit retention from its variable",
			yaml:  productionYAML,
			env:   map[string]string{"SOCIALBRIDGE_AUDIT_RETENTION": "720h"},
			check: func(c *Config) (any, any) { return c.Audit.Retention, 720 * time.Hour },
		},
		{
			name:  "the account page turned off by its variable",
			yaml:  productionYAML,
			env:   map[string]string{"SOCIALBRIDGE_SERVER_ACCOUNT_PAGE": "false"},
			check: func(c *Config) (any, any) { return strings.Join(clientIDs(c), " "), "spa" },
		},
		{
			name: "a client's new settings in the file",
			yaml: productionYAML + "    refresh_token_cookie: true\n    post_logout_redirect_uris: [https://app.example.com/bye]\n" +
				"  - id: api\n    redirect_uris: [https://api.example.com/cb]\n    secret: " + longSecret + "\n    introspection: true\n",
			check: func(c *Config) (any, any) {
				return fmt.Sprint(c.Clients[0].RefreshTokenCookie, c.Clients[0].PostLogoutRedirectURIs, c.Clients[1].Introspection),
					"true [https://app.example.com/bye] true"
			},
		},
		{
			name:  "a key with no value gets the default",
			yaml:  productionYAML + "tokens:\n  access_ttl:\n",
			check: func(c *Config) (any, any) { return c.Tokens.AccessTTL, 15 * time.Minute },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey}
			for k, v := range tt.env {
				env[k] = v
			}
			c, err := loadYAML(t, tt.yaml, env, tt.files)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tt.check(c); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestLoadRejectsBadInputNamingTheKeyOrVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		yaml  string
		env   map[string]string
		wants []string
	}{
		{
			name:  "an unknown key",
			yaml:  "providers:\n  google:\n    cliend_id: x\n",
			wants: []string{"config.yaml: line 3: providers.google.cliend_id: unknown key for a provider of type google; did you mean client_id?"},
		},
		{
			name:  "an unknown top-level key",
			yaml:  "moed: dev\n",
			wants: []string{"line 1: moed: unknown key; did you mean mode?"},
		},
		{
			name:  "a bad duration in the file",
			yaml:  "tokens:\n  access_ttl: 15x\n",
			wants: []string{`line 2: tokens.access_ttl: "15x" is not a duration (use e.g. 15m, 1h)`},
		},
		{
			name:  "a duration without a unit",
			yaml:  "login:\n  code_ttl: 60\n",
			wants: []string{`login.code_ttl: "60" is not a duration`},
		},
		{
			name:  "a bad boolean in the file",
			yaml:  "server:\n  demo_page: maybe\n",
			wants: []string{`server.demo_page: "maybe" is not a boolean`},
		},
		{
			name:  "a bad number in a client",
			yaml:  "clients:\n  - id: a\n    access_ttl: soon\n",
			wants: []string{`line 3: clients[0].access_ttl: "soon" is not a duration`},
		},
		{
			name:  "a value where a mapping belongs",
			yaml:  "server: 8080\n",
			wants: []string{"server: must be a mapping"},
		},
		{
			name:  "a value where a list belongs",
			yaml:  "tokens:\n  audience: https://api.example.com\n",
			wants: []string{"tokens.audience: must be a list"},
		},
		{
			name:  "a list where a value belongs",
			yaml:  "mode: [dev]\n",
			wants: []string{"mode: must be a single value"},
		},
		{
			name:  "a repeated key",
			yaml:  "mode: dev\nmode: production\n",
			wants: []string{"line 2: mode: duplicate key"},
		},
		{
			name:  "a second YAML document",
			yaml:  "mode: dev\n---\nmode: production\n",
			wants: []string{"only one YAML document"},
		},
		{
			name:  "broken YAML",
			yaml:  "server: [\n",
			wants: []string{"config.yaml: "},
		},
		{
			name:  "every decoding problem at once",
			yaml:  "moed: dev\ntokens:\n  access_ttl: 15x\n",
			wants: []string{"moed: unknown key", "tokens.access_ttl:"},
		},
		{
			name:  "a bad duration variable",
			env:   map[string]string{"SOCIALBRIDGE_TOKENS_ACCESS_TTL": "abc"},
			wants: []string{`SOCIALBRIDGE_TOKENS_ACCESS_TTL: "abc" is not a duration`},
		},
		{
			name:  "a bad boolean variable",
			env:   map[string]string{"SOCIALBRIDGE_SERVER_DEMO_PAGE": "maybe"},
			wants: []string{`SOCIALBRIDGE_SERVER_DEMO_PAGE: "maybe" is not a boolean`},
		},
		{
			name:  "a bad number variable",
			env:   map[string]string{"SOCIALBRIDGE_SERVER_MAX_BODY_BYTES": "64k"},
			wants: []string{`SOCIALBRIDGE_SERVER_MAX_BODY_BYTES: "64k" is not a whole number`},
		},
		{
			name:  "a variable and its _FILE variable",
			env:   map[string]string{"SOCIALBRIDGE_SERVER_ADDR": ":1", "SOCIALBRIDGE_SERVER_ADDR_FILE": "$DIR/addr"},
			wants: []string{"SOCIALBRIDGE_SERVER_ADDR and SOCIALBRIDGE_SERVER_ADDR_FILE are both set"},
		},
		{
			name:  "a secret variable and its _FILE variable",
			env:   map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey, "SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY_FILE": "$DIR/key"},
			wants: []string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY and SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY_FILE are both set"},
		},
		{
			name:  "an unreadable _FILE variable",
			env:   map[string]string{"SOCIALBRIDGE_SERVER_PUBLIC_URL_FILE": "$DIR/missing"},
			wants: []string{"SOCIALBRIDGE_SERVER_PUBLIC_URL_FILE: cannot read ", "/missing: no such file or directory"},
		},
		{
			name:  "a secret and its *_file key",
			yaml:  "providers:\n  google:\n    client_secret: s\n    client_secret_file: $DIR/s\n",
			wants: []string{"providers.google.client_secret and providers.google.client_secret_file are both set"},
		},
		{
			name:  "a client secret and its secret_file",
			yaml:  "clients:\n  - id: spa\n    secret: s\n    secret_file: $DIR/s\n",
			wants: []string{`clients[0] (id "spa").secret and clients[0] (id "spa").secret_file are both set`},
		},
		{
			name:  "the admin token and admin.token_file",
			yaml:  "admin:\n  token: s\n  token_file: $DIR/s\n",
			wants: []string{"admin.token and admin.token_file are both set; set only one"},
		},
		{
			name:  "the admin token variable and its _FILE variable",
			env:   map[string]string{"SOCIALBRIDGE_ADMIN_TOKEN": "a", "SOCIALBRIDGE_ADMIN_TOKEN_FILE": "$DIR/b"},
			wants: []string{"SOCIALBRIDGE_ADMIN_TOKEN and SOCIALBRIDGE_ADMIN_TOKEN_FILE are both set; set only one"},
		},
		{
			name:  "an unreadable admin.token_file",
			yaml:  "admin:\n  token_file: $DIR/missing\n",
			wants: []string{"admin.token_file: cannot read ", "/missing: no such file or directory"},
		},
		{
			name:  "a bad audit retention",
			env:   map[string]string{"SOCIALBRIDGE_AUDIT_RETENTION": "90d"},
			wants: []string{`SOCIALBRIDGE_AUDIT_RETENTION: "90d" is not a duration`},
		},
		{
			name:  "an unreadable *_file key",
			yaml:  "crypto:\n  encryption_key_file: $DIR/missing\n",
			wants: []string{"crypto.encryption_key_file: cannot read ", "/missing: no such file or directory"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadYAML(t, tt.yaml, tt.env, nil)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, want := range tt.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not contain %q", err, want)
				}
			}
		})
	}
}

func TestLoadReportsEveryProblemOfTheFileTheEnvironmentAndValidationAtOnce(t *testing.T) {
	t.Parallel()
	_, err := loadYAML(t, `
server:
  public_url: https://auth.example.com
moed: dev
tokens:
  access_ttl: 15x
  algorithm: HS256
providers:
  google:
    client_id: id.apps.googleusercontent.com
    client_secret: google-secret
clients:
  - id: spa
    redirect_uris: [http://app.example.com/cb]
  - id: spa
    redirect_uris: [https://app.example.com/cb]
`, map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY_FILE": "$DIR/missing"}, nil)
	if err == nil {
		t.Fatal("Load succeeded, want errors")
	}
	// In this order, each once, and nothing that follows from a value
	// already reported: the unreadable key is not also "required".
	wants := []string{
		"config.yaml: line 4: moed: unknown key; did you mean mode?",
		`config.yaml: line 6: tokens.access_ttl: "15x" is not a duration`,
		"crypto.encryption_key_file: cannot read ",
		"tokens.algorithm: must be one of ES256, RS256, PS256, EdDSA",
		`clients[0] (id "spa").redirect_uris[0]: must use https`,
		`clients[1].id: "spa" is already used by clients[0]`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(wants) {
		t.Errorf("got %d problems, want %d:\n%v", len(lines), len(wants), err)
	}
	for i, want := range wants {
		if i >= len(lines) {
			break
		}
		line := lines[i]
		if j := strings.Index(line, "config.yaml: "); j >= 0 {
			line = line[j:] // without the temporary directory
		}
		if !strings.HasPrefix(line, want) {
			t.Errorf("problem %d = %q, want it to start with %q", i, line, want)
		}
	}
}

func TestLoadLeavesOutWhatFollowsFromAProblemAlreadyReported(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		yaml       string
		env        map[string]string
		want, omit string
	}{
		{"an unreadable encryption key file is not also a missing key",
			productionYAML, map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY_FILE": "$DIR/missing"},
			"crypto.encryption_key_file: cannot read", "crypto.encryption_key: required"},
		{"a client secret set twice is not also too short",
			productionYAML + "    secret: s\n    secret_file: $DIR/s\n", nil,
			`clients[0] (id "spa").secret and clients[0] (id "spa").secret_file are both set`, "at least 32 characters"},
		{"a section that is not a mapping does not also miss its keys",
			strings.Replace(productionYAML, "server:\n  public_url: https://auth.example.com\n", "server: https://auth.example.com\n", 1), nil,
			"server: must be a mapping", "server.public_url: required"},
		{"a file that is not YAML reports nothing else",
			"server: [\n", nil, "config.yaml: ", "crypto.encryption_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey}
			maps.Copy(env, tt.env)
			if _, ok := tt.env["SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY_FILE"]; ok {
				delete(env, "SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY")
			}
			_, err := loadYAML(t, tt.yaml, env, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), tt.omit) {
				t.Errorf("Load: %v\nwant %q and not %q", err, tt.want, tt.omit)
			}
		})
	}
}

func TestLoadReportsAMissingConfigFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), fakeEnv(nil), os.ReadFile, testTypes())
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("err = %v, want one naming the file", err)
	}
}

func clientIDs(c *Config) []string {
	var ids []string
	for _, cl := range c.Clients {
		ids = append(ids, cl.ID)
	}
	return ids
}
