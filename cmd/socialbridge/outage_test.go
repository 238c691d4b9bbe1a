//go:build linux

package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/internal/fsfail"
)

// outageAnswer is what an endpoint answered during the outage.
type outageAnswer struct {
	status     int
	retryAfter string
	body       string
	took       time.Duration
}

func timedDo(t *testing.T, c *http.Client, req *http.Request) outageAnswer {
	t.Helper()
	began := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return outageAnswer{resp.StatusCode, resp.Header.Get("Retry-After"), string(b), time.Since(began)}
}

// TestOutageOfTheSQLiteDiskAnswers503AndRecoversWithoutLosingSessions is
// not parallel: fsfail.FailWrites stops every file write of the test
// binary.
func TestOutageOfTheSQLiteDiskAnswers503AndRecoversWithoutLosingSessions(t *testing.T) {
	inst := start(t, map[string]string{})
	before := devSignIn(t, inst.url, "carol")
	client := &http.Client{Timeout: 10 * time.Second}
	refresh := func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, inst.url+"/token", strings.NewReader(url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {before.RefreshToken}, "client_id": {"demo"},
		}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}
	get := func(path string, accept string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, inst.url+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		return req
	}
	_, challenge := pkcePair()
	signInStart := "/authorize?" + url.Values{
		"client_id": {"demo"}, "redirect_uri": {inst.url + "/demo/"}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"st"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "provider": {"dev"},
	}.Encode()

	restore := fsfail.FailWrites(t)

	const bound = 2 * time.Second
	t.Run("a refresh answers 503 temporarily_unavailable with Retry-After", func(t *testing.T) {
		a := timedDo(t, client, refresh())
		if a.status != http.StatusServiceUnavailable || a.retryAfter != "5" || a.took > bound {
			t.Fatalf("refresh during the outage: %d, Retry-After %q, after %s: %s", a.status, a.retryAfter, a.took, a.body)
		}
		var body struct {
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		if err := json.Unmarshal([]byte(a.body), &body); err != nil || body.Error != "temporarily_unavailable" || body.ErrorDescription == "" {
			t.Errorf("the body is not an RFC 6749 error: %s", a.body)
		}
	})
	t.Run("a sign-in shows a 503 page with Retry-After", func(t *testing.T) {
		noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		a := timedDo(t, noRedirect, get(signInStart, "text/html"))
		if a.status != http.StatusServiceUnavailable || a.retryAfter != "5" || a.took > bound {
			t.Fatalf("sign-in during the outage: %d, Retry-After %q, after %s: %s", a.status, a.retryAfter, a.took, a.body)
		}
	})
	t.Run("healthz, discovery and JWKS keep answering 200", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/.well-known/openid-configuration", "/.well-known/jwks.json"} {
			if a := timedDo(t, client, get(p, "")); a.status != http.StatusOK || a.took > bound {
				t.Errorf("%s during the outage: %d after %s", p, a.status, a.took)
			}
		}
	})
	t.Run("readyz answers in time", func(t *testing.T) {
		// Its ping reads; a full disk still reads (see web's ready).
		if a := timedDo(t, client, get("/readyz", "")); a.took > bound || (a.status != http.StatusOK && a.status != http.StatusServiceUnavailable) {
			t.Errorf("/readyz during the outage: %d after %s", a.status, a.took)
		}
	})
	logs := inst.logs.String()
	if strings.Contains(logs, `"request failed"`) || !strings.Contains(logs, `"database unavailable"`) {
		t.Errorf("the outage was not logged as one (a warning, not a request failure):\n%s", logs)
	} else if t.Failed() {
		t.Logf("server log:\n%s", logs)
	}

	restore()

	// The session survived, unrotated: the refresh token from before the
	// outage still works, once.
	status, next, err := tryRefresh(inst.url, before.RefreshToken)
	if err != nil || status != http.StatusOK || next.RefreshToken == "" {
		t.Fatalf("refresh after the outage: %d %s %v", status, next.Error, err)
	}
	if sub(t, next.AccessToken) != sub(t, before.AccessToken) {
		t.Error("the refresh after the outage is for another user")
	}
	// Signing in works again, and carol is still the one user she was.
	again := devSignIn(t, inst.url, "carol")
	if sub(t, again.AccessToken) != sub(t, before.AccessToken) {
		t.Error("carol got a new user id after the outage")
	}
}
