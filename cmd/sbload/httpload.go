package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"time"
)

// devUser is the dev-provider user every HTTP sign-in picks. The dev
// provider only offers its built-in test users (alice, bob, carol: the
// server passes no list of its own) and refuses any other, so sign-ins
// cannot create new users: they all sign alice in again, and what
// accumulates is sessions, not identities or users (-seed stores those).
const devUser = "alice"

// refreshWorker signs in once, then refreshes in a loop, always with the
// newest refresh token. After a failed refresh its token may be spent (the
// server may have rotated it before the answer was lost) or its session
// revoked, so it signs in again within the failed operation, whose time is
// not counted; if that fails too, the next refresh fails and tries again.
func refreshWorker(base string) (op, error) {
	tok, err := signIn(base)
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	c := newClient()
	return func() error {
		ts, err := postToken(c, base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {demoClient}})
		if err != nil {
			if fresh, err := signIn(base); err == nil {
				tok = fresh
			}
			return fmt.Errorf("refresh: %w", err)
		}
		tok = ts
		return nil
	}, nil
}

// signinWorker performs complete sign-ins, each in a new browser.
func signinWorker(base string) op {
	return func() error {
		if _, err := signIn(base); err != nil {
			return fmt.Errorf("sign in: %w", err)
		}
		return nil
	}
}

// newClient is a browser: its own cookies and keep-alive connections,
// which close after a few idle seconds so that clients of earlier
// measurements do not leave connections (and server goroutines) behind.
func newClient() *http.Client {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 5 * time.Second}}
}

// statusError is an answer the flow did not expect: a status other than
// the one it needs, or a body it cannot use. Every other error of an HTTP
// operation is a transport error, no answer at all (see failures).
type statusError struct {
	step   string // what was asked: "authorize", "token endpoint", ...
	code   int    // the status of the answer
	detail string // the OAuth error code, or what was wrong with the answer
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("%s answered %d", e.step, e.code)
	if e.detail != "" {
		msg += " " + e.detail
	}
	return msg
}

// tokenSet is a /token response.
type tokenSet struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
}

// signIn runs the demo client's whole flow with the dev provider in a new
// browser, five requests: /authorize (redirects to the dev page), the dev
// page, its form (redirects to the callback), the callback (redirects to
// the client with a code), and the code exchange. The browser then goes
// away: its connection is closed.
func signIn(base string) (tokenSet, error) {
	c := newClient()
	defer c.CloseIdleConnections()
	verifier := randomToken(32)
	redirect := base + "/demo/"
	q := url.Values{
		"client_id": {demoClient}, "redirect_uri": {redirect}, "response_type": {"code"}, "state": {"s"},
		"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}, "provider": {"dev"},
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == "/demo/" {
			return http.ErrUseLastResponse // the SPA would take over here
		}
		return nil
	}
	resp, err := c.Get(base + "/authorize?" + q.Encode())
	if err != nil {
		return tokenSet{}, fmt.Errorf("authorize: %w", err)
	}
	drain(resp)
	if resp.StatusCode != http.StatusOK {
		return tokenSet{}, &statusError{step: "authorize (the dev page)", code: resp.StatusCode}
	}
	form := resp.Request.URL.Query() // the dev page's own parameters
	form.Set("user", devUser)
	resp, err = c.PostForm(base+"/dev/authorize", form)
	if err != nil {
		return tokenSet{}, fmt.Errorf("dev page: %w", err)
	}
	drain(resp)
	loc, err := resp.Location()
	if err != nil || loc.Query().Get("code") == "" {
		return tokenSet{}, &statusError{step: "dev page form", code: resp.StatusCode, detail: "(no redirect with a code)"}
	}
	return postToken(c, base, url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {redirect},
		"client_id": {demoClient}, "code_verifier": {verifier},
	})
}

// postToken posts a grant to /token and decodes the token set.
func postToken(c *http.Client, base string, form url.Values) (tokenSet, error) {
	resp, err := c.PostForm(base+"/token", form)
	if err != nil {
		return tokenSet{}, fmt.Errorf("token endpoint: %w", err)
	}
	defer drain(resp)
	var ts tokenSet
	decodeErr := json.NewDecoder(resp.Body).Decode(&ts)
	switch {
	case resp.StatusCode != http.StatusOK:
		return ts, &statusError{step: "token endpoint", code: resp.StatusCode, detail: ts.Error}
	case decodeErr != nil:
		return ts, &statusError{step: "token endpoint", code: resp.StatusCode, detail: "(not a token set: " + decodeErr.Error() + ")"}
	}
	return ts, nil
}

// drain reads and closes a response body so that its connection is reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}
