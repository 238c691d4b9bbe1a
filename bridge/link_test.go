package bridge_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
)

// accountScope is the scope of a sign-in whose access token manages its
// user's linked identities.
const accountScope = "openid email profile " + bridge.ScopeAccount

// clientRedirect is the redirect URI of each public test client.
var clientRedirect = map[string]string{"spa": spaRedirect, "portal": portalRedirect}

// linkEnv is an env with the fake providers named (at least one), and
// linkByEmail trusted for automatic linking.
func linkEnv(t testing.TB, names []string, linkByEmail ...string) *env {
	t.Helper()
	provs := make([]providers.Provider, len(names))
	for i, n := range names {
		provs[i] = newFakeProvider(n)
	}
	return newEnvConfig(t, envConfig{providers: provs, linkByEmail: linkByEmail})
}

// beginAs starts a sign-in of a public client through provider, asking
// for scope; the person at the provider approves as its identity changed
// by as (nil: unchanged).
func (e *env) beginAs(t testing.TB, client, provider, scope, challenge string, as func(*providers.Identity)) started {
	t.Helper()
	req := authorizeRequest(challenge)
	req.ClientID, req.RedirectURI, req.Provider, req.Scope = client, clientRedirect[client], provider, scope
	login, err := e.b.BeginLogin(bg, req)
	if err != nil {
		t.Fatalf("BeginLogin(%s at %s): %v", provider, client, err)
	}
	u, _ := url.Parse(login.ProviderURL)
	state := u.Query().Get("state")
	p := e.provs[provider]
	code := ""
	if as == nil {
		code = p.approve(state)
	} else {
		code = p.approveAs(state, as)
	}
	return started{flowID: login.FlowID, state: state, code: code}
}

// beginAt starts a sign-in of the SPA with the account scope through
// provider (see beginAs).
func (e *env) beginAt(t testing.TB, provider, challenge string, as func(*providers.Identity)) started {
	t.Helper()
	return e.beginAs(t, "spa", provider, accountScope, challenge, as)
}

// callback is provider's callback of s in the browser that started it; it
// returns the redirect to the client.
func (e *env) callback(t testing.TB, provider string, s started) *url.URL {
	t.Helper()
	target, err := e.b.FinishLogin(bg, provider, bridge.Callback{State: s.state, Code: s.code, Binding: e.bound(s.flowID)})
	if err != nil {
		t.Fatalf("FinishLogin(%s): %v", provider, err)
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// signInAs signs in at a public client through provider, asking for
// scope, as its identity changed by as (nil: unchanged), and returns the
// tokens and the user id.
func (e *env) signInAs(t testing.TB, client, provider, scope string, as func(*providers.Identity)) (*bridge.TokenSet, string) {
	t.Helper()
	verifier, challenge := pkce()
	u := e.callback(t, provider, e.beginAs(t, client, provider, scope, challenge, as))
	if u.Query().Get("code") == "" {
		t.Fatalf("sign-in with %s at %s ended without a code: %s", provider, client, u)
	}
	ts, err := e.b.ExchangeCode(bg, bridge.CodeGrant{
		Client: bridge.ClientCredentials{ID: client}, Code: u.Query().Get("code"), RedirectURI: clientRedirect[client], CodeVerifier: verifier,
	})
	if err != nil {
		t.Fatalf("ExchangeCode: %v", err)
	}
	at, err := e.issuer.ParseAccess(ts.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	return ts, at.Subject
}

// signInAt signs in at the SPA with the account scope (see signInAs).
func (e *env) signInAt(t testing.TB, provider string, as func(*providers.Identity)) (*bridge.TokenSet, string) {
	t.Helper()
	return e.signInAs(t, "spa", provider, accountScope, as)
}

// s256 is the PKCE S256 challenge of verifier.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// subject returns an identity edit that sets the subject.
func subject(sub string) func(*providers.Identity) {
	return func(id *providers.Identity) { id.Subject = sub }
}

// linkFlow is a link that reached the provider (steps 1 and 2) and that
// the person approved there; verifier is the application's PKCE verifier.
type linkFlow struct {
	started
	providerURL string
	verifier    string
}

// beginLink asks for a link of provider with access at the SPA (state
// link-state) and returns the start ticket and the application's PKCE
// verifier.
func (e *env) beginLink(t testing.TB, access, provider string) (ticket, verifier string) {
	t.Helper()
	verifier, challenge := pkce()
	start, err := e.b.BeginLink(bg, bridge.LinkRequest{
		AccessToken: access, Provider: provider, RedirectURI: spaRedirect, State: "link-state", CodeChallenge: challenge,
	})
	if err != nil {
		t.Fatalf("BeginLink(%s): %v", provider, err)
	}
	return start.Ticket, verifier
}

// startLink asks for a link of provider with access at the SPA (state
// link-state), opens the start page (PreviewLink), confirms it
// (StartLink) and has the person approve at the provider as its identity
// changed by as (nil: unchanged).
func (e *env) startLink(t testing.TB, access, provider string, as func(*providers.Identity)) linkFlow {
	t.Helper()
	ticket, verifier := e.beginLink(t, access, provider)
	if _, err := e.b.PreviewLink(bg, ticket); err != nil {
		t.Fatalf("PreviewLink: %v", err)
	}
	login, err := e.b.StartLink(bg, ticket)
	if err != nil {
		t.Fatalf("StartLink: %v", err)
	}
	u, err := url.Parse(login.ProviderURL)
	if err != nil {
		t.Fatal(err)
	}
	state := u.Query().Get("state")
	p := e.provs[provider]
	code := ""
	if as == nil {
		code = p.approve(state)
	} else {
		code = p.approveAs(state, as)
	}
	return linkFlow{started: started{flowID: login.FlowID, state: state, code: code}, providerURL: login.ProviderURL, verifier: verifier}
}

// linkCode runs the provider's callback of lf (step 3) and returns the
// link code it sends the application.
func (e *env) linkCode(t testing.TB, provider string, lf linkFlow) string {
	t.Helper()
	u := e.callback(t, provider, lf.started)
	if errc := redirectError(t, u); errc != "" || u.Query().Get("link_code") == "" {
		t.Fatalf("the link callback sent the application %s, want a link code", u)
	}
	return u.Query().Get("link_code")
}

// completeLink is step 4.
func (e *env) completeLink(access, code, verifier string) (*bridge.LinkedIdentity, error) {
	return e.b.CompleteLink(bg, bridge.CompleteLinkRequest{AccessToken: access, LinkCode: code, CodeVerifier: verifier})
}

// link links provider to the session of access in four steps, the
// person approving at the provider as its identity changed by as (nil:
// unchanged).
func (e *env) link(t testing.TB, access, provider string, as func(*providers.Identity)) *bridge.LinkedIdentity {
	t.Helper()
	lf := e.startLink(t, access, provider, as)
	li, err := e.completeLink(access, e.linkCode(t, provider, lf), lf.verifier)
	if err != nil {
		t.Fatalf("CompleteLink(%s): %v", provider, err)
	}
	return li
}

// identityKeys returns the keys of the user's identity records.
func (e *env) identityKeys(t testing.TB, userID string) []string {
	t.Helper()
	idents, err := e.store.ListUserIdentities(bg, userID)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, len(idents))
	for i, id := range idents {
		keys[i] = id.Key
	}
	slices.Sort(keys)
	return keys
}

// user reads a user.
func (e *env) user(t testing.TB, id string) *store.User {
	t.Helper()
	u, err := e.store.GetUser(bg, id)
	if err != nil {
		t.Fatalf("GetUser(%s): %v", id, err)
	}
	return u
}

// sessionOf returns the session id of an access token.
func (e *env) sessionOf(t testing.TB, access string) string {
	t.Helper()
	at, err := e.issuer.ParseAccess(access)
	if err != nil {
		t.Fatal(err)
	}
	return at.SessionID
}

// auditEvents returns the user's audit events of type typ, oldest first.
func (e *env) auditEvents(t testing.TB, userID, typ string) []store.AuditEvent {
	t.Helper()
	all, err := e.store.ListAudit(bg, store.AuditQuery{UserID: userID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEvent
	for _, ev := range all {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	slices.Reverse(out)
	return out
}

// providerNames returns the keys of a user's provider links, sorted.
func providerNames(u *store.User) []string {
	var names []string
	for n := range u.Providers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// redirectError is the error a client redirect carries ("" when none),
// checked to carry the link's state and our issuer.
func redirectError(t testing.TB, u *url.URL) string {
	t.Helper()
	q := u.Query()
	if base := u.Scheme + "://" + u.Host + u.Path; base != spaRedirect {
		t.Errorf("redirect to %s, want %s", base, spaRedirect)
	}
	if q.Get("iss") != publicURL {
		t.Errorf("redirect iss = %q, want %q", q.Get("iss"), publicURL)
	}
	if q.Get("state") != "link-state" {
		t.Errorf("redirect state = %q, want the link's", q.Get("state"))
	}
	return q.Get("error")
}

func TestLinkingAddsTheIdentityToTheSignedInUser(t *testing.T) {
	t.Parallel()
	e := linkEnv(t, []string{"fake", "other"})
	ts, userID := e.signInAt(t, "fake", nil)
	e.clock.Add(time.Second) // identities list oldest first
	other := e.provs["other"]
	other.setIdentity(func(id *providers.Identity) {
		id.Subject, id.Profile.Email, id.Profile.Name = "other-alice", "alice@other.example", "Alice at Other"
	})
	before := e.user(t, userID)

	// Steps 1 and 2: the application asks, the browser goes to the
	// provider.
	lf := e.startLink(t, ts.AccessToken, "other", nil)
	pu, _ := url.Parse(lf.providerURL)
	if pu.Host != "idp.example.com" {
		t.Errorf("StartLink went to %s, want the provider", lf.providerURL)
	}
	other.mu.Lock()
	asked := other.asked[lf.state]
	other.mu.Unlock()
	if !slices.Contains(asked.Prompt, "select_account") {
		t.Errorf("the provider was asked with prompt %v, want select_account", asked.Prompt)
	}
	if asked.RedirectURI != publicURL+"/callback/other" {
		t.Errorf("the provider's redirect URI = %q, want the callback of other", asked.RedirectURI)
	}
	if n := len(e.provs["fake"].asked); n != 1 {
		t.Errorf("the provider of the sign-in was asked %d times, want 1 (the link goes to other only)", n)
	}

	// Step 3: the provider's callback links nothing; it sends the
	// application a link code.
	u := e.callback(t, "other", lf.started)
	if errc := redirectError(t, u); errc != "" {
		t.Fatalf("link redirect has error %q: %s", errc, u)
	}
	q := u.Query()
	code := q.Get("link_code")
	if code == "" || q.Has("code") || q.Has("linked") {
		t.Fatalf("link redirect query = %v, want a link_code and no sign-in code", q)
	}
	flow, err := e.store.GetSession(bg, lf.flowID)
	if err != nil || flow.State != store.StateCode || flow.LinkSealed == "" || strings.Contains(flow.LinkSealed, "provider-access-secret") {
		t.Fatalf("link flow after the callback = %+v, %v; want state code holding the sealed identity", flow, err)
	}
	if _, err := e.store.GetIdentity(bg, "other|other-alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetIdentity(other) after the callback: err = %v, want not found: the callback links nothing", err)
	}
	if ids, err := e.b.Identities(bg, ts.AccessToken); err != nil || len(ids) != 1 {
		t.Errorf("Identities() after the callback = %+v, %v; want fake only", ids, err)
	}

	// Step 4: the application completes the link.
	e.clock.Add(time.Second)
	li, err := e.completeLink(ts.AccessToken, code, lf.verifier)
	if err != nil {
		t.Fatalf("CompleteLink: %v", err)
	}
	want := bridge.LinkedIdentity{Provider: "other", Label: "Other", Email: "alice@other.example", Name: "Alice at Other", LinkedAt: e.clock.Now()}
	if !li.LinkedAt.Equal(want.LinkedAt) || li.Provider != want.Provider || li.Label != want.Label || li.Email != want.Email || li.Name != want.Name {
		t.Errorf("CompleteLink() = %+v, want %+v", li, want)
	}
	flow, err = e.store.GetSession(bg, lf.flowID)
	if err != nil || flow.State != store.StateLinked || flow.LinkSealed != "" {
		t.Errorf("link flow after completion = state %q, sealed identity kept: %v (%v); want linked, nothing kept", flow.State, flow.LinkSealed != "", err)
	}

	ids, err := e.b.Identities(bg, ts.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0].Provider != "fake" || ids[1].Provider != "other" {
		t.Fatalf("Identities() = %+v, want fake then other", ids)
	}
	if ids[1].Label != "Other" || ids[1].Email != "alice@other.example" || ids[1].Name != "Alice at Other" {
		t.Errorf("the linked identity is listed as %+v", ids[1])
	}
	after := e.user(t, userID)
	if after.Profile != before.Profile {
		t.Errorf("linking changed the user's profile from %+v to %+v", before.Profile, after.Profile)
	}
	if !reflect.DeepEqual(after.Providers["fake"], before.Providers["fake"]) {
		t.Error("linking changed the user's fake link")
	}
	if l := after.Providers["other"]; l.Subject != "other-alice" || l.AccessTokenSealed == "" {
		t.Errorf("the user's other link = %+v, want subject other-alice with sealed tokens", l)
	}

	events := e.auditEvents(t, userID, "identity_linked")
	if len(events) != 1 {
		t.Fatalf("identity_linked audit events = %+v, want one", events)
	}
	if ev := events[0]; ev.SessionID != e.sessionOf(t, ts.AccessToken) || ev.ClientID != "spa" || ev.Detail["provider"] != "other" || !ev.At.Equal(e.clock.Now()) {
		t.Errorf("identity_linked event = %+v, want the session, the SPA and provider other", ev)
	}
	_, secret, _ := strings.Cut(code, ".")
	if logs := e.logs.String(); secret == "" || strings.Contains(logs, secret) {
		t.Error("the link code reached the log")
	}

	// The linked identity now signs the person in as the same user.
	_, again := e.signInAt(t, "other", nil)
	if again != userID {
		t.Errorf("signing in with the linked identity gave user %s, want %s", again, userID)
	}
	if n := e.userCount(t); n != 1 {
		t.Errorf("CountUsers() = %d, want 1", n)
	}
}

func TestLinkingAnotherUsersIdentityChangesNothing(t *testing.T) {
	t.Parallel()
	e := linkEnv(t, []string{"fake", "other"})
	_, bob := e.signInAt(t, "other", subject("bob-at-other"))
	ts, alice := e.signInAt(t, "fake", nil)
	bobBefore, aliceBefore := e.user(t, bob), e.user(t, alice)

	// Alice tries to link Bob's account at other (she knows his password,
	// or the provider's session is his): the callback refuses at once.
	lf := e.startLink(t, ts.AccessToken, "other", subject("bob-at-other"))
	u := e.callback(t, "other", lf.started)
	if errc := redirectError(t, u); errc != bridge.ErrCodeIdentityInUse {
		t.Fatalf("link redirect error = %q, want identity_in_use: %s", errc, u)
	}
	if u.Query().Has("link_code") || u.Query().Has("linked") {
		t.Errorf("refused link redirect query = %v", u.Query())
	}
	if got := e.identityKeys(t, alice); !slices.Equal(got, []string{"fake|subject-1"}) {
		t.Errorf("Alice's identities = %v, want only her fake one", got)
	}
	if got := e.identityKeys(t, bob); !slices.Equal(got, []string{"other|bob-at-other"}) {
		t.Errorf("Bob's identities = %v, want only his other one", got)
	}
	if id, err := e.store.GetIdentity(bg, "other|bob-at-other"); err != nil || id.UserID != bob {
		t.Errorf("Bob's identity now = %+v, %v; want Bob's", id, err)
	}
	if got := e.user(t, alice); !reflect.DeepEqual(got.Providers, aliceBefore.Providers) || !slices.Equal(got.Identities, aliceBefore.Identities) {
		t.Errorf("Alice's user changed: providers %v, identities %v", providerNames(got), got.Identities)
	}
	if got := e.user(t, bob); !reflect.DeepEqual(got.Providers, bobBefore.Providers) || !slices.Equal(got.Identities, bobBefore.Identities) {
		t.Errorf("Bob's user changed: providers %v, identities %v", providerNames(got), got.Identities)
	}
	if flow, err := e.store.GetSession(bg, lf.flowID); err != nil || flow.State != store.StateFailed || flow.LinkSealed != "" {
		t.Errorf("link flow = %+v, %v; want state failed, holding nothing", flow, err)
	}
}

func TestCompletingALinkOfAnIdentityTakenSinceTheCallbackChangesNothing(t *testing.T) {
	t.Parallel()
	e := linkEnv(t, []string{"fake", "other"})
	ts, alice := e.signInAt(t, "fake", nil)
	lf := e.startLink(t, ts.AccessToken, "other", subject("contested"))
	code := e.linkCode(t, "other", lf)
	// Between the callback and the completion, the provider account signs
	// in on its own and becomes a new user.
	_, bob := e.signInAt(t, "other", subject("contested"))
	if bob == alice {
		t.Fatal("the sign-in joined Alice before the link completed")
	}
	aliceBefore := e.user(t, alice)

	li, err := e.completeLink(ts.AccessToken, code, lf.verifier)
	if oauthCode(err) != bridge.ErrCodeIdentityInUse || li != nil {
		t.Fatalf("CompleteLink() = %+v, %v; want identity_in_use", li, err)
	}
	if id, err := e.store.GetIdentity(bg, "other|contested"); err != nil || id.UserID != bob {
		t.Errorf("the contested identity = %+v, %v; want Bob's", id, err)
	}
	if got := e.user(t, alice); !reflect.DeepEqual(got.Providers, aliceBefore.Providers) || !slices.Equal(got.Identities, aliceBefore.Identities) {
		t.Errorf("Alice's user changed: providers %v, identities %v", providerNames(got), got.Identities)
	}
	if got := e.auditEvents(t, alice, "identity_linked"); len(got) != 0 {
		t.Errorf("a refused link was audited as linked: %+v", got)
	}
	// The link code was spent.
	if _, err := e.completeLink(ts.AccessToken, code, lf.verifier); oauthCode(err) != bridge.ErrCodeInvalidGrant {
		t.Errorf("completing again = %v, want invalid_grant", err)
	}
}

func TestALinkCodeIsCompletedOnlyByTheApplicationAndSessionThatBeganIt(t *testing.T) {
	t.Parallel()
	// Link CSRF: Alice's application begins a link and its start URL
	// reaches someone else, who opens it in their browser and approves
	// with their own account at the provider. The link code comes back to
	// that browser; without Alice's verifier, her session and her
	// application it links nothing.
	tests := []struct {
		name string
		// attempt returns the completion tried with the link code, the
		// verifier and Alice's access token at hand.
		attempt func(t *testing.T, e *env, code, verifier string, alice *bridge.TokenSet) bridge.CompleteLinkRequest
		// want is the error code; "" means the link completes.
		want string
	}{
		{"everything the application holds completes the link", func(t *testing.T, e *env, code, verifier string, alice *bridge.TokenSet) bridge.CompleteLinkRequest {
			return bridge.CompleteLinkRequest{AccessToken: alice.AccessToken, LinkCode: code, CodeVerifier: verifier}
		}, ""},
		{"a wrong verifier is invalid_grant", func(t *testing.T, e *env, code, verifier string, alice *bridge.TokenSet) bridge.CompleteLinkRequest {
			wrong, _ := pkce()
			return bridge.CompleteLinkRequest{AccessToken: alice.AccessToken, LinkCode: code, CodeVerifier: wrong}
		}, bridge.ErrCodeInvalidGrant},
		{"no verifier is invalid_grant", func(t *testing.T, e *env, code, verifier string, alice *bridge.TokenSet) bridge.CompleteLinkRequest {
			return bridge.CompleteLinkRequest{AccessToken: alice.AccessToken, LinkCode: code}
		}, bridge.ErrCodeInvalidGrant},
		{"the challenge in place of the verifier is invalid_grant", func(t *testing.T, e *env, code, verifier string, alice *bridge.TokenSet) bridge.CompleteLinkRequest {
			return bridge.CompleteLinkRequest{AccessToken: alice.AccessToken, LinkCode: code, CodeVerifier: s256(verifier)}
		}, bridge.ErrCodeInvalidGrant},
		{"another session of the same user is invalid_grant", func(t *testing.T, e *env, code, verifier string, alice *bridge.TokenSet) bridge.CompleteLinkRequest {
			again, _ := e.signInAt(t, "fake", nil)
			return bridge.CompleteLinkRequest{AccessToken: again.AccessToken, LinkCode: code, CodeVerifier: verifier}
		}, bridge.ErrCodeInvalidGrant},
		{"the session of the person who approved is invalid_grant", func(t *testing.T, e *env, code, verifier string, alice *bridge.TokenSet) bridge.CompleteLinkRequest {
			victim, _ := e.signInAt(t, "fake", subject("victim"))
			return bridge.CompleteLinkRequest{AccessToken: victim.AccessToken, LinkCode: code, CodeVerifier: verifier}
		}, bridge.ErrCodeInvalidGrant},
		{"the same user's session at another application is invalid_grant", func(t *testing.T, e *env, code, verifier string, alice *bridge.TokenSet) bridge.CompleteLinkRequest {
			portal, _ := e.signInAs(t, "portal", "fake", accountScope, nil)
			return bridge.CompleteLinkRequest{AccessToken: portal.AccessToken, LinkCode: code, CodeVerifier: verifier}
		}, bridge.ErrCodeInvalidGrant},
		{"an altered link code is invalid_grant", func(t *testing.T, e *env, code, verifier string, alice *bridge.TokenSet) bridge.CompleteLinkRequest {
			return bridge.CompleteLinkRequest{AccessToken: alice.AccessToken, LinkCode: alter(code, len(code)-2), CodeVerifier: verifier}
		}, bridge.ErrCodeInvalidGrant},
		{"the link code's flow id alone is invalid_grant", func(t *testing.T, e *env, code, verifier string, alice *bridge.TokenSet) bridge.CompleteLinkRequest {
			id, _, _ := strings.Cut(code, ".")
			return bridge.CompleteLinkRequest{AccessToken: alice.AccessToken, LinkCode: id, CodeVerifier: verifier}
		}, bridge.ErrCodeInvalidGrant},
		{"a sign-in's code and verifier are invalid_grant", func(t *testing.T, e *env, code, verifier string, alice *bridge.TokenSet) bridge.CompleteLinkRequest {
			signInVerifier, challenge := pkce()
			u := e.callback(t, "fake", e.beginAt(t, "fake", challenge, nil))
			return bridge.CompleteLinkRequest{AccessToken: alice.AccessToken, LinkCode: u.Query().Get("code"), CodeVerifier: signInVerifier}
		}, bridge.ErrCodeInvalidGrant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := linkEnv(t, []string{"fake", "other"})
			alice, aliceID := e.signInAt(t, "fake", nil)
			lf := e.startLink(t, alice.AccessToken, "other", subject("victim-other"))
			code := e.linkCode(t, "other", lf)
			req := tt.attempt(t, e, code, lf.verifier, alice)

			li, err := e.b.CompleteLink(bg, req)
			if tt.want == "" {
				if err != nil || li == nil || li.Provider != "other" {
					t.Fatalf("CompleteLink() = %+v, %v; want the link", li, err)
				}
				if got := e.identityKeys(t, aliceID); !slices.Equal(got, []string{"fake|subject-1", "other|victim-other"}) {
					t.Errorf("Alice's identities = %v", got)
				}
				return
			}
			if got := oauthCode(err); got != tt.want || li != nil {
				t.Fatalf("CompleteLink() = %+v, %v; want %s", li, err, tt.want)
			}
			if _, err := e.store.GetIdentity(bg, "other|victim-other"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetIdentity(other|victim-other) err = %v, want not found: nothing may be linked", err)
			}
			if got := e.identityKeys(t, aliceID); !slices.Equal(got, []string{"fake|subject-1"}) {
				t.Errorf("Alice's identities = %v, want only fake", got)
			}
			if u := e.user(t, aliceID); slices.Contains(providerNames(u), "other") {
				t.Error("Alice got an other link")
			}
			if n := e.userCount(t); n > 2 {
				t.Errorf("CountUsers() = %d: the approved identity became a user", n)
			}
			if got := e.auditEvents(t, aliceID, "identity_linked"); len(got) != 0 {
				t.Errorf("identity_linked events = %+v, want none", got)
			}
			if flow, err := e.store.GetSession(bg, lf.flowID); err != nil || flow.State != store.StateCode {
				t.Errorf("link flow = %+v, %v; want it still holding its code", flow, err)
			}
		})
	}
}

func TestALinkCodeIsNotASignInCode(t *testing.T) {
	t.Parallel()
	e := linkEnv(t, []string{"fake", "other"})
	ts, userID := e.signInAt(t, "fake", nil)
	lf := e.startLink(t, ts.AccessToken, "other", nil)
	code := e.linkCode(t, "other", lf)
	// The browser holds the link code and the application's verifier
	// leaked: the token endpoint still makes no session of it.
	got, err := e.b.ExchangeCode(bg, bridge.CodeGrant{Client: bridge.ClientCredentials{ID: "spa"}, Code: code, RedirectURI: spaRedirect, CodeVerifier: lf.verifier})
	if oauthCode(err) != bridge.ErrCodeInvalidGrant || got != nil {
		t.Fatalf("ExchangeCode(link code) = %+v, %v; want invalid_grant", got, err)
	}
	if sessions, err := e.store.ListUserSessions(bg, userID, e.clock.Now()); err != nil || len(sessions) != 1 {
		t.Errorf("the user's sessions = %d, %v; want the one that began the link", len(sessions), err)
	}
}

func TestALinkCodeWorksOnceAndExpires(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// before happens between the callback and the completion.
		before func(t *testing.T, e *env, access, code, verifier string)
		want   string
		// wantLinked says whether other is linked in the end.
		wantLinked bool
	}{
		{"a code completed before is invalid_grant", func(t *testing.T, e *env, access, code, verifier string) {
			if _, err := e.completeLink(access, code, verifier); err != nil {
				t.Fatal(err)
			}
		}, bridge.ErrCodeInvalidGrant, true},
		{"a code past its lifetime is invalid_grant", func(t *testing.T, e *env, access, code, verifier string) {
			e.clock.Add(time.Minute + time.Second)
		}, bridge.ErrCodeInvalidGrant, false},
		{"a code at the end of its lifetime still works", func(t *testing.T, e *env, access, code, verifier string) {
			e.clock.Add(time.Minute - time.Second)
		}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := linkEnv(t, []string{"fake", "other"})
			ts, userID := e.signInAt(t, "fake", nil)
			lf := e.startLink(t, ts.AccessToken, "other", nil)
			code := e.linkCode(t, "other", lf)
			tt.before(t, e, ts.AccessToken, code, lf.verifier)
			li, err := e.completeLink(ts.AccessToken, code, lf.verifier)
			if got := oauthCode(err); got != tt.want || (tt.want == "" && err != nil) {
				t.Fatalf("CompleteLink() = %+v, %v; want %q", li, err, tt.want)
			}
			wantEvents := map[bool]int{true: 1}[tt.wantLinked]
			if got := len(e.auditEvents(t, userID, "identity_linked")); got != wantEvents {
				t.Errorf("identity_linked events = %d, want %d", got, wantEvents)
			}
			if linked := slices.Contains(e.identityKeys(t, userID), "other|subject-1"); linked != tt.wantLinked {
				t.Errorf("other linked = %v, want %v", linked, tt.wantLinked)
			}
		})
	}
}

func TestBeginLinkRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// edit changes a valid request of the signed-in user; the env has
		// providers fake (the user's), other and third.
		edit func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest)
		want string
	}{
		{"a garbage access token is invalid_token", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			r.AccessToken = "garbage"
		}, bridge.ErrCodeInvalidToken},
		{"a refresh token in place of the access token is invalid_token", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			r.AccessToken = ts.RefreshToken
		}, bridge.ErrCodeInvalidToken},
		{"an expired access token is invalid_token", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			e.clock.Add(16 * time.Minute)
		}, bridge.ErrCodeInvalidToken},
		{"the access token of a revoked session is invalid_token", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			if err := e.b.Revoke(bg, bridge.RevokeRequest{Client: bridge.ClientCredentials{ID: "spa"}, Token: ts.RefreshToken}); err != nil {
				t.Fatal(err)
			}
		}, bridge.ErrCodeInvalidToken},
		{"an access token without the account scope is insufficient_scope", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			plain, _ := e.signInAs(t, "spa", "fake", "openid email profile", nil)
			r.AccessToken = plain.AccessToken
		}, bridge.ErrCodeInsufficientScope},
		{"a sign-in eleven minutes old is insufficient_user_authentication", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			e.clock.Add(11 * time.Minute)
		}, bridge.ErrCodeInsufficientAuth},
		{"a redirect URI the client did not register is invalid_request", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			r.RedirectURI = "https://evil.example.com/cb"
		}, bridge.ErrCodeInvalidRequest},
		{"another client's redirect URI is invalid_request", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			r.RedirectURI = portalRedirect
		}, bridge.ErrCodeInvalidRequest},
		{"no code challenge is invalid_request", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			r.CodeChallenge = ""
		}, bridge.ErrCodeInvalidRequest},
		{"a code challenge that is no S256 hash is invalid_request", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			r.CodeChallenge = "plain-verifier"
		}, bridge.ErrCodeInvalidRequest},
		{"a code challenge with characters outside base64url is invalid_request", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			r.CodeChallenge = r.CodeChallenge[:42] + "+"
		}, bridge.ErrCodeInvalidRequest},
		{"an unknown provider is invalid_request", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			r.Provider = "nope"
		}, bridge.ErrCodeInvalidRequest},
		{"a provider the client may not use is invalid_request", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			portal, _ := e.signInAs(t, "portal", "fake", accountScope, nil)
			r.AccessToken, r.RedirectURI, r.Provider = portal.AccessToken, portalRedirect, "third"
		}, bridge.ErrCodeInvalidRequest},
		{"no provider is invalid_request", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			r.Provider = ""
		}, bridge.ErrCodeInvalidRequest},
		{"a state over the limit is invalid_request", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			r.State = strings.Repeat("s", 1025)
		}, bridge.ErrCodeInvalidRequest},
		{"a provider the user already has is already_linked", func(t *testing.T, e *env, ts *bridge.TokenSet, r *bridge.LinkRequest) {
			r.Provider = "fake"
		}, bridge.ErrCodeAlreadyLinked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := linkEnv(t, []string{"fake", "other", "third"})
			ts, _ := e.signInAt(t, "fake", nil)
			_, challenge := pkce()
			req := bridge.LinkRequest{AccessToken: ts.AccessToken, Provider: "other", RedirectURI: spaRedirect, State: "link-state", CodeChallenge: challenge}
			tt.edit(t, e, ts, &req)
			start, err := e.b.BeginLink(bg, req)
			if got := oauthCode(err); got != tt.want || start != nil {
				t.Fatalf("BeginLink() = %v, %v; want %s", start, err, tt.want)
			}
			for _, p := range []string{"other", "third"} {
				if n := len(e.provs[p].asked); n != 0 {
					t.Errorf("the provider %s was asked %d times", p, n)
				}
			}
		})
	}
}

// linkStep is one way a browser can use a start ticket: its start page,
// confirming the link or declining it. It returns an error only.
type linkStep struct {
	name string
	use  func(e *env, ticket string) error
}

// linkSteps are the uses of a start ticket.
var linkSteps = []linkStep{
	{"the start page (PreviewLink)", func(e *env, ticket string) error {
		p, err := e.b.PreviewLink(bg, ticket)
		if err == nil && p == nil {
			return errors.New("PreviewLink returned nothing")
		}
		return err
	}},
	{"confirming (StartLink)", func(e *env, ticket string) error {
		l, err := e.b.StartLink(bg, ticket)
		if err == nil && l == nil {
			return errors.New("StartLink returned nothing")
		}
		return err
	}},
	{"declining (CancelLink)", func(e *env, ticket string) error {
		target, err := e.b.CancelLink(bg, ticket)
		if err != nil && target != "" {
			return fmt.Errorf("CancelLink returned %q with its error %w", target, err)
		}
		return err
	}},
}

func TestStartTicketRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// ticket returns the ticket to use from a valid, unused one.
		ticket func(t *testing.T, e *env, valid string) string
		want   error
	}{
		{"a ticket used before is refused as used", func(t *testing.T, e *env, valid string) string {
			if _, err := e.b.StartLink(bg, valid); err != nil {
				t.Fatal(err)
			}
			return valid
		}, bridge.ErrFlowUsed},
		{"a declined ticket is refused as used", func(t *testing.T, e *env, valid string) string {
			if _, err := e.b.CancelLink(bg, valid); err != nil {
				t.Fatal(err)
			}
			return valid
		}, bridge.ErrFlowUsed},
		{"a ticket past the flow lifetime has expired", func(t *testing.T, e *env, valid string) string {
			e.clock.Add(10*time.Minute + time.Second)
			return valid
		}, bridge.ErrFlowExpired},
		{"a ticket at the end of the flow lifetime has expired", func(t *testing.T, e *env, valid string) string {
			e.clock.Add(10 * time.Minute)
			return valid
		}, bridge.ErrFlowExpired},
		{"a ticket used and then past the flow lifetime has expired", func(t *testing.T, e *env, valid string) string {
			if _, err := e.b.StartLink(bg, valid); err != nil {
				t.Fatal(err)
			}
			e.clock.Add(11 * time.Minute)
			return valid
		}, bridge.ErrFlowExpired},
		{"a ticket with an altered MAC is refused", func(t *testing.T, e *env, valid string) string {
			return alter(valid, len(valid)-2)
		}, bridge.ErrInvalidState},
		{"a ticket with an altered flow id is refused", func(t *testing.T, e *env, valid string) string {
			return alter(valid, 3)
		}, bridge.ErrInvalidState},
		{"a ticket without its MAC is refused", func(t *testing.T, e *env, valid string) string {
			id, _, _ := strings.Cut(valid, ".")
			return id
		}, bridge.ErrInvalidState},
		{"the flow's confirmation is not a ticket", func(t *testing.T, e *env, valid string) string {
			id, _, _ := strings.Cut(valid, ".")
			return id + "." + e.b.LinkConfirmation(id)
		}, bridge.ErrInvalidState},
		{"an empty ticket is refused", func(t *testing.T, e *env, valid string) string {
			return ""
		}, bridge.ErrInvalidState},
		{"a sign-in's provider state is not a ticket", func(t *testing.T, e *env, valid string) string {
			_, challenge := pkce()
			return e.beginAt(t, "fake", challenge, nil).state
		}, bridge.ErrInvalidState},
	}
	for _, tt := range tests {
		for _, step := range linkSteps {
			t.Run(tt.name+": "+step.name, func(t *testing.T) {
				t.Parallel()
				e := linkEnv(t, []string{"fake", "other"})
				ts, _ := e.signInAt(t, "fake", nil)
				valid, _ := e.beginLink(t, ts.AccessToken, "other")
				flowID, _, _ := strings.Cut(valid, ".")
				ticket := tt.ticket(t, e, valid)
				before, err := e.store.GetSession(bg, flowID)
				if err != nil {
					t.Fatal(err)
				}
				asked := len(e.provs["other"].asked)
				err = step.use(e, ticket)
				var pe *bridge.PageError
				if !errors.As(err, &pe) || !errors.Is(err, tt.want) {
					t.Fatalf("got %v; want an error page for %q", err, tt.want)
				}
				if n := len(e.provs["other"].asked); n != asked {
					t.Errorf("the provider was asked %d more times", n-asked)
				}
				if after, err := e.store.GetSession(bg, flowID); err != nil || after.State != before.State {
					t.Errorf("the refused use moved the flow from %s to %+v (%v)", before.State, after, err)
				}
			})
		}
	}
}

func TestTheStartPageNamesTheLinkAndChangesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// profile edits the profile the user signs in with.
		profile func(*providers.Identity)
		client  string
		want    bridge.LinkPreview
	}{
		{"the account is named by its email", nil, "spa",
			bridge.LinkPreview{ProviderLabel: "Other", ClientName: "The SPA", Account: "alice@example.com"}},
		{"an account without an email is named by its name", func(id *providers.Identity) { id.Profile.Email, id.Profile.EmailVerified = "", false }, "spa",
			bridge.LinkPreview{ProviderLabel: "Other", ClientName: "The SPA", Account: "Alice"}},
		{"an account without an email or name is this account", func(id *providers.Identity) {
			id.Profile.Email, id.Profile.EmailVerified, id.Profile.Name = "", false, ""
		}, "spa", bridge.LinkPreview{ProviderLabel: "Other", ClientName: "The SPA", Account: "this account"}},
		{"the application is the one that asked", nil, "portal",
			bridge.LinkPreview{ProviderLabel: "Other", ClientName: "The Portal", Account: "alice@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := linkEnv(t, []string{"fake", "other"})
			ts, _ := e.signInAs(t, tt.client, "fake", accountScope, tt.profile)
			_, challenge := pkce()
			start, err := e.b.BeginLink(bg, bridge.LinkRequest{
				AccessToken: ts.AccessToken, Provider: "other", RedirectURI: clientRedirect[tt.client], State: "link-state", CodeChallenge: challenge,
			})
			if err != nil {
				t.Fatal(err)
			}
			flowID, ok := e.b.TicketFlowID(start.Ticket)
			if !ok || !strings.HasPrefix(start.Ticket, flowID+".") {
				t.Fatalf("TicketFlowID(%q) = %q, %v; want the ticket's flow", start.Ticket, flowID, ok)
			}
			// A link scanner fetches the page first; the person opens it
			// next.
			for i := range 2 {
				p, err := e.b.PreviewLink(bg, start.Ticket)
				if err != nil {
					t.Fatalf("PreviewLink #%d: %v", i+1, err)
				}
				want := tt.want
				want.Ticket, want.FlowID = start.Ticket, flowID
				if *p != want {
					t.Errorf("PreviewLink #%d = %+v, want %+v", i+1, *p, want)
				}
			}
			flow, err := e.store.GetSession(bg, flowID)
			if err != nil || flow.State != store.StateReady {
				t.Fatalf("the flow after its start page = %+v, %v; want it still ready", flow, err)
			}
			if n := len(e.provs["other"].asked); n != 0 {
				t.Errorf("the start page asked the provider %d times", n)
			}
			if _, err := e.b.StartLink(bg, start.Ticket); err != nil {
				t.Errorf("StartLink after the start page: %v", err)
			}
		})
	}
}

func TestLinkConfirmationIsPerFlowAndNotTheTicket(t *testing.T) {
	t.Parallel()
	e := linkEnv(t, []string{"fake", "other", "third"})
	ts, _ := e.signInAt(t, "fake", nil)
	first, _ := e.beginLink(t, ts.AccessToken, "other")
	second, _ := e.beginLink(t, ts.AccessToken, "third")
	firstID, _ := e.b.TicketFlowID(first)
	secondID, _ := e.b.TicketFlowID(second)
	c1, c2 := e.b.LinkConfirmation(firstID), e.b.LinkConfirmation(secondID)
	if c1 == "" || c1 == c2 || c1 != e.b.LinkConfirmation(firstID) {
		t.Errorf("confirmations = %q and %q, want one stable value per flow", c1, c2)
	}
	for _, secret := range []string{first, second} {
		if _, mac, _ := strings.Cut(secret, "."); strings.Contains(c1, mac) || strings.Contains(c2, mac) {
			t.Error("a confirmation holds a ticket's MAC")
		}
	}
	if c1 == e.b.FlowBinding(firstID) {
		t.Error("the confirmation is the flow's binding cookie")
	}
	// Another deployment (another flow key) confirms nothing here.
	other := linkEnv(t, []string{"fake", "other"})
	if other.b.LinkConfirmation(firstID) == c1 {
		t.Error("the confirmation does not depend on the flow key")
	}
	if _, ok := other.b.TicketFlowID(first); ok {
		t.Error("another deployment accepts this deployment's ticket")
	}
}

func TestDecliningALinkSendsTheApplicationAccessDenied(t *testing.T) {
	t.Parallel()
	e := linkEnv(t, []string{"fake", "other"})
	ts, userID := e.signInAt(t, "fake", nil)
	ticket, _ := e.beginLink(t, ts.AccessToken, "other")
	flowID, _ := e.b.TicketFlowID(ticket)
	if _, err := e.b.PreviewLink(bg, ticket); err != nil {
		t.Fatal(err)
	}
	target, err := e.b.CancelLink(bg, ticket)
	if err != nil {
		t.Fatalf("CancelLink: %v", err)
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	if errc := redirectError(t, u); errc != bridge.ErrCodeAccessDenied || u.Query().Get("error_description") == "" {
		t.Errorf("CancelLink() = %s, want error=access_denied with a description", target)
	}
	if q := u.Query(); q.Has("link_code") || q.Has("code") {
		t.Errorf("the declined link sends the application %v", q)
	}
	if flow, err := e.store.GetSession(bg, flowID); err != nil || flow.State != store.StateFailed {
		t.Errorf("the declined flow = %+v, %v; want failed", flow, err)
	}
	if n := len(e.provs["other"].asked); n != 0 {
		t.Errorf("declining asked the provider %d times", n)
	}
	if _, err := e.b.StartLink(bg, ticket); !errors.Is(err, bridge.ErrFlowUsed) {
		t.Errorf("StartLink after declining: %v, want %v", err, bridge.ErrFlowUsed)
	}
	if got := e.identityKeys(t, userID); !slices.Equal(got, []string{"fake|subject-1"}) {
		t.Errorf("the user's identities = %v, want only fake", got)
	}
	// The person can change their mind: a new link works.
	e.link(t, ts.AccessToken, "other", nil)
	if got := e.identityKeys(t, userID); !slices.Equal(got, []string{"fake|subject-1", "other|subject-1"}) {
		t.Errorf("the user's identities after a new link = %v, want fake and other", got)
	}
}

// alter changes the character at i of s to another base64url character.
func alter(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

func TestALinkWhoseSessionEndedLinksNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// prepare happens between the approval at the provider and the
		// callback.
		prepare func(t *testing.T, e *env, ts *bridge.TokenSet, userID string)
		// wantPage, when set, is the error page of the callback; otherwise
		// the link is refused with access_denied at the callback or with
		// invalid_token at the completion.
		wantPage error
	}{
		{"the session that asked for the link was revoked", func(t *testing.T, e *env, ts *bridge.TokenSet, _ string) {
			if err := e.b.Revoke(bg, bridge.RevokeRequest{Client: bridge.ClientCredentials{ID: "spa"}, Token: ts.RefreshToken}); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"every session of the user was revoked", func(t *testing.T, e *env, _ *bridge.TokenSet, userID string) {
			if _, err := e.store.RevokeUserSessions(bg, userID, "logout_everywhere", e.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"the user was disabled", func(t *testing.T, e *env, _ *bridge.TokenSet, userID string) {
			if err := e.store.SetDisabled(bg, userID, true); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"the flow expired", func(t *testing.T, e *env, _ *bridge.TokenSet, _ string) {
			e.clock.Add(11 * time.Minute)
		}, bridge.ErrFlowExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := linkEnv(t, []string{"fake", "other"})
			ts, userID := e.signInAt(t, "fake", nil)
			lf := e.startLink(t, ts.AccessToken, "other", nil)
			tt.prepare(t, e, ts, userID)
			target, err := e.b.FinishLogin(bg, "other", bridge.Callback{State: lf.state, Code: lf.code, Binding: e.bound(lf.flowID)})
			switch {
			case tt.wantPage != nil:
				var pe *bridge.PageError
				if !errors.As(err, &pe) || !errors.Is(err, tt.wantPage) {
					t.Fatalf("FinishLogin() = %q, %v; want an error page for %q", target, err, tt.wantPage)
				}
			case err != nil:
				t.Fatalf("FinishLogin: %v", err)
			default:
				// The session is checked when the link completes; the
				// callback may refuse it earlier.
				u, _ := url.Parse(target)
				if errc := redirectError(t, u); errc != "" {
					if errc != bridge.ErrCodeAccessDenied {
						t.Fatalf("link redirect = %s, want error=access_denied or a link code", target)
					}
					break
				}
				li, err := e.completeLink(ts.AccessToken, u.Query().Get("link_code"), lf.verifier)
				if oauthCode(err) != bridge.ErrCodeInvalidToken || li != nil {
					t.Fatalf("CompleteLink() = %+v, %v; want invalid_token", li, err)
				}
			}
			if _, err := e.store.GetIdentity(bg, "other|subject-1"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetIdentity(other) err = %v, want not found: no identity may be created", err)
			}
			if got := e.identityKeys(t, userID); !slices.Equal(got, []string{"fake|subject-1"}) {
				t.Errorf("the user's identities = %v, want only fake", got)
			}
			if u := e.user(t, userID); slices.Contains(providerNames(u), "other") {
				t.Error("the user got an other link")
			}
		})
	}
}

func TestALinkCallbackInAnotherBrowserIsRefused(t *testing.T) {
	t.Parallel()
	e := linkEnv(t, []string{"fake", "other"})
	ts, userID := e.signInAt(t, "fake", nil)
	lf := e.startLink(t, ts.AccessToken, "other", nil)
	// The attacker's browser opened the start URL; the victim's browser
	// returns from the provider without the flow's cookie.
	_, err := e.b.FinishLogin(bg, "other", bridge.Callback{State: lf.state, Code: lf.code})
	if !errors.Is(err, bridge.ErrUnboundFlow) {
		t.Fatalf("FinishLogin() err = %v, want %v", err, bridge.ErrUnboundFlow)
	}
	if got := e.identityKeys(t, userID); len(got) != 1 {
		t.Errorf("the user's identities = %v, want one", got)
	}
	if n := e.provs["other"].exchangeCalls(); n != 0 {
		t.Errorf("the provider's token endpoint was called %d times", n)
	}
}

func TestAccountManagementNeedsTheAccountScope(t *testing.T) {
	t.Parallel()
	e := linkEnv(t, []string{"fake", "other", "third"})
	full, userID := e.signInAt(t, "fake", nil)
	e.link(t, full.AccessToken, "other", nil)
	lf := e.startLink(t, full.AccessToken, "third", nil)
	code := e.linkCode(t, "third", lf)
	// The same user signs in at the same application without the scope.
	plain, plainUser := e.signInAs(t, "spa", "fake", "openid email profile", nil)
	if plainUser != userID {
		t.Fatalf("the sign-in without the scope gave user %s, want %s", plainUser, userID)
	}
	access := plain.AccessToken
	_, challenge := pkce()
	calls := map[string]error{}
	_, calls["BeginLink"] = e.b.BeginLink(bg, bridge.LinkRequest{AccessToken: access, Provider: "third", RedirectURI: spaRedirect, CodeChallenge: challenge})
	_, calls["CompleteLink"] = e.completeLink(access, code, lf.verifier)
	_, calls["Identities"] = e.b.Identities(bg, access)
	calls["Unlink"] = e.b.Unlink(bg, access, "other")
	for name, err := range calls {
		if got := oauthCode(err); got != bridge.ErrCodeInsufficientScope {
			t.Errorf("%s() err = %v, want insufficient_scope", name, err)
		}
	}
	if got := e.identityKeys(t, userID); !slices.Equal(got, []string{"fake|subject-1", "other|subject-1"}) {
		t.Errorf("the user's identities = %v, want fake and other, unchanged", got)
	}
}

func TestATokenOfAClientThatNoLongerManagesAccountsIsRefused(t *testing.T) {
	t.Parallel()
	// The operator turns account_management off for the SPA, or removes
	// the SPA, and restarts: the tokens it holds with the account scope
	// manage nothing any more.
	tests := []struct {
		name string
		edit func(clients []bridge.Client) []bridge.Client
		want string
	}{
		{"a client without account management is insufficient_scope", func(clients []bridge.Client) []bridge.Client {
			for i := range clients {
				if clients[i].ID == "spa" {
					clients[i].AccountManagement = false
				}
			}
			return clients
		}, bridge.ErrCodeInsufficientScope},
		{"a client no longer registered is invalid_token", func(clients []bridge.Client) []bridge.Client {
			return slices.DeleteFunc(clients, func(c bridge.Client) bool { return c.ID == "spa" })
		}, bridge.ErrCodeInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := linkEnv(t, []string{"fake", "other", "third"})
			ts, userID := e.signInAt(t, "fake", nil)
			e.link(t, ts.AccessToken, "other", nil)
			lf := e.startLink(t, ts.AccessToken, "third", nil)
			code := e.linkCode(t, "third", lf)
			if _, err := e.b.Account(bg, ts.AccessToken); err != nil {
				t.Fatalf("Account() before the change: %v", err)
			}
			after := e.reconfigure(t, func(o *bridge.Options) { o.Clients = tt.edit(slices.Clone(o.Clients)) })
			access := ts.AccessToken
			_, challenge := pkce()
			calls := map[string]error{}
			_, calls["Account"] = after.b.Account(bg, access)
			_, calls["BeginLink"] = after.b.BeginLink(bg, bridge.LinkRequest{AccessToken: access, Provider: "third", RedirectURI: spaRedirect, CodeChallenge: challenge})
			_, calls["CompleteLink"] = after.completeLink(access, code, lf.verifier)
			_, calls["Identities"] = after.b.Identities(bg, access)
			calls["Unlink"] = after.b.Unlink(bg, access, "other")
			for name, err := range calls {
				if got := oauthCode(err); got != tt.want {
					t.Errorf("%s() err = %v, want %s", name, err, tt.want)
				}
			}
			if got := e.identityKeys(t, userID); !slices.Equal(got, []string{"fake|subject-1", "other|subject-1"}) {
				t.Errorf("the user's identities = %v, want fake and other, unchanged", got)
			}
		})
	}
}

func TestOnlyClientsThatManageAccountsMayAskForTheAccountScope(t *testing.T) {
	t.Parallel()
	e := linkEnv(t, []string{"fake"})
	_, challenge := pkce()
	for _, tt := range []struct {
		client, redirect, scope string
		want                    string
	}{
		{"backend", "https://backend.example.com/cb", "openid " + bridge.ScopeAccount, bridge.ErrCodeInvalidScope},
		{"backend", "https://backend.example.com/cb", "openid", ""},
		{"spa", spaRedirect, "openid " + bridge.ScopeAccount, ""},
	} {
		req := authorizeRequest(challenge)
		req.ClientID, req.RedirectURI, req.Scope = tt.client, tt.redirect, tt.scope
		_, err := e.b.BeginLogin(bg, req)
		var re *bridge.RedirectError
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s asking for %q: %v, want a login", tt.client, tt.scope, err)
		case tt.want != "" && (!errors.As(err, &re) || re.Code != tt.want || re.RedirectURI != tt.redirect):
			t.Errorf("%s asking for %q: %v, want %s sent to the client", tt.client, tt.scope, err, tt.want)
		}
	}
}

func TestAccountChangesNeedARecentSignIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// run is done with the user's session, signed in with fake, with
		// other linked (third is not), after it is advanced on the clock.
		after time.Duration
		run   func(t *testing.T, e *env, ts *bridge.TokenSet) error
		want  string
	}{
		{"beginning a link ten minutes after the sign-in works", 10 * time.Minute, beginThird, ""},
		{"beginning a link eleven minutes after the sign-in is refused", 11 * time.Minute, beginThird, bridge.ErrCodeInsufficientAuth},
		{"unlinking eleven minutes after the sign-in is refused", 11 * time.Minute, func(t *testing.T, e *env, ts *bridge.TokenSet) error {
			return e.b.Unlink(bg, ts.AccessToken, "other")
		}, bridge.ErrCodeInsufficientAuth},
		{"listing identities eleven minutes after the sign-in works", 11 * time.Minute, func(t *testing.T, e *env, ts *bridge.TokenSet) error {
			ids, err := e.b.Identities(bg, ts.AccessToken)
			if err == nil && len(ids) != 2 {
				return fmt.Errorf("listed %d identities, want 2", len(ids))
			}
			return err
		}, ""},
		{"completing a link begun in time but completed too late is refused", 9*time.Minute + 50*time.Second, func(t *testing.T, e *env, ts *bridge.TokenSet) error {
			lf := e.startLink(t, ts.AccessToken, "third", nil)
			code := e.linkCode(t, "third", lf)
			e.clock.Add(20 * time.Second) // the link code lives a minute
			_, err := e.completeLink(ts.AccessToken, code, lf.verifier)
			return err
		}, bridge.ErrCodeInsufficientAuth},
		{"a refreshed access token keeps the sign-in's time", 11 * time.Minute, func(t *testing.T, e *env, ts *bridge.TokenSet) error {
			fresh, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: ts.RefreshToken})
			if err != nil {
				t.Fatal(err)
			}
			return beginThird(t, e, fresh)
		}, bridge.ErrCodeInsufficientAuth},
		{"signing in again makes the sign-in recent", 11 * time.Minute, func(t *testing.T, e *env, _ *bridge.TokenSet) error {
			again, _ := e.signInAt(t, "fake", nil)
			return beginThird(t, e, again)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := linkEnv(t, []string{"fake", "other", "third"})
			ts, userID := e.signInAt(t, "fake", nil)
			e.link(t, ts.AccessToken, "other", nil)
			e.clock.Add(tt.after)
			err := tt.run(t, e, ts)
			if got := oauthCode(err); got != tt.want || (tt.want == "" && err != nil) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if tt.want == "" {
				return
			}
			if oe := (*bridge.OAuthError)(nil); errors.As(err, &oe) && !strings.Contains(oe.Description, "max_age=600") {
				t.Errorf("description = %q, want it to say max_age=600", oe.Description)
			}
			if got := e.identityKeys(t, userID); !slices.Equal(got, []string{"fake|subject-1", "other|subject-1"}) {
				t.Errorf("the user's identities = %v, want fake and other, unchanged", got)
			}
		})
	}
}

// beginThird begins a link of third with the session of ts.
func beginThird(t *testing.T, e *env, ts *bridge.TokenSet) error {
	t.Helper()
	_, challenge := pkce()
	_, err := e.b.BeginLink(bg, bridge.LinkRequest{AccessToken: ts.AccessToken, Provider: "third", RedirectURI: spaRedirect, CodeChallenge: challenge})
	return err
}

func TestUnlink(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// linked says whether the user links other before unlinking.
		linked   bool
		token    func(ts *bridge.TokenSet) string
		provider string
		want     string // "" for success
		// wantKeys are the user's identities afterwards.
		wantKeys []string
	}{
		{"the only identity cannot be unlinked", false, access, "fake", bridge.ErrCodeLastIdentity, []string{"fake|subject-1"}},
		{"a provider the user has no identity of is not_linked", false, access, "other", bridge.ErrCodeNotLinked, []string{"fake|subject-1"}},
		{"an unknown provider is not_linked", true, access, "nope", bridge.ErrCodeNotLinked, []string{"fake|subject-1", "other|other-1"}},
		{"a garbage token is invalid_token", true, func(*bridge.TokenSet) string { return "garbage" }, "other", bridge.ErrCodeInvalidToken,
			[]string{"fake|subject-1", "other|other-1"}},
		{"a linked identity can be unlinked", true, access, "other", "", []string{"fake|subject-1"}},
		{"the identity the user signed up with can be unlinked once another is linked", true, access, "fake", "", []string{"other|other-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := linkEnv(t, []string{"fake", "other"})
			ts, userID := e.signInAt(t, "fake", nil)
			if tt.linked {
				e.link(t, ts.AccessToken, "other", subject("other-1"))
			}
			err := e.b.Unlink(bg, tt.token(ts), tt.provider)
			if got := oauthCode(err); got != tt.want || (tt.want == "" && err != nil) {
				t.Fatalf("Unlink(%s) = %v, want %q", tt.provider, err, tt.want)
			}
			if got := e.identityKeys(t, userID); !slices.Equal(got, tt.wantKeys) {
				t.Errorf("identities afterwards = %v, want %v", got, tt.wantKeys)
			}
			events := e.auditEvents(t, userID, "identity_unlinked")
			if tt.want != "" {
				if len(events) != 0 {
					t.Errorf("a refused unlink was audited: %+v", events)
				}
				return
			}
			if len(events) != 1 || events[0].Detail["provider"] != tt.provider || events[0].SessionID != e.sessionOf(t, ts.AccessToken) || events[0].ClientID != "spa" {
				t.Errorf("identity_unlinked events = %+v, want one for %s by the session", events, tt.provider)
			}
			if u := e.user(t, userID); slices.Contains(providerNames(u), tt.provider) {
				t.Errorf("the user still has a %s link", tt.provider)
			}
			if err := e.b.Unlink(bg, tt.token(ts), tt.provider); oauthCode(err) != bridge.ErrCodeNotLinked {
				t.Errorf("unlinking %s again = %v, want not_linked", tt.provider, err)
			}
			// The unlinked identity signs in as someone new.
			sub := map[string]string{"fake": "subject-1", "other": "other-1"}[tt.provider]
			_, newUser := e.signInAt(t, tt.provider, subject(sub))
			if newUser == userID {
				t.Errorf("the unlinked %s identity signed in as the user it was unlinked from", tt.provider)
			}
			if n := e.userCount(t); n != 2 {
				t.Errorf("CountUsers() = %d, want 2", n)
			}
		})
	}
}

func access(ts *bridge.TokenSet) string { return ts.AccessToken }

func TestUnlinkEndsTheOtherSessionsOfThatProvider(t *testing.T) {
	t.Parallel()
	// The user signed in with fake, linked other, then signed in twice
	// more with other and once more with fake; one session unlinks other.
	tests := []struct {
		name string
		// caller is the session that unlinks: "fake" or "other1".
		caller      string
		wantRevoked []string
	}{
		{"a session of another provider ends every session of the unlinked one", "fake", []string{"other1", "other2"}},
		{"a session of the unlinked provider ends the others but not itself", "other1", []string{"other2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := linkEnv(t, []string{"fake", "other"})
			start := e.clock.Now()
			first, userID := e.signInAt(t, "fake", nil)
			e.link(t, first.AccessToken, "other", nil)
			sessions := map[string]*bridge.TokenSet{"fake": first}
			for _, name := range []string{"other1", "other2", "fake2"} {
				ts, id := e.signInAt(t, strings.TrimRight(name, "12"), nil)
				if id != userID {
					t.Fatalf("sign-in %s gave user %s, want %s", name, id, userID)
				}
				sessions[name] = ts
			}
			// Someone else's session of other is not the user's to end.
			bystander, _ := e.signInAt(t, "other", subject("bystander"))
			e.clock.Add(time.Second)

			if err := e.b.Unlink(bg, sessions[tt.caller].AccessToken, "other"); err != nil {
				t.Fatalf("Unlink(other): %v", err)
			}
			for name, ts := range sessions {
				sess, err := e.store.GetSession(bg, e.sessionOf(t, ts.AccessToken))
				if err != nil {
					t.Fatal(err)
				}
				_, rerr := e.b.Refresh(bg, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: ts.RefreshToken})
				if slices.Contains(tt.wantRevoked, name) {
					if sess.State != store.StateRevoked || sess.RevokeReason != "identity_unlinked" || rerr == nil {
						t.Errorf("session %s: state %s (%s), refresh err %v; want revoked for identity_unlinked", name, sess.State, sess.RevokeReason, rerr)
					}
				} else if sess.State != store.StateActive || rerr != nil {
					t.Errorf("session %s: state %s, refresh err %v; want it active", name, sess.State, rerr)
				}
			}
			if _, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: bystander.RefreshToken}); err != nil {
				t.Errorf("the bystander's session: %v", err)
			}
			feed, err := e.store.RevocationsSince(bg, start, 100)
			if err != nil {
				t.Fatal(err)
			}
			var inFeed []string
			for _, r := range feed {
				for name, ts := range sessions {
					if r.Kind == store.RevokedSession && r.SessionID == e.sessionOf(t, ts.AccessToken) {
						inFeed = append(inFeed, name)
					}
				}
			}
			slices.Sort(inFeed)
			if !slices.Equal(inFeed, tt.wantRevoked) {
				t.Errorf("revocation feed holds %v, want %v", inFeed, tt.wantRevoked)
			}
			events := e.auditEvents(t, userID, "identity_unlinked")
			if len(events) != 1 || events[0].Detail["sessions_revoked"] != fmt.Sprint(len(tt.wantRevoked)) ||
				events[0].SessionID != e.sessionOf(t, sessions[tt.caller].AccessToken) {
				t.Errorf("identity_unlinked events = %+v, want one by the caller with sessions_revoked=%d", events, len(tt.wantRevoked))
			}
		})
	}
}

func TestAutomaticLinkingByVerifiedEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		linkByEmail []string
		// first and second edit the identities of the sign-in with fake,
		// then the one with other (both alice@example.com, verified,
		// unless changed).
		first, second func(*providers.Identity)
		wantSameUser  bool
	}{
		{"both providers trusted and the same verified email join the existing user",
			[]string{"fake", "other"}, nil, nil, true},
		{"the email is compared without case",
			[]string{"fake", "other"}, nil, func(id *providers.Identity) { id.Profile.Email = "Alice@Example.COM" }, true},
		{"the first provider not trusted makes a new user",
			[]string{"other"}, nil, nil, false},
		{"the second provider not trusted makes a new user",
			[]string{"fake"}, nil, nil, false},
		{"no provider trusted makes a new user",
			nil, nil, nil, false},
		{"an unverified email on the existing user makes a new user",
			[]string{"fake", "other"}, func(id *providers.Identity) { id.Profile.EmailVerified = false }, nil, false},
		{"an unverified email on the new sign-in makes a new user",
			[]string{"fake", "other"}, nil, func(id *providers.Identity) { id.Profile.EmailVerified = false }, false},
		{"another email makes a new user",
			[]string{"fake", "other"}, nil, func(id *providers.Identity) { id.Profile.Email = "alice@other.example" }, false},
		{"no email makes a new user",
			[]string{"fake", "other"}, func(id *providers.Identity) { id.Profile.Email = "" }, func(id *providers.Identity) { id.Profile.Email = "" }, false},
	}
	same := func(*providers.Identity) {}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := linkEnv(t, []string{"fake", "other"}, tt.linkByEmail...)
			first, second := tt.first, tt.second
			if first == nil {
				first = same
			}
			if second == nil {
				second = same
			}
			_, firstUser := e.signInAt(t, "fake", first)
			e.clock.Add(time.Second)
			_, secondUser := e.signInAt(t, "other", second)
			if got := secondUser == firstUser; got != tt.wantSameUser {
				t.Fatalf("the second sign-in joined the first user: %v, want %v", got, tt.wantSameUser)
			}
			wantUsers, wantKeys := int64(2), []string{"fake|subject-1"}
			if tt.wantSameUser {
				wantUsers, wantKeys = 1, []string{"fake|subject-1", "other|subject-1"}
			}
			if n := e.userCount(t); n != wantUsers {
				t.Errorf("CountUsers() = %d, want %d", n, wantUsers)
			}
			if got := e.identityKeys(t, firstUser); !slices.Equal(got, wantKeys) {
				t.Errorf("the first user's identities = %v, want %v", got, wantKeys)
			}
			// The join is audited and logged as a join, not a new user.
			events := e.auditEvents(t, firstUser, "identity_auto_linked")
			wantLine := fmt.Sprintf("user_id=%s new_user=true auto_linked=false provider=other", secondUser)
			if tt.wantSameUser {
				if len(events) != 1 || events[0].Detail["provider"] != "other" || events[0].ClientID != "spa" {
					t.Errorf("identity_auto_linked events = %+v, want one for other at the SPA", events)
				}
				wantLine = fmt.Sprintf("user_id=%s new_user=false auto_linked=true provider=other", firstUser)
			} else if len(events) != 0 {
				t.Errorf("identity_auto_linked events = %+v, want none", events)
			}
			if logs := e.logs.String(); !strings.Contains(logs, wantLine) {
				t.Errorf("no login line with %q; logs:\n%s", wantLine, logs)
			}
			// A later sign-in with the first provider still finds its user.
			if _, again := e.signInAt(t, "fake", first); again != firstUser {
				t.Errorf("signing in with fake again gave user %s, want %s", again, firstUser)
			}
		})
	}
}

func TestAutomaticLinkingCountsOnlyTheProvidersTrustedNow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// trustedLater is link_by_email after the restart.
		trustedLater []string
		wantSameUser bool
	}{
		{"an email from a provider still trusted joins its user", []string{"fake", "other"}, true},
		{"an email from a provider no longer trusted joins no one", []string{"other"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := linkEnv(t, []string{"fake", "other"}, "fake", "other")
			_, alice := e.signInAt(t, "fake", nil) // alice@example.com, trusted from fake
			// The operator changes link_by_email and restarts; Alice's
			// stored link still holds the email fake vouched for.
			e = e.reconfigure(t, func(o *bridge.Options) { o.LinkByEmail = tt.trustedLater })
			if l := e.user(t, alice).Providers["fake"]; l.LinkEmail != "alice@example.com" {
				t.Fatalf("Alice's fake link email = %q", l.LinkEmail)
			}
			_, second := e.signInAt(t, "other", nil)
			if got := second == alice; got != tt.wantSameUser {
				t.Errorf("the sign-in with other joined Alice: %v, want %v", got, tt.wantSameUser)
			}
			if got := len(e.auditEvents(t, alice, "identity_auto_linked")); got != map[bool]int{true: 1}[tt.wantSameUser] {
				t.Errorf("identity_auto_linked events = %d", got)
			}
		})
	}
}

// countingStore counts the identity and email lookups of sign-ins.
type countingStore struct {
	store.Store
	mu        sync.Mutex
	calls     map[string]int
	providers [][]string // of each FindUsersByLinkEmail
}

func (c *countingStore) count(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[name]++
}

func (c *countingStore) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := c.calls
	c.calls = map[string]int{}
	return calls
}

func (c *countingStore) GetIdentity(ctx context.Context, key string) (*store.Identity, error) {
	c.count("GetIdentity")
	return c.Store.GetIdentity(ctx, key)
}

func (c *countingStore) FindUsersByLinkEmail(ctx context.Context, email string, providers []string) ([]string, error) {
	c.count("FindUsersByLinkEmail")
	c.mu.Lock()
	c.providers = append(c.providers, slices.Clone(providers))
	c.mu.Unlock()
	return c.Store.FindUsersByLinkEmail(ctx, email, providers)
}

func (c *countingStore) ListUserIdentities(ctx context.Context, userID string) ([]store.Identity, error) {
	c.count("ListUserIdentities")
	return c.Store.ListUserIdentities(ctx, userID)
}

func TestAReturningSignInOfATrustedProviderReadsOnlyItsIdentity(t *testing.T) {
	t.Parallel()
	cs := &countingStore{calls: map[string]int{}}
	e := newEnvConfig(t, envConfig{
		providers:   []providers.Provider{newFakeProvider("fake"), newFakeProvider("other")},
		linkByEmail: []string{"fake", "other"},
		wrap:        func(s store.Store) store.Store { cs.Store = s; return cs },
	})
	e.signInAt(t, "fake", nil)
	if got := cs.take(); got["FindUsersByLinkEmail"] != 1 {
		t.Errorf("a first sign-in looked up the email %d times, want once", got["FindUsersByLinkEmail"])
	}
	if len(cs.providers) != 1 || !slices.Equal(cs.providers[0], []string{"fake", "other"}) {
		t.Errorf("FindUsersByLinkEmail was asked for providers %v, want the trusted ones", cs.providers)
	}
	e.signInAt(t, "fake", nil)
	if got := cs.take(); got["GetIdentity"] != 1 || got["FindUsersByLinkEmail"] != 0 || got["ListUserIdentities"] != 0 {
		t.Errorf("a returning sign-in made %v, want one GetIdentity and no email lookup", got)
	}
}

// unlinkOnRead is a store whose GetIdentity, once armed, unlinks the
// identity it has just read from its user before it answers: an unlink
// that finishes while a sign-in of that identity is under way.
type unlinkOnRead struct {
	store.Store
	now   func() time.Time
	mu    sync.Mutex
	armed string // the identity key
	err   error
}

func (u *unlinkOnRead) GetIdentity(ctx context.Context, key string) (*store.Identity, error) {
	id, err := u.Store.GetIdentity(ctx, key)
	u.mu.Lock()
	defer u.mu.Unlock()
	if err == nil && key == u.armed {
		u.armed = ""
		u.err = u.Store.UnlinkIdentity(ctx, id.UserID, key, u.now())
	}
	return id, err
}

func TestAnIdentityUnlinkedDuringItsSignInStaysUnlinked(t *testing.T) {
	t.Parallel()
	// Bug: newUserID returns the user of the identity it read as the id
	// of a "new" user; when the identity is unlinked between that read and
	// ClaimIdentity, ClaimIdentity creates it again for the user it was
	// just unlinked from, undoing the unlink for good.
	uo := &unlinkOnRead{}
	e := newEnvConfig(t, envConfig{
		providers:   []providers.Provider{newFakeProvider("fake"), newFakeProvider("other")},
		linkByEmail: []string{"fake", "other"},
		wrap:        func(s store.Store) store.Store { uo.Store = s; return uo },
	})
	uo.now = e.clock.Now
	ts, alice := e.signInAt(t, "fake", nil)
	e.link(t, ts.AccessToken, "other", subject("other-alice"))

	uo.mu.Lock()
	uo.armed = "other|other-alice"
	uo.mu.Unlock()
	_, who := e.signInAt(t, "other", subject("other-alice"))
	if uo.err != nil {
		t.Fatalf("the concurrent unlink: %v", uo.err)
	}
	if id, err := e.store.GetIdentity(bg, "other|other-alice"); err == nil && id.UserID == alice {
		t.Errorf("the unlinked identity belongs to Alice again (the sign-in gave user %s)", who)
	}
	if got := e.identityKeys(t, alice); !slices.Equal(got, []string{"fake|subject-1"}) {
		t.Errorf("Alice's identities = %v, want fake only", got)
	}
}

func TestAutomaticLinkingRefusesAnAmbiguousEmail(t *testing.T) {
	t.Parallel()
	trusted := []string{"fake", "other", "third"}
	e := linkEnv(t, trusted, trusted...)
	_, alice := e.signInAt(t, "fake", nil)
	// Bob signs up with another email, then his provider account's
	// verified email becomes Alice's: two users hold it.
	bobAt := func(email string) func(*providers.Identity) {
		return func(id *providers.Identity) { id.Subject, id.Profile.Email = "bob", email }
	}
	_, bob := e.signInAt(t, "other", bobAt("bob@example.com"))
	if bob == alice {
		t.Fatal("Bob joined Alice with another email")
	}
	if _, again := e.signInAt(t, "other", bobAt("alice@example.com")); again != bob {
		t.Fatalf("Bob's sign-in with a changed email gave user %s, want his own %s", again, bob)
	}
	if ids, err := e.store.FindUsersByLinkEmail(bg, "alice@example.com", trusted); err != nil || len(ids) != 2 {
		t.Fatalf("FindUsersByLinkEmail() = %v, %v; want both users", ids, err)
	}

	_, third := e.signInAt(t, "third", nil)
	if third == alice || third == bob {
		t.Errorf("a sign-in with an email two users hold joined one of them (%s)", third)
	}
	if n := e.userCount(t); n != 3 {
		t.Errorf("CountUsers() = %d, want 3", n)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "several users hold this verified email") {
		t.Errorf("no log line about the ambiguous email; logs:\n%s", logs)
	}
	if logs := e.logs.String(); strings.Contains(logs, "alice@example.com") {
		t.Error("the log holds the email address")
	}
}

func TestConcurrentSignInsLinksAndUnlinksKeepIdentitiesConsistent(t *testing.T) {
	t.Parallel()
	names := []string{"fake", "other", "third"}
	for round := range 3 {
		t.Run(fmt.Sprintf("round %d", round), func(t *testing.T) {
			t.Parallel()
			e := linkEnv(t, names)
			ts, owner := e.signInAt(t, "fake", subject("owner"))
			// The owner's link flows reach the provider before the race;
			// the race runs their callbacks and completions.
			links := map[string]linkFlow{
				"other": e.startLink(t, ts.AccessToken, "other", subject("owner-other")),
				"third": e.startLink(t, ts.AccessToken, "third", subject("owner-third")),
			}
			type op struct {
				name string
				run  func() error
			}
			var ops []op
			for p, lf := range links {
				ops = append(ops, op{"link " + p, func() error {
					target, err := e.b.FinishLogin(bg, p, bridge.Callback{State: lf.state, Code: lf.code, Binding: e.bound(lf.flowID)})
					if err != nil {
						return err
					}
					u, err := url.Parse(target)
					if err != nil {
						return err
					}
					switch q := u.Query(); {
					case q.Get("error") == bridge.ErrCodeIdentityInUse:
						return nil // a sign-in of the identity came first
					case q.Get("error") != "":
						return fmt.Errorf("link callback: %s", target)
					}
					_, err = e.completeLink(ts.AccessToken, u.Query().Get("link_code"), lf.verifier)
					if oauthCode(err) == bridge.ErrCodeIdentityInUse {
						return nil
					}
					return err
				}})
			}
			for _, p := range names {
				ops = append(ops, op{"unlink " + p, func() error {
					err := e.b.Unlink(bg, ts.AccessToken, p)
					if c := oauthCode(err); c == bridge.ErrCodeLastIdentity || c == bridge.ErrCodeNotLinked {
						return nil
					}
					return err
				}})
			}
			// Sign-ins of the owner's identities (linked, or not yet) and of
			// other people.
			subjects := map[string][]string{"fake": {"owner"}, "other": {"owner-other"}, "third": {"owner-third"}}
			for i := range 14 {
				p := names[i%len(names)]
				sub := fmt.Sprintf("person-%d", i/2) // two sign-ins per person: concurrent first sign-ins
				if i%5 == 0 {
					sub = subjects[p][0]
				} else {
					subjects[p] = append(subjects[p], sub)
				}
				_, challenge := pkce()
				s := e.beginAt(t, p, challenge, subject(sub))
				ops = append(ops, op{"sign in " + p + "|" + sub, func() error {
					_, err := e.b.FinishLogin(bg, p, bridge.Callback{State: s.state, Code: s.code, Binding: e.bound(s.flowID)})
					return err
				}})
			}
			var wg sync.WaitGroup
			startGun := make(chan struct{})
			errs := make([]error, len(ops))
			for i, o := range ops {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-startGun
					errs[i] = o.run()
				}()
			}
			close(startGun)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("%s: %v", ops[i].name, err)
				}
			}

			owners := map[string]string{} // identity key -> user
			users := map[string]bool{owner: true}
			for p, subs := range subjects {
				for _, sub := range subs {
					key := p + "|" + sub
					id, err := e.store.GetIdentity(bg, key)
					if errors.Is(err, store.ErrNotFound) {
						continue // unlinked
					}
					if err != nil {
						t.Fatal(err)
					}
					if _, err := e.store.GetUser(bg, id.UserID); err != nil {
						t.Errorf("identity %s belongs to user %s: %v", key, id.UserID, err)
					}
					users[id.UserID] = true
					owners[key] = id.UserID
				}
			}
			listed := map[string]string{}
			for u := range users {
				keys := e.identityKeys(t, u)
				if len(keys) == 0 {
					t.Errorf("user %s has no identity left", u)
				}
				for _, k := range keys {
					if other, dup := listed[k]; dup {
						t.Errorf("identity %s is listed by users %s and %s", k, other, u)
					}
					listed[k] = u
					if owners[k] != u {
						t.Errorf("user %s lists identity %s, whose record names %q", u, k, owners[k])
					}
				}
			}
			for k, u := range owners {
				if listed[k] != u {
					t.Errorf("identity %s of user %s is not listed by the user", k, u)
				}
			}
			if n := e.userCount(t); n != int64(len(users)) {
				t.Errorf("CountUsers() = %d, but identities name %d users", n, len(users))
			}
		})
	}
}

func TestTwoLinkFlowsOfOneProviderLinkOnlyOne(t *testing.T) {
	t.Parallel()
	// Two link flows of one provider begun before either finishes must
	// not give the user two identities of it: the second is refused at its
	// callback when the first has completed, at its completion otherwise.
	tests := []struct {
		name string
		// bothCallbacksFirst runs both callbacks before either completion.
		bothCallbacksFirst bool
	}{
		{"the second callback after the first link completed is already_linked", false},
		{"the second completion after the first is already_linked", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := linkEnv(t, []string{"fake", "other"})
			ts, userID := e.signInAt(t, "fake", nil)
			first := e.startLink(t, ts.AccessToken, "other", subject("other-1"))
			second := e.startLink(t, ts.AccessToken, "other", subject("other-2"))
			firstCode := e.linkCode(t, "other", first)
			secondCode := ""
			if tt.bothCallbacksFirst {
				secondCode = e.linkCode(t, "other", second)
			}
			if _, err := e.completeLink(ts.AccessToken, firstCode, first.verifier); err != nil {
				t.Fatalf("first completion: %v", err)
			}
			if tt.bothCallbacksFirst {
				if li, err := e.completeLink(ts.AccessToken, secondCode, second.verifier); oauthCode(err) != bridge.ErrCodeAlreadyLinked {
					t.Errorf("second completion = %+v, %v; want already_linked", li, err)
				}
			} else if u := e.callback(t, "other", second.started); redirectError(t, u) != bridge.ErrCodeAlreadyLinked || u.Query().Has("link_code") {
				t.Errorf("second link redirect = %s, want error=already_linked", u)
			}
			if got := e.identityKeys(t, userID); !slices.Equal(got, []string{"fake|subject-1", "other|other-1"}) {
				t.Errorf("the user's identities = %v, want fake and the first other", got)
			}
			if _, err := e.store.GetIdentity(bg, "other|other-2"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetIdentity(other|other-2) err = %v, want not found", err)
			}
		})
	}
}

func TestAutomaticLinkingDoesNotJoinAUserWithAnotherIdentityOfTheProvider(t *testing.T) {
	t.Parallel()
	// Bug (policy): a second account at the same provider with the same
	// verified email joins the user, who then has two identities of one
	// provider, which explicit linking refuses (already_linked); the
	// user's link of the provider then flips between them at each
	// sign-in.
	e := linkEnv(t, []string{"fake"}, "fake")
	_, first := e.signInAt(t, "fake", nil)
	_, second := e.signInAt(t, "fake", subject("second-account"))
	if second == first {
		t.Errorf("a second fake account with the same email joined the user, who now has %v", e.identityKeys(t, first))
	}
}

// sameScope reports whether two scope strings name the same scopes (RFC
// 6749 §3.3: their order does not matter).
func sameScope(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func TestARefreshCanNarrowTheAccessTokenOnly(t *testing.T) {
	t.Parallel()
	// An application that holds the account scope sends its own APIs an
	// access token without it; the session keeps the scope it was granted.
	e := linkEnv(t, []string{"fake", "other"})
	full, _ := e.signInAt(t, "fake", nil)
	spa := bridge.ClientCredentials{ID: "spa"}
	sid := e.sessionOf(t, full.AccessToken)

	narrow, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: spa, RefreshToken: full.RefreshToken, Scope: "openid email profile"})
	if err != nil {
		t.Fatalf("Refresh(narrower scope): %v", err)
	}
	at, err := e.issuer.ParseAccess(narrow.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if !sameScope(narrow.Scope, "openid email profile") || !sameScope(at.Scope, "openid email profile") {
		t.Errorf("narrowed scope = %q, access token scope %q; want openid email profile", narrow.Scope, at.Scope)
	}
	if at.SessionID != sid {
		t.Errorf("the narrowed token is of session %s, want %s", at.SessionID, sid)
	}
	if sess, err := e.store.GetSession(bg, sid); err != nil || !sameScope(sess.Scope, accountScope) {
		t.Errorf("the session's scope after narrowing = %+v, %v; want %q", sess, err, accountScope)
	}
	// The narrowed token manages nothing; the full one still does.
	if _, err := e.b.Identities(bg, narrow.AccessToken); oauthCode(err) != bridge.ErrCodeInsufficientScope {
		t.Errorf("Identities(narrowed token) err = %v, want insufficient_scope", err)
	}
	_, challenge := pkce()
	if _, err := e.b.BeginLink(bg, bridge.LinkRequest{AccessToken: narrow.AccessToken, Provider: "other", RedirectURI: spaRedirect, CodeChallenge: challenge}); oauthCode(err) != bridge.ErrCodeInsufficientScope {
		t.Errorf("BeginLink(narrowed token) err = %v, want insufficient_scope", err)
	}
	if ids, err := e.b.Identities(bg, full.AccessToken); err != nil || len(ids) != 1 {
		t.Errorf("Identities(full token) = %+v, %v; want fake", ids, err)
	}
	if _, err := e.b.UserInfo(bg, narrow.AccessToken); err != nil {
		t.Errorf("UserInfo(narrowed token): %v", err)
	}

	// The refresh token it came with keeps the granted scope: a refresh
	// without scope gets it all back.
	again, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: spa, RefreshToken: narrow.RefreshToken})
	if err != nil {
		t.Fatalf("Refresh(no scope) after narrowing: %v", err)
	}
	if !sameScope(again.Scope, accountScope) {
		t.Errorf("scope after narrowing and refreshing without scope = %q, want %q", again.Scope, accountScope)
	}
	if ids, err := e.b.Identities(bg, again.AccessToken); err != nil || len(ids) != 1 {
		t.Errorf("Identities(token refreshed without scope) = %+v, %v; want fake", ids, err)
	}

	// Narrowing to the account scope alone works too; widening does not.
	only, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: spa, RefreshToken: again.RefreshToken, Scope: bridge.ScopeAccount})
	if err != nil {
		t.Fatalf("Refresh(account): %v", err)
	}
	if only.Scope != bridge.ScopeAccount {
		t.Errorf("Refresh(account) scope = %q, want account", only.Scope)
	}
	for _, wider := range []string{"openid offline_access", accountScope + " offline_access", "openid nonsense"} {
		if _, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: spa, RefreshToken: only.RefreshToken, Scope: wider}); oauthCode(err) != bridge.ErrCodeInvalidScope {
			t.Errorf("Refresh(%q) err = %v, want invalid_scope", wider, err)
		}
	}
}

func TestANarrowedRefreshRetriedWithinTheGraceWindowIsNarrowed(t *testing.T) {
	t.Parallel()
	// Two tabs race: one refreshes with the full scope, the other, a
	// moment later with the same refresh token, asks for less. It gets
	// the same successor refresh token and an access token as narrow as it
	// asked.
	e := linkEnv(t, []string{"fake"})
	full, _ := e.signInAt(t, "fake", nil)
	spa := bridge.ClientCredentials{ID: "spa"}
	first, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: spa, RefreshToken: full.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(5 * time.Second)
	second, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: spa, RefreshToken: full.RefreshToken, Scope: "openid"})
	if err != nil {
		t.Fatalf("second refresh within the grace window: %v", err)
	}
	at, _ := e.issuer.ParseAccess(second.AccessToken)
	if second.Scope != "openid" || at.Scope != "openid" || !sameScope(first.Scope, accountScope) {
		t.Errorf("scopes = first %q, second %q (token %q); want the full scope, then openid", first.Scope, second.Scope, at.Scope)
	}
	r1, _ := e.issuer.ParseRefresh(first.RefreshToken)
	r2, _ := e.issuer.ParseRefresh(second.RefreshToken)
	if r1.Generation != r2.Generation {
		t.Errorf("the racing refreshes got generations %d and %d, want the same successor", r1.Generation, r2.Generation)
	}
}

func TestARefusedScopeDoesNotSpendTheRefreshToken(t *testing.T) {
	t.Parallel()
	// A refresh refused with invalid_scope must change nothing: the
	// application retries with the same refresh token, the only one it
	// has, possibly well after the reuse grace window.
	e := linkEnv(t, []string{"fake"})
	full, _ := e.signInAt(t, "fake", nil)
	spa := bridge.ClientCredentials{ID: "spa"}
	if _, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: spa, RefreshToken: full.RefreshToken, Scope: "openid offline_access"}); oauthCode(err) != bridge.ErrCodeInvalidScope {
		t.Fatalf("Refresh(wider scope) err = %v, want invalid_scope", err)
	}
	e.clock.Add(time.Minute)
	if _, err := e.b.Refresh(bg, bridge.RefreshGrant{Client: spa, RefreshToken: full.RefreshToken}); err != nil {
		t.Errorf("Refresh after a refused scope: %v, want new tokens", err)
	}
	if _, err := e.b.Identities(bg, full.AccessToken); err != nil {
		t.Errorf("the session after a refused scope: %v, want it active", err)
	}
}

// A sign-in whose code was issued before its identity was unlinked, and
// redeemed after, starts no session: the unlink revokes only what is
// active or holds a code of that provider, and the redemption reads the
// user, whose link is gone.
func TestACodeOfAnIdentityUnlinkedBeforeItsRedemptionStartsNoSession(t *testing.T) {
	t.Parallel()
	e := linkEnv(t, []string{"fake", "other"})
	first, userID := e.signInAt(t, "fake", nil)
	e.link(t, first.AccessToken, "other", nil)
	verifier, challenge := pkce()
	u := e.callback(t, "other", e.beginAt(t, "other", challenge, nil))
	code := u.Query().Get("code")
	if code == "" {
		t.Fatalf("sign-in with other ended without a code: %s", u)
	}
	e.clock.Add(time.Second)
	if err := e.b.Unlink(bg, first.AccessToken, "other"); err != nil {
		t.Fatalf("Unlink(other): %v", err)
	}
	_, err := e.b.ExchangeCode(bg, bridge.CodeGrant{
		Client: bridge.ClientCredentials{ID: "spa"}, Code: code, RedirectURI: clientRedirect["spa"], CodeVerifier: verifier,
	})
	var oe *bridge.OAuthError
	if !errors.As(err, &oe) || oe.Code != bridge.ErrCodeInvalidGrant {
		t.Fatalf("redeeming the code after the unlink: %v, want invalid_grant", err)
	}
	sessions, err := e.store.ListUserSessions(bg, userID, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if s.Provider == "other" {
			t.Errorf("session %s of the unlinked provider is active", s.ID)
		}
	}
}
