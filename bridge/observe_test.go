package bridge_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
)

// observer is a bridge.Observer that keeps every event as a line.
type observer struct {
	mu     sync.Mutex
	events []string
}

func (o *observer) add(s string)                   { o.mu.Lock(); defer o.mu.Unlock(); o.events = append(o.events, s) }
func (o *observer) SignIn(provider, result string) { o.add("signin " + provider + " " + result) }
func (o *observer) Grant(grantType, result string) { o.add("grant " + grantType + " " + result) }
func (o *observer) Reuse(kind string)              { o.add("reuse " + kind) }
func (o *observer) Revoked(reason string, n int) {
	for range n {
		o.add("revoked " + reason)
	}
}
func (o *observer) Feed(reset bool, entries int) {
	if reset {
		o.add("feed reset")
	}
}

func (o *observer) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.events
	o.events = nil
	return out
}

func TestTheObserverHearsSignInsGrantsReuseAndRevocations(t *testing.T) {
	t.Parallel()
	obs := &observer{}
	e := newEnv(t).reconfigure(t, func(o *bridge.Options) { o.Observer = obs })
	ctx := context.Background()

	ts, _ := e.signIn(t)
	if got, want := obs.take(), []string{"signin fake success", "grant authorization_code success"}; !slices.Equal(got, want) {
		t.Errorf("sign-in: %q, want %q", got, want)
	}

	next, err := e.b.Refresh(ctx, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: ts.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute) // past the reuse grace
	if _, err := e.b.Refresh(ctx, bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: ts.RefreshToken}); err == nil {
		t.Fatal("a reused refresh token was accepted")
	}
	want := []string{"grant refresh_token success", "reuse refresh_token", "revoked refresh_token_reuse", "grant refresh_token invalid_grant"}
	if got := obs.take(); !slices.Equal(got, want) {
		t.Errorf("refresh and reuse: %q, want %q", got, want)
	}

	// The session is gone: a logout revokes nothing more.
	_, _ = e.b.Logout(ctx, bridge.LogoutRequest{AccessToken: next.AccessToken})
	if got := obs.take(); slices.Contains(got, "revoked logout") {
		t.Errorf("a logout of a revoked session counted a revocation: %q", got)
	}

	ts2, _ := e.signIn(t)
	obs.take()
	if _, err := e.b.Logout(ctx, bridge.LogoutRequest{AccessToken: ts2.AccessToken}); err != nil {
		t.Fatal(err)
	}
	if got, want := obs.take(), []string{"revoked logout"}; !slices.Equal(got, want) {
		t.Errorf("logout: %q, want %q", got, want)
	}
}

func TestABridgeWithoutAnObserverReportsNothingAndWorks(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // Options.Observer is nil
	ts, _ := e.signIn(t)
	if _, err := e.b.Refresh(context.Background(), bridge.RefreshGrant{Client: bridge.ClientCredentials{ID: "spa"}, RefreshToken: ts.RefreshToken}); err != nil {
		t.Fatal(err)
	}
}

// lostLinkCode is a store whose link flows are gone by the time their
// code is issued (expired or used meanwhile): the link's callback ends on
// an error page.
type lostLinkCode struct{ store.Store }

func (lostLinkCode) IssueLinkCode(context.Context, string, string, time.Time, store.LinkCodeIssue) (*store.Session, error) {
	return nil, store.ErrNotFound
}

// TestALinkEndingOnAnErrorPageIsNoFailedSignIn: the callback of an
// explicit link is not a sign-in, so a link that fails after its flow was
// claimed is not counted among the failed sign-ins.
func TestALinkEndingOnAnErrorPageIsNoFailedSignIn(t *testing.T) {
	t.Parallel()
	obs := &observer{}
	e := newEnvConfig(t, envConfig{
		providers: []providers.Provider{newFakeProvider("fake"), newFakeProvider("other")},
		wrap:      func(s store.Store) store.Store { return lostLinkCode{s} },
	}).reconfigure(t, func(o *bridge.Options) { o.Observer = obs })
	ts, _ := e.signInAt(t, "fake", nil)
	lf := e.startLink(t, ts.AccessToken, "other", nil)
	obs.take()
	if _, err := e.b.FinishLogin(bg, "other", bridge.Callback{State: lf.state, Code: lf.code, Binding: e.bound(lf.flowID)}); err == nil {
		t.Fatal("the link's callback succeeded without a link code")
	}
	if got := obs.take(); slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "signin ") }) {
		t.Errorf("a failed link was counted as a sign-in: %q", got)
	}
}
