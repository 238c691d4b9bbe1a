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
// newest refresh token.
func refreshWorker(base string) (op, error) {
	tok, err := signIn(base)
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	c := newClient()
	return func() error {
		ts, err := postToken(c, base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {demoClient}})
		if err != nil {
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
		return tokenSet{}, fmt.Errorf("authorize: the dev page answered %d", resp.StatusCode)
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
		return tokenSet{}, fmt.Errorf("sign-in did not return a code (status %d)", resp.StatusCode)
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
	defer resp.Body.Close()
	var ts tokenSet
	if err := json.NewDecoder(resp.Body).Decode(&ts); err != nil {
		return ts, fmt.Errorf("token response (status %d): %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return ts, fmt.Errorf("token endpoint answered %d %s", resp.StatusCode, ts.Error)
	}
	return ts, nil
}

// drain reads and closes a response body so that its connection is reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}
