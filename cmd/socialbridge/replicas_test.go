package main

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store/mongo/mongotest"
)

// Two socialbridge processes on one database behave as one service: a
// sign-in begun on one finishes on the other, its code is redeemed on the
// first, refreshes on either rotate the same session, and a logout on one
// is honoured by the other. (The dev provider keeps its own codes in
// memory, so its page and the callback that redeems its code are served by
// the same process, as a real provider's would be by the provider.)
func TestTwoReplicasOnOneDatabaseBehaveAsOne(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		dir := t.TempDir()
		a := checkReplicas(t, map[string]string{"SOCIALBRIDGE_DATA_DIR": dir}, map[string]string{"SOCIALBRIDGE_DATA_DIR": dir})
		if !strings.Contains(a.logs.String(), "store=sqlite") {
			t.Error("the replicas did not run on SQLite")
		}
	})
	t.Run("MongoDB", func(t *testing.T) {
		// The MongoDB code path on the MongoDB-wire test server (or a real
		// MongoDB when MONGODB_URI is set); each replica has a data
		// directory of its own, sharing only the database and the
		// encryption key.
		uri := os.Getenv("MONGODB_URI")
		if uri == "" {
			uri = mongotest.StartFerretDB(t)
		}
		key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{42}, 32))
		db := "replicas_" + strings.ReplaceAll(t.Name(), "/", "_")
		env := func() map[string]string {
			return map[string]string{"SOCIALBRIDGE_DATA_DIR": t.TempDir(), "MONGODB_URI": uri, "SOCIALBRIDGE_STORE_DATABASE": db,
				"SOCIALBRIDGE_CRYPTO_ENCRYPTION_KEY": key}
		}
		a := checkReplicas(t, env(), env())
		if !strings.Contains(a.logs.String(), "store=mongodb") {
			t.Errorf("the replicas did not run on MongoDB:\n%s", a.logs)
		}
	})
}

// checkReplicas starts two replicas with envA and envB (plus their
// addresses), runs the cross-replica checks and returns the first.
func checkReplicas(t *testing.T, envA, envB map[string]string) *instance {
	envA["SOCIALBRIDGE_METRICS_ADDR"] = "off"
	a := start(t, envA)
	bAddr := freeAddr(t)
	envB["SOCIALBRIDGE_METRICS_ADDR"] = "off"
	envB["SOCIALBRIDGE_SERVER_ADDR"] = bAddr
	envB["SOCIALBRIDGE_SERVER_PUBLIC_URL"] = a.url
	start(t, envB)
	// The same host name as A's public URL (localhost), so that the
	// browser sends B the sign-in cookie A set: replicas behind one name.
	b := "http://localhost:" + bAddr[strings.LastIndex(bAddr, ":")+1:]
	onB := func(u *url.URL) {
		bu, _ := url.Parse(b)
		u.Scheme, u.Host = bu.Scheme, bu.Host
	}

	// 1. /authorize on A starts the flow; the browser's next stops (the dev
	// provider's page and the callback) are served by B.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.Path, "/demo/") {
			return http.ErrUseLastResponse // back at the app, with the code
		}
		onB(req.URL)
		return nil
	}}
	verifier, challenge := pkcePair()
	redirect := a.url + "/demo/"
	q := url.Values{
		"client_id": {"demo"}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"st"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "provider": {"dev"},
	}
	resp, err := c.Get(a.url + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Request.URL.String(), b+"/dev/") {
		t.Fatalf("the dev page was served by %s, want B", resp.Request.URL)
	}
	form := resp.Request.URL.Query()
	form.Set("user", "alice")
	resp, err = c.PostForm(b+"/dev/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := resp.Location()
	if err != nil || back.Query().Get("code") == "" {
		t.Fatalf("the callback on B (%s) did not send the app a code: %d %v", resp.Request.URL, resp.StatusCode, back)
	}

	// 2. The code, issued by B, is redeemed on A.
	status, ts := postToken(t, a.url, url.Values{
		"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {redirect},
		"client_id": {"demo"}, "code_verifier": {verifier},
	})
	if status != http.StatusOK {
		t.Fatalf("code exchange on A: %d %s", status, ts.Error)
	}

	// 3. Refreshes alternate between the replicas on one session; an
	// access token minted by either is accepted by the other.
	refresh := ts.RefreshToken
	for i, base := range []string{b, a.url, b, a.url} {
		status, next := postToken(t, base, url.Values{"grant_type": {"refresh_token"}, "client_id": {"demo"}, "refresh_token": {refresh}})
		if status != http.StatusOK {
			t.Fatalf("refresh %d on %s: %d %s", i, base, status, next.Error)
		}
		other := a.url
		if base == a.url {
			other = b
		}
		if code := userinfoStatus(t, other, next.AccessToken); code != http.StatusOK {
			t.Fatalf("userinfo on the other replica for a token minted on %s: %d", base, code)
		}
		refresh = next.RefreshToken
	}

	// 4. Logout on A; B refuses the session's refresh token and access
	// token at once.
	status, last := postToken(t, a.url, url.Values{"grant_type": {"refresh_token"}, "client_id": {"demo"}, "refresh_token": {refresh}})
	if status != http.StatusOK {
		t.Fatalf("refresh: %d %s", status, last.Error)
	}
	req, _ := http.NewRequest(http.MethodPost, a.url+"/logout", nil)
	req.Header.Set("Authorization", "Bearer "+last.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("logout on A: %v %v", resp, err)
	}
	resp.Body.Close()
	if status, ts := postToken(t, b, url.Values{"grant_type": {"refresh_token"}, "client_id": {"demo"}, "refresh_token": {last.RefreshToken}}); status != http.StatusBadRequest || ts.Error != "invalid_grant" {
		t.Errorf("refresh on B after logout on A: %d %s, want invalid_grant", status, ts.Error)
	}
	if code := userinfoStatus(t, b, last.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("userinfo on B after logout on A: %d, want 401", code)
	}
	return a
}

func userinfoStatus(t *testing.T, base, access string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
