package configs

import (
	"maps"
	"os"
	"strings"
	"testing"
)

func TestUnknownVariablesAreNamedWithTheClosestKnownOne(t *testing.T) {
	t.Parallel()
	const typo = "SOCIALBRIDGE_PROVIDER_GOOGLE_CLIENT_ID: not a socialbridge variable (did you mean SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_ID?)"
	tests := []struct {
		name        string
		production  bool
		env         map[string]string
		wantErr     string // production refuses
		wantWarning string // dev mode warns
	}{
		{"a misspelt variable is a warning in dev mode", false,
			map[string]string{"SOCIALBRIDGE_PROVIDER_GOOGLE_CLIENT_ID": "id"}, "", typo + "; ignored"},
		{"a misspelt variable stops production", true,
			map[string]string{"SOCIALBRIDGE_PROVIDER_GOOGLE_CLIENT_ID": "id"},
			typo + "; production refuses unknown SOCIALBRIDGE_* variables so that a misspelt setting is not silently ignored: rename or unset it", ""},
		{"a misspelt secret variable is named, not its value", true,
			map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTON_KEY": "hunter2-value"},
			"SOCIALBRIDGE_CRYPTO_ENCRYPTON_KEY: not a socialbridge variable (did you mean SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY?)", ""},
		{"a variable in the wrong case is unknown too", false,
			map[string]string{"socialbridge_mode": "dev"}, "", "socialbridge_mode: not a socialbridge variable (did you mean SOCIALBRIDGE_MODE?)"},
		{"a client variable is told that clients come from the file", false,
			map[string]string{"SOCIALBRIDGE_CLIENTS_0_SECRET": "x"}, "", "SOCIALBRIDGE_CLIENTS_0_SECRET: not a socialbridge variable (clients come from the config file only)"},
		{"an empty unknown variable is unset, as every empty variable is", true,
			map[string]string{"SOCIALBRIDGE_PROVIDER_GOOGLE_CLIENT_ID": ""}, "", ""},
		{"Kubernetes' and Docker's service-link variables for a service named socialbridge are not ours", true,
			map[string]string{
				"SOCIALBRIDGE_SERVICE_HOST": "10.0.0.7", "SOCIALBRIDGE_SERVICE_PORT": "8080", "SOCIALBRIDGE_SERVICE_PORT_HTTP": "8080",
				"SOCIALBRIDGE_PORT": "tcp://10.0.0.7:8080", "SOCIALBRIDGE_PORT_8080_TCP": "tcp://10.0.0.7:8080",
				"SOCIALBRIDGE_PORT_8080_TCP_PROTO": "tcp", "SOCIALBRIDGE_PORT_8080_TCP_PORT": "8080", "SOCIALBRIDGE_PORT_8080_TCP_ADDR": "10.0.0.7",
			}, "", ""},
		{"known variables, their _FILE forms, the config file's and other programs' are fine", true,
			map[string]string{
				"SOCIALBRIDGE_CONFIG": "x.yaml", "SOCIALBRIDGE_LOG_LEVEL": "debug", "SOCIALBRIDGE_SERVER_PUBLIC_URL_FILE": "$DIR/url",
				"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_SECRET_FILE": "$DIR/gs", "MONGODB_URI": "mongodb://db", "HOME": "/root",
			}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": testKey}
			maps.Copy(env, tt.env)
			files := map[string]string{"url": "https://auth.example.com", "gs": "google-secret"}
			yaml := productionYAML
			if !tt.production {
				yaml = "mode: dev\n"
			}
			c, err := loadYAML(t, yaml, env, files)
			if tt.wantErr != "" {
				checkLoadErr(t, err, []string{tt.wantErr})
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error reveals a value: %v", err)
				}
				return
			}
			checkLoadErr(t, err, nil)
			warnings := strings.Join(c.Warnings(), "\n")
			if tt.wantWarning == "" && warnings != "" || !strings.Contains(warnings, tt.wantWarning) {
				t.Errorf("warnings:\n%s\nwant %q", warnings, tt.wantWarning)
			}
		})
	}
}

func TestAFailingDevModeStartAlsoNamesMisspeltVariables(t *testing.T) {
	t.Parallel()
	_, err := Load("", fakeEnv(map[string]string{
		"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_ID":    "id.apps.googleusercontent.com",
		"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_SECRT": "google-secret",
		"SOCIALBRIDGE_PROVIDERS_GOOGLE_ISSUER":       "http://127.0.0.1:9999",
	}), os.ReadFile, testTypes())
	checkLoadErr(t, err, []string{
		"providers.google.client_secret: required: the client secret from Google Cloud console",
		"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_SECRT: not a socialbridge variable (did you mean SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_SECRET?); ignored",
	})
}

func TestLoadWithoutTheListOfVariablesSkipsTheCheck(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"SOCIALBRIDGE_MODE": "production", "SOCIALBRIDGE_PROVIDER_GOOGLE_CLIENT_ID": "id"}
	_, err := Load("", Env{Getenv: func(k string) string { return vars[k] }}, os.ReadFile, testTypes())
	if err != nil && strings.Contains(err.Error(), "SOCIALBRIDGE_PROVIDER_GOOGLE_CLIENT_ID") {
		t.Errorf("Load without Names reported a variable it cannot know about: %v", err)
	}
}

func TestTheKnownVariablesAreThoseLoadReads(t *testing.T) {
	t.Parallel()
	for _, want := range []string{"SOCIALBRIDGE_CONFIG", "SOCIALBRIDGE_MODE", "SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY", "SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY_FILE",
		"SOCIALBRIDGE_SERVER_DEMO_PAGE", "SOCIALBRIDGE_TOKENS_ID_TOKEN_ALGORITHM", "SOCIALBRIDGE_SERVER_ALLOW_DEV_ON_ALL_INTERFACES",
		"SOCIALBRIDGE_SERVER_ACCOUNT_PAGE", "SOCIALBRIDGE_ADMIN_TOKEN", "SOCIALBRIDGE_ADMIN_TOKEN_FILE", "SOCIALBRIDGE_AUDIT_RETENTION"} {
		if !strings.Contains(" "+strings.Join(knownVariables(nil), " ")+" ", " "+want+" ") {
			t.Errorf("%s is not a known variable", want)
		}
	}
	for _, notWanted := range []string{"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY_FILE_FILE", "SOCIALBRIDGE_CLIENTS", "SOCIALBRIDGE_ADMIN_TOKEN_FILE_FILE"} {
		if strings.Contains(" "+strings.Join(knownVariables(nil), " ")+" ", " "+notWanted+" ") {
			t.Errorf("%s is a known variable, but Load does not read it", notWanted)
		}
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"mode", "mode", 0},
		{"moed", "mode", 2},
		{"kitten", "sitting", 3},
		{"PROVIDER", "PROVIDERS", 1},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
