package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/providers/azure"
	"github.com/socialbridge/socialbridge/providers/azure/azuretest"
	"github.com/socialbridge/socialbridge/providers/facebook"
	"github.com/socialbridge/socialbridge/providers/facebook/facebooktest"
	"github.com/socialbridge/socialbridge/providers/google"
	"github.com/socialbridge/socialbridge/providers/google/googletest"
	"github.com/socialbridge/socialbridge/providers/oidc"
	"github.com/socialbridge/socialbridge/providers/oidc/oidctest"
	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/tokens"
)

// These tests put every real provider adapter (google, azure, facebook,
// oidc), built from its type and settings as configuration builds it,
// behind the HTTP server, against its fake, and drive the browser flow
// /authorize → provider → /callback/<name> → client, then /token.

// providerKit is one provider instance against its fake, and the knobs of
// the fake that every test table uses.
type providerKit struct {
	name     string // instance name: identity key prefix, callback path, idp
	typ      providers.Type
	settings providers.Settings
	client   *http.Client // the adapter's HTTP client; nil: its default
	// key is the identity key of the fake's default user.
	key string
	// secret is the client secret the instance is configured with; it must
	// never reach the client application or the log.
	secret string
	// tokenCalls counts the calls that reached the token endpoint.
	tokenCalls func() int
	// issued lists the tokens the fake issued, when it tells.
	issued func() []string
	// lastAuth is the last authorization request the fake received.
	lastAuth func() url.Values
	deny     func()
	// failToken makes the next token call answer status.
	failToken func(status int)
	// hangToken makes the next token call answer only after the adapter
	// has given up.
	hangToken func()
	// tamper spoils the next id_token as kind says (nil for providers
	// without id_tokens). The function it returns, when not nil, runs when
	// the provider redirects the browser back, before the callback.
	tamper func(t *testing.T, kind idTokenFault) func()
}

// kitOptions vary how a kit's adapter is configured.
type kitOptions struct {
	// client is the adapter's HTTP client.
	client *http.Client
	// wrongSecret configures a client secret the fake does not know.
	wrongSecret bool
}

// idTokenFault is a way the provider's id_token is unacceptable.
type idTokenFault string

const (
	faultSignature idTokenFault = "a bad signature"
	faultAudience  idTokenFault = "another audience"
	faultExpired   idTokenFault = "an expiry in the past"
	faultNonce     idTokenFault = "another sign-in's nonce"
)

// mutation is the NextIDToken edit for the claim-level faults.
func (f idTokenFault) mutation() func(map[string]any) {
	switch f {
	case faultAudience:
		return func(c map[string]any) { c["aud"] = "3f9e1c2a-0000-4000-8000-someone-else" }
	case faultExpired:
		return func(c map[string]any) {
			past := time.Now().Add(-2 * time.Hour).Unix()
			c["iat"], c["exp"] = past, past+int64(time.Hour/time.Second)
			if _, ok := c["nbf"]; ok {
				c["nbf"] = past
			}
		}
	case faultNonce:
		return func(c map[string]any) { c["nonce"] = "nonce-of-another-sign-in" }
	}
	return nil
}

// instantiate builds a provider as configuration does: the settings are
// validated (in dev mode, which admits the fakes' http URLs), then the
// type builds the instance.
func (k *providerKit) instantiate(t *testing.T, publicURL string) providers.Provider {
	t.Helper()
	var problems []string
	k.settings.Validate(true, func(key, msg string) { problems = append(problems, key+": "+msg) })
	if len(problems) > 0 {
		t.Fatalf("settings of %s: %s", k.name, strings.Join(problems, "; "))
	}
	p, err := k.typ.New(providers.Instance{Name: k.name, PublicURL: publicURL, HTTPClient: k.client}, k.settings)
	if err != nil {
		t.Fatalf("build %s: %v", k.name, err)
	}
	return p
}

// tokenGate stands in front of a token endpoint that has no slow knob of
// its own (fake Google's): it passes calls through, or holds the next one
// until the caller gives up.
type tokenGate struct {
	srv    *httptest.Server
	hang   atomic.Bool
	held   atomic.Int32 // calls held, which never reached the endpoint
	closed chan struct{}
}

func newTokenGate(t *testing.T, endpoint string) *tokenGate {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	g := &tokenGate{closed: make(chan struct{})}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.Out.URL.Scheme, r.Out.URL.Host, r.Out.URL.Path, r.Out.Host = target.Scheme, target.Host, target.Path, target.Host
	}}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.hang.CompareAndSwap(true, false) {
			g.held.Add(1)
			select {
			case <-r.Context().Done():
			case <-g.closed:
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		close(g.closed)
		g.srv.Close()
	})
	return g
}

func (o kitOptions) secret(right, wrong string) string {
	if o.wrongSecret {
		return wrong
	}
	return right
}

// googleKit is the Google adapter against fake Google, its token endpoint
// behind a gate.
func googleKit(t *testing.T, o kitOptions) *providerKit {
	t.Helper()
	fake := googletest.New(t)
	gate := newTokenGate(t, fake.URL()+googletest.TokenPath)
	secret := o.secret(fake.ClientSecret(), "GOCSPX-wrong-secret-0123456789")
	return &providerKit{
		name: google.Name, typ: google.Type(), client: o.client, key: google.Name + "|1000001", secret: secret,
		settings:   &google.Settings{ClientID: fake.ClientID(), ClientSecret: secret, Issuer: fake.Issuer(), TokenURL: gate.srv.URL + "/token"},
		tokenCalls: func() int { return fake.TokenRequests() + int(gate.held.Load()) },
		issued:     func() []string { return nil },
		lastAuth:   fake.LastAuthRequest,
		deny:       fake.Deny,
		failToken: func(status int) {
			fake.FailToken(status, `{"error":"internal_failure","error_description":"Backend Error"}`)
		},
		hangToken: func() { gate.hang.Store(true) },
		tamper: func(t *testing.T, kind idTokenFault) func() {
			if kind != faultSignature {
				fake.NextIDToken(kind.mutation())
				return nil
			}
			// Fake Google cannot forge by itself: once the nonce is known,
			// the next token answer carries an id_token that is right in
			// every claim but signed with a key Google never published.
			return func() {
				c := fake.Claims()
				c["nonce"] = fake.LastAuthRequest().Get("nonce")
				body, err := json.Marshal(map[string]any{
					"access_token": "ya29.forged-access-token", "token_type": "Bearer", "expires_in": 3599,
					"scope": "openid", "id_token": fake.SignWithForeignKey(c),
				})
				if err != nil {
					t.Error(err)
				}
				fake.FailToken(http.StatusOK, string(body))
			}
		},
	}
}

// azureKit is an Entra instance against fake Entra. s needs only the
// client, tenant and policy; the endpoints are the fake's.
func azureKit(fake *azuretest.Server, name string, s azure.Settings, o kitOptions) *providerKit {
	s.AuthorityHost = fake.URL()
	s.ClientSecret = o.secret(s.ClientSecret, "Wr0ng~Secret.Value_ForTests-000000000000")
	alice := azuretest.Alice
	return &providerKit{
		name: name, typ: azure.Type(), settings: &s, client: o.client, secret: s.ClientSecret,
		key:        name + "|" + alice.TenantID + ":" + alice.OID,
		tokenCalls: fake.TokenRequests,
		issued:     fake.Issued,
		lastAuth:   fake.LastAuthRequest,
		deny:       fake.Deny,
		failToken: func(status int) {
			fake.FailNextToken(status, "temporarily_unavailable", 50196, "The server is temporarily too busy to handle the request.")
		},
		hangToken: func() { fake.DelayNextToken(time.Minute) },
		tamper: func(_ *testing.T, kind idTokenFault) func() {
			if kind == faultSignature {
				fake.ForgeNextIDToken(azuretest.ForgeForeignKey)
			} else {
				fake.NextIDToken(kind.mutation())
			}
			return nil
		},
	}
}

func defaultAzureKit(t *testing.T, o kitOptions) *providerKit {
	t.Helper()
	fake := azuretest.New(t)
	return azureKit(fake, azure.Name, azure.Settings{ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Tenant: azure.TenantCommon}, o)
}

// facebookKit is a Facebook instance against fake Facebook; s needs only
// the options beyond the app and the endpoints.
func facebookKit(fake *facebooktest.Server, s facebook.Settings, o kitOptions) *providerKit {
	s.ClientID, s.DialogURL, s.GraphURL = fake.AppID(), fake.URL(), fake.URL()
	s.ClientSecret = o.secret(fake.AppSecret(), "ffffffffffffffffffffffffffffffff")
	return &providerKit{
		name: facebook.TypeName, typ: facebook.Type(), settings: &s, client: o.client, secret: s.ClientSecret,
		key:        facebook.TypeName + "|" + facebooktest.DefaultUser.ID,
		tokenCalls: func() int { return fake.Count(facebooktest.Token) },
		issued:     func() []string { return nil },
		lastAuth: func() url.Values {
			r, _ := fake.LastRequest(facebooktest.Dialog)
			return r.Params
		},
		deny: fake.Deny,
		failToken: func(status int) {
			fake.FailNext(facebooktest.Token, status,
				`{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":2,"fbtrace_id":"AbCdEfGhIjK"}}`)
		},
		hangToken: func() { fake.SlowNext(facebooktest.Token, time.Minute) },
	}
}

func defaultFacebookKit(t *testing.T, o kitOptions) *providerKit {
	t.Helper()
	return facebookKit(facebooktest.New(t), facebook.Settings{}, o)
}

// oidcKit is a generic OpenID Connect instance against fake, discovering
// its endpoints from the issuer.
func oidcKit(fake *oidctest.Server, name string, o kitOptions) *providerKit {
	secret := o.secret(fake.ClientSecret(), "wrong-secret-of-the-rp")
	return &providerKit{
		name: name, typ: oidc.Type(), client: o.client, secret: secret,
		settings:   &oidc.Settings{ClientID: fake.ClientID(), ClientSecret: secret, Issuer: fake.Issuer()},
		key:        name + "|" + oidctest.DefaultSubject,
		tokenCalls: func() int { return fake.Requests(oidctest.Token) },
		issued:     func() []string { return nil },
		lastAuth:   fake.LastAuthRequest,
		deny:       fake.Deny,
		failToken: func(status int) {
			fake.FailNext(oidctest.Token, status, `{"error":"server_error"}`)
		},
		hangToken: func() { fake.HangNext(oidctest.Token) },
		tamper: func(_ *testing.T, kind idTokenFault) func() {
			if kind == faultSignature {
				fake.ForgeNextIDToken(oidctest.ForeignKey)
			} else {
				fake.NextIDToken(kind.mutation())
			}
			return nil
		},
	}
}

func defaultOIDCKit(t *testing.T, o kitOptions) *providerKit {
	t.Helper()
	return oidcKit(oidctest.New(t), "corp", o)
}

// allKits are the four adapters, each with its fake's default user.
var allKits = []struct {
	name string
	new  func(*testing.T, kitOptions) *providerKit
}{
	{"google", googleKit},
	{"azure", defaultAzureKit},
	{"facebook", defaultFacebookKit},
	{"oidc", defaultOIDCKit},
}

// newKitApp is a socialbridge with the kits' providers besides the dev
// provider.
func newKitApp(t *testing.T, kits ...*providerKit) *app {
	t.Helper()
	return newApp(t, func(publicURL string) []providers.Provider {
		provs := make([]providers.Provider, 0, len(kits))
		for _, k := range kits {
			provs = append(provs, k.instantiate(t, publicURL))
		}
		return provs
	})
}

// signInRun is what a browser saw of one sign-in.
type signInRun struct {
	// end is where the browser was sent last: the client's redirect URI.
	end *url.URL
	// callback is the provider's redirect to socialbridge; nil when the
	// browser never got there.
	callback *url.URL
	// jar holds the browser's cookies at the end.
	jar     http.CookieJar
	elapsed time.Duration
}

// signInWith runs the browser from /authorize with provider to wherever
// socialbridge finally sends it, running atCallback (when not nil) as the
// provider redirects back.
func (a *app) signInWith(t *testing.T, provider, challenge string, atCallback func()) signInRun {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	var run signInRun
	run.jar = jar
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), a.url+"/callback/") {
			run.callback = req.URL
			if atCallback != nil {
				atCallback()
			}
		}
		if !strings.HasPrefix(req.URL.String(), a.url) && !strings.HasPrefix(req.URL.Host, "127.0.0.1") {
			return http.ErrUseLastResponse // reached the client application
		}
		return nil
	}}
	start := time.Now()
	resp, err := c.Get(a.authorizeURL(challenge, provider))
	run.elapsed = time.Since(start)
	if err != nil {
		t.Fatalf("sign-in with %s: %v", provider, err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || !strings.HasPrefix(loc.String(), spaRedirect+"?") {
		t.Fatalf("sign-in with %s ended at %d %v (from %s), want a redirect to the client", provider, resp.StatusCode, loc, resp.Request.URL)
	}
	run.end = loc
	return run
}

// redeem exchanges the code the client got for tokens and returns the
// access token's claims.
func (a *app) redeem(t *testing.T, run signInRun, verifier string) tokens.AccessClaims {
	t.Helper()
	q := run.end.Query()
	if q.Get("code") == "" || q.Get("error") != "" {
		t.Fatalf("the client got %v, want a code", q)
	}
	resp, tr := a.post(t, "/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {spaRedirect},
		"client_id": {"spa"}, "code_verifier": {verifier},
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token exchange: %d %+v", resp.StatusCode, tr)
	}
	claims, err := a.issuer.ParseAccess(tr.AccessToken)
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	return claims
}

func (a *app) countUsers(t *testing.T) int64 {
	t.Helper()
	n, err := a.store.CountUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkClientError checks that the client got error want from a failed
// sign-in, with its state and our issuer, and a description for people
// that gives away none of secrets.
func (a *app) checkClientError(t *testing.T, run signInRun, want string, secrets []string) {
	t.Helper()
	q := run.end.Query()
	if q.Get("error") != want || q.Get("state") != "spa-state" || q.Get("iss") != a.url || q.Has("code") {
		t.Errorf("the client got %v, want error=%s with its state and iss=%s and no code", q, want, a.url)
	}
	desc := q.Get("error_description")
	if len(strings.Fields(desc)) < 3 {
		t.Errorf("error_description %q is not a sentence a person can read", desc)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(desc, s) {
			t.Errorf("error_description %q gives away %q", desc, s)
		}
		if len(s) >= 8 && strings.Contains(a.logs.String(), s) {
			t.Errorf("the log contains %q", s)
		}
	}
}

// runSecrets are what must not reach the client application or the log:
// the client secret, the provider's code, the provider-facing state and
// every token the fake issued.
func runSecrets(k *providerKit, run signInRun) []string {
	out := []string{k.secret}
	if run.callback != nil {
		out = append(out, run.callback.Query().Get("code"), run.callback.Query().Get("state"))
	}
	return append(out, k.issued()...)
}

// checkNothingStored checks that a failed sign-in wrote no user and no
// identity key, and left its flow failed.
func (a *app) checkNothingStored(t *testing.T, run signInRun, key string) {
	t.Helper()
	ctx := context.Background()
	if n := a.countUsers(t); n != 0 {
		t.Errorf("CountUsers = %d after a failed sign-in, want 0", n)
	}
	if ident, err := a.store.GetIdentity(ctx, key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("identity %s: %+v, %v; want none", key, ident, err)
	}
	if run.callback == nil {
		t.Fatal("the provider never sent the browser back")
	}
	flowID, _, _ := strings.Cut(run.callback.Query().Get("state"), ".")
	flow, err := a.store.GetSession(ctx, flowID)
	if err != nil {
		t.Fatalf("flow %s: %v", flowID, err)
	}
	if flow.State != store.StateFailed || flow.UserID != "" || flow.CodeHash != "" {
		t.Errorf("flow is %s (user %q, code hash set: %t), want failed with no user and no code", flow.State, flow.UserID, flow.CodeHash != "")
	}
}

func TestProviderSignInOverHTTP(t *testing.T) {
	t.Parallel()
	for _, kit := range allKits {
		t.Run(kit.name+" signs a new person in and the client redeems the code", func(t *testing.T) {
			t.Parallel()
			k := kit.new(t, kitOptions{})
			a := newKitApp(t, k)
			verifier, challenge := pkce()
			run := a.signInWith(t, k.name, challenge, nil)
			want := a.url + "/callback/" + k.name
			if got := k.lastAuth().Get("redirect_uri"); got != want || run.callback == nil || run.callback.Path != "/callback/"+k.name {
				t.Errorf("socialbridge sent redirect_uri %q and was called back at %v, want %s", got, run.callback, want)
			}
			if run.end.Query().Get("state") != "spa-state" || run.end.Query().Get("iss") != a.url {
				t.Errorf("the client got %v, want its state and iss=%s", run.end.Query(), a.url)
			}
			claims := a.redeem(t, run, verifier)
			if claims.IDP != k.name {
				t.Errorf("access token idp = %q, want the instance name %q", claims.IDP, k.name)
			}
			if n := a.countUsers(t); n != 1 {
				t.Errorf("CountUsers = %d, want 1", n)
			}
			ident, err := a.store.GetIdentity(context.Background(), k.key)
			switch {
			case err != nil:
				t.Errorf("identity %s: %v", k.key, err)
			case ident.UserID != claims.Subject || ident.Provider != k.name:
				t.Errorf("identity %s = %+v, want user %s of provider %s", k.key, ident, claims.Subject, k.name)
			}
			if got := k.tokenCalls(); got != 1 {
				t.Errorf("the token endpoint was called %d times, want once", got)
			}
			for _, s := range runSecrets(k, run) {
				if len(s) >= 8 && strings.Contains(a.logs.String(), s) {
					t.Errorf("the log contains %q", s)
				}
			}
		})
	}
}

func TestProviderFailuresGoBackToTheClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       kitOptions
		provoke    func(*providerKit)
		want       string
		tokenCalls int
		// within bounds how long the browser's whole round trip may take.
		within time.Duration
	}{
		{name: "the person denies at the provider: access_denied without a token call",
			provoke: func(k *providerKit) { k.deny() }, want: bridge.ErrCodeAccessDenied},
		{name: "the token endpoint answers 500: temporarily_unavailable",
			provoke: func(k *providerKit) { k.failToken(http.StatusInternalServerError) },
			want:    bridge.ErrCodeTemporarilyUnavail, tokenCalls: 1},
		{name: "the token endpoint answers 503: temporarily_unavailable",
			provoke: func(k *providerKit) { k.failToken(http.StatusServiceUnavailable) },
			want:    bridge.ErrCodeTemporarilyUnavail, tokenCalls: 1},
		{name: "the token endpoint does not answer in time: temporarily_unavailable, promptly",
			opts:    kitOptions{client: &http.Client{Timeout: time.Second}},
			provoke: func(k *providerKit) { k.hangToken() },
			want:    bridge.ErrCodeTemporarilyUnavail, tokenCalls: 1, within: 6 * time.Second},
		{name: "the provider refuses socialbridge's client secret: temporarily_unavailable without the secret",
			opts: kitOptions{wrongSecret: true}, want: bridge.ErrCodeTemporarilyUnavail, tokenCalls: 1},
	}
	for _, kit := range allKits {
		for _, tt := range tests {
			t.Run(kit.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				k := kit.new(t, tt.opts)
				a := newKitApp(t, k)
				if tt.provoke != nil {
					tt.provoke(k)
				}
				_, challenge := pkce()
				run := a.signInWith(t, k.name, challenge, nil)
				a.checkClientError(t, run, tt.want, runSecrets(k, run))
				a.checkNothingStored(t, run, k.key)
				if got := k.tokenCalls(); got != tt.tokenCalls {
					t.Errorf("the token endpoint was called %d times, want %d", got, tt.tokenCalls)
				}
				if tt.within != 0 && run.elapsed > tt.within {
					t.Errorf("the sign-in took %v, want at most %v", run.elapsed, tt.within)
				}
			})
		}
	}
}

func TestProviderIDTokenThatFailsVerificationIsServerError(t *testing.T) {
	t.Parallel()
	for _, kit := range allKits {
		if kit.name == "facebook" {
			continue // Facebook Login issues no id_token
		}
		for _, fault := range []idTokenFault{faultSignature, faultAudience, faultExpired, faultNonce} {
			t.Run(kit.name+" refuses an id_token with "+string(fault), func(t *testing.T) {
				t.Parallel()
				k := kit.new(t, kitOptions{})
				a := newKitApp(t, k)
				atCallback := k.tamper(t, fault)
				_, challenge := pkce()
				run := a.signInWith(t, k.name, challenge, atCallback)
				a.checkClientError(t, run, bridge.ErrCodeServerError, runSecrets(k, run))
				a.checkNothingStored(t, run, k.key)
				if got := k.tokenCalls(); got != 1 {
					t.Errorf("the token endpoint was called %d times, want once", got)
				}
				if !strings.Contains(a.logs.String(), providers.CodeInvalidToken) {
					t.Errorf("the log does not say the provider's token was invalid (%s)", providers.CodeInvalidToken)
				}
			})
		}
	}
}

func TestEntraTenantChecksOverHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		settings func(*azuretest.Server) azure.Settings
		user     azuretest.User
		provoke  func(*azuretest.Server)
		want     string
		// wantDesc is in the error_description.
		wantDesc string
	}{
		{
			name: "a user of a tenant not in allowed_tenants is access_denied naming the tenant",
			settings: func(f *azuretest.Server) azure.Settings {
				return azure.Settings{ClientID: f.ClientID(), ClientSecret: f.ClientSecret(), Tenant: azure.TenantOrganizations,
					AllowedTenants: []string{azuretest.ContosoTenantID}}
			},
			user: azuretest.Bob, want: bridge.ErrCodeAccessDenied, wantDesc: azuretest.FabrikamTenantID,
		},
		{
			name: "an id_token with the iss of one tenant and the tid of another is server_error",
			settings: func(f *azuretest.Server) azure.Settings {
				return azure.Settings{ClientID: f.ClientID(), ClientSecret: f.ClientSecret(), Tenant: azure.TenantCommon}
			},
			user: azuretest.Alice,
			provoke: func(f *azuretest.Server) {
				f.NextIDToken(func(c map[string]any) { c["iss"] = f.Issuer(azuretest.FabrikamTenantID) })
			},
			want: bridge.ErrCodeServerError,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := azuretest.New(t)
			fake.SetUser(tt.user)
			k := azureKit(fake, "entra", tt.settings(fake), kitOptions{})
			a := newKitApp(t, k)
			if tt.provoke != nil {
				tt.provoke(fake)
			}
			_, challenge := pkce()
			run := a.signInWith(t, k.name, challenge, nil)
			a.checkClientError(t, run, tt.want, runSecrets(k, run))
			if desc := run.end.Query().Get("error_description"); !strings.Contains(desc, tt.wantDesc) {
				t.Errorf("error_description %q does not name %q", desc, tt.wantDesc)
			}
			a.checkNothingStored(t, run, "entra|"+tt.user.TenantID+":"+tt.user.OID)
			if got := k.tokenCalls(); got != 1 {
				t.Errorf("the token endpoint was called %d times, want once", got)
			}
		})
	}
}

// graphError is a Graph API error body.
func graphError(code int, message string) string {
	body, _ := json.Marshal(map[string]any{"error": map[string]any{
		"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEfGhIjK",
	}})
	return string(body)
}

func TestFacebookFailuresOverHTTP(t *testing.T) {
	t.Parallel()
	noEmail := facebooktest.DefaultUser
	noEmail.Email = ""
	tests := []struct {
		name     string
		settings facebook.Settings
		user     *facebooktest.User
		provoke  func(*facebooktest.Server)
		want     string
		wantDesc string // in the error_description
		meCalls  int
	}{
		{
			name: "Graph refusing the new access token at /me (code 190) is server_error",
			provoke: func(f *facebooktest.Server) {
				f.FailNext(facebooktest.Me, 400, graphError(190, "Invalid OAuth access token."))
			},
			want: bridge.ErrCodeServerError, meCalls: 1,
		},
		{
			name:     "require_email with a person who has no email address is access_denied",
			settings: facebook.Settings{RequireEmail: true}, user: &noEmail,
			want: bridge.ErrCodeAccessDenied, wantDesc: "email address", meCalls: 1,
		},
		{
			name: "Graph refusing the App ID at the code exchange (code 101) is temporarily_unavailable",
			provoke: func(f *facebooktest.Server) {
				f.FailNext(facebooktest.Token, 400, graphError(101, "Error validating application. Invalid application ID."))
			},
			want: bridge.ErrCodeTemporarilyUnavail,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := facebooktest.New(t)
			if tt.user != nil {
				fake.SetUser(*tt.user)
			}
			k := facebookKit(fake, tt.settings, kitOptions{})
			a := newKitApp(t, k)
			if tt.provoke != nil {
				tt.provoke(fake)
			}
			_, challenge := pkce()
			run := a.signInWith(t, k.name, challenge, nil)
			secrets := runSecrets(k, run)
			for _, r := range fake.Requests(facebooktest.Me) {
				secrets = append(secrets, r.AccessToken, r.AppSecretProof)
			}
			a.checkClientError(t, run, tt.want, secrets)
			if desc := run.end.Query().Get("error_description"); !strings.Contains(desc, tt.wantDesc) {
				t.Errorf("error_description %q does not say %q", desc, tt.wantDesc)
			}
			a.checkNothingStored(t, run, k.key)
			if got, me := k.tokenCalls(), fake.Count(facebooktest.Me); got != 1 || me != tt.meCalls {
				t.Errorf("Facebook got %d code exchanges and %d /me calls, want 1 and %d", got, me, tt.meCalls)
			}
		})
	}
}

func TestOIDCDiscoveryDownLeavesNoFlow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		issuer func(*testing.T) string
	}{
		{"the issuer's server is gone", func(t *testing.T) string {
			gone := httptest.NewServer(http.NotFoundHandler())
			gone.Close()
			return gone.URL
		}},
		{"the discovery document answers 503", func(t *testing.T) string {
			fake := oidctest.New(t)
			fake.FailNext(oidctest.Discovery, http.StatusServiceUnavailable, `{"error":"temporarily_unavailable"}`)
			return fake.Issuer()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := &providerKit{name: "corp", typ: oidc.Type(), client: &http.Client{Timeout: 2 * time.Second},
				settings: &oidc.Settings{ClientID: "socialbridge", ClientSecret: "discovery-test-secret", Issuer: tt.issuer(t)}}
			a := newKitApp(t, k)
			_, challenge := pkce()
			run := a.signInWith(t, k.name, challenge, nil)
			if run.callback != nil {
				t.Errorf("the browser reached %v, want no provider at all", run.callback)
			}
			a.checkClientError(t, run, bridge.ErrCodeTemporarilyUnavail, []string{k.secret})
			u, _ := url.Parse(a.url)
			for _, c := range run.jar.Cookies(u) {
				if strings.HasPrefix(c.Name, "sb_flow_") {
					t.Errorf("the browser got flow cookie %s for a sign-in that never started", c.Name)
				}
			}
			// Sweeping everything as if far in the future deletes every flow
			// and session there is: none.
			n, err := a.store.SweepExpired(context.Background(), time.Now().Add(24*365*time.Hour), 0)
			if err != nil || n != 0 {
				t.Errorf("the store holds %d flows or sessions (%v), want none", n, err)
			}
			if n := a.countUsers(t); n != 0 {
				t.Errorf("CountUsers = %d, want 0", n)
			}
		})
	}
}

func TestTwoInstancesOfOneTypeKeepTheirOwnIdentities(t *testing.T) {
	t.Parallel()
	const (
		workID        = "11111111-2222-4333-8444-555555555555"
		partnerID     = "66666666-7777-4888-9999-aaaaaaaaaaaa"
		workSecret    = "Wk1~work.Secret_Value-ForTests0123456789"
		partnerSecret = "Pt2~partner.Secret_Value-ForTests0123456"
	)
	tests := []struct {
		name string
		kits func(*testing.T) []*providerKit
		// clientIDs are the client ids the instances must present.
		clientIDs []string
	}{
		{
			name: "two Entra instances with their own app registrations at one Entra",
			kits: func(t *testing.T) []*providerKit {
				fake := azuretest.New(t, azuretest.WithApp(azuretest.App{ClientID: workID, Secret: workSecret}),
					azuretest.WithApp(azuretest.App{ClientID: partnerID, Secret: partnerSecret}))
				return []*providerKit{
					azureKit(fake, "work", azure.Settings{ClientID: workID, ClientSecret: workSecret, Tenant: azure.TenantCommon}, kitOptions{}),
					azureKit(fake, "partner", azure.Settings{ClientID: partnerID, ClientSecret: partnerSecret, Tenant: azure.TenantOrganizations}, kitOptions{}),
				}
			},
			clientIDs: []string{workID, partnerID},
		},
		{
			name: "two OpenID Connect instances at two providers",
			kits: func(t *testing.T) []*providerKit {
				return []*providerKit{oidcKit(oidctest.New(t), "corp", kitOptions{}), oidcKit(oidctest.New(t), "lab", kitOptions{})}
			},
			clientIDs: []string{oidctest.DefaultClientID, oidctest.DefaultClientID},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kits := tt.kits(t)
			a := newKitApp(t, kits...)
			users := map[string]string{} // user id by instance
			for i, k := range kits {
				before := k.tokenCalls()
				verifier, challenge := pkce()
				run := a.signInWith(t, k.name, challenge, nil)
				auth := k.lastAuth()
				if run.callback == nil || run.callback.Path != "/callback/"+k.name ||
					auth.Get("redirect_uri") != a.url+"/callback/"+k.name || auth.Get("client_id") != tt.clientIDs[i] {
					t.Errorf("%s sent client_id %q and redirect_uri %q and was called back at %v; want %s and /callback/%s",
						k.name, auth.Get("client_id"), auth.Get("redirect_uri"), run.callback, tt.clientIDs[i], k.name)
				}
				claims := a.redeem(t, run, verifier)
				if claims.IDP != k.name {
					t.Errorf("access token idp = %q, want %q", claims.IDP, k.name)
				}
				ident, err := a.store.GetIdentity(context.Background(), k.key)
				if err != nil {
					t.Fatalf("identity %s: %v", k.key, err)
				}
				if ident.UserID != claims.Subject || ident.Provider != k.name {
					t.Errorf("identity %s = %+v, want provider %s and the token's user %s", k.key, ident, k.name, claims.Subject)
				}
				users[k.name] = ident.UserID
				if got := k.tokenCalls() - before; got != 1 {
					t.Errorf("%s called the token endpoint %d times, want once", k.name, got)
				}
			}
			if n := a.countUsers(t); n != 2 {
				t.Errorf("CountUsers = %d, want 2: one person through two instances is two identities", n)
			}
			if users[kits[0].name] == users[kits[1].name] {
				t.Errorf("both instances signed in user %s, want two users", users[kits[0].name])
			}
		})
	}
}
