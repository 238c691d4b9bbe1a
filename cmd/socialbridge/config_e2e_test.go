package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers/google/googletest"
)

// attempt runs serve with env as its whole environment, listed to it as
// os.Environ would be, until it listens or gives up. A server that starts
// is stopped at once; its error is nil and started is true.
func attempt(t *testing.T, env map[string]string, args ...string) (logs string, started bool, err error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	out := &lockedBuffer{}
	up := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, args, func(k string) string { return env[k] }, io.Discard, out, func(string) { up <- struct{}{} }, environ...)
	}()
	select {
	case err := <-done:
		return out.String(), false, err
	case <-up:
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		return out.String(), true, nil
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("serve neither started nor failed in 60s\n%s", out)
	}
	return "", false, nil
}

// dockerfileEnv returns the variables the Dockerfile's ENV instructions set.
func dockerfileEnv(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	inEnv := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "ENV "); ok {
			inEnv, line = true, rest
		} else if !inEnv || strings.HasPrefix(line, "#") {
			inEnv = false
			continue
		}
		inEnv = strings.HasSuffix(line, `\`)
		for _, kv := range strings.Fields(strings.TrimSuffix(line, `\`)) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	if len(env) == 0 {
		t.Fatal("the Dockerfile sets no environment")
	}
	return env
}

func TestStartRefusesDevModeThatCouldBeReachedOrMistakenForADeployment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   map[string]string
		wants []string
	}{
		{"an environment-only deployment that forgot the mode", map[string]string{
			// The review's reproduction, on a free port of every interface.
			"SOCIALBRIDGE_SERVER_ADDR":                    ":0",
			"SOCIALBRIDGE_SERVER_PUBLIC_URL":              "https://auth.example.com",
			"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_ID":     "1234-abc.apps.googleusercontent.com",
			"SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_SECRET": "google-secret",
		}, []string{
			"mode: not set, so dev mode applies",
			"server.public_url (https), providers.google (talks to https://accounts.google.com)",
			"Set mode: production (SOCIALBRIDGE_MODE=production) and crypto.encryption_key, or mode: dev (SOCIALBRIDGE_MODE=dev) explicitly",
			`server.addr: dev mode listens on loopback only (127.0.0.1, ::1 or localhost), got ":0"`,
		}},
		{"dev mode said explicitly on every interface", map[string]string{
			"SOCIALBRIDGE_MODE": "dev", "SOCIALBRIDGE_SERVER_ADDR": "0.0.0.0:0",
		}, []string{`server.addr: dev mode listens on loopback only (127.0.0.1, ::1 or localhost), got "0.0.0.0:0"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.env["SOCIALBRIDGE_DATA_DIR"] = t.TempDir()
			logs, started, err := attempt(t, tt.env)
			if started {
				t.Fatalf("socialbridge started:\n%s", logs)
			}
			for _, want := range tt.wants {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("serve: %v\nwant an error containing %q", err, want)
				}
			}
		})
	}
}

func TestTheDockerImageRefusesToStartWithoutRealSettings(t *testing.T) {
	t.Parallel()
	env := dockerfileEnv(t)
	if env["SOCIALBRIDGE_MODE"] != "production" {
		t.Errorf("the Dockerfile sets SOCIALBRIDGE_MODE=%q, want production", env["SOCIALBRIDGE_MODE"])
	}
	// The image's own address (every interface), on a free port; the data
	// directory of this test rather than /data.
	env["SOCIALBRIDGE_SERVER_ADDR"] = strings.Replace(env["SOCIALBRIDGE_SERVER_ADDR"], ":8080", ":0", 1)
	env["SOCIALBRIDGE_DATA_DIR"] = t.TempDir()
	logs, started, err := attempt(t, env)
	if started {
		t.Fatalf("the image's default configuration started:\n%s", logs)
	}
	for _, want := range []string{"server.public_url: required in production", "crypto.encryption_key: required in production", "providers: no provider is enabled"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("serve: %v\nwant an error containing %q", err, want)
		}
	}
}

// productionFile writes a valid production configuration with a fake
// Google on loopback and clients, and returns the environment that runs
// it on a free loopback port.
func productionFile(t *testing.T, clients string) map[string]string {
	t.Helper()
	fake := googletest.New(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "socialbridge.yaml")
	yaml := `
server:
  addr: 127.0.0.1:0
  public_url: http://127.0.0.1:9
providers:
  google:
    client_id: ` + fake.ClientID() + `
    client_secret: ` + fake.ClientSecret() + `
    issuer: ` + fake.URL() + `
clients:
` + clients
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"SOCIALBRIDGE_CONFIG":                path,
		"SOCIALBRIDGE_DATA_DIR":              dir,
		"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
	}
}

const (
	spaClient     = "  - id: spa\n    redirect_uris: [https://app.example.com/cb]\n"
	backendClient = "  - id: backend\n    redirect_uris: [https://backend.example.com/cb]\n    secret: 0123456789abcdef0123456789abcdef\n"
)

func TestStartLogsConfigurationWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string // in a WARN line
	}{
		{"production clients that share the default audience",
			productionFile(t, spaClient+backendClient),
			`level=WARN msg=configuration warning="clients: spa, backend share the default audience http://127.0.0.1:9`},
		{"a misspelt variable in dev mode",
			map[string]string{"SOCIALBRIDGE_PROVIDER_GOOGLE_CLIENT_ID": "id"},
			`level=WARN msg=configuration warning="SOCIALBRIDGE_PROVIDER_GOOGLE_CLIENT_ID: not a socialbridge variable (did you mean SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_ID?); ignored"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := maps.Clone(tt.env)
			if env["SOCIALBRIDGE_DATA_DIR"] == "" {
				env["SOCIALBRIDGE_DATA_DIR"] = t.TempDir()
				env["SOCIALBRIDGE_SERVER_ADDR"] = "127.0.0.1:0"
			}
			logs, started, err := attempt(t, env)
			if !started {
				t.Fatalf("serve: %v\n%s", err, logs)
			}
			if !strings.Contains(logs, tt.want) {
				t.Errorf("the log:\n%s\nhas no line containing %s", logs, tt.want)
			}
		})
	}
}

func TestStartRefusesWhatProductionMustNotIgnore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   map[string]string
		wants []string
	}{
		{"a misspelt variable", with(productionFile(t, spaClient), "SOCIALBRIDGE_PROVIDER_GOOGLE_CLIENT_ID", "id"),
			[]string{"SOCIALBRIDGE_PROVIDER_GOOGLE_CLIENT_ID: not a socialbridge variable (did you mean SOCIALBRIDGE_PROVIDERS_GOOGLE_CLIENT_ID?); production refuses"}},
		{"a short client secret", productionFile(t, spaClient+strings.Replace(backendClient, "0123456789abcdef0123456789abcdef", "s3cret", 1)),
			[]string{`clients[1] (id "backend").secret: must be at least 32 characters`}},
		{"two clients with one id, and everything else at once", productionFile(t, spaClient+strings.Replace(spaClient, "https://", "http://", 1)+"    access_ttl: soon\n"),
			[]string{`clients[1].access_ttl: "soon" is not a duration`, `clients[1] (id "spa").redirect_uris[0]: must use https`, `clients[1].id: "spa" is already used by clients[0]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logs, started, err := attempt(t, tt.env)
			if started {
				t.Fatalf("socialbridge started:\n%s", logs)
			}
			for _, want := range tt.wants {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("serve: %v\nwant an error containing %q", err, want)
				}
			}
		})
	}
}

func TestRunPassesTheEnvironmentListToTheConfiguration(t *testing.T) {
	t.Parallel()
	env := with(productionFile(t, spaClient), "SOCIALBRIDGE_LOG_LEVLE", "debug")
	var environ []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		environ = append(environ, k+"="+env[k])
	}
	// Refused, run returns at once; started, it would serve until ctx ends.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := run(ctx, nil, func(k string) string { return env[k] }, io.Discard, io.Discard, environ...)
	if err == nil || !strings.Contains(err.Error(), "SOCIALBRIDGE_LOG_LEVLE: not a socialbridge variable (did you mean SOCIALBRIDGE_LOG_LEVEL?)") {
		t.Errorf("run() = %v, want an error naming SOCIALBRIDGE_LOG_LEVLE and SOCIALBRIDGE_LOG_LEVEL", err)
	}
}

// with returns a copy of env with k set to v.
func with(env map[string]string, k, v string) map[string]string {
	out := maps.Clone(env)
	out[k] = v
	return out
}
