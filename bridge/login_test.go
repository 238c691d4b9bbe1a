package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/providers"
	"github.com/socialbridge/socialbridge/store"
)

// beginWith starts a login for req and has the person approve it at the
// provider.
func (e *env) beginWith(t testing.TB, req bridge.AuthorizeRequest) started {
	t.Helper()
	login, err := e.b.BeginLogin(bg, req)
	if err != nil {
		t.Fatalf("BeginLogin: %v", err)
	}
	u, _ := url.Parse(login.ProviderURL)
	state := u.Query().Get("state")
	return started{flowID: login.FlowID, state: state, code: e.prov.approve(state)}
}

// userCount returns how many users the store holds.
func (e *env) userCount(t testing.TB) int64 {
	t.Helper()
	n, err := e.store.CountUsers(bg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDeadCallbacksNeverReachTheProviderOrWriteUsers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// prepare makes the flow dead before its callback.
		prepare func(t *testing.T, e *env, s started)
		want    error
	}{
		{"a replayed callback, even with a fresh provider code", func(t *testing.T, e *env, s started) {
			e.finish(t, s)
		}, bridge.ErrFlowUsed},
		{"a callback after the flow expired", func(t *testing.T, e *env, s started) {
			e.clock.Add(11 * time.Minute)
		}, bridge.ErrFlowExpired},
		{"a callback after the provider reported an error", func(t *testing.T, e *env, s started) {
			if _, err := e.b.FinishLogin(bg, "fake", bridge.Callback{State: s.state, Error: "access_denied", Binding: e.bound(s.flowID)}); err != nil {
				t.Fatal(err)
			}
		}, bridge.ErrFlowUsed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			_, challenge := pkce()
			s := e.begin(t, challenge)
			tt.prepare(t, e, s)
			users, calls := e.userCount(t), e.prov.exchangeCalls()
			// Another person approves at the provider: had the callback
			// reached it, this identity would be written.
			e.prov.setIdentity(func(id *providers.Identity) { id.Subject = "subject-intruder" })
			_, err := e.b.FinishLogin(bg, "fake", bridge.Callback{State: s.state, Code: e.prov.approve(s.state), Binding: e.bound(s.flowID)})
			var pe *bridge.PageError
			if !errors.As(err, &pe) || !errors.Is(err, tt.want) {
				t.Fatalf("FinishLogin() err = %v, want an error page for %q", err, tt.want)
			}
			if got := e.prov.exchangeCalls(); got != calls {
				t.Errorf("the provider's token endpoint was called %d more times", got-calls)
			}
			if got := e.userCount(t); got != users {
				t.Errorf("users: %d, want %d", got, users)
			}
			if _, err := e.store.GetIdentity(bg, "fake|subject-intruder"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the dead callback wrote an identity: %v", err)
			}
		})
	}
}

func TestConcurrentCallbacksOfOneFlowCallTheProviderOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, challenge := pkce()
	s := e.begin(t, challenge)
	const n = 10
	codes := make([]string, n)
	for i := range codes {
		codes[i] = e.prov.approve(s.state)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.b.FinishLogin(bg, "fake", bridge.Callback{State: s.state, Code: codes[i], Binding: e.bound(s.flowID)})
			var pe *bridge.PageError
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case !errors.As(err, &pe) || !errors.Is(err, bridge.ErrFlowUsed):
				t.Errorf("callback %d: %v, want success or the already-used page", i, err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || e.prov.exchangeCalls() != 1 {
		t.Errorf("%d callbacks succeeded and %d reached the provider; want exactly 1 each", wins, e.prov.exchangeCalls())
	}
}

// failingStore fails one write of the store after the flow is claimed.
type failingStore struct {
	store.Store
	failUpsert  bool
	unavailable bool // the failure is an outage
}

func (f failingStore) UpsertLogin(ctx context.Context, userID string, l store.Login) (*store.User, error) {
	if f.failUpsert && f.unavailable {
		return nil, fmt.Errorf("%w: connection refused", store.ErrUnavailable)
	}
	if f.failUpsert {
		return nil, errors.New("disk I/O error")
	}
	return f.Store.UpsertLogin(ctx, userID, l)
}

func TestAFlowThatFailsAfterItsClaimEndsFailedAndTellsTheClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		wrap     func(store.Store) store.Store
		failWith error
		want     string
	}{
		{"the provider refuses the code", nil,
			&providers.Error{Provider: "fake", Code: providers.CodeInvalidGrant, Message: "used code"}, "server_error"},
		{"the user cannot be written", func(s store.Store) store.Store { return failingStore{Store: s, failUpsert: true} },
			nil, "server_error"},
		{"the database is unavailable for the user's write", func(s store.Store) store.Store {
			return failingStore{Store: s, failUpsert: true, unavailable: true}
		}, nil, "temporarily_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnvWith(t, tt.wrap)
			e.prov.failWith = tt.failWith
			_, challenge := pkce()
			s := e.begin(t, challenge)
			target, err := e.b.FinishLogin(bg, "fake", bridge.Callback{State: s.state, Code: s.code, Binding: e.bound(s.flowID)})
			if err != nil {
				t.Fatalf("FinishLogin() err = %v, want a redirect to the client", err)
			}
			u, _ := url.Parse(target)
			if !strings.HasPrefix(target, spaRedirect+"?") || u.Query().Get("error") != tt.want || u.Query().Get("state") != "client-state" {
				t.Fatalf("redirect = %s, want error=%s with the client's state", target, tt.want)
			}
			if sess, err := e.store.GetSession(bg, s.flowID); err != nil || sess.State != store.StateFailed {
				t.Errorf("flow = %+v, %v; want it failed", sess, err)
			}
		})
	}
}

func TestFlowBindingIsCheckedByValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		binding func(e *env, s started) string
		ok      bool
	}{
		{"the binding of this flow passes", func(e *env, s started) string { return e.b.FlowBinding(s.flowID) }, true},
		{"a planted value 1 is refused", func(*env, started) string { return "1" }, false},
		{"no cookie is refused", func(*env, started) string { return "" }, false},
		{"another flow's binding is refused", func(e *env, _ started) string { return e.b.FlowBinding(strings.Repeat("A", 22)) }, false},
		{"the state's MAC is not a binding", func(_ *env, s started) string { return strings.SplitN(s.state, ".", 2)[1] }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			_, challenge := pkce()
			s := e.begin(t, challenge)
			_, err := e.b.FinishLogin(bg, "fake", bridge.Callback{State: s.state, Code: s.code, Binding: tt.binding(e, s)})
			switch {
			case tt.ok && err != nil:
				t.Fatalf("FinishLogin() err = %v", err)
			case !tt.ok && !errors.Is(err, bridge.ErrUnboundFlow):
				t.Fatalf("FinishLogin() err = %v, want %v", err, bridge.ErrUnboundFlow)
			case !tt.ok && e.prov.exchangeCalls() != 0:
				t.Error("an unbound callback reached the provider")
			}
		})
	}
	e := newEnv(t)
	_, challenge := pkce()
	if id, ok := e.b.StateFlowID(e.begin(t, challenge).state); !ok || len(id) != 22 {
		t.Errorf("StateFlowID(a state we made) = %q, %v", id, ok)
	}
	if _, ok := e.b.StateFlowID(strings.Repeat("A", 22) + ".forged"); ok {
		t.Error("StateFlowID accepted a forged state")
	}
}

func TestPromptNoneIsLoginRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, challenge := pkce()
	for _, provider := range []string{"", "fake"} {
		req := authorizeRequest(challenge)
		req.Provider, req.Prompt = provider, "none"
		var err error
		if provider == "" {
			_, err = e.b.CheckAuthorize(req)
		} else {
			_, err = e.b.BeginLogin(bg, req)
		}
		var re *bridge.RedirectError
		if !errors.As(err, &re) || re.Code != "login_required" || re.State != "client-state" || re.RedirectURI != spaRedirect {
			t.Fatalf("provider %q, prompt=none: err = %v, want a login_required redirect with the state", provider, err)
		}
		u, _ := url.Parse(e.b.ErrorRedirect(re))
		if q := u.Query(); q.Get("error") != "login_required" || q.Get("state") != "client-state" || q.Get("iss") != publicURL {
			t.Errorf("ErrorRedirect = %s", u)
		}
	}
	if len(e.prov.asked) != 0 {
		t.Error("prompt=none reached the provider")
	}
}

func TestOpenIDConnectOptionsReachTheProvider(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		prompt    string
		maxAge    string
		loginHint string
		want      providers.AuthRequest
		// stored is the max_age the provider's auth_time is checked
		// against on return: prompt=login means 0 (OIDC Core §3.1.2.1).
		stored *int64
	}{
		{"none given", "", "", "", providers.AuthRequest{}, nil},
		{"prompt, max_age and login_hint", "login  select_account login", "300", "alice@example.com",
			providers.AuthRequest{Prompt: []string{"login", "select_account"}, MaxAge: ptr(300), LoginHint: "alice@example.com"}, ptr(0)},
		{"prompt=login alone is checked as max_age 0", "login", "", "", providers.AuthRequest{Prompt: []string{"login"}}, ptr(0)},
		{"max_age 0 is a value", "consent", "0", "", providers.AuthRequest{Prompt: []string{"consent"}, MaxAge: ptr(0)}, ptr(0)},
		{"max_age is kept without prompt=login", "select_account", "600", "", providers.AuthRequest{Prompt: []string{"select_account"}, MaxAge: ptr(600)}, ptr(600)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			_, challenge := pkce()
			req := authorizeRequest(challenge)
			req.Prompt, req.MaxAge, req.LoginHint = tt.prompt, tt.maxAge, tt.loginHint
			s := e.beginWith(t, req)
			got := e.prov.asked[s.state]
			if !slices.Equal(got.Prompt, tt.want.Prompt) || !sameAge(got.MaxAge, tt.want.MaxAge) || got.LoginHint != tt.want.LoginHint {
				t.Errorf("provider asked prompt %q max_age %v login_hint %q; want %q %v %q",
					got.Prompt, fmtAge(got.MaxAge), got.LoginHint, tt.want.Prompt, fmtAge(tt.want.MaxAge), tt.want.LoginHint)
			}
			if flow, err := e.store.GetSession(bg, s.flowID); err != nil || !sameAge(flow.MaxAge, tt.stored) {
				t.Errorf("stored flow max_age = %v, %v; want %v", fmtAge(flow.MaxAge), err, fmtAge(tt.stored))
			}
		})
	}
}

func ptr(v int64) *int64 { return &v }

func sameAge(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func fmtAge(a *int64) any {
	if a == nil {
		return "none"
	}
	return *a
}

func TestMaxAgeIsCheckedAgainstTheProvidersAuthTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		maxAge   string
		authAgo  time.Duration // how long before the callback the provider authenticated; -1: not reported
		wantErr  string        // the client's error, or "" for a code
		wantAuth time.Duration // the session's auth_time, before the callback
	}{
		{"an authentication within max_age passes and becomes our auth_time", "300", 4 * time.Minute, "", 4 * time.Minute},
		{"an authentication older than max_age is login_required", "300", 10 * time.Minute, "login_required", 0},
		{"max_age 0 passes an authentication that just happened", "0", 5 * time.Second, "", 5 * time.Second},
		{"max_age 0 refuses a remembered session", "0", 2 * time.Hour, "login_required", 0},
		{"without max_age an old authentication passes with its own time", "", 30 * 24 * time.Hour, "", 30 * 24 * time.Hour},
		{"a provider that reports no auth_time passes, at the callback's time", "60", -1, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			verifier, challenge := pkce()
			req := authorizeRequest(challenge)
			req.MaxAge = tt.maxAge
			s := e.beginWith(t, req)
			e.clock.Add(time.Minute) // the person takes a minute at the provider
			now := e.clock.Now()
			if tt.authAgo >= 0 {
				e.prov.setIdentity(func(id *providers.Identity) { id.AuthTime = now.Add(-tt.authAgo) })
			}
			u := e.finish(t, s)
			if got := u.Query().Get("error"); got != tt.wantErr {
				t.Fatalf("client redirect %s: error %q, want %q", u, got, tt.wantErr)
			}
			flow, err := e.store.GetSession(bg, s.flowID)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" {
				if flow.State != store.StateFailed || e.userCount(t) != 0 {
					t.Errorf("flow %s and %d users; want the flow failed and no user written", flow.State, e.userCount(t))
				}
				return
			}
			if want := now.Add(-tt.wantAuth); !flow.AuthTime.Equal(want) {
				t.Errorf("session auth_time = %v, want %v", flow.AuthTime, want)
			}
			ts, err := e.b.ExchangeCode(bg, bridge.CodeGrant{Client: bridge.ClientCredentials{ID: "spa"}, Code: u.Query().Get("code"),
				RedirectURI: spaRedirect, CodeVerifier: verifier})
			if err != nil {
				t.Fatal(err)
			}
			at, err := e.issuer.ParseAccess(ts.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if !at.AuthTime.Equal(now.Add(-tt.wantAuth)) {
				t.Errorf("access token auth_time = %v, want %v", at.AuthTime, now.Add(-tt.wantAuth))
			}
		})
	}
}

func TestUnreachableProviderLeavesNoFlowAndLogsTheCause(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.prov.urlErr = &providers.Error{Provider: "fake", Code: providers.CodeUnavailable, Message: "discovery failed",
		Err: errors.New("dial tcp 192.0.2.1:443: connect: connection refused")}
	_, challenge := pkce()
	_, err := e.b.BeginLogin(bg, authorizeRequest(challenge))
	var re *bridge.RedirectError
	if !errors.As(err, &re) || re.Code != "temporarily_unavailable" || re.State != "client-state" {
		t.Fatalf("BeginLogin() err = %v, want temporarily_unavailable to the client", err)
	}
	if len(e.prov.asked) != 1 {
		t.Fatalf("the provider was asked %d times, want 1", len(e.prov.asked))
	}
	for state := range e.prov.asked {
		flowID, _, _ := strings.Cut(state, ".")
		if _, err := e.store.GetSession(bg, flowID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSession(%s) err = %v; want no flow stored", flowID, err)
		}
		logs := e.logs.String()
		var line string
		for l := range strings.Lines(logs) {
			if strings.Contains(l, "level=WARN") && strings.Contains(l, "connection refused") {
				line = l
			}
		}
		if line == "" || !strings.Contains(line, "provider=fake") || !strings.Contains(line, "client_id=spa") || !strings.Contains(line, flowID) {
			t.Errorf("no WARN line naming the provider, client, flow and cause:\n%s", logs)
		}
	}
}

func TestAProviderErrorCannotFailAFlowAnotherCallbackIsExchanging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, challenge := pkce()
	s := e.begin(t, challenge)
	// The first callback has claimed the flow and is talking to the provider.
	if _, err := e.store.ClaimFlow(bg, s.flowID, "fake", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	_, err := e.b.FinishLogin(bg, "fake", bridge.Callback{State: s.state, Error: "access_denied", Binding: e.bound(s.flowID)})
	if !errors.Is(err, bridge.ErrFlowUsed) {
		t.Fatalf("a provider error for a flow being exchanged: %v, want the already-used page", err)
	}
	flow, err := e.store.GetSession(bg, s.flowID)
	if err != nil || flow.State != store.StateExchanging {
		t.Errorf("flow = %+v, %v; want it still exchanging for the first callback", flow, err)
	}
}
