package configs

import (
	"maps"
	"os"
	"strings"
	"testing"
)

func TestDevModeRefusesSettingsThatLookLikeADeploymentUnlessAskedFor(t *testing.T) {
	t.Parallel()
	google := map[string]string{
		"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_ID":     "id.apps.googleusercontent.com",
		"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_SECRET": "google-secret",
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := maps.Clone(base)
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name  string
		env   map[string]string
		wants []string // nil: it loads
	}{
		{"an environment-only deployment without a mode is refused, naming every key and what to do",
			with(google, "SOCIALBRIDGE_SERVER_ADDR", ":8080", "SOCIALBRIDGE_SERVER_PUBLIC_URL", "https://auth.example.com"),
			[]string{
				"mode: not set, so dev mode applies (there is no config file)",
				"server.public_url (https), providers.google (talks to https://accounts.google.com)",
				"Set mode: production (SOCIALBRIDGE_MODE=production) and crypto.encryption_key, or mode: dev (SOCIALBRIDGE_MODE=dev) explicitly to keep the dev provider",
				`server.addr: dev mode listens on loopback only (127.0.0.1, ::1 or localhost), got ":8080"`,
			}},
		{"an https public URL alone is refused without a mode",
			map[string]string{"SOCIALBRIDGE_SERVER_PUBLIC_URL": "https://auth.example.com"},
			[]string{"mode: not set", "settings are set: server.public_url (https)."}},
		{"Google credentials alone are refused without a mode",
			google,
			[]string{"settings are set: providers.google (talks to https://accounts.google.com)."}},
		{"a Google secret alone is refused without a mode",
			map[string]string{"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_SECRET": "google-secret"},
			[]string{"settings are set: providers.google (talks to https://accounts.google.com).", "providers.google.client_id: required"}},
		{"mode dev said explicitly keeps the dev provider next to production settings",
			with(google, "SOCIALBRIDGE_MODE", "dev", "SOCIALBRIDGE_SERVER_PUBLIC_URL", "https://auth.example.com"), nil},
		{"Google credentials for a fake on loopback are not production settings",
			with(google, "SOCIALBRIDGE_PROVIDERS_GOOGLE_ISSUER", "http://127.0.0.1:9999"), nil},
		{"a Google fake on loopback with an endpoint elsewhere is real",
			with(google, "SOCIALBRIDGE_PROVIDERS_GOOGLE_ISSUER", "http://127.0.0.1:9999", "SOCIALBRIDGE_PROVIDERS_GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token"),
			[]string{"settings are set: providers.google (talks to https://oauth2.googleapis.com/token)"}},
		{"an http public URL is a dev setting", map[string]string{"SOCIALBRIDGE_SERVER_PUBLIC_URL": "http://devbox.lan:8080"}, nil},
		{"mode production said in the environment is production",
			with(google, "SOCIALBRIDGE_MODE", "production", "SOCIALBRIDGE_SERVER_PUBLIC_URL", "https://auth.example.com", "SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY", testKey), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load("", fakeEnv(tt.env), os.ReadFile, testTypes())
			checkLoadErr(t, err, tt.wants)
		})
	}
}

func TestDevModeListensOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		addr  string
		allow string
		want  string // "": it loads
	}{
		{"the default address is loopback", "", "", ""},
		{"127.0.0.1 is loopback", "127.0.0.1:9000", "", ""},
		{"::1 is loopback", "[::1]:9000", "", ""},
		{"localhost is loopback", "localhost:9000", "", ""},
		{"an empty host is every interface", ":8080", "", `server.addr: dev mode listens on loopback only (127.0.0.1, ::1 or localhost), got ":8080"`},
		{"0.0.0.0 is every interface", "0.0.0.0:8080", "", `got "0.0.0.0:8080"`},
		{"[::] is every interface", "[::]:8080", "", `got "[::]:8080"`},
		{"a LAN address is refused", "192.168.1.10:8080", "", "Use e.g. 127.0.0.1:8080"},
		{"the error says how to run dev mode in a container", ":8080", "", "set server.allow_dev_on_all_interfaces: true and publish the port on the host's loopback (docker run -p 127.0.0.1:8080:8080)"},
		{"every interface with the explicit opt-in", ":8080", "true", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load("", fakeEnv(map[string]string{
				"SOCIALBRIDGE_MODE": "dev", "SOCIALBRIDGE_SERVER_ADDR": tt.addr, "SOCIALBRIDGE_SERVER_ALLOW_DEV_ON_ALL_INTERFACES": tt.allow,
			}), os.ReadFile, testTypes())
			if tt.want != "" {
				checkLoadErr(t, err, []string{tt.want})
				return
			}
			checkLoadErr(t, err, nil)
			warned := strings.Contains(strings.Join(c.Warnings(), "\n"), "server.allow_dev_on_all_interfaces: dev mode listens on "+tt.addr)
			if warned != (tt.allow == "true") {
				t.Errorf("warnings %q; want one about every interface only with the opt-in", c.Warnings())
			}
		})
	}
}

func TestProductionListensWhereItIsTold(t *testing.T) {
	t.Parallel()
	c, err := loadYAML(t, productionYAML, map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey, "SOCIALBRIDGE_SERVER_ADDR": "0.0.0.0:8443"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Addr != "0.0.0.0:8443" || len(c.Warnings()) != 0 {
		t.Errorf("addr %q, warnings %q; want 0.0.0.0:8443 and none", c.Server.Addr, c.Warnings())
	}
}

// checkLoadErr fails unless err contains every one of wants, or is nil
// when wants is.
func checkLoadErr(t *testing.T, err error, wants []string) {
	t.Helper()
	switch {
	case wants == nil && err != nil:
		t.Fatalf("Load: %v, want no error", err)
	case wants != nil && err == nil:
		t.Fatalf("Load succeeded, want an error containing %q", wants)
	}
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Load:\n%v\nwant it to contain %q", err, want)
		}
	}
}
