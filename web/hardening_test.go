package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/socialbridge/socialbridge/web"
)

// noFollow is a client without cookies that stops at the first redirect.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// httpsApp is an app whose public URL is https (as behind a TLS proxy);
// the test server itself still speaks http.
func httpsApp(t *testing.T) *app {
	t.Helper()
	return newAppWith(t, nil, func(o *web.Options) { o.PublicURL = "https://sb.example.com" })
}

// flowCookie returns the flow cookie /authorize sets for a dev sign-in,
// and the provider-facing state of that flow.
func flowCookie(t *testing.T, a *app) (*http.Cookie, string) {
	t.Helper()
	_, challenge := pkce()
	resp, err := noFollow.Get(a.authorizeURL(challenge, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("/authorize answered %d without a redirect", resp.StatusCode)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("/authorize set %d cookies, want 1: %v", len(cookies), resp.Header.Values("Set-Cookie"))
	}
	return cookies[0], loc.Query().Get("state")
}

func TestFlowCookieIsAMACAndHostBoundOverHTTPS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		app        func(t *testing.T) *app
		wantPrefix string
		wantSecure bool
	}{
		{"over https it is a Secure __Host- cookie", httpsApp, "__Host-sb_flow_", true},
		{"over plain http (dev on localhost) it has no Secure and no prefix", func(t *testing.T) *app { return newApp(t, nil) }, "sb_flow_", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ck, state := flowCookie(t, tt.app(t))
			flowID, _, _ := strings.Cut(state, ".")
			if ck.Name != tt.wantPrefix+flowID {
				t.Errorf("cookie name = %q, want %q", ck.Name, tt.wantPrefix+flowID)
			}
			if ck.Secure != tt.wantSecure || ck.Path != "/" || ck.Domain != "" || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
				t.Errorf("cookie = %s; want Secure=%v, Path=/, no Domain, HttpOnly, SameSite=Lax", ck, tt.wantSecure)
			}
			if len(ck.Value) < 40 || ck.Value == "1" || strings.Contains(state, ck.Value) {
				t.Errorf("cookie value = %q, want a MAC of its own", ck.Value)
			}
		})
	}
}

func TestPlantedFlowCookieIsRefused(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	// The attacker starts a login in their own browser and approves it...
	attacker := a.browser(t)
	_, challenge := pkce()
	resp, err := attacker.Get(a.authorizeURL(challenge, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	form := resp.Request.URL.Query()
	form.Set("user", "alice")
	resp, err = noFollow.PostForm(a.url+"/dev/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	flowID, _, _ := strings.Cut(form.Get("state"), ".")
	// ...and plants a flow cookie for that flow in the victim's browser,
	// with the value the cookie used to have.
	req, _ := http.NewRequest(http.MethodGet, callback, nil)
	req.AddCookie(&http.Cookie{Name: "sb_flow_" + flowID, Value: "1"})
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Sign-in started elsewhere") {
		t.Fatalf("callback with a planted cookie: %d %q %.200s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

func TestHSTSOnlyWhenThePublicURLIsHTTPS(t *testing.T) {
	t.Parallel()
	const want = "max-age=31536000"
	secure, plain := httpsApp(t), newApp(t, nil)
	for _, path := range []string{"/healthz", "/.well-known/jwks.json", "/authorize?client_id=nobody", "/nope", "/demo/"} {
		for _, tc := range []struct {
			a    *app
			want string
		}{{secure, want}, {plain, ""}} {
			resp, err := noFollow.Get(tc.a.url + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Strict-Transport-Security"); got != tc.want {
				t.Errorf("GET %s with public URL %s: Strict-Transport-Security = %q, want %q", path, map[bool]string{true: "https", false: "http"}[tc.a == secure], got, tc.want)
			}
		}
	}
}

func TestRedirectsCarryingACodeOrAnErrorAreNotCached(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	// devCallback runs a dev sign-in up to the provider's redirect back,
	// then opens the callback with extra (nil: the dev page's own query).
	devCallback := func(t *testing.T, extra url.Values) *http.Response {
		t.Helper()
		c := a.browser(t)
		_, challenge := pkce()
		resp, err := c.Get(a.authorizeURL(challenge, "dev"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		form := resp.Request.URL.Query()
		if extra != nil {
			extra.Set("state", form.Get("state"))
			resp, err = c.Get(a.url + "/callback/dev?" + extra.Encode())
		} else {
			form.Set("user", "alice")
			resp, err = c.PostForm(a.url+"/dev/authorize", form)
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	tests := []struct {
		name      string
		do        func(t *testing.T) *http.Response
		wantParam string
	}{
		{"an authorization error sent back to the client", func(t *testing.T) *http.Response {
			_, challenge := pkce()
			u := strings.Replace(a.authorizeURL(challenge, "dev"), "response_type=code", "response_type=token", 1)
			resp, err := noFollow.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}, "error"},
		{"a successful callback with the code", func(t *testing.T) *http.Response { return devCallback(t, nil) }, "code"},
		{"a failed callback with the error", func(t *testing.T) *http.Response {
			return devCallback(t, url.Values{"error": {"access_denied"}})
		}, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := tt.do(t)
			loc, err := resp.Location()
			if err != nil || !strings.HasPrefix(loc.String(), spaRedirect+"?") || loc.Query().Get(tt.wantParam) == "" {
				t.Fatalf("answer %d to %v, want a redirect to the client with %s", resp.StatusCode, loc, tt.wantParam)
			}
			if cc, p := resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"); cc != "no-store" || p != "no-cache" {
				t.Errorf("Cache-Control = %q, Pragma = %q; want no-store and no-cache", cc, p)
			}
		})
	}
}

func TestAuthorizeRefusesBytesThatAreNotUTF8(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	_, challenge := pkce()
	for _, param := range []string{"state", "nonce", "login_hint"} {
		u := a.authorizeURL(challenge, "dev") + "&" + param + "=caf%E9"
		if param == "state" {
			u = strings.Replace(a.authorizeURL(challenge, "dev"), "state=spa-state", "state=caf%E9", 1)
		}
		resp, err := noFollow.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil || !strings.HasPrefix(loc.String(), spaRedirect+"?") || loc.Query().Get("error") != "invalid_request" {
			t.Errorf("%s not UTF-8: answer %d to %v, want invalid_request at the client", param, resp.StatusCode, loc)
			continue
		}
		if param == "state" && !strings.Contains(loc.RawQuery, "state=caf%E9") {
			t.Errorf("the error redirect does not return the state byte for byte: %s", loc.RawQuery)
		}
	}
	// Before the redirect URI is verified there is nowhere to send an
	// error: a page.
	resp, err := noFollow.Get(strings.Replace(a.authorizeURL(challenge, "dev"), "client_id=spa", "client_id=sp%FF", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("client_id not UTF-8: %d %q, want an error page", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestPOSTAuthorizeErrorsArePages(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	_, challenge := pkce()
	u, _ := url.Parse(a.authorizeURL(challenge, ""))
	form := u.Query().Encode()
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		page        string
	}{
		{"a JSON body", "application/json", `{"client_id":"spa"}`, http.StatusUnsupportedMediaType, "application/x-www-form-urlencoded"},
		{"a multipart body", "multipart/form-data; boundary=x", "--x--", http.StatusUnsupportedMediaType, "application/x-www-form-urlencoded"},
		{"no content type", "", form, http.StatusUnsupportedMediaType, "application/x-www-form-urlencoded"},
		{"an oversized body", "application/x-www-form-urlencoded", form + "&pad=" + strings.Repeat("a", 70000), http.StatusRequestEntityTooLarge, "too long"},
		{"a form with its charset", "application/x-www-form-urlencoded; charset=UTF-8", form, http.StatusOK, `data-provider="dev"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(http.MethodPost, a.url+"/authorize", strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), tt.page) {
				t.Fatalf("got %d %q: %.300s; want %d, an HTML page with %q", resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status, tt.page)
			}
		})
	}
}

func TestPromptNoneGoesBackAsLoginRequired(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	_, challenge := pkce()
	for _, provider := range []string{"", "dev"} {
		resp, err := noFollow.Get(a.authorizeURL(challenge, provider) + "&prompt=none")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil || !strings.HasPrefix(loc.String(), spaRedirect+"?") {
			t.Fatalf("provider %q: answer %d to %v, want a redirect to the client", provider, resp.StatusCode, loc)
		}
		if q := loc.Query(); q.Get("error") != "login_required" || q.Get("state") != "spa-state" || q.Get("iss") != a.url {
			t.Errorf("provider %q: client got %v, want error=login_required with its state and our iss", provider, q)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("provider %q: prompt=none set cookies %v", provider, resp.Header.Values("Set-Cookie"))
		}
	}
}

func TestDemoWithoutTheSlashRedirects(t *testing.T) {
	t.Parallel()
	a := newApp(t, nil)
	resp, err := noFollow.Get(a.url + "/demo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/demo/" {
		t.Fatalf("GET /demo: %d to %q, want 301 to /demo/", resp.StatusCode, resp.Header.Get("Location"))
	}
	off := newAppWith(t, nil, func(o *web.Options) { o.DemoClientID = "" })
	resp, err = noFollow.Get(off.url + "/demo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /demo with the demo off: %d, want 404", resp.StatusCode)
	}
}
