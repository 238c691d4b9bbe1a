package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// secretSet collects every credential a test handles, by what it is.
type secretSet map[string]string // value: what it is

// add records value as what, unless it is too short to mean anything.
func (s secretSet) add(what, value string) {
	if len(value) >= 8 {
		s[value] = what
	}
}

// addJWT records a JWT whole and its signature alone (a log of a truncated
// token would still hold it).
func (s secretSet) addJWT(what, jwt string) {
	s.add(what, jwt)
	if parts := strings.Split(jwt, "."); len(parts) == 3 {
		s.add(what+" (signature)", parts[2])
	}
}

// addCookies records the values of the cookies jar holds for u.
func (s secretSet) addCookies(jar http.CookieJar, u, step string) {
	parsed, _ := url.Parse(u)
	for _, c := range jar.Cookies(parsed) {
		s.add(fmt.Sprintf("cookie %s (%s)", c.Name, step), c.Value)
	}
}

// redactionClient is a confidential client of the redaction test.
const (
	redactionClientID     = "confidential-app"
	redactionClientSecret = "confidential-app-secret-0123456789abcdefghij"
)

// signInRecording runs a dev sign-in as clientID (confidential when secret
// is set; in cookie mode when cookieMode, from the public URL's origin) and
// records in secrets every state, code, verifier, cookie and token it
// sees. It returns the token response and the client that holds the
// cookies.
func signInRecording(t *testing.T, base, clientID, secret string, cookieMode bool, secrets secretSet) (tokenSet, *http.Client) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	var redirects []*url.URL
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		redirects = append(redirects, r.URL)
		return nil
	}}
	verifier, challenge := pkcePair()
	state := randomString(t)
	nonce := randomString(t)
	secrets.add("code_verifier", verifier)
	secrets.add("code_challenge", challenge)
	secrets.add("state", state)
	secrets.add("nonce", nonce)
	redirect := base + "/demo/"
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid profile email"},
		"state": {state}, "nonce": {nonce}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "provider": {"dev"},
	}
	resp, err := c.Get(base + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	secrets.addCookies(jar, base, "login flow")
	form := resp.Request.URL.Query() // the dev page's hidden fields
	for k, v := range form {
		secrets.add("dev page field "+k, v[0])
	}
	form.Set("user", "alice")
	resp, err = c.PostForm(base+"/dev/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, u := range redirects {
		for k, v := range u.Query() {
			if k == "code" || k == "state" {
				secrets.add(fmt.Sprintf("%s in the redirect to %s", k, u.Path), v[0])
			}
		}
	}
	code := resp.Request.URL.Query().Get("code")
	if code == "" || resp.Request.URL.Query().Get("state") != state {
		t.Fatalf("sign-in ended at %s (status %d)", resp.Request.URL, resp.StatusCode)
	}
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
	status, ts := tokenRequest(t, c, base, clientID, secret, cookieMode, exchange)
	if status != http.StatusOK {
		t.Fatalf("code exchange as %s: %d %s", clientID, status, ts.Error)
	}
	secrets.addJWT("access token", ts.AccessToken)
	secrets.addJWT("ID token", ts.IDToken)
	secrets.add("refresh token", ts.RefreshToken)
	secrets.addCookies(jar, base, "after the code exchange")
	return ts, c
}

// tokenRequest calls /token as clientID: with HTTP Basic when secret is
// set, with the CSRF header and the page's Origin in cookie mode.
func tokenRequest(t *testing.T, c *http.Client, base, clientID, secret string, cookieMode bool, form url.Values) (int, tokenSet) {
	t.Helper()
	if secret == "" {
		form.Set("client_id", clientID)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	if cookieMode {
		req.Header.Set("X-Socialbridge-CSRF", "1")
		req.Header.Set("Origin", base)
	}
	resp, err := c.Do(req)
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

// bearerCall makes a request with an access token and returns the status.
func bearerCall(t *testing.T, method, u, token string) int {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func randomString(t *testing.T) string {
	t.Helper()
	v, _ := pkcePair()
	return v
}

func TestRedactionNoCredentialEverReachesTheLog(t *testing.T) {
	t.Parallel()
	// A fixed address, since the config file names the confidential
	// client's redirect URI.
	addr := freeAddr(t)
	base := "http://" + addr
	dataDir := t.TempDir()
	path := filepath.Join(t.TempDir(), "socialbridge.yaml")
	conf := fmt.Sprintf("mode: dev\nlog:\n  level: debug\nserver:\n  public_url: %q\n  rate_limit: -1\nclients:\n"+
		"  - id: %s\n    secret: %q\n    redirect_uris: [%q]\n", base, redactionClientID, redactionClientSecret, base+"/demo/")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := start(t, map[string]string{"SOCIALBRIDGE_SERVER_ADDR": addr, "SOCIALBRIDGE_DATA_DIR": dataDir}, "-config", path)
	secrets := secretSet{}
	secrets.add("client secret", redactionClientSecret)

	// A public client: sign-in, code exchange, refresh, /userinfo, /logout.
	ts, _ := signInRecording(t, inst.url, "demo", "", false, secrets)
	status, next := tokenRequest(t, http.DefaultClient, inst.url, "demo", "", false, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ts.RefreshToken}})
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %s", status, next.Error)
	}
	secrets.addJWT("refreshed access token", next.AccessToken)
	secrets.add("rotated refresh token", next.RefreshToken)
	if status := bearerCall(t, http.MethodGet, inst.url+"/userinfo", next.AccessToken); status != http.StatusOK {
		t.Fatalf("/userinfo: %d", status)
	}
	// The refresh token already rotated away: reuse, which is logged.
	if status, _ := tokenRequest(t, http.DefaultClient, inst.url, "demo", "", false, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ts.RefreshToken}}); status == http.StatusOK {
		t.Log("the replayed refresh token was accepted (within the reuse grace)")
	}
	if status := bearerCall(t, http.MethodPost, inst.url+"/logout", next.AccessToken); status != http.StatusOK {
		t.Fatalf("/logout: %d", status)
	}
	// An ended session's token, refused and logged.
	_ = bearerCall(t, http.MethodGet, inst.url+"/userinfo", next.AccessToken)

	// A confidential client: its secret in HTTP Basic, a refresh with it.
	conf2, _ := signInRecording(t, inst.url, redactionClientID, redactionClientSecret, false, secrets)
	status, next2 := tokenRequest(t, http.DefaultClient, inst.url, redactionClientID, redactionClientSecret, false,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {conf2.RefreshToken}})
	if status != http.StatusOK {
		t.Fatalf("confidential refresh: %d %s", status, next2.Error)
	}
	secrets.addJWT("confidential client's refreshed access token", next2.AccessToken)
	secrets.add("confidential client's rotated refresh token", next2.RefreshToken)
	// A wrong secret, which is logged as a failure.
	_, _ = tokenRequest(t, http.DefaultClient, inst.url, redactionClientID, redactionClientSecret+"-wrong", false,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next2.RefreshToken}})
	secrets.add("a wrong client secret", redactionClientSecret+"-wrong")

	// The built-in cookie-mode client: the refresh token in a cookie.
	_, cookieClient := signInRecording(t, inst.url, "demo-cookie", "", true, secrets)
	status, next3 := tokenRequest(t, cookieClient, inst.url, "demo-cookie", "", true, url.Values{"grant_type": {"refresh_token"}})
	if status != http.StatusOK {
		t.Fatalf("cookie-mode refresh: %d %s", status, next3.Error)
	}
	secrets.addJWT("cookie-mode refreshed access token", next3.AccessToken)
	secrets.addCookies(cookieClient.Jar, inst.url, "after the cookie-mode refresh")

	// The dev encryption key, too.
	if key, err := os.ReadFile(filepath.Join(dataDir, "dev-encryption.key")); err == nil {
		secrets.add("dev encryption key", strings.TrimSpace(string(key)))
	}
	// Token exchange is left out: the dev provider, the only one this
	// test can sign in with, has no native tokens.

	logs := inst.logs.String()
	lines := strings.Count(logs, "\n")
	if lines < 20 || !strings.Contains(logs, "level=DEBUG") && !strings.Contains(logs, "msg=request") {
		t.Fatalf("only %d log lines captured: the test would prove nothing\n%s", lines, logs)
	}
	// A control: the claims the log is meant to hold are there, so the
	// search below looks at the right text.
	if subject := sub(t, ts.AccessToken); !strings.Contains(logs, subject) {
		t.Fatalf("the log does not hold alice's user id %s: the search would prove nothing\n%s", subject, logs)
	}
	leaks := 0
	for value, what := range secrets {
		for form, v := range map[string]string{
			"as is": value, "URL-encoded": url.QueryEscape(value),
			"base64": base64.StdEncoding.EncodeToString([]byte(value)), "base64url": base64.RawURLEncoding.EncodeToString([]byte(value)),
		} {
			if i := strings.Index(logs, v); i >= 0 {
				leaks++
				lineStart := strings.LastIndex(logs[:i], "\n") + 1
				lineEnd := i + strings.Index(logs[i:], "\n")
				t.Errorf("the log holds the %s (%s):\n%s", what, form, logs[lineStart:max(lineEnd, i+len(v))])
			}
		}
	}
	t.Logf("checked %d credentials (each as is, URL-encoded, base64 and base64url) against %d log lines: %d found", len(secrets), lines, leaks)
}
