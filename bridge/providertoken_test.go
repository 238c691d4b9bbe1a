package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
)

// refreshingProvider is a fake provider that can refresh its tokens
// (providers.Refresher). It counts the calls and remembers the refresh
// tokens presented; it can hold calls until released, fail, and rotate
// the refresh token.
type refreshingProvider struct {
	*fakeProvider
	now func() time.Time

	rmu sync.Mutex
	// presented are the refresh tokens Refresh was called with, in order.
	presented []string
	// gate, when set, holds every call until it is closed; entered gets
	// a value as each call arrives.
	gate    chan struct{}
	entered chan struct{}
	// err, when set, is Refresh's error.
	err error
	// rotate makes each refresh return a new refresh token.
	rotate bool
}

func newRefreshingProvider(name string) *refreshingProvider {
	return &refreshingProvider{fakeProvider: newFakeProvider(name), entered: make(chan struct{}, 100)}
}

// Refresh implements providers.Refresher: call n returns access token
// refreshed-access-n, valid an hour, and with rotate refresh token
// rotated-refresh-n.
func (r *refreshingProvider) Refresh(ctx context.Context, refreshToken string) (*providers.Tokens, error) {
	r.rmu.Lock()
	r.presented = append(r.presented, refreshToken)
	n, gate, err, rotate := len(r.presented), r.gate, r.err, r.rotate
	r.rmu.Unlock()
	r.entered <- struct{}{}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	t := &providers.Tokens{AccessToken: fmt.Sprintf("refreshed-access-%d", n), Expiry: r.now().Add(time.Hour), Scopes: []string{"openid", "email", "api"}}
	if rotate {
		t.RefreshToken = fmt.Sprintf("rotated-refresh-%d", n)
	}
	return t, nil
}

// calls returns the refresh tokens presented so far.
func (r *refreshingProvider) calls() []string {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return append([]string(nil), r.presented...)
}

// tokenEnv is an env whose provider "fake" can refresh and whose provider
// "plain" cannot, with the user signed in through fake; the provider's
// access token expires after life.
type tokenEnv struct {
	*env
	rp     *refreshingProvider
	userID string
}

func newTokenEnv(t testing.TB, life time.Duration, edit func(*providers.Identity)) *tokenEnv {
	t.Helper()
	rp := newRefreshingProvider("fake")
	e := newEnvConfig(t, envConfig{providers: []providers.Provider{rp, newFakeProvider("plain")}})
	rp.now = e.clock.Now
	rp.setIdentity(func(id *providers.Identity) {
		id.Tokens.Expiry = e.clock.Now().Add(life)
		id.Tokens.Scopes = []string{"openid", "email"}
		id.Tokens.IDToken = "provider-id-token"
		if edit != nil {
			edit(id)
		}
	})
	_, userID := e.signInAt(t, "fake", nil)
	return &tokenEnv{env: e, rp: rp, userID: userID}
}

// writeLink writes a link of provider with subject to the user, with
// tokens valid an hour, as a sign-in would, but without claiming the
// identity: only the identity record says whose it is.
func (e *tokenEnv) writeLink(t testing.TB, provider, subject string) {
	t.Helper()
	seal := func(value, field string) string {
		sealed, err := e.sealer.SealString(value, "user:"+e.userID+":"+provider+":"+field)
		if err != nil {
			t.Fatal(err)
		}
		return sealed
	}
	now := e.clock.Now()
	if _, err := e.store.UpsertLogin(bg, e.userID, store.Login{
		IdentityKey: provider + "|" + subject, Provider: provider, Profile: e.user(t, e.userID).Profile, Now: now,
		Link: store.ProviderLink{
			Subject: subject, AccessTokenSealed: seal(subject+"-access", "access_token"), RefreshTokenSealed: seal(subject+"-refresh", "refresh_token"),
			IDTokenSealed: seal("", "id_token"), Expiry: now.Add(time.Hour), UpdatedAt: now,
		},
	}); err != nil {
		t.Fatal(err)
	}
}

// providerToken asks for the user's token of provider as the backend.
func (e *tokenEnv) providerToken(provider string) (*bridge.ProviderToken, error) {
	return e.b.ProviderToken(bg, bridge.ProviderTokenRequest{
		Client: bridge.ClientCredentials{ID: "backend", Secret: "s3cret"}, UserID: e.userID, Provider: provider,
	})
}

// storedLink reads the user's link of provider.
func (e *tokenEnv) storedLink(t testing.TB, provider string) store.ProviderLink {
	t.Helper()
	return e.user(t, e.userID).Providers[provider]
}

// open opens a sealed token of the user's provider link.
func (e *tokenEnv) open(t testing.TB, sealed, provider, field string) string {
	t.Helper()
	plain, err := e.sealer.Open(sealed, "user:"+e.userID+":"+provider+":"+field)
	if err != nil {
		t.Fatalf("open stored %s: %v", field, err)
	}
	return string(plain)
}

func TestProviderTokenIsReturnedAsIsWhileItLastsLongEnough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		life        time.Duration
		wantRefresh bool
	}{
		{"a token valid for an hour is returned as is", time.Hour, false},
		// The clock moves a second between sign-in and request.
		{"a token valid a second over two minutes is returned as is", 2*time.Minute + 2*time.Second, false},
		{"a token valid exactly two minutes is refreshed", 2*time.Minute + time.Second, true},
		{"a token valid a minute is refreshed", time.Minute, true},
		{"an expired token is refreshed", -time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTokenEnv(t, tt.life, nil)
			e.clock.Add(time.Second) // a refresh is not in the sign-in's instant
			want := "provider-access-secret"
			if tt.wantRefresh {
				want = "refreshed-access-1"
			}
			tok, err := e.providerToken("fake")
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != want {
				t.Errorf("AccessToken = %q, want %q", tok.AccessToken, want)
			}
			if got := len(e.rp.calls()); got != map[bool]int{false: 0, true: 1}[tt.wantRefresh] {
				t.Errorf("Refresh was called %d times", got)
			}
			if !tt.wantRefresh && (!tok.Expiry.Equal(e.clock.Now().Add(tt.life-time.Second)) || strings.Join(tok.Scopes, " ") != "openid email") {
				t.Errorf("token = expiry %v, scopes %v; want the stored ones", tok.Expiry, tok.Scopes)
			}
		})
	}
}

func TestAProviderTokenWithoutExpiryIsReturnedAsIs(t *testing.T) {
	t.Parallel()
	e := newTokenEnv(t, 0, func(id *providers.Identity) { id.Tokens.Expiry = time.Time{} })
	tok, err := e.providerToken("fake")
	if err != nil || tok.AccessToken != "provider-access-secret" || !tok.Expiry.IsZero() {
		t.Fatalf("ProviderToken() = %+v, %v; want the stored token without expiry", tok, err)
	}
	if n := len(e.rp.calls()); n != 0 {
		t.Errorf("Refresh was called %d times", n)
	}
}

func TestARefreshedProviderTokenIsStoredAndUsed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		rotate bool
		// wantSecond is the refresh token the second refresh presents.
		wantSecond string
	}{
		{"a provider that keeps its refresh token is asked with it again", false, "provider-refresh-secret"},
		{"a provider that rotates its refresh token is asked with the new one", true, "rotated-refresh-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTokenEnv(t, time.Minute, nil)
			e.rp.rotate = tt.rotate
			e.clock.Add(time.Second)
			before := e.storedLink(t, "fake")

			tok, err := e.providerToken("fake")
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != "refreshed-access-1" || !tok.Expiry.Equal(e.clock.Now().Add(time.Hour)) || strings.Join(tok.Scopes, " ") != "openid email api" {
				t.Errorf("ProviderToken() = %+v, want the refreshed token, its expiry and scopes", tok)
			}
			if got := e.rp.calls(); len(got) != 1 || got[0] != "provider-refresh-secret" {
				t.Errorf("refresh tokens presented = %v, want the stored one once", got)
			}
			link := e.storedLink(t, "fake")
			if got := e.open(t, link.AccessTokenSealed, "fake", "access_token"); got != "refreshed-access-1" {
				t.Errorf("stored access token = %q, want the refreshed one", got)
			}
			wantRT := map[bool]string{false: "provider-refresh-secret", true: "rotated-refresh-1"}[tt.rotate]
			if got := e.open(t, link.RefreshTokenSealed, "fake", "refresh_token"); got != wantRT {
				t.Errorf("stored refresh token = %q, want %q", got, wantRT)
			}
			if got := e.open(t, link.IDTokenSealed, "fake", "id_token"); got != "provider-id-token" || link.IDTokenSealed != before.IDTokenSealed {
				t.Errorf("stored ID token changed to %q; the provider sent none", got)
			}
			if !link.Expiry.Equal(e.clock.Now().Add(time.Hour)) || link.Subject != before.Subject || link.Profile != before.Profile {
				t.Errorf("stored link = %+v, want the new expiry and the same subject and profile", link)
			}

			// The next request gets the stored token without a refresh.
			e.clock.Add(30 * time.Minute)
			if tok, err := e.providerToken("fake"); err != nil || tok.AccessToken != "refreshed-access-1" {
				t.Fatalf("second ProviderToken() = %+v, %v; want the stored refreshed token", tok, err)
			}
			if n := len(e.rp.calls()); n != 1 {
				t.Errorf("Refresh was called %d times, want once", n)
			}

			// Once that one nears its end, the next refresh presents the
			// right refresh token.
			e.clock.Add(29 * time.Minute)
			if tok, err := e.providerToken("fake"); err != nil || tok.AccessToken != "refreshed-access-2" {
				t.Fatalf("third ProviderToken() = %+v, %v; want a second refresh", tok, err)
			}
			if got := e.rp.calls(); len(got) != 2 || got[1] != tt.wantSecond {
				t.Errorf("refresh tokens presented = %v, want %q second", got, tt.wantSecond)
			}
		})
	}
}

func TestConcurrentProviderTokenRequestsRefreshOnce(t *testing.T) {
	t.Parallel()
	e := newTokenEnv(t, time.Minute, nil)
	e.rp.rotate = true
	e.clock.Add(time.Second)
	gate := make(chan struct{})
	e.rp.gate = gate
	const n = 10
	var ready, done sync.WaitGroup
	toks := make([]*bridge.ProviderToken, n)
	errs := make([]error, n)
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			toks[i], errs[i] = e.providerToken("fake")
		}()
	}
	ready.Wait()
	<-e.rp.entered // one refresh is at the provider
	// Let the other requests reach the shared refresh while it is held.
	time.Sleep(200 * time.Millisecond)
	close(gate)
	done.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if toks[i].AccessToken != "refreshed-access-1" {
			t.Errorf("request %d got %q, want refreshed-access-1", i, toks[i].AccessToken)
		}
	}
	if got := e.rp.calls(); len(got) != 1 {
		t.Errorf("Refresh was called %d times (%v), want once", len(got), got)
	}
	if got := e.open(t, e.storedLink(t, "fake").RefreshTokenSealed, "fake", "refresh_token"); got != "rotated-refresh-1" {
		t.Errorf("stored refresh token = %q, want rotated-refresh-1", got)
	}
}

// gatedReads is a store whose GetUser, once armed, reads the user and
// then waits for release before answering: a request that read the
// stored token just before another request refreshed it.
type gatedReads struct {
	store.Store
	mu      sync.Mutex
	armed   bool
	read    chan struct{}
	release chan struct{}
}

func (g *gatedReads) GetUser(ctx context.Context, id string) (*store.User, error) {
	u, err := g.Store.GetUser(ctx, id)
	g.mu.Lock()
	armed := g.armed
	g.armed = false
	g.mu.Unlock()
	if armed {
		close(g.read)
		<-g.release
	}
	return u, err
}

func TestARequestThatReadTheTokenBeforeARefreshDoesNotRefreshAgain(t *testing.T) {
	t.Parallel()
	// Bug: ProviderToken reads the stored token outside the shared
	// refresh, and the shared refresh does not read it again; a request
	// whose read predates another request's refresh refreshes a second
	// time, with the refresh token the provider has just rotated away.
	g := &gatedReads{read: make(chan struct{}), release: make(chan struct{})}
	rp := newRefreshingProvider("fake")
	rp.rotate = true
	e := newEnvConfig(t, envConfig{providers: []providers.Provider{rp}, wrap: func(s store.Store) store.Store { g.Store = s; return g }})
	rp.now = e.clock.Now
	rp.setIdentity(func(id *providers.Identity) { id.Tokens.Expiry = e.clock.Now().Add(time.Minute) })
	_, userID := e.signInAt(t, "fake", nil)
	e.clock.Add(time.Second)
	te := &tokenEnv{env: e, rp: rp, userID: userID}

	g.mu.Lock()
	g.armed = true
	g.mu.Unlock()
	late := make(chan error, 1)
	go func() {
		tok, err := te.providerToken("fake")
		if err == nil && tok.AccessToken != "refreshed-access-1" {
			err = fmt.Errorf("got %q, want refreshed-access-1", tok.AccessToken)
		}
		late <- err
	}()
	<-g.read // the late request holds the old token
	if tok, err := te.providerToken("fake"); err != nil || tok.AccessToken != "refreshed-access-1" {
		t.Fatalf("first ProviderToken() = %+v, %v", tok, err)
	}
	close(g.release)
	if err := <-late; err != nil {
		t.Errorf("the late request: %v", err)
	}
	if got := rp.calls(); len(got) != 1 {
		t.Errorf("refresh tokens presented = %v, want one refresh", got)
	}
	// The late request found the fresh token inside the shared refresh: it
	// refreshed nothing, and its audit event says so.
	events := e.auditEvents(t, userID, "provider_token")
	var refreshed []string
	for _, ev := range events {
		refreshed = append(refreshed, ev.Detail["refreshed"])
	}
	if slices.Sort(refreshed); !slices.Equal(refreshed, []string{"false", "true"}) {
		t.Errorf("provider_token events say refreshed = %v, want one true (the refresh) and one false (the late request)", refreshed)
	}
}

func TestARefreshInTheSignInsMillisecondSucceeds(t *testing.T) {
	t.Parallel()
	// Bug: the refreshed link's UpdatedAt is the clock's now, which can
	// equal the stored one (a sign-in or a refresh in the same
	// millisecond); UpdateProviderTokens refuses that, and the backend
	// gets a 500.
	e := newTokenEnv(t, time.Minute, nil) // the clock does not move
	tok, err := e.providerToken("fake")
	if err != nil || tok.AccessToken != "refreshed-access-1" {
		t.Fatalf("ProviderToken() = %+v, %v; want the refreshed token", tok, err)
	}
}

func TestProviderTokenRefusals(t *testing.T) {
	t.Parallel()
	backend := bridge.ClientCredentials{ID: "backend", Secret: "s3cret"}
	narrow := bridge.ClientCredentials{ID: "narrow", Secret: "n4rrow"}
	tests := []struct {
		name string
		// life is the provider access token's lifetime at sign-in.
		life time.Duration
		// identity edits the identity of the sign-in (nil: as is).
		identity func(*providers.Identity)
		// setup prepares the env and returns the request (nil: the
		// backend's for the user's fake token).
		setup func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest
		want  string
		// wantCalls is how many refreshes the provider sees.
		wantCalls int
	}{
		{"a public client is unauthorized_client", time.Hour, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			return &bridge.ProviderTokenRequest{Client: bridge.ClientCredentials{ID: "spa"}, UserID: e.userID, Provider: "fake"}
		}, bridge.ErrCodeUnauthorizedClient, 0},
		{"a confidential client without provider_tokens is unauthorized_client", time.Hour, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			return &bridge.ProviderTokenRequest{Client: bridge.ClientCredentials{ID: "reports", Secret: "r3ports"}, UserID: e.userID, Provider: "fake"}
		}, bridge.ErrCodeUnauthorizedClient, 0},
		{"a wrong secret is invalid_client", time.Hour, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			return &bridge.ProviderTokenRequest{Client: bridge.ClientCredentials{ID: "backend", Secret: "guess"}, UserID: e.userID, Provider: "fake"}
		}, bridge.ErrCodeInvalidClient, 0},
		{"an unknown client is invalid_client", time.Hour, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			return &bridge.ProviderTokenRequest{Client: bridge.ClientCredentials{ID: "nobody", Secret: "s3cret"}, UserID: e.userID, Provider: "fake"}
		}, bridge.ErrCodeInvalidClient, 0},
		{"no user is invalid_request", time.Hour, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			return &bridge.ProviderTokenRequest{Client: backend, Provider: "fake"}
		}, bridge.ErrCodeInvalidRequest, 0},
		{"a provider that is not enabled is invalid_request", time.Hour, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			return &bridge.ProviderTokenRequest{Client: backend, UserID: e.userID, Provider: "nope"}
		}, bridge.ErrCodeInvalidRequest, 0},
		{"an unknown user is not_linked", time.Hour, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			return &bridge.ProviderTokenRequest{Client: backend, UserID: "no-such-user", Provider: "fake"}
		}, bridge.ErrCodeNotLinked, 0},
		{"a provider the user has no identity of is not_linked", time.Hour, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			return &bridge.ProviderTokenRequest{Client: backend, UserID: e.userID, Provider: "plain"}
		}, bridge.ErrCodeNotLinked, 0},
		{"a disabled user is access_denied", time.Hour, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			if err := e.store.SetDisabled(bg, e.userID, true); err != nil {
				t.Fatal(err)
			}
			return nil
		}, bridge.ErrCodeAccessDenied, 0},
		{"an expiring token without a refresh token is interaction_required", time.Minute, func(id *providers.Identity) { id.Tokens.RefreshToken = "" },
			func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
				return nil
			}, bridge.ErrCodeInteractionRequired, 0},
		{"a refresh token the provider refuses is interaction_required", time.Minute, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			e.rp.err = &providers.Error{Provider: "fake", Code: providers.CodeInvalidGrant, Message: "refresh token revoked"}
			return nil
		}, bridge.ErrCodeInteractionRequired, 1},
		{"a provider that is unavailable is temporarily_unavailable", time.Minute, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			e.rp.err = &providers.Error{Provider: "fake", Code: providers.CodeUnavailable, Message: "503"}
			return nil
		}, bridge.ErrCodeTemporarilyUnavail, 1},
		{"a provider failing in another way is temporarily_unavailable", time.Minute, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			e.rp.err = errors.New("connection reset")
			return nil
		}, bridge.ErrCodeTemporarilyUnavail, 1},
		{"an expired token of a provider that cannot refresh is interaction_required", time.Hour, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			// The user links plain, whose token expires in a minute.
			e.provs["plain"].setIdentity(func(id *providers.Identity) { id.Tokens.Expiry = e.clock.Now().Add(time.Minute) })
			ts, _ := e.signInAt(t, "fake", nil)
			e.link(t, ts.AccessToken, "plain", nil)
			e.clock.Add(2 * time.Minute)
			return &bridge.ProviderTokenRequest{Client: backend, UserID: e.userID, Provider: "plain"}
		}, bridge.ErrCodeInteractionRequired, 0},
		{"a provider the client may not use is invalid_request", time.Hour, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			// The user has plain, but narrow may fetch tokens of fake only.
			ts, _ := e.signInAt(t, "fake", nil)
			e.link(t, ts.AccessToken, "plain", nil)
			return &bridge.ProviderTokenRequest{Client: narrow, UserID: e.userID, Provider: "plain"}
		}, bridge.ErrCodeInvalidRequest, 0},
		{"a link whose identity record is gone is not_linked", time.Hour, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			// A sign-in that raced an unlink wrote the link back.
			e.writeLink(t, "plain", "ghost")
			return &bridge.ProviderTokenRequest{Client: backend, UserID: e.userID, Provider: "plain"}
		}, bridge.ErrCodeNotLinked, 0},
		{"a link whose identity is another user's is not_linked", time.Hour, nil, func(t *testing.T, e *tokenEnv) *bridge.ProviderTokenRequest {
			if _, _, err := e.store.ClaimIdentity(bg, "plain|taken", "plain", "taken", "someone-else", e.clock.Now()); err != nil {
				t.Fatal(err)
			}
			e.writeLink(t, "plain", "taken")
			return &bridge.ProviderTokenRequest{Client: backend, UserID: e.userID, Provider: "plain"}
		}, bridge.ErrCodeNotLinked, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTokenEnv(t, tt.life, tt.identity)
			e.clock.Add(time.Second)
			req := tt.setup(t, e)
			if req == nil {
				req = &bridge.ProviderTokenRequest{Client: backend, UserID: e.userID, Provider: "fake"}
			}
			before, _ := e.store.GetUser(bg, e.userID)
			tok, err := e.b.ProviderToken(bg, *req)
			if got := oauthCode(err); got != tt.want || tok != nil {
				t.Fatalf("ProviderToken() = %+v, %v; want %s", tok, err, tt.want)
			}
			if n := len(e.rp.calls()); n != tt.wantCalls {
				t.Errorf("Refresh was called %d times, want %d", n, tt.wantCalls)
			}
			if after, _ := e.store.GetUser(bg, e.userID); before != nil && after.Providers["fake"].UpdatedAt != before.Providers["fake"].UpdatedAt {
				t.Error("a refused request changed the stored provider link")
			}
			if events := e.auditEvents(t, e.userID, "provider_token"); len(events) != 0 {
				t.Errorf("a refused request was audited: %+v", events)
			}
		})
	}
}

func TestProviderTokensStaySealedInTheStore(t *testing.T) {
	t.Parallel()
	e := newTokenEnv(t, time.Minute, nil)
	e.rp.rotate = true
	e.clock.Add(time.Second)
	tok, err := e.providerToken("fake")
	if err != nil {
		t.Fatal(err)
	}
	link := e.storedLink(t, "fake")
	for field, raw := range map[string]string{"access_token": link.AccessTokenSealed, "refresh_token": link.RefreshTokenSealed} {
		for _, plain := range []string{tok.AccessToken, "rotated-refresh-1", "provider-refresh-secret", "provider-access-secret"} {
			if raw == "" || raw == plain || strings.Contains(raw, plain) {
				t.Errorf("stored %s %q holds the plaintext %q", field, raw, plain)
			}
		}
	}
	// Sealed for this user, provider and field only.
	if _, err := e.sealer.Open(link.AccessTokenSealed, "user:"+e.userID+":fake:refresh_token"); err == nil {
		t.Error("the stored access token opens as a refresh token")
	}
	if _, err := e.sealer.Open(link.AccessTokenSealed, "user:someone-else:fake:access_token"); err == nil {
		t.Error("the stored access token opens for another user")
	}
	if logs := e.logs.String(); strings.Contains(logs, "refreshed-access-1") || strings.Contains(logs, "rotated-refresh-1") || strings.Contains(logs, "provider-refresh-secret") {
		t.Error("a provider token reached the log")
	}
}

func TestASignInWithoutARefreshTokenKeepsTheStoredOne(t *testing.T) {
	t.Parallel()
	// Google and many OpenID Connect providers send a refresh token at the
	// first consent only.
	e := newTokenEnv(t, time.Hour, nil)
	e.clock.Add(time.Second)
	e.rp.setIdentity(func(id *providers.Identity) {
		id.Tokens.AccessToken, id.Tokens.RefreshToken, id.Tokens.Expiry = "provider-access-2", "", e.clock.Now().Add(time.Minute)
	})
	if _, again := e.signInAt(t, "fake", nil); again != e.userID {
		t.Fatalf("the second sign-in gave user %s, want %s", again, e.userID)
	}
	link := e.storedLink(t, "fake")
	if got := e.open(t, link.AccessTokenSealed, "fake", "access_token"); got != "provider-access-2" {
		t.Errorf("stored access token = %q, want the second sign-in's", got)
	}
	if got := e.open(t, link.RefreshTokenSealed, "fake", "refresh_token"); got != "provider-refresh-secret" {
		t.Errorf("stored refresh token = %q, want the first sign-in's", got)
	}
	e.clock.Add(time.Second)
	tok, err := e.providerToken("fake")
	if err != nil || tok.AccessToken != "refreshed-access-1" {
		t.Fatalf("ProviderToken() = %+v, %v; want a refresh with the first refresh token", tok, err)
	}
	if got := e.rp.calls(); len(got) != 1 || got[0] != "provider-refresh-secret" {
		t.Errorf("refresh tokens presented = %v, want the first sign-in's", got)
	}
}

func TestProviderTokensAreLimitedToTheClientsProviders(t *testing.T) {
	t.Parallel()
	e := newTokenEnv(t, time.Hour, nil)
	ts, _ := e.signInAt(t, "fake", nil)
	e.link(t, ts.AccessToken, "plain", nil)
	tests := []struct {
		client   bridge.ClientCredentials
		provider string
		want     string // "" for the token
	}{
		{bridge.ClientCredentials{ID: "narrow", Secret: "n4rrow"}, "fake", ""},
		{bridge.ClientCredentials{ID: "narrow", Secret: "n4rrow"}, "plain", bridge.ErrCodeInvalidRequest},
		{bridge.ClientCredentials{ID: "backend", Secret: "s3cret"}, "plain", ""},
		{bridge.ClientCredentials{ID: "backend", Secret: "s3cret"}, "fake", ""},
	}
	for _, tt := range tests {
		tok, err := e.b.ProviderToken(bg, bridge.ProviderTokenRequest{Client: tt.client, UserID: e.userID, Provider: tt.provider})
		if got := oauthCode(err); got != tt.want || (tt.want == "" && (err != nil || tok.AccessToken != "provider-access-secret")) {
			t.Errorf("%s asking for %s: %+v, %v; want %q", tt.client.ID, tt.provider, tok, err, tt.want)
		}
	}
}

func TestProviderTokenNeedsTheUsersIdentityRecord(t *testing.T) {
	t.Parallel()
	// The control of the not_linked cases of TestProviderTokenRefusals: a
	// link written the same way, whose identity record is the user's.
	e := newTokenEnv(t, time.Hour, nil)
	if _, _, err := e.store.ClaimIdentity(bg, "plain|mine", "plain", "mine", e.userID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.writeLink(t, "plain", "mine")
	if tok, err := e.providerToken("plain"); err != nil || tok.AccessToken != "mine-access" {
		t.Fatalf("ProviderToken(plain) = %+v, %v; want the stored token", tok, err)
	}
}

func TestProviderTokenFetchesAreAudited(t *testing.T) {
	t.Parallel()
	e := newTokenEnv(t, 3*time.Minute, nil)
	e.clock.Add(time.Second)
	if _, err := e.providerToken("fake"); err != nil { // as stored
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	if _, err := e.providerToken("fake"); err != nil { // refreshed
		t.Fatal(err)
	}
	if _, err := e.providerToken("plain"); oauthCode(err) != bridge.ErrCodeNotLinked {
		t.Fatalf("ProviderToken(plain) = %v, want not_linked", err)
	}
	events := e.auditEvents(t, e.userID, "provider_token")
	if len(events) != 2 {
		t.Fatalf("provider_token events = %+v, want two", events)
	}
	for i, refreshed := range []string{"false", "true"} {
		ev := events[i]
		if ev.ClientID != "backend" || ev.Actor != "backend" || ev.UserID != e.userID || ev.Detail["provider"] != "fake" || ev.Detail["refreshed"] != refreshed {
			t.Errorf("event %d = %+v, want the backend fetching fake, refreshed=%s", i, ev, refreshed)
		}
	}
	if !events[1].At.Equal(e.clock.Now()) {
		t.Errorf("the second event is at %v, want %v", events[1].At, e.clock.Now())
	}
}
