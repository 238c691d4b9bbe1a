package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// instance is a running socialbridge started through the real wiring.
type instance struct {
	url  string
	logs *lockedBuffer
	stop func()
}

// lockedBuffer collects the server's log output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs serve with env as its whole environment on a free loopback
// port, and stops it at the end of the test.
func start(t *testing.T, env map[string]string, args ...string) *instance {
	t.Helper()
	if env["SOCIALBRIDGE_DATA_DIR"] == "" {
		env["SOCIALBRIDGE_DATA_DIR"] = t.TempDir()
	}
	if env["SOCIALBRIDGE_SERVER_ADDR"] == "" {
		env["SOCIALBRIDGE_SERVER_ADDR"] = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &lockedBuffer{}
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, args, func(k string) string { return env[k] }, io.Discard, logs, func(u string) { urls <- u })
	}()
	var u string
	select {
	case u = <-urls:
	case err := <-done:
		cancel()
		t.Fatalf("serve exited: %v\n%s", err, logs)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("serve did not start in 60s\n%s", logs)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &instance{url: u, logs: logs, stop: stop}
}

func pkcePair() (string, string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(v))
	return v, base64.RawURLEncoding.EncodeToString(sum[:])
}

type tokenSet struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	ExpiresIn    int    `json:"expires_in"`
	Error        string `json:"error"`
}

// postToken calls /token and decodes the answer.
func postToken(t *testing.T, base string, form url.Values) (int, tokenSet) {
	t.Helper()
	resp, err := http.PostForm(base+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ts tokenSet
	if err := json.NewDecoder(resp.Body).Decode(&ts); err != nil {
		t.Fatalf("token response is not JSON: %v", err)
	}
	return resp.StatusCode, ts
}

// devSignIn signs in as a dev test user over plain HTTP, as the demo
// client, and returns the tokens.
func devSignIn(t *testing.T, base, user string) tokenSet {
	t.Helper()
	return devSignInAs(t, base, "demo", user)
}

// devSignInAs is devSignIn as a public client whose redirect URI is the
// demo page.
func devSignInAs(t *testing.T, base, clientID, user string) tokenSet {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	verifier, challenge := pkcePair()
	redirect := base + "/demo/"
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid profile email"},
		"state": {"st"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "provider": {"dev"},
	}
	resp, err := c.Get(base + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	form := resp.Request.URL.Query() // the dev page's hidden fields
	form.Set("user", user)
	resp, err = c.PostForm(base+"/dev/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back := resp.Request.URL // followed to the demo page with the code
	if back.Query().Get("code") == "" || back.Query().Get("state") != "st" {
		t.Fatalf("sign-in ended at %s (status %d)", back, resp.StatusCode)
	}
	status, ts := postToken(t, base, url.Values{
		"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {redirect},
		"client_id": {clientID}, "code_verifier": {verifier},
	})
	if status != 200 {
		t.Fatalf("code exchange: %d %s", status, ts.Error)
	}
	return ts
}

func TestRestartKeepsUsersSessionsAndKeys(t *testing.T) {
	dir := t.TempDir()
	first := start(t, map[string]string{"SOCIALBRIDGE_DATA_DIR": dir})
	ts := devSignIn(t, first.url, "alice")
	jwks1 := get(t, first.url+"/.well-known/jwks.json")
	first.stop()

	second := start(t, map[string]string{"SOCIALBRIDGE_DATA_DIR": dir})
	// The port differs, and so does the issuer: a dev restart on port 0 is
	// a new issuer. Keys, users and sessions are what must survive.
	jwks2 := get(t, second.url+"/.well-known/jwks.json")
	if jwks1 != jwks2 {
		t.Errorf("JWKS changed across restart:\n%s\n%s", jwks1, jwks2)
	}
	if strings.Contains(second.logs.String(), "created signing key") {
		t.Error("a restart created new signing keys")
	}
	if strings.Contains(second.logs.String(), "generated a dev encryption key") {
		t.Error("a restart generated a new encryption key")
	}
	// The same person signing in again is the same user.
	ts2 := devSignIn(t, second.url, "alice")
	if sub(t, ts.AccessToken) != sub(t, ts2.AccessToken) {
		t.Error("alice got a new user id after a restart")
	}
}

func TestRestartKeepsRefreshTokensWorking(t *testing.T) {
	// A fixed address keeps the issuer stable across restarts, as in any
	// real deployment.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{"SOCIALBRIDGE_DATA_DIR": t.TempDir(), "SOCIALBRIDGE_SERVER_ADDR": addr}
	first := start(t, env)
	ts := devSignIn(t, first.url, "bob")
	first.stop()
	second := start(t, env)
	status, next := postToken(t, second.url, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ts.RefreshToken}, "client_id": {"demo"}})
	if status != 200 || next.AccessToken == "" {
		t.Fatalf("refresh after restart: %d %s", status, next.Error)
	}
}

func TestStandardLibrariesVerifyOurTokens(t *testing.T) {
	inst := start(t, map[string]string{})
	ts := devSignIn(t, inst.url, "alice")
	ctx := context.Background()

	// OpenID Connect discovery and ID token verification, as any OIDC
	// client library does it, by a relying party that accepts RS256 only
	// (the one algorithm OpenID Connect requires).
	prov, err := oidc.NewProvider(ctx, inst.url)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	idt, err := prov.Verifier(&oidc.Config{ClientID: "demo", SupportedSigningAlgs: []string{oidc.RS256}}).Verify(ctx, ts.IDToken)
	if err != nil {
		t.Fatalf("go-oidc rejected our ID token: %v", err)
	}
	if idt.Subject == "" {
		t.Error("ID token has no subject")
	}

	// The access token, verified through the JWKS by an independent
	// verifier (go-oidc's remote key set), as a backend API would.
	keys := oidc.NewRemoteKeySet(ctx, inst.url+"/.well-known/jwks.json")
	v := oidc.NewVerifier(inst.url, keys, &oidc.Config{ClientID: inst.url, SupportedSigningAlgs: []string{oidc.ES256}})
	at, err := v.Verify(ctx, ts.AccessToken)
	if err != nil {
		t.Fatalf("go-oidc rejected our access token: %v", err)
	}
	var claims map[string]any
	if err := at.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims["email"] != "alice@example.com" || claims["client_id"] != "demo" || claims["idp"] != "dev" {
		t.Errorf("access token claims = %v", claims)
	}
	// RFC 9068: the header says at+jwt.
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(ts.AccessToken, ".")[0])
	if !strings.Contains(string(header), `"typ":"at+jwt"`) {
		t.Errorf("access token header = %s", header)
	}
	// A tampered access token is refused by the same verifier.
	parts := strings.Split(ts.AccessToken, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte("alice"), []byte("admin"), 1)) + "." + parts[2]
	if _, err := v.Verify(ctx, forged); err == nil {
		t.Error("go-oidc accepted a tampered access token")
	}
}

func TestRelyingPartiesGetIDTokensInTheAlgorithmTheyAskFor(t *testing.T) {
	// A fixed address, since the config file names the redirect URI.
	addr := freeAddr(t)
	base := "http://" + addr
	path := filepath.Join(t.TempDir(), "socialbridge.yaml")
	conf := fmt.Sprintf("mode: dev\nserver:\n  public_url: %q\nclients:\n"+
		"  - id: es256-app\n    redirect_uris: [%q]\n    id_token_signed_response_alg: ES256\n", base, base+"/demo/")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := start(t, map[string]string{"SOCIALBRIDGE_SERVER_ADDR": addr}, "-config", path)
	ctx := context.Background()

	prov, err := oidc.NewProvider(ctx, inst.url)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	var meta struct {
		IDAlgs     []string `json:"id_token_signing_alg_values_supported"`
		AccessAlgs []string `json:"access_token_signing_alg_values_supported"`
	}
	if err := prov.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(meta.IDAlgs, []string{"RS256", "ES256"}) {
		t.Errorf("id_token_signing_alg_values_supported = %v, want [RS256 ES256]: RS256 first, then the client's", meta.IDAlgs)
	}
	if !slices.Equal(meta.AccessAlgs, []string{"ES256"}) {
		t.Errorf("access_token_signing_alg_values_supported = %v, want [ES256]", meta.AccessAlgs)
	}

	rs256Only := prov.Verifier(&oidc.Config{ClientID: "demo", SupportedSigningAlgs: []string{oidc.RS256}})
	es256Only := prov.Verifier(&oidc.Config{ClientID: "es256-app", SupportedSigningAlgs: []string{oidc.ES256}})
	tests := []struct {
		name     string
		clientID string
		alg      string
		accepts  *oidc.IDTokenVerifier
		refuses  *oidc.IDTokenVerifier
	}{
		{"a client that names no algorithm gets RS256, which an RS256-only relying party verifies", "demo", "RS256", rs256Only,
			prov.Verifier(&oidc.Config{ClientID: "demo", SupportedSigningAlgs: []string{oidc.ES256}})},
		{"a client with id_token_signed_response_alg ES256 gets ES256, which an ES256-only relying party verifies", "es256-app", "ES256", es256Only,
			prov.Verifier(&oidc.Config{ClientID: "es256-app", SupportedSigningAlgs: []string{oidc.RS256}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := devSignInAs(t, inst.url, tt.clientID, "alice")
			header, _ := base64.RawURLEncoding.DecodeString(strings.Split(ts.IDToken, ".")[0])
			if !strings.Contains(string(header), `"alg":"`+tt.alg+`"`) {
				t.Fatalf("ID token header = %s, want alg %s", header, tt.alg)
			}
			idt, err := tt.accepts.Verify(ctx, ts.IDToken)
			if err != nil {
				t.Fatalf("go-oidc for %s rejected our ID token: %v", tt.alg, err)
			}
			if idt.Subject != sub(t, ts.AccessToken) || idt.Audience[0] != tt.clientID {
				t.Errorf("ID token sub %s aud %v, want the access token's subject and %s", idt.Subject, idt.Audience, tt.clientID)
			}
			if _, err := tt.refuses.Verify(ctx, ts.IDToken); err == nil {
				t.Errorf("a relying party not accepting %s verified the ID token", tt.alg)
			}
			// Access tokens stay ES256 whatever the ID algorithm.
			ah, _ := base64.RawURLEncoding.DecodeString(strings.Split(ts.AccessToken, ".")[0])
			if !strings.Contains(string(ah), `"alg":"ES256"`) {
				t.Errorf("access token header = %s, want ES256", ah)
			}
			// An ID token is no access token.
			req, _ := http.NewRequest("GET", inst.url+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+ts.IDToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("/userinfo with the ID token as bearer: %d, want 401", resp.StatusCode)
			}
			// The refresh grant mints no ID token: RSA signing stays off
			// the hot path.
			status, next := postToken(t, inst.url, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ts.RefreshToken}, "client_id": {tt.clientID}})
			if status != 200 || next.AccessToken == "" || next.IDToken != "" {
				t.Errorf("refresh: %d %s, id_token %q; want new tokens and no ID token", status, next.Error, next.IDToken)
			}
		})
	}
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"a bad algorithm", map[string]string{"SOCIALBRIDGE_TOKENS_ALGORITHM": "HS256"}, "tokens.algorithm"},
		{"a bad duration", map[string]string{"SOCIALBRIDGE_TOKENS_ACCESS_TTL": "soon"}, "SOCIALBRIDGE_TOKENS_ACCESS_TTL"},
		{"production without secrets", map[string]string{"SOCIALBRIDGE_MODE": "production"}, "crypto.encryption_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["SOCIALBRIDGE_DATA_DIR"] = t.TempDir()
			err := run(context.Background(), nil, func(k string) string { return tc.env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run() = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "socialbridge ") {
		t.Errorf("version printed %q", out.String())
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}

// sub reads the subject of a JWT without verifying it (the tests above
// verify tokens separately).
func sub(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Sub string `json:"sub"`
	}
	_ = json.Unmarshal(raw, &c)
	return c.Sub
}
