package bridge_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
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
)

// The device of the native sign-ins in these tests.
const (
	mobileUA = "ExampleApp/2.1 (iPhone; iOS 18.2)"
	mobileIP = "203.0.113.7"
)

// Client ids of the mobile apps at the providers.
const (
	googleAndroidClient = "1234567890-android0abcdef.apps.googleusercontent.com"
	msalClient          = "22222222-2222-4222-8222-222222222222"
	oidcMobileClient    = "mobile-app"
)

// nativeClients are the native apps of the token-exchange tests: mobile
// may use every provider, mobile-fake only fake, mobile-account may also
// ask for the account scope.
var nativeClients = []bridge.Client{
	{ID: "mobile", Name: "The App", TokenExchange: true, Audience: []string{"https://api.example.com"},
		AccessTTL: 15 * time.Minute, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 24 * time.Hour},
	{ID: "mobile-fake", Name: "The Fake-only App", TokenExchange: true, Providers: []string{"fake"},
		AccessTTL: 15 * time.Minute, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 24 * time.Hour},
	{ID: "mobile-account", Name: "The Account App", TokenExchange: true, AccountManagement: true,
		AccessTTL: 15 * time.Minute, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: 24 * time.Hour},
}

// nativeProvider is a fakeProvider that also verifies native tokens
// (providers.NativeVerifier), as the test configures it: the types it
// accepts, the identity, expiry or error it answers with. It records what
// it was asked.
type nativeProvider struct {
	*fakeProvider
	nmu   sync.Mutex
	types []string
	// ident is the identity a token proves; nil: the fakeProvider's
	// identity without provider tokens (an ID token brings none), or with
	// the token as provider access token for an access token.
	ident *providers.Identity
	// expires is VerifyNative's expires (zero: unknown).
	expires time.Time
	err     error
	seen    []providers.NativeToken
}

func newNativeProvider(name string, types ...string) *nativeProvider {
	return &nativeProvider{fakeProvider: newFakeProvider(name), types: types}
}

func (n *nativeProvider) NativeTokenTypes() []string {
	n.nmu.Lock()
	defer n.nmu.Unlock()
	return append([]string(nil), n.types...)
}

func (n *nativeProvider) VerifyNative(_ context.Context, t providers.NativeToken) (*providers.Identity, time.Time, error) {
	n.nmu.Lock()
	defer n.nmu.Unlock()
	n.seen = append(n.seen, t)
	if n.err != nil {
		return nil, time.Time{}, n.err
	}
	var id providers.Identity
	if n.ident != nil {
		id = *n.ident
	} else {
		n.fakeProvider.mu.Lock()
		id = n.fakeProvider.identity
		n.fakeProvider.mu.Unlock()
		id.Tokens = providers.Tokens{}
		if t.Type == providers.TokenTypeAccessToken {
			id.Tokens = providers.Tokens{AccessToken: t.Token, Scopes: []string{"public_profile"}}
		}
	}
	return &id, n.expires, nil
}

// configure changes the provider under its lock.
func (n *nativeProvider) configure(edit func(*nativeProvider)) {
	n.nmu.Lock()
	defer n.nmu.Unlock()
	edit(n)
}

// calls returns the tokens VerifyNative was asked about.
func (n *nativeProvider) calls() []providers.NativeToken {
	n.nmu.Lock()
	defer n.nmu.Unlock()
	return append([]providers.NativeToken(nil), n.seen...)
}

// nativeEnv is an env with the native clients and three providers: fake
// (accepts ID and access tokens), other (no native sign-in at all) and
// idonly (ID tokens only).
func nativeEnv(t testing.TB) (*env, *nativeProvider) {
	t.Helper()
	np := newNativeProvider("fake", providers.TokenTypeIDToken, providers.TokenTypeAccessToken)
	e := newEnvConfig(t, envConfig{
		providers: []providers.Provider{np, newFakeProvider("other"), newNativeProvider("idonly", providers.TokenTypeIDToken)},
		clients:   nativeClients,
	})
	return e, np
}

// realEnv is an env with one real adapter and the native clients.
func realEnv(t testing.TB, p providers.Provider) *env {
	t.Helper()
	return newEnvConfig(t, envConfig{providers: []providers.Provider{p}, clients: nativeClients})
}

// subjectToken returns a fresh, unique stand-in for a provider token.
func subjectToken() string { return "native-token-" + rand.Text() }

// exchangeOf is the mobile app's exchange of token, an ID token of fake.
func exchangeOf(token string) bridge.TokenExchangeGrant {
	return bridge.TokenExchangeGrant{
		Client: bridge.ClientCredentials{ID: "mobile"}, SubjectToken: token, SubjectTokenType: providers.TokenTypeIDToken,
		Provider: "fake", Nonce: "app-nonce", UserAgent: mobileUA, IP: mobileIP,
	}
}

// oauthError returns err's *bridge.OAuthError, failing the test without.
func oauthError(t testing.TB, err error) *bridge.OAuthError {
	t.Helper()
	var oe *bridge.OAuthError
	if !errors.As(err, &oe) {
		t.Fatalf("err = %v, want an *OAuthError", err)
	}
	return oe
}

// idTokenClaims decodes an ID token's claims, unverified.
func idTokenClaims(t testing.TB, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("ID token %q is not a compact JWS", raw)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// exchangeOK exchanges g and checks the response is a token exchange's.
func exchangeOK(t testing.TB, e *env, g bridge.TokenExchangeGrant) *bridge.TokenSet {
	t.Helper()
	ts, err := e.b.ExchangeToken(context.Background(), g)
	if err != nil {
		t.Fatalf("ExchangeToken: %v", err)
	}
	if ts.AccessToken == "" || ts.RefreshToken == "" || ts.TokenType != "Bearer" {
		t.Errorf("token set = %+v, want a bearer access token and a refresh token", ts)
	}
	if ts.IssuedTokenType != bridge.IssuedTokenTypeAccess {
		t.Errorf("IssuedTokenType = %q, want %q", ts.IssuedTokenType, bridge.IssuedTokenTypeAccess)
	}
	return ts
}

// subjectOf returns the user id an access token names.
func (e *env) subjectOf(t testing.TB, access string) string {
	t.Helper()
	c, err := e.issuer.ParseAccess(access)
	if err != nil {
		t.Fatalf("ParseAccess: %v", err)
	}
	return c.Subject
}

// openLink opens a user's sealed provider token field ("access_token",
// "refresh_token") of provider; "" when none is stored.
func (e *env) openLink(t testing.TB, userID, provider, field string) string {
	t.Helper()
	link, ok := e.user(t, userID).Providers[provider]
	if !ok {
		t.Fatalf("user %s has no %s identity", userID, provider)
	}
	sealed := link.AccessTokenSealed
	if field == "refresh_token" {
		sealed = link.RefreshTokenSealed
	}
	if sealed == "" {
		return ""
	}
	plain, err := e.sealer.Open(sealed, "user:"+userID+":"+provider+":"+field)
	if err != nil {
		t.Fatalf("open %s %s: %v", provider, field, err)
	}
	return string(plain)
}

func TestTokenExchangeSignsTheAppInForTheDevice(t *testing.T) {
	t.Parallel()
	e, np := nativeEnv(t)
	token := subjectToken()
	ts := exchangeOK(t, e, exchangeOf(token))

	ac, err := e.issuer.ParseAccess(ts.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the access token is the app's, for the provider's person", func(t *testing.T) {
		if ac.ClientID != "mobile" || ac.IDP != "fake" || ac.SessionID == "" || ac.Subject == "" {
			t.Errorf("access claims = %+v", ac)
		}
		if len(ac.Audience) == 0 || ac.Audience[0] != "https://api.example.com" {
			t.Errorf("audience = %v, want the client's", ac.Audience)
		}
		if ac.User["email"] != "alice@example.com" {
			t.Errorf("user claims = %v, want the provider's profile", ac.User)
		}
		for _, s := range []string{"openid", "profile", "email"} {
			if !strings.Contains(" "+ts.Scope+" ", " "+s+" ") {
				t.Errorf("scope = %q, want the default (openid profile email)", ts.Scope)
			}
		}
	})
	t.Run("an ID token comes with openid, with the app's nonce", func(t *testing.T) {
		c := idTokenClaims(t, ts.IDToken)
		if c["sub"] != ac.Subject || c["nonce"] != "app-nonce" || c["iss"] != publicURL {
			t.Errorf("ID token claims = %v, want sub %s and nonce app-nonce", c, ac.Subject)
		}
	})
	t.Run("the adapter got the token, its type and the nonce", func(t *testing.T) {
		calls := np.calls()
		if len(calls) != 1 || calls[0] != (providers.NativeToken{Token: token, Type: providers.TokenTypeIDToken, Nonce: "app-nonce"}) {
			t.Errorf("VerifyNative calls = %+v", calls)
		}
	})
	t.Run("the session is active and records the device", func(t *testing.T) {
		sessions, err := e.store.ListUserSessions(context.Background(), ac.Subject, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(sessions) != 1 {
			t.Fatalf("sessions = %d, want 1", len(sessions))
		}
		s := sessions[0]
		if s.ID != ac.SessionID || s.State != store.StateActive || s.ClientID != "mobile" || s.Provider != "fake" ||
			s.UserAgent != mobileUA || s.IP != mobileIP || s.Generation != 1 {
			t.Errorf("session = id %q state %q client %q provider %q UA %q IP %q gen %d",
				s.ID, s.State, s.ClientID, s.Provider, s.UserAgent, s.IP, s.Generation)
		}
	})
	t.Run("the refresh token works and rotates", func(t *testing.T) {
		e.clock.Add(time.Minute)
		next, err := e.b.Refresh(context.Background(), bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "mobile"}, RefreshToken: ts.RefreshToken})
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		if next.RefreshToken == ts.RefreshToken || e.subjectOf(t, next.AccessToken) != ac.Subject {
			t.Errorf("refresh = %+v, want a new refresh token for the same user", next)
		}
		if next.IssuedTokenType != "" {
			t.Errorf("a refresh's IssuedTokenType = %q, want none", next.IssuedTokenType)
		}
	})
	t.Run("the log says the native sign-in finished, without the token", func(t *testing.T) {
		logs := e.logs.String()
		if !strings.Contains(logs, "native sign-in finished") || !strings.Contains(logs, "client_id=mobile") ||
			!strings.Contains(logs, "user_id="+ac.Subject) || !strings.Contains(logs, "new_user=true") {
			t.Errorf("logs = %s", logs)
		}
		if strings.Contains(logs, token) || strings.Contains(logs, ts.RefreshToken) {
			t.Error("the log holds a token")
		}
	})
}

func TestTokenExchangeScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, client, scope string
		wantIDToken         bool
	}{
		{"without openid there is no ID token", "mobile", "profile email", false},
		{"openid alone gets an ID token", "mobile", "openid", true},
		{"an account app may ask for the account scope", "mobile-account", "openid " + bridge.ScopeAccount, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, _ := nativeEnv(t)
			g := exchangeOf(subjectToken())
			g.Client.ID, g.Scope = tt.client, tt.scope
			ts := exchangeOK(t, e, g)
			if (ts.IDToken != "") != tt.wantIDToken {
				t.Errorf("ID token %q, want one: %t", ts.IDToken, tt.wantIDToken)
			}
			if !sameScope(ts.Scope, tt.scope) {
				t.Errorf("scope = %q, want %q", ts.Scope, tt.scope)
			}
		})
	}
}

func TestTokenExchangeAndBrowserSignInOfOnePersonAreOneUser(t *testing.T) {
	t.Parallel()
	e, _ := nativeEnv(t)
	web, _ := e.signIn(t)
	webUser := e.subjectOf(t, web.AccessToken)

	ts := exchangeOK(t, e, exchangeOf(subjectToken()))
	if got := e.subjectOf(t, ts.AccessToken); got != webUser {
		t.Errorf("native sign-in is user %s, the browser's %s: want one user", got, webUser)
	}
	if n := e.userCount(t); n != 1 {
		t.Errorf("users = %d, want 1", n)
	}
	sessions, err := e.store.ListUserSessions(context.Background(), webUser, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]bool{}
	for _, s := range sessions {
		clients[s.ClientID] = true
	}
	if len(sessions) != 2 || !clients["spa"] || !clients["mobile"] {
		t.Errorf("sessions of the user by client = %v (%d), want spa and mobile", clients, len(sessions))
	}
	if !strings.Contains(e.logs.String(), "new_user=false") {
		t.Error("the native sign-in was logged as a new user")
	}
}

func TestTokenExchangeRefusals(t *testing.T) {
	t.Parallel()
	tooLongNonce := strings.Repeat("n", 513)
	tests := []struct {
		name string
		edit func(*bridge.TokenExchangeGrant)
		// providerErr is the fake adapter's refusal.
		providerErr error
		// expires is the fake adapter's expiry, relative to now (0: none).
		expires  time.Duration
		wantCode string
		wantDesc string
		// verified says the adapter is asked (checks after it).
		verified bool
	}{
		{name: "a client without token_exchange is unauthorized_client",
			edit: func(g *bridge.TokenExchangeGrant) { g.Client.ID = "spa" }, wantCode: "unauthorized_client", wantDesc: "token_exchange"},
		{name: "a confidential client without token_exchange is unauthorized_client",
			edit: func(g *bridge.TokenExchangeGrant) {
				g.Client = bridge.ClientCredentials{ID: "backend", Secret: "s3cret"}
			}, wantCode: "unauthorized_client"},
		{name: "a confidential client with a wrong secret is invalid_client",
			edit: func(g *bridge.TokenExchangeGrant) {
				g.Client = bridge.ClientCredentials{ID: "backend", Secret: "wrong"}
			}, wantCode: "invalid_client"},
		{name: "the public app sending a secret is invalid_client",
			edit: func(g *bridge.TokenExchangeGrant) { g.Client.Secret = "a-secret" }, wantCode: "invalid_client"},
		{name: "an unknown client is invalid_client",
			edit: func(g *bridge.TokenExchangeGrant) { g.Client.ID = "nobody" }, wantCode: "invalid_client"},
		{name: "a missing subject_token is invalid_request",
			edit: func(g *bridge.TokenExchangeGrant) { g.SubjectToken = "" }, wantCode: "invalid_request", wantDesc: "subject_token is required"},
		{name: "an oversized subject_token is invalid_request",
			edit: func(g *bridge.TokenExchangeGrant) { g.SubjectToken = strings.Repeat("x", 16<<10+1) }, wantCode: "invalid_request", wantDesc: "longer than"},
		{name: "a missing subject_token_type is invalid_request",
			edit: func(g *bridge.TokenExchangeGrant) { g.SubjectTokenType = "" }, wantCode: "invalid_request", wantDesc: "subject_token_type is required"},
		{name: "an unknown subject_token_type is unsupported_token_type",
			edit:     func(g *bridge.TokenExchangeGrant) { g.SubjectTokenType = "urn:ietf:params:oauth:token-type:saml2" },
			wantCode: "unsupported_token_type", wantDesc: "subject_token_type must be"},
		{name: "a token type the provider does not accept is unsupported_token_type",
			edit: func(g *bridge.TokenExchangeGrant) {
				g.Provider, g.SubjectTokenType, g.Nonce = "idonly", providers.TokenTypeAccessToken, ""
			}, wantCode: "unsupported_token_type", wantDesc: "does not accept"},
		{name: "a missing provider is invalid_request",
			edit: func(g *bridge.TokenExchangeGrant) { g.Provider = "" }, wantCode: "invalid_request", wantDesc: "provider is required"},
		{name: "an unknown provider is invalid_request",
			edit: func(g *bridge.TokenExchangeGrant) { g.Provider = "nope" }, wantCode: "invalid_request", wantDesc: "not available"},
		{name: "a provider the client may not use is invalid_request",
			edit: func(g *bridge.TokenExchangeGrant) { g.Client.ID, g.Provider = "mobile-fake", "idonly" }, wantCode: "invalid_request", wantDesc: "not available"},
		{name: "a provider without native sign-in is unsupported_token_type",
			edit: func(g *bridge.TokenExchangeGrant) { g.Provider = "other" }, wantCode: "unsupported_token_type", wantDesc: "does not accept"},
		{name: "a nonce longer than 512 bytes is invalid_request",
			edit: func(g *bridge.TokenExchangeGrant) { g.Nonce = tooLongNonce }, wantCode: "invalid_request", wantDesc: "nonce"},
		{name: "a nonce that is not UTF-8 is invalid_request",
			edit: func(g *bridge.TokenExchangeGrant) { g.Nonce = "n\xff" }, wantCode: "invalid_request", wantDesc: "nonce"},
		{name: "the account scope without account_management is invalid_scope",
			edit: func(g *bridge.TokenExchangeGrant) { g.Scope = "openid " + bridge.ScopeAccount }, wantCode: "invalid_scope", wantDesc: "account"},
		{name: "an unknown scope is invalid_scope",
			edit: func(g *bridge.TokenExchangeGrant) { g.Scope = "openid admin" }, wantCode: "invalid_scope"},
		{name: "a token the adapter refuses is invalid_grant with its reason",
			providerErr: &providers.Error{Provider: "fake", Code: providers.CodeInvalidToken, Message: "ID token audience is not one of this app's client ids"},
			wantCode:    "invalid_grant", wantDesc: "ID token audience is not one of this app's client ids", verified: true},
		{name: "an account the adapter's policy refuses is invalid_grant",
			providerErr: &providers.Error{Provider: "fake", Code: providers.CodeNotAllowed, Message: "accounts of tenant x are not allowed"},
			wantCode:    "invalid_grant", wantDesc: "tenant x", verified: true},
		{name: "a type the adapter refuses itself is unsupported_token_type",
			providerErr: &providers.Error{Provider: "fake", Code: providers.CodeUnsupportedTokenType, Message: "Limited Login is off"},
			wantCode:    "unsupported_token_type", wantDesc: "Limited Login is off", verified: true},
		{name: "a provider that cannot be reached is temporarily_unavailable",
			providerErr: &providers.Error{Provider: "fake", Code: providers.CodeUnavailable, Message: "keys could not be fetched", Err: errors.New("dial tcp: refused")},
			wantCode:    "temporarily_unavailable", wantDesc: "try again", verified: true},
		{name: "a token that expired since it was verified is invalid_grant",
			expires: -time.Second, wantCode: "invalid_grant", wantDesc: "expired", verified: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, np := nativeEnv(t)
			np.configure(func(n *nativeProvider) {
				n.err = tt.providerErr
				if tt.expires != 0 {
					n.expires = e.clock.Now().Add(tt.expires)
				}
			})
			token := subjectToken()
			g := exchangeOf(token)
			if tt.edit != nil {
				tt.edit(&g)
			}
			ts, err := e.b.ExchangeToken(context.Background(), g)
			if err == nil {
				t.Fatalf("ExchangeToken = %+v, want %s", ts, tt.wantCode)
			}
			oe := oauthError(t, err)
			if oe.Code != tt.wantCode || !strings.Contains(oe.Description, tt.wantDesc) {
				t.Errorf("error = %s %q, want %s with %q", oe.Code, oe.Description, tt.wantCode, tt.wantDesc)
			}
			if strings.Contains(oe.Description, token) || strings.Contains(e.logs.String(), token) {
				t.Error("the description or the log holds the subject token")
			}
			if n := len(np.calls()); (n > 0) != tt.verified {
				t.Errorf("the adapter was asked %d times, want asked: %t", n, tt.verified)
			}
			if n := e.userCount(t); n != 0 {
				t.Errorf("users = %d, want none made", n)
			}
			if strings.Contains(e.logs.String(), "native sign-in finished") {
				t.Error("a refused exchange was logged as finished")
			}
			if tt.providerErr != nil && !strings.Contains(e.logs.String(), "native sign-in refused") {
				t.Error("the refusal is not logged")
			}
		})
	}
}

func TestTokenExchangeOfAnErrorThatIsNotTheProvidersIsOurFault(t *testing.T) {
	t.Parallel()
	e, np := nativeEnv(t)
	np.configure(func(n *nativeProvider) { n.err = errors.New("adapter bug") })
	_, err := e.b.ExchangeToken(context.Background(), exchangeOf(subjectToken()))
	var oe *bridge.OAuthError
	if err == nil || errors.As(err, &oe) {
		t.Errorf("err = %v, want a plain error (a server_error for the client)", err)
	}
}

func TestTokenExchangeAcceptsATokenOnce(t *testing.T) {
	t.Parallel()
	t.Run("a replay is invalid_grant until the token expires", func(t *testing.T) {
		t.Parallel()
		e, np := nativeEnv(t)
		np.configure(func(n *nativeProvider) { n.expires = e.clock.Now().Add(10 * time.Minute) })
		token := subjectToken()
		first := exchangeOK(t, e, exchangeOf(token))

		e.clock.Add(9 * time.Minute)
		_, err := e.b.ExchangeToken(context.Background(), exchangeOf(token))
		if oe := oauthError(t, err); oe.Code != "invalid_grant" || !strings.Contains(oe.Description, "already exchanged") {
			t.Errorf("replay: %s %q, want invalid_grant already exchanged", oe.Code, oe.Description)
		}
		sessions, _ := e.store.ListUserSessions(context.Background(), e.subjectOf(t, first.AccessToken), e.clock.Now())
		if len(sessions) != 1 {
			t.Errorf("sessions after the replay = %d, want 1 (the replay starts none, ends none)", len(sessions))
		}
		exchangeOK(t, e, exchangeOf(subjectToken())) // another token is fine

		// Once the adapter's expiry passed, the adapter itself refuses
		// the token; the guard forgets it.
		e.clock.Add(2 * time.Minute)
		np.configure(func(n *nativeProvider) { n.expires = e.clock.Now().Add(10 * time.Minute) })
		exchangeOK(t, e, exchangeOf(token))
	})
	t.Run("a token without expiry is remembered for the default hour", func(t *testing.T) {
		t.Parallel()
		e, _ := nativeEnv(t)
		token := subjectToken()
		exchangeOK(t, e, exchangeOf(token))
		e.clock.Add(59 * time.Minute)
		if _, err := e.b.ExchangeToken(context.Background(), exchangeOf(token)); oauthCode(err) != "invalid_grant" {
			t.Errorf("replay after 59 minutes: %v, want invalid_grant", err)
		}
		e.clock.Add(2 * time.Minute)
		exchangeOK(t, e, exchangeOf(token))
	})
	t.Run("of concurrent exchanges of one token exactly one succeeds", func(t *testing.T) {
		t.Parallel()
		e, _ := nativeEnv(t)
		token := subjectToken()
		const n = 8
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, err := e.b.ExchangeToken(context.Background(), exchangeOf(token))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		ok := 0
		for err := range errs {
			switch {
			case err == nil:
				ok++
			case oauthCode(err) != "invalid_grant":
				t.Errorf("a concurrent replay: %v, want invalid_grant", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d exchanges succeeded, want 1", ok)
		}
	})
}

func TestTokenExchangeOfADisabledUserIsInvalidGrant(t *testing.T) {
	t.Parallel()
	e, _ := nativeEnv(t)
	ts := exchangeOK(t, e, exchangeOf(subjectToken()))
	if err := e.store.SetDisabled(context.Background(), e.subjectOf(t, ts.AccessToken), true); err != nil {
		t.Fatal(err)
	}
	_, err := e.b.ExchangeToken(context.Background(), exchangeOf(subjectToken()))
	if oe := oauthError(t, err); oe.Code != "invalid_grant" || !strings.Contains(oe.Description, "disabled") {
		t.Errorf("error = %s %q, want invalid_grant disabled", oe.Code, oe.Description)
	}
	sessions, _ := e.store.ListUserSessions(context.Background(), e.subjectOf(t, ts.AccessToken), e.clock.Now())
	if len(sessions) != 1 {
		t.Errorf("sessions = %d, want only the one from before", len(sessions))
	}
}

func TestTokenExchangeKeepsOrStoresProviderTokens(t *testing.T) {
	t.Parallel()
	e, _ := nativeEnv(t)
	web, _ := e.signIn(t) // stores provider-access-secret and provider-refresh-secret
	userID := e.subjectOf(t, web.AccessToken)

	exchangeOK(t, e, exchangeOf(subjectToken()))
	if got := e.openLink(t, userID, "fake", "access_token"); got != "provider-access-secret" {
		t.Errorf("after an ID-token exchange the stored access token is %q, want the browser sign-in's", got)
	}
	if got := e.openLink(t, userID, "fake", "refresh_token"); got != "provider-refresh-secret" {
		t.Errorf("after an ID-token exchange the stored refresh token is %q, want the browser sign-in's", got)
	}

	access := subjectToken()
	g := exchangeOf(access)
	g.SubjectTokenType, g.Nonce = providers.TokenTypeAccessToken, ""
	exchangeOK(t, e, g)
	if got := e.openLink(t, userID, "fake", "access_token"); got != access {
		t.Errorf("after an access-token exchange the stored access token is %q, want the exchanged one", got)
	}
	pt, err := e.b.ProviderToken(context.Background(), bridge.ProviderTokenRequest{
		Client: bridge.ClientCredentials{ID: "backend", Secret: "s3cret"}, UserID: userID, Provider: "fake",
	})
	if err != nil || pt.AccessToken != access {
		t.Errorf("ProviderToken = %+v, %v; want the exchanged access token", pt, err)
	}
}

func TestTokenExchangeWithRealAdapters(t *testing.T) {
	t.Parallel()
	type exchange struct {
		token, typ, nonce string
	}
	tests := []struct {
		name string
		// setup returns the adapter and what the app sends: the good
		// token, and refused tokens with the description they get.
		setup    func(t *testing.T) (p providers.Provider, ok exchange, refused map[string]exchange)
		provider string
		wantKey  string
	}{
		{name: "Google ID token of the Android app", provider: "google", wantKey: "1000001",
			setup: func(t *testing.T) (providers.Provider, exchange, map[string]exchange) {
				fake := googletest.New(t)
				p := google.New(google.Config{ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Issuer: fake.URL(),
					NativeClientIDs: []string{googleAndroidClient}})
				return p, exchange{fake.NativeIDToken(fake.ClientID(), googleAndroidClient, "n-1"), providers.TokenTypeIDToken, "n-1"},
					map[string]exchange{
						"audience": {fake.NativeIDToken("someone-else.apps.googleusercontent.com", "", "n-2"), providers.TokenTypeIDToken, "n-2"},
						"nonce":    {fake.NativeIDToken(fake.ClientID(), googleAndroidClient, "n-3"), providers.TokenTypeIDToken, "other-nonce"},
						"key":      {fake.SignWithUnknownKey(fake.NativeClaims(fake.ClientID(), googleAndroidClient, "")), providers.TokenTypeIDToken, ""},
						"expired": {fake.SignIDToken(func() map[string]any {
							c := fake.NativeClaims(fake.ClientID(), googleAndroidClient, "")
							c["iat"], c["exp"] = time.Now().Add(-3*time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix()
							return c
						}()), providers.TokenTypeIDToken, ""},
					}
			}},
		{name: "Facebook access token", provider: "facebook", wantKey: facebooktest.DefaultUser.ID,
			setup: func(t *testing.T) (providers.Provider, exchange, map[string]exchange) {
				fake := facebooktest.New(t)
				other := facebooktest.New(t, facebooktest.WithApp("9999999999999999", "other-secret"))
				return newFacebook(t, fake), exchange{fake.IssueToken(fake.AppID(), facebooktest.DefaultUser), providers.TokenTypeAccessToken, ""},
					map[string]exchange{
						"nonce":     {fake.IssueToken(fake.AppID(), facebooktest.DefaultUser), providers.TokenTypeAccessToken, "n-1"},
						"not valid": {other.IssueToken("9999999999999999", facebooktest.DefaultUser), providers.TokenTypeAccessToken, ""},
					}
			}},
		{name: "Facebook Limited Login ID token", provider: "facebook", wantKey: facebooktest.DefaultUser.ID,
			setup: func(t *testing.T) (providers.Provider, exchange, map[string]exchange) {
				fake := facebooktest.New(t)
				return newFacebook(t, fake), exchange{fake.LimitedLoginToken(fake.AppID(), facebooktest.DefaultUser, "n-1"), providers.TokenTypeIDToken, "n-1"},
					map[string]exchange{
						"nonce":     {fake.LimitedLoginToken(fake.AppID(), facebooktest.DefaultUser, "n-2"), providers.TokenTypeIDToken, "n-3"},
						"signature": {fake.LimitedLoginToken(fake.AppID(), facebooktest.DefaultUser, "n-4", facebooktest.BadSignature()), providers.TokenTypeIDToken, "n-4"},
					}
			}},
		{name: "Entra ID token from MSAL", provider: "azure",
			setup: func(t *testing.T) (providers.Provider, exchange, map[string]exchange) {
				fake := azuretest.New(t)
				p, err := azure.New(azure.Config{ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Tenant: azure.TenantOrganizations,
					AuthorityHost: fake.URL(), NativeClientIDs: []string{msalClient}})
				if err != nil {
					t.Fatal(err)
				}
				return p, exchange{fake.NativeIDToken(msalClient, azuretest.Alice, "n-1"), providers.TokenTypeIDToken, "n-1"},
					map[string]exchange{
						"personal": {fake.NativeIDToken(msalClient, azuretest.Carol, "n-2"), providers.TokenTypeIDToken, "n-2"},
						"audience": {fake.NativeIDToken("33333333-3333-4333-8333-333333333333", azuretest.Alice, "n-3"), providers.TokenTypeIDToken, "n-3"},
					}
			}},
		{name: "generic OIDC ID token", provider: "corp",
			setup: func(t *testing.T) (providers.Provider, exchange, map[string]exchange) {
				fake := oidctest.New(t)
				p := oidc.New(oidc.Config{RP: oidc.RPConfig{Name: "corp", ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Issuer: fake.Issuer()},
					NativeClientIDs: []string{oidcMobileClient}})
				return p, exchange{fake.NativeIDToken(oidcMobileClient, "n-1"), providers.TokenTypeIDToken, "n-1"},
					map[string]exchange{
						"signature": {fake.SignWithForeignKey(fake.NativeClaims(oidcMobileClient, "n-2")), providers.TokenTypeIDToken, "n-2"},
						"audience":  {fake.NativeIDToken("someone-else", "n-3"), providers.TokenTypeIDToken, "n-3"},
					}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, good, refused := tt.setup(t)
			e := realEnv(t, p)
			grant := func(x exchange) bridge.TokenExchangeGrant {
				return bridge.TokenExchangeGrant{Client: bridge.ClientCredentials{ID: "mobile"}, SubjectToken: x.token,
					SubjectTokenType: x.typ, Provider: tt.provider, Nonce: x.nonce, UserAgent: mobileUA, IP: mobileIP}
			}
			ts := exchangeOK(t, e, grant(good))
			userID := e.subjectOf(t, ts.AccessToken)
			u := e.user(t, userID)
			link, ok := u.Providers[tt.provider]
			if !ok || (tt.wantKey != "" && link.Subject != tt.wantKey) {
				t.Errorf("user's %s identity = %+v, want subject %q", tt.provider, link, tt.wantKey)
			}
			if good.typ == providers.TokenTypeAccessToken {
				if got := e.openLink(t, userID, tt.provider, "access_token"); got != good.token {
					t.Error("the exchanged provider access token is not stored")
				}
			}
			if _, err := e.b.ExchangeToken(context.Background(), grant(good)); oauthCode(err) != "invalid_grant" {
				t.Errorf("replay of the real token: %v, want invalid_grant", err)
			}
			for reason, x := range refused {
				_, err := e.b.ExchangeToken(context.Background(), grant(x))
				oe := oauthError(t, err)
				if oe.Code != "invalid_grant" || !strings.Contains(oe.Description, "was refused") {
					t.Errorf("%s: %s %q, want invalid_grant with the adapter's reason", reason, oe.Code, oe.Description)
				}
				for part := range strings.SplitSeq(x.token, ".") {
					if len(part) >= 16 && (strings.Contains(oe.Description, part) || strings.Contains(e.logs.String(), part)) {
						t.Errorf("%s: the description or log holds the token", reason)
					}
				}
				t.Logf("%s: %s", reason, oe.Description)
			}
			if n := e.userCount(t); n != 1 {
				t.Errorf("users = %d, want 1", n)
			}
		})
	}
}

// newFacebook is the Facebook adapter against fake, Limited Login
// included.
func newFacebook(t *testing.T, fake *facebooktest.Server) *facebook.Provider {
	t.Helper()
	p, err := facebook.New(facebook.Config{ClientID: fake.AppID(), ClientSecret: fake.AppSecret(), DialogURL: fake.URL(), GraphURL: fake.URL(),
		LimitedLoginJWKSURL: fake.LimitedLoginJWKSURL(), HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenExchangeTypesARealAdapterDoesNotTake(t *testing.T) {
	t.Parallel()
	gfake := googletest.New(t)
	ofake := oidctest.New(t)
	fb := facebooktest.New(t)
	fbNoLimited, err := facebook.New(facebook.Config{ClientID: fb.AppID(), ClientSecret: fb.AppSecret(), DialogURL: fb.URL(), GraphURL: fb.URL(),
		DisableLimitedLogin: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		p        providers.Provider
		typ      string
		token    string
		wantDesc string
	}{
		{"Google takes no access token", google.New(google.Config{ClientID: gfake.ClientID(), ClientSecret: gfake.ClientSecret(), Issuer: gfake.URL(),
			NativeClientIDs: []string{googleAndroidClient}}), providers.TokenTypeAccessToken, "ya29.some-access-token", "does not accept"},
		{"an OIDC provider without native_client_ids takes no ID token", oidc.New(oidc.Config{RP: oidc.RPConfig{Name: "corp",
			ClientID: ofake.ClientID(), ClientSecret: ofake.ClientSecret(), Issuer: ofake.Issuer()}}),
			providers.TokenTypeIDToken, ofake.NativeIDToken(ofake.ClientID(), ""), "does not accept"},
		{"Facebook with Limited Login off takes no ID token", fbNoLimited, providers.TokenTypeIDToken,
			fb.LimitedLoginToken(fb.AppID(), facebooktest.DefaultUser, "n"), "does not accept"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := realEnv(t, tt.p)
			_, err := e.b.ExchangeToken(context.Background(), bridge.TokenExchangeGrant{Client: bridge.ClientCredentials{ID: "mobile"},
				SubjectToken: tt.token, SubjectTokenType: tt.typ, Provider: tt.p.Name()})
			if oe := oauthError(t, err); oe.Code != "unsupported_token_type" || !strings.Contains(oe.Description, tt.wantDesc) {
				t.Errorf("error = %s %q, want unsupported_token_type", oe.Code, oe.Description)
			}
		})
	}
}

func TestTokenExchangeFacebookWebAccessTokenAndLimitedLoginAreOneUser(t *testing.T) {
	t.Parallel()
	fake := facebooktest.New(t)
	e := realEnv(t, newFacebook(t, fake))
	grant := func(token, typ, nonce string) bridge.TokenExchangeGrant {
		return bridge.TokenExchangeGrant{Client: bridge.ClientCredentials{ID: "mobile"}, SubjectToken: token, SubjectTokenType: typ,
			Provider: "facebook", Nonce: nonce}
	}
	a := exchangeOK(t, e, grant(fake.IssueToken(fake.AppID(), facebooktest.DefaultUser), providers.TokenTypeAccessToken, ""))
	b := exchangeOK(t, e, grant(fake.LimitedLoginToken(fake.AppID(), facebooktest.DefaultUser, "n-1"), providers.TokenTypeIDToken, "n-1"))
	if e.subjectOf(t, a.AccessToken) != e.subjectOf(t, b.AccessToken) {
		t.Error("an Android (access token) and an iOS Limited Login sign-in of one person are two users")
	}
}

// A Facebook access token lives 60 days and the adapter asks for it to be
// remembered that long: a replay a day later (when a one-day guard would
// have forgotten it) is still refused.
func TestTokenExchangeRefusesAFacebookTokenReplayedAfterADay(t *testing.T) {
	t.Parallel()
	ck := &clock{now: time.Now().Truncate(time.Second)}
	fake := facebooktest.New(t, facebooktest.WithClock(ck.Now))
	p, err := facebook.New(facebook.Config{ClientID: fake.AppID(), ClientSecret: fake.AppSecret(), DialogURL: fake.URL(), GraphURL: fake.URL(),
		Now: ck.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := realEnv(t, p)
	e.clock = ck
	e = e.reconfigure(t, func(o *bridge.Options) { o.Now = ck.Now })
	token := fake.IssueToken(fake.AppID(), facebooktest.DefaultUser)
	g := bridge.TokenExchangeGrant{Client: bridge.ClientCredentials{ID: "mobile"}, SubjectToken: token,
		SubjectTokenType: providers.TokenTypeAccessToken, Provider: "facebook"}
	exchangeOK(t, e, g)
	ck.Add(25 * time.Hour)
	if _, err := e.b.ExchangeToken(context.Background(), g); oauthCode(err) != "invalid_grant" {
		t.Errorf("a still-valid Facebook access token exchanged again after 25h: err = %v, want invalid_grant", err)
	}
}
