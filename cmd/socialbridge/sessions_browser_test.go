package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/socialbridge/socialbridge/providers/azure/azuretest"
)

// newProfile opens a tab in a new browser context of ctx's browser: a
// profile of its own, with its own cookies and storage, as another device
// would have.
func newProfile(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	pctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(pctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("open a second browser profile: %v", err)
	}
	return pctx
}

// eval runs JavaScript in the page, awaiting a promise, and decodes its
// value.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %.80q: %v", js, err)
	}
	return v
}

// refreshCookieOf returns the browser's refresh cookie for base (read
// through DevTools, which sees HttpOnly cookies), or nil.
func refreshCookieOf(t *testing.T, ctx context.Context, base string) *network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	if err != nil {
		t.Fatalf("read the browser's cookies: %v", err)
	}
	var found *network.Cookie
	for _, c := range res.Cookies {
		if strings.HasPrefix(c.Name, "sb_rt_") || strings.HasPrefix(c.Name, "__Host-sb_rt_") {
			if found != nil {
				t.Errorf("two refresh cookies for %s: %s and %s", base, found.Name, c.Name)
			}
			found = c
		}
	}
	return found
}

// checkCookieHidden checks that the browser holds an HttpOnly, SameSite
// Strict refresh cookie that the page's scripts cannot read.
func checkCookieHidden(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	ck := refreshCookieOf(t, ctx, base)
	if ck == nil {
		t.Fatal("the browser has no refresh cookie")
	}
	if !ck.HTTPOnly || ck.SameSite != network.CookieSameSiteStrict || ck.Path != "/" {
		t.Errorf("refresh cookie %s: HttpOnly %v, SameSite %q, Path %q; want HttpOnly, Strict, /", ck.Name, ck.HTTPOnly, ck.SameSite, ck.Path)
	}
	visible := eval[string](t, ctx, `document.cookie + "\n" + JSON.stringify(Object.assign({}, sessionStorage)) + "\n" + JSON.stringify(Object.assign({}, localStorage)) + "\n" + document.body.innerText`)
	if strings.Contains(visible, ck.Name) || strings.Contains(visible, ck.Value) {
		t.Errorf("the page's scripts can see the refresh cookie (document.cookie, storage or page text):\n%.600s", visible)
	}
}

// settledView waits for the account page to show one of its views and
// names it: "signed-in" or "signed-out".
func settledView(t *testing.T, ctx context.Context) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`["signed-in", "signed-out"].find((id) => document.getElementById(id) && !document.getElementById(id).hidden) || ""`))
		if err == nil && v != "" {
			return v
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the account page showed neither view in 20s")
	return ""
}

// sessionRow is one row of the account page's session list.
type sessionRow struct {
	ID      string   `json:"id"`
	Current bool     `json:"current"`
	Cells   []string `json:"cells"`
	Button  string   `json:"button"`
}

// shownSessions reads the account page's session list.
func shownSessions(t *testing.T, ctx context.Context) []sessionRow {
	t.Helper()
	return eval[[]sessionRow](t, ctx, `[...document.querySelectorAll("#sessions tr")].map((tr) => ({
		id: tr.dataset.sessionId, current: tr.dataset.current === "true",
		cells: [...tr.querySelectorAll("td")].map((td) => td.textContent),
		button: (tr.querySelector("button[data-revoke]") || {}).textContent || "",
	}))`)
}

// waitSessions polls the session list until ok accepts it.
func waitSessions(t *testing.T, ctx context.Context, what string, ok func([]sessionRow) bool) []sessionRow {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows := shownSessions(t, ctx)
		if ok(rows) {
			return rows
		}
		if time.Now().After(deadline) {
			errText, _ := chromedp.Run(ctx, chromedp.TextContent("#error"))
			t.Fatalf("the session list never showed %s; last %+v; page error %q", what, rows, errText)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signInOnAccountPage signs alice in on the account page with the dev
// provider and returns the id of the page's own session.
func signInOnAccountPage(t *testing.T, ctx context.Context, base string) string {
	t.Helper()
	do(t, ctx, "open the account page and choose Dev",
		chromedp.Navigate(base+"/account/"),
		chromedp.WaitVisible(`button[data-provider="dev"]`),
		chromedp.Click(`button[data-provider="dev"]`),
	)
	clickThroughProvider(t, ctx, "dev")
	do(t, ctx, "wait for the signed-in account page", chromedp.WaitVisible("#signed-in"))
	rows := waitSessions(t, ctx, "the current session", func(rows []sessionRow) bool {
		for _, r := range rows {
			if r.Current {
				return true
			}
		}
		return false
	})
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != base+"/account/" {
		t.Errorf("after sign-in the address is %s, want %s/account/ (no code left in it)", loc, base)
	}
	for _, r := range rows {
		if r.Current {
			return r.ID
		}
	}
	return ""
}

// checkAccountPageStatic checks the account page's HTML: the page CSP, no
// inline script, no token or personal data (the script fetches those).
func checkAccountPageStatic(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/account/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != http.StatusOK || !strings.Contains(csp, "script-src 'self';") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /account/: %d, CSP %q, Cache-Control %q", resp.StatusCode, csp, resp.Header.Get("Cache-Control"))
	}
	if n, m := strings.Count(string(body), "<script"), strings.Count(string(body), `<script src="/assets/account.js"></script>`); n != 1 || m != 1 {
		t.Errorf("the account page has %d script tags, want only /assets/account.js:\n%s", n, body)
	}
}

func TestAccountPageListsAndEndsSessionsAcrossBrowsers(t *testing.T) {
	inst := start(t, map[string]string{"SOCIALBRIDGE_SERVER_RATE_LIMIT": "-1"})
	checkAccountPageStatic(t, inst.url)
	laptop := newBrowser(t)
	phone := newProfile(t, laptop)

	// Not signed in: the silent refresh finds no cookie and the page offers
	// the sign-in buttons, with no error.
	do(t, laptop, "open the account page signed out", chromedp.Navigate(inst.url+"/account/"), chromedp.WaitVisible("#signed-out"))
	waitText(t, laptop, "#status", func(s string) bool { return s == "You are not signed in." })
	if e := text(t, laptop, "#error"); e != "" {
		t.Errorf("a signed-out visit shows the error %q", e)
	}

	laptopSID := signInOnAccountPage(t, laptop, inst.url)
	phoneSID := signInOnAccountPage(t, phone, inst.url)
	if laptopSID == "" || laptopSID == phoneSID {
		t.Fatalf("the two browsers' sessions: %q and %q, want two different ones", laptopSID, phoneSID)
	}
	if who := text(t, laptop, "#who-name") + " " + text(t, laptop, "#who-email"); !strings.Contains(who, "alice@example.com") {
		t.Errorf("the page says signed in as %q, want alice@example.com", who)
	}
	checkCookieHidden(t, laptop, inst.url)

	// A third session, of the demo app, in the laptop's browser.
	signInWith(t, laptop, inst.url+"/demo/", "dev")
	demoRefresh := eval[string](t, laptop, `JSON.parse(sessionStorage.getItem("sb_tokens")).refresh_token`)

	// Back on the account page (a new page load: a silent refresh through
	// the cookie), every session is listed, this one marked.
	do(t, laptop, "reopen the account page", chromedp.Navigate(inst.url+"/account/"), chromedp.WaitVisible("#signed-in"))
	rows := waitSessions(t, laptop, "three sessions", func(rows []sessionRow) bool { return len(rows) == 3 })
	apps := map[string]int{}
	for _, r := range rows {
		apps[r.Cells[0]]++
		if r.Current != (r.ID == laptopSID) {
			t.Errorf("session %s marked current=%v; the laptop's is %s", r.ID, r.Current, laptopSID)
		}
		if r.Current && !strings.Contains(r.Cells[0], "This device") {
			t.Errorf("the current session's application cell %q lacks the This device marker", r.Cells[0])
		}
		if len(r.Cells) != 7 || r.Cells[1] == "" || r.Cells[4] == "" || r.Cells[5] == "" || r.Button != "Sign out" {
			t.Errorf("session row %+v: want application, sign-in method, device, IP, signed in, last used and a Sign out button", r)
		}
	}
	if apps["Your account This device"] != 1 || apps["Your account"] != 1 || apps["socialbridge demo"] != 1 {
		t.Errorf("the listed applications are %v, want the account page twice (one This device) and the demo once", apps)
	}

	// Reloading stays signed in, through the HttpOnly cookie alone.
	do(t, laptop, "reload the account page", chromedp.Reload(), chromedp.WaitVisible("#signed-in"))
	waitSessions(t, laptop, "the list after a reload", func(rows []sessionRow) bool { return len(rows) == 3 })
	checkCookieHidden(t, laptop, inst.url)

	// The laptop signs the phone out; the phone's next refresh fails.
	do(t, laptop, "sign the phone out", chromedp.Click(`button[data-revoke="`+phoneSID+`"]`))
	waitSessions(t, laptop, "the list without the phone", func(rows []sessionRow) bool {
		for _, r := range rows {
			if r.ID == phoneSID {
				return false
			}
		}
		return len(rows) == 2
	})
	do(t, phone, "reload the phone's account page", chromedp.Reload(), chromedp.WaitVisible("#signed-out"))
	waitText(t, phone, "#status", func(s string) bool { return s == "You are not signed in." })
	if ck := refreshCookieOf(t, phone, inst.url); ck != nil {
		t.Errorf("the phone keeps refresh cookie %s after its refresh was refused", ck.Name)
	}

	// Sign out everywhere else: the demo's session ends, this one stays.
	do(t, laptop, "sign out everywhere else", chromedp.Click("#sign-out-others"))
	waitText(t, laptop, "#status", func(s string) bool { return s == "Signed out of 1 other session." })
	rows = waitSessions(t, laptop, "only this session", func(rows []sessionRow) bool { return len(rows) == 1 })
	if !rows[0].Current || rows[0].ID != laptopSID {
		t.Errorf("after signing out everywhere else the list is %+v, want only the laptop's session", rows)
	}
	if status, ts := postToken(t, inst.url, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {demoRefresh}, "client_id": {"demo"}}); status != 400 || ts.Error != "invalid_grant" {
		t.Errorf("the demo's refresh after signing out everywhere else: %d %q, want 400 invalid_grant", status, ts.Error)
	}

	// This session lives on: a reload still refreshes through the cookie.
	do(t, laptop, "reload after signing out everywhere else", chromedp.Reload())
	if got := settledView(t, laptop); got != "signed-in" {
		t.Fatalf("after signing out everywhere else, a reload shows the page %s (error %q), want still signed in", got, text(t, laptop, "#error"))
	}
	waitSessions(t, laptop, "this session after a reload", func(rows []sessionRow) bool {
		return len(rows) == 1 && rows[0].ID == laptopSID
	})

	// Sign out ends this session too and deletes the cookie; a reload
	// stays signed out, and the phone, signed in again, sees it gone.
	phoneSID = signInOnAccountPage(t, phone, inst.url)
	waitSessions(t, phone, "the laptop and the phone", func(rows []sessionRow) bool { return len(rows) == 2 })
	do(t, laptop, "sign out", chromedp.Click("#sign-out"), chromedp.WaitVisible("#signed-out"))
	waitText(t, laptop, "#status", func(s string) bool { return s == "You are signed out." })
	if ck := refreshCookieOf(t, laptop, inst.url); ck != nil {
		t.Errorf("refresh cookie %s is left after signing out", ck.Name)
	}
	do(t, laptop, "reload after signing out", chromedp.Reload(), chromedp.WaitVisible("#signed-out"))
	waitText(t, laptop, "#status", func(s string) bool { return s == "You are not signed in." })
	if e := text(t, laptop, "#error"); e != "" {
		t.Errorf("after signing out the page shows the error %q", e)
	}
	do(t, phone, "reload the phone's account page", chromedp.Reload(), chromedp.WaitVisible("#signed-in"))
	waitSessions(t, phone, "the phone alone", func(rows []sessionRow) bool { return len(rows) == 1 && rows[0].ID == phoneSID })
}

// recordTokenResponses makes every later page of ctx record the bodies of
// its fetches to /token in window.tokenResponses, before the page's own
// script runs (DevTools scripts are not bound by the page's CSP).
func recordTokenResponses(t *testing.T, ctx context.Context) {
	t.Helper()
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
		window.tokenResponses = [];
		const pageFetch = window.fetch;
		window.fetch = async function (input, init) {
			const res = await pageFetch.call(this, input, init);
			if (String(input.url || input).endsWith("/token")) {
				window.tokenResponses.push(await res.clone().text());
			}
			return res;
		};`})
	if err != nil {
		t.Fatalf("install the /token recorder: %v", err)
	}
}

// pageRefresh asks /token for a refresh from the page itself, as the demo's
// cookie-mode client, and returns the status and error code.
func pageRefresh(t *testing.T, ctx context.Context) (int, string) {
	t.Helper()
	var out struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	raw := eval[string](t, ctx, `fetch("/token", {method: "POST", credentials: "same-origin",
		headers: {"Content-Type": "application/x-www-form-urlencoded", "X-Socialbridge-CSRF": "1"},
		body: "grant_type=refresh_token&client_id=demo-cookie"})
		.then(async (r) => JSON.stringify({status: r.status, error: (await r.json()).error || ""}))`)
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatal(err)
	}
	return out.Status, out.Error
}

func TestDemoPageInBothModesRefreshesAndSignsOut(t *testing.T) {
	inst := start(t, map[string]string{"SOCIALBRIDGE_SERVER_RATE_LIMIT": "-1"})
	for _, tc := range []struct {
		mode, page, client, switchTo string
	}{
		{"body", "/demo/", "demo", "/demo/?mode=cookie"},
		{"cookie", "/demo/?mode=cookie", "demo-cookie", "/demo/"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			ctx := newBrowser(t)
			recordTokenResponses(t, ctx)
			demo := inst.url + tc.page
			claims := signInWith(t, ctx, demo, "dev")
			if claims["client_id"] != tc.client {
				t.Errorf("signed in as client %v, want %s", claims["client_id"], tc.client)
			}
			if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != demo {
				t.Errorf("after sign-in the address is %s, want %s (the mode kept through the sign-in)", loc, demo)
			}
			if href := eval[string](t, ctx, `document.getElementById("mode-switch").href`); href != inst.url+tc.switchTo {
				t.Errorf("the mode switch links to %q, want %q", href, inst.url+tc.switchTo)
			}
			do(t, ctx, "refresh", chromedp.Click("#refresh"))
			waitText(t, ctx, "#refresh-count", func(s string) bool { return s == "1" })
			refreshed := shownClaims(t, ctx)
			if refreshed["jti"] == claims["jti"] || refreshed["sid"] != claims["sid"] {
				t.Errorf("after refresh: jti %v→%v, sid %v→%v", claims["jti"], refreshed["jti"], claims["sid"], refreshed["sid"])
			}
			if e := text(t, ctx, "#error"); e != "" {
				t.Fatalf("the refresh failed: %s", e)
			}

			where := text(t, ctx, "#refresh-where")
			responses := eval[[]string](t, ctx, `window.tokenResponses`)
			if len(responses) != 2 {
				t.Fatalf("recorded %d /token responses, want 2 (code exchange, refresh)", len(responses))
			}
			var stored string
			if tc.mode == "cookie" {
				if !strings.Contains(where, "HttpOnly cookie") {
					t.Errorf("the page says the refresh token is %q, want in an HttpOnly cookie", where)
				}
				for _, body := range responses {
					var resp map[string]any
					if err := json.Unmarshal([]byte(body), &resp); err != nil || resp["access_token"] == nil {
						t.Fatalf("a /token response the page got: %v %.200s", err, body)
					}
					if _, ok := resp["refresh_token"]; ok {
						t.Errorf("a cookie-mode /token response gave the page a refresh token: %.300s", body)
					}
				}
				checkCookieHidden(t, ctx, inst.url)
			} else {
				stored = eval[string](t, ctx, `JSON.parse(sessionStorage.getItem("sb_tokens")).refresh_token`)
				if stored == "" || !strings.Contains(responses[1], stored) {
					t.Errorf("body mode: the page holds no refresh token from /token")
				}
				if ck := refreshCookieOf(t, ctx, inst.url); ck != nil {
					t.Errorf("body mode set refresh cookie %s", ck.Name)
				}
			}

			// Log out with POST /logout: the session ends.
			do(t, ctx, "log out", chromedp.Click("#logout"), chromedp.WaitVisible("#signed-out"))
			waitText(t, ctx, "#status", func(s string) bool { return s == "Signed out." })
			if e := text(t, ctx, "#error"); e != "" {
				t.Fatalf("logout failed: %s", e)
			}
			checkRefreshRefused(t, ctx, inst.url, tc.mode, stored, "after logout")

			// Sign in again and sign out through the end-session endpoint:
			// back on the demo page, in the same mode, with the state.
			signInWith(t, ctx, demo, "dev")
			if tc.mode == "body" {
				stored = eval[string](t, ctx, `JSON.parse(sessionStorage.getItem("sb_tokens")).refresh_token`)
			}
			do(t, ctx, "sign out through the end-session endpoint", chromedp.Click("#end-session"), chromedp.WaitVisible("#signed-out"))
			waitText(t, ctx, "#status", func(s string) bool { return s == "Signed out via the end-session endpoint." })
			if e := text(t, ctx, "#error"); e != "" {
				t.Fatalf("end-session shows the error %q", e)
			}
			if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != demo {
				t.Errorf("after end-session the address is %s, want %s", loc, demo)
			}
			checkRefreshRefused(t, ctx, inst.url, tc.mode, stored, "after end-session")
		})
	}
}

// checkRefreshRefused checks that the demo's session has ended: its
// refresh token (body mode) or the browser's refresh cookie (cookie mode)
// no longer refreshes.
func checkRefreshRefused(t *testing.T, ctx context.Context, base, mode, refreshToken, when string) {
	t.Helper()
	if mode == "body" {
		status, ts := postToken(t, base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "client_id": {"demo"}})
		if status != 400 || ts.Error != "invalid_grant" {
			t.Errorf("refresh %s: %d %q, want 400 invalid_grant", when, status, ts.Error)
		}
		return
	}
	if status, code := pageRefresh(t, ctx); status != 400 || code != "invalid_grant" {
		t.Errorf("cookie refresh %s: %d %q, want 400 invalid_grant", when, status, code)
	}
}

// crossSitePage is another origin's page that tries to use the demo's
// cookie-mode session at socialbridge: refresh and log out with fetch, as
// CORS requests (with the CSRF header: preflighted) and as simple
// requests (no header: not preflighted, the answer unreadable), and offers
// a plain form that logs out.
const crossSitePage = `<!doctype html><title>elsewhere</title>
<form id="logout-form" method="post" action="%[1]s/logout"><input name="client_id" value="demo-cookie"><input name="scope" value="all"><button>go</button></form>
<script>
const target = %[1]q;
const form = "application/x-www-form-urlencoded";
async function attempt(path, body, headers, mode) {
	try {
		const res = await fetch(target + path, {method: "POST", mode, credentials: "include", headers: Object.assign({"Content-Type": form}, headers), body});
		return mode === "no-cors" ? "sent" : "status " + res.status;
	} catch (e) {
		return "blocked";
	}
}
(async () => {
	const csrf = {"X-Socialbridge-CSRF": "1"};
	window.results = {
		corsRefresh: await attempt("/token", "grant_type=refresh_token&client_id=demo-cookie", csrf, "cors"),
		corsLogout: await attempt("/logout", "client_id=demo-cookie&scope=all", csrf, "cors"),
		simpleRefresh: await attempt("/token", "grant_type=refresh_token&client_id=demo-cookie", {}, "no-cors"),
		simpleLogout: await attempt("/logout", "client_id=demo-cookie&scope=all", {}, "no-cors"),
	};
})();
</script>`

func TestCookieModeSessionSurvivesRequestsFromOtherOrigins(t *testing.T) {
	inst := start(t, map[string]string{"SOCIALBRIDGE_SERVER_RATE_LIMIT": "-1"})
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, crossSitePage, inst.url)
	}))
	t.Cleanup(other.Close)
	_, port, _ := net.SplitHostPort(other.Listener.Addr().String())
	base, err := url.Parse(inst.url)
	if err != nil {
		t.Fatal(err)
	}
	// localhost and 127.0.0.1 are different sites: the browser does not
	// even send the SameSite=Strict cookie. Another port of socialbridge's
	// own host is the same site but another origin: the cookie goes along,
	// and the CSRF header and CORS are what stop the request.
	crossSite := "localhost"
	if base.Hostname() == "localhost" {
		crossSite = "127.0.0.1"
	}
	for _, tc := range []struct{ name, page string }{
		{"from another site", "http://" + net.JoinHostPort(crossSite, port) + "/"},
		{"from another origin of the same site", "http://" + net.JoinHostPort(base.Hostname(), port) + "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newBrowser(t)
			demo := inst.url + "/demo/?mode=cookie"
			claims := signInWith(t, ctx, demo, "dev")
			cookie := refreshCookieOf(t, ctx, inst.url)
			if cookie == nil {
				t.Fatal("no refresh cookie after a cookie-mode sign-in")
			}

			do(t, ctx, "visit the other page", chromedp.Navigate(tc.page))
			var results map[string]string
			deadline := time.Now().Add(20 * time.Second)
			for results == nil && time.Now().Before(deadline) {
				results = eval[map[string]string](t, ctx, `window.results || null`)
				time.Sleep(100 * time.Millisecond)
			}
			// CORS refuses the preflight of a request with the CSRF header
			// from an origin no client registered, so the script never
			// gets an answer; simple requests go out, unreadable.
			for k, want := range map[string]string{"corsRefresh": "blocked", "corsLogout": "blocked", "simpleRefresh": "sent", "simpleLogout": "sent"} {
				if results[k] != want {
					t.Errorf("the other page's %s: %q, want %q (all results %v)", k, results[k], want, results)
				}
			}
			// A plain form post (a top-level navigation, no CSRF header)
			// is refused.
			resp, err := chromedp.RunResponse(ctx, chromedp.Click("#logout-form button"))
			if err != nil {
				t.Fatalf("submit the other page's logout form: %v", err)
			}
			if resp.Status != http.StatusBadRequest {
				t.Errorf("the other page's logout form: status %d, want 400", resp.Status)
			}
			if body := eval[string](t, ctx, `document.body.innerText`); !strings.Contains(body, "invalid_request") {
				t.Errorf("the other page's logout form got %q, want invalid_request", body)
			}

			// The session is untouched: the cookie is the same, and the
			// demo page refreshes with it.
			if after := refreshCookieOf(t, ctx, inst.url); after == nil || after.Value != cookie.Value {
				t.Fatal("the other page's requests changed or removed the refresh cookie")
			}
			do(t, ctx, "back to the demo page", chromedp.Navigate(demo), chromedp.WaitVisible("#signed-in"))
			do(t, ctx, "refresh", chromedp.Click("#refresh"))
			waitText(t, ctx, "#refresh-count", func(s string) bool { return s == "1" })
			if e := text(t, ctx, "#error"); e != "" {
				t.Fatalf("the refresh after the other page's attempts failed: %s", e)
			}
			if got := shownClaims(t, ctx); got["sid"] != claims["sid"] {
				t.Errorf("after the other page's attempts the session is %v, want %v", got["sid"], claims["sid"])
			}
		})
	}
}

func TestAccountPageLinksAndUnlinksAnAccount(t *testing.T) {
	m := startMultiProvider(t)
	ctx := newBrowser(t)
	do(t, ctx, "sign in with Google on the account page",
		chromedp.Navigate(m.inst.url+"/account/"),
		chromedp.WaitVisible(`button[data-provider="google"]`),
		chromedp.Click(`button[data-provider="google"]`),
		chromedp.WaitVisible("#signed-in"),
	)
	waitText(t, ctx, "#identities", func(s string) bool { return strings.Contains(s, "Google") })

	m.azure.SetUser(azuretest.User{OID: "5a1e0c2b-2222-4b9e-8d3c-2f5e6a7b8c9d", TenantID: azuretest.ContosoTenantID,
		Name: "Grace Hopper", PreferredUsername: "grace@contoso.com", Email: "grace@contoso.com"})
	do(t, ctx, "link Microsoft", chromedp.Click(`button[data-link="microsoft"]`), chromedp.WaitVisible("#link-continue"), chromedp.Click("#link-continue"))
	clickThroughProvider(t, ctx, "microsoft")
	waitText(t, ctx, "#status", func(s string) bool { return s == "Microsoft is now linked to your account." })
	waitText(t, ctx, "#identities", func(s string) bool { return strings.Contains(s, "Microsoft") && strings.Contains(s, "Google") })
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != m.inst.url+"/account/" {
		t.Errorf("after linking the address is %s, want the bare account page", loc)
	}
	// The link came back to a fresh page load: one silent refresh, no new
	// session.
	if rows := shownSessions(t, ctx); len(rows) != 1 {
		t.Errorf("after linking the account lists %d sessions, want 1", len(rows))
	}

	do(t, ctx, "unlink Microsoft", chromedp.Click(`button[data-unlink="microsoft"]`))
	waitText(t, ctx, "#status", func(s string) bool { return s == "Microsoft is no longer linked." })
	if listed := waitText(t, ctx, "#identities", func(s string) bool { return !strings.Contains(s, "Microsoft") }); !strings.Contains(listed, "Google") {
		t.Errorf("after unlinking the account lists %q, want Google alone", listed)
	}
	if hidden := eval[bool](t, ctx, `document.querySelector('button[data-link="microsoft"]').hidden`); hidden {
		t.Error("Link Microsoft is not offered again after unlinking")
	}
}
