package facebooktest_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/providers/facebook/facebooktest"
)

const callback = "https://bridge.example.test/callback/facebook"

// client follows no redirect and does not share http.DefaultTransport,
// whose idle connections every closing httptest.Server drops.
var client = &http.Client{
	Transport:     http.DefaultTransport.(*http.Transport).Clone(),
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

func randomString(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func s256(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// answer is an HTTP response, read.
type answer struct {
	status int
	header http.Header
	body   string
}

// json decodes the body as a JSON object.
func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a.body), &m); err != nil {
		t.Fatalf("answer %d is not JSON: %v: %s", a.status, err, a.body)
	}
	return m
}

// graphError returns the error object of a Graph error answer.
func (a answer) graphError(t *testing.T) map[string]any {
	t.Helper()
	e, ok := a.json(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("answer %d has no Graph error: %s", a.status, a.body)
	}
	return e
}

// do sends a request: GET with params in the query, POST with them as a
// form; header entries are added.
func do(t *testing.T, method, target string, params url.Values, header map[string]string) answer {
	t.Helper()
	var body io.Reader
	if method == http.MethodGet {
		if len(params) > 0 {
			target += "?" + params.Encode()
		}
	} else {
		body = strings.NewReader(params.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// dialogParams are a valid dialog request's parameters with PKCE S256.
func dialogParams(t *testing.T, appID, verifier string) url.Values {
	t.Helper()
	return url.Values{
		"client_id": {appID}, "redirect_uri": {callback}, "state": {"st-1"}, "response_type": {"code"},
		"scope": {"email,public_profile"}, "code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"},
	}
}

// callbackOf returns the query of a redirect back to the callback.
func callbackOf(t *testing.T, a answer) url.Values {
	t.Helper()
	if a.status != http.StatusFound {
		t.Fatalf("answer %d, want a 302: %s", a.status, a.body)
	}
	loc, err := url.Parse(a.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != callback {
		t.Fatalf("redirected to %q, want %q", got, callback)
	}
	if loc.Fragment != "_=_" {
		t.Errorf("redirect fragment = %q, want Facebook's _=_", loc.Fragment)
	}
	return loc.Query()
}

// code runs the dialog for app appID and returns the code and verifier.
func code(t *testing.T, fake *facebooktest.Server, appID string) (string, string) {
	t.Helper()
	verifier := randomString(t)
	cb := callbackOf(t, do(t, http.MethodGet, fake.URL()+"/v23.0/dialog/oauth", dialogParams(t, appID, verifier), nil))
	if cb.Get("code") == "" || cb.Get("state") != "st-1" {
		t.Fatalf("callback = %v, want a code and the state", cb)
	}
	return cb.Get("code"), verifier
}

// exchangeParams are a valid code exchange's parameters for the default
// app.
func exchangeParams(fake *facebooktest.Server, code, verifier string) url.Values {
	return url.Values{
		"client_id": {fake.AppID()}, "client_secret": {fake.AppSecret()},
		"redirect_uri": {callback}, "code": {code}, "code_verifier": {verifier},
	}
}

// me calls /me with token and its correct proof under secret.
func me(t *testing.T, fake *facebooktest.Server, token, secret, fields string) answer {
	t.Helper()
	q := url.Values{"appsecret_proof": {facebooktest.AppSecretProof(secret, token)}}
	if fields != "" {
		q.Set("fields", fields)
	}
	return do(t, http.MethodGet, fake.URL()+"/v23.0/me", q, map[string]string{"Authorization": "Bearer " + token})
}

func TestTheConsentPageSignsInWithContinueAndDeniesWithCancel(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t, facebooktest.WithConsentPage())
	requestField := regexp.MustCompile(`name="request" value="([^"]+)"`)
	actionField := regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	page := func() (action, request string) {
		t.Helper()
		a := do(t, http.MethodGet, fake.URL()+"/v23.0/dialog/oauth", dialogParams(t, fake.AppID(), randomString(t)), nil)
		if a.status != http.StatusOK || !strings.Contains(a.header.Get("Content-Type"), "text/html") {
			t.Fatalf("dialog answered %d %s, want the consent page", a.status, a.header.Get("Content-Type"))
		}
		for _, want := range []string{`id="continue"`, `id="cancel"`, "Continue as Alice", "Your email address"} {
			if !strings.Contains(a.body, want) {
				t.Errorf("consent page lacks %s:\n%s", want, a.body)
			}
		}
		am, rm := actionField.FindStringSubmatch(a.body), requestField.FindStringSubmatch(a.body)
		if am == nil || rm == nil {
			t.Fatalf("consent page has no form:\n%s", a.body)
		}
		return am[1], rm[1]
	}

	action, request := page()
	cb := callbackOf(t, do(t, http.MethodPost, fake.URL()+action, url.Values{"request": {request}, "action": {"continue"}}, nil))
	if cb.Get("code") == "" || cb.Get("state") != "st-1" {
		t.Errorf("Continue came back with %v, want a code and the state", cb)
	}
	if a := do(t, http.MethodPost, fake.URL()+action, url.Values{"request": {request}, "action": {"continue"}}, nil); a.status != http.StatusBadRequest {
		t.Errorf("answering the same page twice got %d, want the error page", a.status)
	}

	action, request = page()
	cb = callbackOf(t, do(t, http.MethodPost, fake.URL()+action, url.Values{"request": {request}, "action": {"cancel"}}, nil))
	if cb.Get("error") != "access_denied" || cb.Get("error_reason") != "user_denied" || cb.Has("code") {
		t.Errorf("Cancel came back with %v, want access_denied and no code", cb)
	}
}

func TestTheDialogRefusesWhatFacebookRefuses(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t, facebooktest.WithRedirectURIs(callback))
	tests := []struct {
		name    string
		edit    func(url.Values)
		path    string
		wantMsg string
	}{
		{"an unknown App ID", func(q url.Values) { q.Set("client_id", "42") }, "", "Invalid App ID"},
		{"no redirect_uri", func(q url.Values) { q.Del("redirect_uri") }, "", "redirect_uri is required"},
		{"a redirect_uri not in the app's list", func(q url.Values) { q.Set("redirect_uri", callback+"/x") }, "", "URL blocked"},
		{"scopes separated by spaces", func(q url.Values) { q.Set("scope", "email public_profile") }, "", "Invalid Scopes: email public_profile"},
		{"an unknown permission", func(q url.Values) { q.Set("scope", "email,openid") }, "", "Invalid Scopes: openid"},
		{"a malformed code_challenge", func(q url.Values) { q.Set("code_challenge", "short") }, "", "Invalid code_challenge"},
		{"an unknown code_challenge_method", func(q url.Values) { q.Set("code_challenge_method", "S512") }, "", "Invalid code_challenge_method"},
		{"response_type=token", func(q url.Values) { q.Set("response_type", "token") }, "", "response_type=code only"},
		{"an unknown auth_type", func(q url.Values) { q.Set("auth_type", "always") }, "", "Invalid auth_type"},
		{"a path without a version", func(url.Values) {}, "/dialog/oauth", "Unknown path components"},
		{"a malformed version", func(url.Values) {}, "/23.0/dialog/oauth", "Unknown path components"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := dialogParams(t, fake.AppID(), randomString(t))
			tt.edit(q)
			a := do(t, http.MethodGet, fake.URL()+cmpOr(tt.path, "/v23.0/dialog/oauth"), q, nil)
			if a.status != http.StatusBadRequest || !strings.Contains(a.body, tt.wantMsg) {
				t.Errorf("dialog answered %d, want 400 with %q:\n%s", a.status, tt.wantMsg, a.body)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestTheCodeExchangeAnswersLikeGraph(t *testing.T) {
	t.Parallel()
	const otherID, otherSecret = "6543210987654321", "abcdefabcdefabcdefabcdefabcdef12"
	tests := []struct {
		name    string
		edit    func(t *testing.T, fake *facebooktest.Server, q url.Values)
		code    float64
		subcode float64
		wantMsg string
	}{
		{"no client_id", func(_ *testing.T, _ *facebooktest.Server, q url.Values) { q.Del("client_id") }, 101, 0, "Missing client_id"},
		{"an unknown App ID", func(_ *testing.T, _ *facebooktest.Server, q url.Values) { q.Set("client_id", "42") }, 101, 0, "Invalid application ID"},
		{"a wrong App secret", func(_ *testing.T, _ *facebooktest.Server, q url.Values) { q.Set("client_secret", otherSecret) }, 1, 0, "Error validating client secret"},
		{"no App secret", func(_ *testing.T, _ *facebooktest.Server, q url.Values) { q.Del("client_secret") }, 1, 0, "Error validating client secret"},
		{"no redirect_uri", func(_ *testing.T, _ *facebooktest.Server, q url.Values) { q.Del("redirect_uri") }, 191, 0, "Missing redirect_uri"},
		{"another redirect_uri", func(_ *testing.T, _ *facebooktest.Server, q url.Values) { q.Set("redirect_uri", callback+"/x") }, 100, 36008, "identical"},
		{"an unknown code", func(t *testing.T, _ *facebooktest.Server, q url.Values) { q.Set("code", "AQ"+randomString(t)) }, 100, 0, "Invalid verification code format"},
		{"a code of another app", func(t *testing.T, fake *facebooktest.Server, q url.Values) {
			c, _ := code(t, fake, otherID)
			q.Set("code", c)
		}, 100, 0, "Invalid verification code format"},
		{"no verifier", func(_ *testing.T, _ *facebooktest.Server, q url.Values) { q.Del("code_verifier") }, 100, 0, "Missing code_verifier"},
		{"a wrong verifier", func(t *testing.T, _ *facebooktest.Server, q url.Values) { q.Set("code_verifier", randomString(t)) }, 100, 0, "Invalid code verifier"},
		{"a plain verifier for an S256 challenge", func(_ *testing.T, _ *facebooktest.Server, q url.Values) {
			q.Set("code_verifier", s256(q.Get("code_verifier")))
		}, 100, 0, "Invalid code verifier"},
		{"a verifier for a code without a challenge", func(t *testing.T, fake *facebooktest.Server, q url.Values) {
			p := dialogParams(t, fake.AppID(), "")
			p.Del("code_challenge")
			p.Del("code_challenge_method")
			cb := callbackOf(t, do(t, http.MethodGet, fake.URL()+"/v23.0/dialog/oauth", p, nil))
			q.Set("code", cb.Get("code"))
		}, 100, 0, "Invalid code verifier"},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			t.Run(method+" "+tt.name, func(t *testing.T) {
				t.Parallel()
				fake := facebooktest.New(t,
					facebooktest.WithApp(facebooktest.DefaultAppID, facebooktest.DefaultAppSecret),
					facebooktest.WithApp(otherID, otherSecret))
				c, verifier := code(t, fake, fake.AppID())
				q := exchangeParams(fake, c, verifier)
				tt.edit(t, fake, q)
				a := do(t, method, fake.URL()+"/v23.0/oauth/access_token", q, nil)
				if a.status != http.StatusBadRequest {
					t.Fatalf("answered %d, want 400: %s", a.status, a.body)
				}
				e := a.graphError(t)
				if e["code"] != tt.code || !strings.Contains(e["message"].(string), tt.wantMsg) || e["type"] != "OAuthException" {
					t.Errorf("error = %v, want code %v with %q", e, tt.code, tt.wantMsg)
				}
				if sub, _ := e["error_subcode"].(float64); sub != tt.subcode {
					t.Errorf("error_subcode = %v, want %v", e["error_subcode"], tt.subcode)
				}
				if e["fbtrace_id"] == "" || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), `OAuth "Facebook Platform"`) {
					t.Errorf("answer lacks fbtrace_id or WWW-Authenticate: %v %v", e, a.header)
				}
			})
		}
	}
}

func TestACodeIsSingleUseAndShortLived(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	fake := facebooktest.New(t, facebooktest.WithClock(clock))

	c, verifier := code(t, fake, fake.AppID())
	a := do(t, http.MethodPost, fake.URL()+"/v23.0/oauth/access_token", exchangeParams(fake, c, verifier), nil)
	if a.status != http.StatusOK {
		t.Fatalf("exchange answered %d: %s", a.status, a.body)
	}
	tok := a.json(t)
	if tok["token_type"] != "bearer" || tok["expires_in"] != float64(5183944) || !strings.HasPrefix(tok["access_token"].(string), "EAA") {
		t.Errorf("token answer = %v", tok)
	}
	token := tok["access_token"].(string)
	if a := me(t, fake, token, fake.AppSecret(), ""); a.status != http.StatusOK {
		t.Fatalf("/me answered %d: %s", a.status, a.body)
	}

	a = do(t, http.MethodPost, fake.URL()+"/v23.0/oauth/access_token", exchangeParams(fake, c, verifier), nil)
	if e := a.graphError(t); e["error_subcode"] != float64(36009) {
		t.Errorf("reuse answered %v, want subcode 36009", e)
	}
	if e := me(t, fake, token, fake.AppSecret(), "").graphError(t); e["code"] != float64(190) {
		t.Errorf("/me with the token of a reused code answered %v, want code 190", e)
	}

	c, verifier = code(t, fake, fake.AppID())
	mu.Lock()
	now = now.Add(10 * time.Minute)
	mu.Unlock()
	a = do(t, http.MethodPost, fake.URL()+"/v23.0/oauth/access_token", exchangeParams(fake, c, verifier), nil)
	if e := a.graphError(t); e["error_subcode"] != float64(36007) {
		t.Errorf("a 10-minute-old code answered %v, want subcode 36007", e)
	}
}

func TestMeServesTheRequestedFieldsTheTokenAllows(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	secret := fake.AppSecret()
	full := facebooktest.DefaultUser
	noEmail := facebooktest.User{ID: "102", Name: "Bob No-Email", FirstName: "Bob"}
	declines := full
	declines.DeclinedPermissions = []string{"email"}

	t.Run("without fields, id and name", func(t *testing.T) {
		t.Parallel()
		got := me(t, fake, fake.IssueToken(fake.AppID(), full), secret, "").json(t)
		if len(got) != 2 || got["id"] != full.ID || got["name"] != full.Name {
			t.Errorf("/me = %v, want id and name only", got)
		}
	})
	t.Run("the profile, a picture and the permissions", func(t *testing.T) {
		t.Parallel()
		got := me(t, fake, fake.IssueToken(fake.AppID(), full), secret, "id,name,email,first_name,last_name,picture.type(large),permissions").json(t)
		if got["email"] != full.Email || got["first_name"] != "Alice" || got["last_name"] != "Example" {
			t.Errorf("/me = %v", got)
		}
		data := got["picture"].(map[string]any)["data"].(map[string]any)
		if data["url"] != full.Picture || data["is_silhouette"] != false {
			t.Errorf("picture = %v", data)
		}
		perms := got["permissions"].(map[string]any)["data"].([]any)
		if len(perms) != 2 {
			t.Errorf("permissions = %v, want public_profile and email granted", perms)
		}
	})
	t.Run("no email for an account without one, and a silhouette", func(t *testing.T) {
		t.Parallel()
		got := me(t, fake, fake.IssueToken(fake.AppID(), noEmail), secret, "id,email,picture").json(t)
		if _, ok := got["email"]; ok {
			t.Errorf("/me = %v, want no email", got)
		}
		if data := got["picture"].(map[string]any)["data"].(map[string]any); data["is_silhouette"] != true {
			t.Errorf("picture = %v, want the silhouette", data)
		}
	})
	t.Run("no email when the permission was declined, which permissions say", func(t *testing.T) {
		t.Parallel()
		got := me(t, fake, fake.IssueToken(fake.AppID(), declines), secret, "id,email,permissions").json(t)
		if _, ok := got["email"]; ok {
			t.Errorf("/me = %v, want no email", got)
		}
		if !strings.Contains(mustJSON(t, got["permissions"]), `{"permission":"email","status":"declined"}`) {
			t.Errorf("permissions = %v, want email declined", got["permissions"])
		}
	})

	for _, tt := range []struct {
		name    string
		call    func(t *testing.T) answer
		code    float64
		subcode float64
		wantMsg string
	}{
		{"an unknown field", func(t *testing.T) answer {
			return me(t, fake, fake.IssueToken(fake.AppID(), full), secret, "id,birthday_secret")
		}, 100, 0, "nonexisting field (birthday_secret)"},
		{"no token", func(t *testing.T) answer {
			return do(t, http.MethodGet, fake.URL()+"/v23.0/me", nil, nil)
		}, 2500, 0, "An active access token must be used"},
		{"the app token", func(t *testing.T) answer {
			return me(t, fake, fake.AppID()+"|"+secret, secret, "")
		}, 2500, 0, "An active access token must be used"},
		{"the token as a parameter without a proof", func(t *testing.T) answer {
			return do(t, http.MethodGet, fake.URL()+"/v23.0/me", url.Values{"access_token": {fake.IssueToken(fake.AppID(), full)}}, nil)
		}, 100, 0, "require an appsecret_proof"},
		{"an unknown token", func(t *testing.T) answer { return me(t, fake, "EAA"+randomString(t), secret, "") },
			190, 0, "Cannot parse access token"},
	} {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			t.Parallel()
			a := tt.call(t)
			e := a.graphError(t)
			if a.status != http.StatusBadRequest || e["code"] != tt.code || !strings.Contains(e["message"].(string), tt.wantMsg) {
				t.Errorf("answered %d %v, want code %v with %q", a.status, e, tt.code, tt.wantMsg)
			}
		})
	}

	t.Run("an expired token is refused with subcode 463", func(t *testing.T) {
		t.Parallel()
		fake := facebooktest.New(t)
		token := fake.IssueToken(fake.AppID(), full)
		fake.ExpireTokens()
		e := me(t, fake, token, fake.AppSecret(), "").graphError(t)
		if e["code"] != float64(190) || e["error_subcode"] != float64(463) || !strings.Contains(e["message"].(string), "Session has expired") {
			t.Errorf("error = %v", e)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDebugTokenDescribesTokensOfAnyApp(t *testing.T) {
	t.Parallel()
	const otherID, otherSecret = "6543210987654321", "abcdefabcdefabcdefabcdefabcdef12"
	fake := facebooktest.New(t,
		facebooktest.WithApp(facebooktest.DefaultAppID, facebooktest.DefaultAppSecret),
		facebooktest.WithApp(otherID, otherSecret))
	appToken := fake.AppID() + "|" + fake.AppSecret()
	debug := func(t *testing.T, auth, input string, proof bool) answer {
		t.Helper()
		q := url.Values{}
		if input != "" {
			q.Set("input_token", input)
		}
		if proof {
			q.Set("appsecret_proof", facebooktest.AppSecretProof(fake.AppSecret(), auth))
		}
		var h map[string]string
		if auth != "" {
			h = map[string]string{"Authorization": "OAuth " + auth}
		}
		return do(t, http.MethodGet, fake.URL()+"/v23.0/debug_token", q, h)
	}
	data := func(t *testing.T, a answer) map[string]any {
		t.Helper()
		d, ok := a.json(t)["data"].(map[string]any)
		if a.status != http.StatusOK || !ok {
			t.Fatalf("debug_token answered %d: %s", a.status, a.body)
		}
		return d
	}

	t.Run("a valid token of this app", func(t *testing.T) {
		t.Parallel()
		d := data(t, debug(t, appToken, fake.IssueToken(fake.AppID(), facebooktest.DefaultUser), true))
		if d["app_id"] != fake.AppID() || d["type"] != "USER" || d["is_valid"] != true || d["user_id"] != facebooktest.DefaultUser.ID {
			t.Errorf("data = %v", d)
		}
		if !slices.Contains(d["scopes"].([]any), any("email")) {
			t.Errorf("scopes = %v, want email", d["scopes"])
		}
	})
	t.Run("a token of another app names that app", func(t *testing.T) {
		t.Parallel()
		d := data(t, debug(t, appToken, fake.IssueToken(otherID, facebooktest.DefaultUser), false))
		if d["app_id"] != otherID || d["is_valid"] != true {
			t.Errorf("data = %v, want the other app's id", d)
		}
	})
	t.Run("an unknown token is reported inside data", func(t *testing.T) {
		t.Parallel()
		d := data(t, debug(t, appToken, "EAA"+randomString(t), true))
		if d["is_valid"] != false || d["error"].(map[string]any)["code"] != float64(190) {
			t.Errorf("data = %v", d)
		}
	})
	t.Run("NextDebugToken edits the next answer only", func(t *testing.T) {
		t.Parallel()
		fake := facebooktest.New(t)
		appToken := fake.AppID() + "|" + fake.AppSecret()
		token := fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
		fake.NextDebugToken(func(d map[string]any) { d["type"] = "PAGE" })
		first := do(t, http.MethodGet, fake.URL()+"/v23.0/debug_token", url.Values{"input_token": {token}, "access_token": {appToken}}, nil)
		second := do(t, http.MethodGet, fake.URL()+"/v23.0/debug_token", url.Values{"input_token": {token}, "access_token": {appToken}}, nil)
		if data(t, first)["type"] != "PAGE" || data(t, second)["type"] != "USER" {
			t.Errorf("types = %v, %v; want PAGE then USER", data(t, first)["type"], data(t, second)["type"])
		}
	})

	for _, tt := range []struct {
		name    string
		auth    string
		input   string
		proof   bool
		code    float64
		wantMsg string
	}{
		{"no access token", "", "x", false, 104, "An access token is required"},
		{"a user token instead of the app token", fake.IssueToken(fake.AppID(), facebooktest.DefaultUser), "x", false, 100, "app access token"},
		{"an app token with a wrong secret", fake.AppID() + "|" + otherSecret, "x", false, 190, "Invalid OAuth access token signature"},
		{"no input_token", appToken, "", true, 100, "input_token is required"},
	} {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			t.Parallel()
			a := debug(t, tt.auth, tt.input, tt.proof)
			e := a.graphError(t)
			if a.status != http.StatusBadRequest || e["code"] != tt.code || !strings.Contains(e["message"].(string), tt.wantMsg) {
				t.Errorf("answered %d %v, want code %v with %q", a.status, e, tt.code, tt.wantMsg)
			}
		})
	}
	t.Run("a wrong appsecret_proof is refused", func(t *testing.T) {
		t.Parallel()
		q := url.Values{"input_token": {"x"}, "appsecret_proof": {facebooktest.AppSecretProof(otherSecret, appToken)}}
		e := do(t, http.MethodGet, fake.URL()+"/v23.0/debug_token", q, map[string]string{"Authorization": "Bearer " + appToken}).graphError(t)
		if !strings.Contains(e["message"].(string), "Invalid appsecret_proof") {
			t.Errorf("error = %v", e)
		}
	})
}

func TestKnobsAreOneShotAndRequestsAreRecorded(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	token := fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)

	fake.FailNext(facebooktest.Me, http.StatusServiceUnavailable, `{"error":{"message":"down","code":2}}`)
	if a := me(t, fake, token, fake.AppSecret(), ""); a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "down") {
		t.Errorf("FailNext: answered %d %s", a.status, a.body)
	}
	if a := me(t, fake, token, fake.AppSecret(), ""); a.status != http.StatusOK {
		t.Errorf("after FailNext: answered %d %s", a.status, a.body)
	}

	// The delay outlasts a short client time-out once; the next call,
	// with a longer time-out that the delay would still exceed, is answered.
	fake.SlowNext(facebooktest.Me, 5*time.Second)
	impatient := &http.Client{Transport: client.Transport, Timeout: 200 * time.Millisecond}
	q := url.Values{"appsecret_proof": {facebooktest.AppSecretProof(fake.AppSecret(), token)}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, fake.URL()+"/v23.0/me?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := impatient.Do(req); err == nil {
		resp.Body.Close()
		t.Error("SlowNext: answered before the client's 200ms time-out")
	}
	patient := &http.Client{Transport: client.Transport, Timeout: 2 * time.Second}
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, fake.URL()+"/v23.0/me?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := patient.Do(req); err != nil {
		t.Errorf("after SlowNext: %v, want an answer", err)
	} else {
		resp.Body.Close()
	}

	fake.Deny()
	cb := callbackOf(t, do(t, http.MethodGet, fake.URL()+"/v23.0/dialog/oauth", dialogParams(t, fake.AppID(), randomString(t)), nil))
	if cb.Get("error") != "access_denied" || cb.Get("error_code") != "200" || cb.Get("state") != "st-1" {
		t.Errorf("Deny: callback %v", cb)
	}
	code(t, fake, fake.AppID()) // Deny is spent

	if n := fake.Count(facebooktest.Me); n != 4 {
		t.Errorf("Count(Me) = %d, want 4", n)
	}
	if n := fake.Count(facebooktest.Dialog); n != 2 {
		t.Errorf("Count(Dialog) = %d, want 2", n)
	}
	r, ok := fake.LastRequest(facebooktest.Me)
	if !ok || r.AccessToken != token || !r.ProofValid || r.Version != "v23.0" || r.Method != http.MethodGet {
		t.Errorf("LastRequest(Me) = %+v", r)
	}
	if _, ok := fake.LastRequest(facebooktest.DebugToken); ok {
		t.Error("LastRequest(DebugToken) reports a call that was never made")
	}
	r.Params.Set("fields", "changed")
	if again, _ := fake.LastRequest(facebooktest.Me); again.Params.Get("fields") == "changed" {
		t.Error("LastRequest returns the fake's own record, not a copy")
	}
}
