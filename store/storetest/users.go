package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/store"
)

var userCases = []testCase{
	{name: "twenty concurrent first logins of one identity create exactly one user", run: testConcurrentFirstLogin},
	{name: "a crash after the identity is claimed is repaired by the next login", run: testCrashRepair},
	{name: "a login writes profile and provider tokens together and keeps the creation time", run: testLoginWritesTogether},
	{name: "a user signed in by two providers keeps both links and both identities", run: testTwoProviders},
	{name: "a user's identities are listed oldest first", run: testListUserIdentities},
	{name: "unknown users and identities are not found", run: testUnknownUser},
	{name: "a user can be disabled and enabled again", run: testSetDisabled},
	{name: "a user's not-before is set, only moves forward and survives sign-ins", run: testNotBefore},
	{name: "a user's roles are set, replaced and cleared as given, and only the update time changes with them", run: testSetRoles},
	{name: "setting the roles of an unknown user is not found and creates no user", run: testSetRolesUnknownUser},
	{name: "a user's roles survive sign-ins, disabling and a new not-before", run: testRolesSurvive},
	{name: "provider names that are not letters, digits, '-' or '_' are refused before anything is written", run: testInvalidProviderNames},
	{name: "users are counted", run: testCountUsers},
}

func login(key, provider string, p claims.Profile, token string, now time.Time) store.Login {
	return store.Login{
		IdentityKey: key, Provider: provider, Profile: p, Now: now,
		Link: store.ProviderLink{
			Subject: key, Profile: p, AccessTokenSealed: token, RefreshTokenSealed: "r-" + token, IDTokenSealed: "i-" + token,
			Expiry: now.Add(time.Hour), UpdatedAt: now,
		},
	}
}

// signIn claims identity provider|subject for a new user and records a
// login, as a sign-in does.
func signIn(t *testing.T, s store.Store, provider, subject, userID string, now time.Time) *store.User {
	t.Helper()
	key := provider + "|" + subject
	uid, _, err := s.ClaimIdentity(ctx(), key, provider, subject, userID, now)
	if err != nil {
		t.Fatalf("ClaimIdentity(%s): %v", key, err)
	}
	u, err := s.UpsertLogin(ctx(), uid, login(key, provider, claims.Profile{Email: subject + "@example.com", EmailVerified: true}, "tok-"+subject, now))
	if err != nil {
		t.Fatalf("UpsertLogin(%s): %v", key, err)
	}
	return u
}

func testConcurrentFirstLogin(t *testing.T, s store.Store) {
	subject := uniq("concurrent")
	key := "google|" + subject
	const n = 20
	userIDs := make([]string, n)
	created := make([]bool, n)
	race(t, n, func(i int) error {
		uid, c, err := s.ClaimIdentity(ctx(), key, "google", subject, fmt.Sprintf("%s-user-%d", key, i), t0)
		if err != nil {
			return err
		}
		userIDs[i], created[i] = uid, c
		_, err = s.UpsertLogin(ctx(), uid, login(key, "google", claims.Profile{Email: fmt.Sprintf("u%d@example.com", i)}, fmt.Sprintf("tok-%d", i), t0))
		return err
	})
	for i, uid := range userIDs {
		if uid == "" || uid != userIDs[0] {
			t.Fatalf("login %d got user %q, login 0 got %q: one identity mapped to two users", i, uid, userIDs[0])
		}
	}
	var creators []int
	for i, c := range created {
		if c {
			creators = append(creators, i)
		}
	}
	if len(creators) != 1 {
		t.Errorf("ClaimIdentity reported created to logins %v, want exactly one", creators)
	} else if want := fmt.Sprintf("%s-user-%d", key, creators[0]); userIDs[0] != want {
		t.Errorf("the identity belongs to %q, but login %d (user %q) reported creating it", userIDs[0], creators[0], want)
	}
	id, err := s.GetIdentity(ctx(), key)
	if err != nil {
		t.Fatal(err)
	}
	if id.UserID != userIDs[0] || id.Provider != "google" || id.Subject != subject {
		t.Fatalf("identity = %+v, logins got user %q", id, userIDs[0])
	}
	u, err := s.GetUser(ctx(), userIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(u.Identities, []string{key}) {
		t.Errorf("user identities = %v, want [%s]", u.Identities, key)
	}
	// The profile and the tokens come from the same login.
	link := u.Providers["google"]
	var i int
	if _, err := fmt.Sscanf(link.AccessTokenSealed, "tok-%d", &i); err != nil || u.Profile.Email != fmt.Sprintf("u%d@example.com", i) {
		t.Errorf("profile %q paired with token %q: two logins mixed", u.Profile.Email, link.AccessTokenSealed)
	}
	found := 0
	for i := range n {
		if _, err := s.GetUser(ctx(), fmt.Sprintf("%s-user-%d", key, i)); err == nil {
			found++
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if found != 1 {
		t.Errorf("%d users exist for one identity, want 1", found)
	}
	if c, err := s.CountUsers(ctx()); err != nil || c != 1 {
		t.Errorf("CountUsers() = %d, %v; want 1", c, err)
	}
}

func testCrashRepair(t *testing.T, s store.Store) {
	subject := uniq("crash")
	key := "google|" + subject
	uid, created, err := s.ClaimIdentity(ctx(), key, "google", subject, "user-1", t0)
	if err != nil || !created || uid != "user-1" {
		t.Fatalf("ClaimIdentity() = %q, %v, %v; want user-1, created", uid, created, err)
	}
	// The first sign-in crashes here, before writing its user.
	if _, err := s.GetUser(ctx(), uid); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("user exists before UpsertLogin: %v", err)
	}
	uid2, created, err := s.ClaimIdentity(ctx(), key, "google", subject, "user-2", t0.Add(time.Minute))
	if err != nil || created || uid2 != uid {
		t.Fatalf("second ClaimIdentity() = %q, %v, %v; want %q, not created", uid2, created, err, uid)
	}
	u, err := s.UpsertLogin(ctx(), uid2, login(key, "google", claims.Profile{Email: "c@example.com"}, "t2", t0.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != uid || u.Profile.Email != "c@example.com" || !sameTime(u.CreatedAt, t0.Add(time.Minute)) || !slices.Equal(u.Identities, []string{key}) {
		t.Errorf("repaired user = %+v", u)
	}
	if _, err := s.GetUser(ctx(), "user-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the losing user id exists: %v", err)
	}
}

func testLoginWritesTogether(t *testing.T, s store.Store) {
	subject := uniq("together")
	key := "google|" + subject
	uid, _, err := s.ClaimIdentity(ctx(), key, "google", subject, "user-t", t0)
	if err != nil {
		t.Fatal(err)
	}
	first := login(key, "google", claims.Profile{Name: "First", Email: "f@example.com", EmailVerified: true}, "tok-first", t0)
	if _, err := s.UpsertLogin(ctx(), uid, first); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Hour)
	u, err := s.UpsertLogin(ctx(), uid, login(key, "google", claims.Profile{Name: "Second"}, "tok-second", later))
	if err != nil {
		t.Fatal(err)
	}
	link := u.Providers["google"]
	if u.Profile.Name != "Second" || u.Profile.Email != "" || link.AccessTokenSealed != "tok-second" ||
		link.RefreshTokenSealed != "r-tok-second" || link.IDTokenSealed != "i-tok-second" || link.Profile.Name != "Second" ||
		link.Subject != key || !sameTime(link.Expiry, later.Add(time.Hour)) || !sameTime(link.UpdatedAt, later) {
		t.Errorf("after the second login: %+v", u)
	}
	if !sameTime(u.CreatedAt, t0) || !sameTime(u.UpdatedAt, later) || !sameTime(u.LastLoginAt, later) {
		t.Errorf("created %v updated %v last login %v", u.CreatedAt, u.UpdatedAt, u.LastLoginAt)
	}
	if !slices.Equal(u.Identities, []string{key}) {
		t.Errorf("identities = %v, want [%s]", u.Identities, key)
	}
	got, err := s.GetUser(ctx(), uid)
	if err != nil || got.Profile != u.Profile || !reflect.DeepEqual(got.Providers["google"], link) || !sameTime(got.CreatedAt, t0) {
		t.Errorf("GetUser() = %+v, %v\nwant %+v", got, err, u)
	}
}

func testTwoProviders(t *testing.T, s store.Store) {
	uid := uniq("user")
	g := signIn(t, s, "google", uniq("g"), uid, t0)
	// The same person signs in with another provider already linked to uid.
	fb := uniq("fb")
	fbKey := "facebook|" + fb
	if got, _, err := s.ClaimIdentity(ctx(), fbKey, "facebook", fb, uid, t0.Add(time.Minute)); err != nil || got != uid {
		t.Fatalf("ClaimIdentity(facebook) = %q, %v", got, err)
	}
	u, err := s.UpsertLogin(ctx(), uid, login(fbKey, "facebook", claims.Profile{Name: "FB"}, "tok-fb", t0.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Providers) != 2 || u.Providers["google"].AccessTokenSealed != g.Providers["google"].AccessTokenSealed ||
		u.Providers["facebook"].AccessTokenSealed != "tok-fb" || u.Profile.Name != "FB" {
		t.Errorf("providers after a second provider's login = %+v", u.Providers)
	}
	if !slices.Equal(u.Identities, []string{g.Identities[0], fbKey}) {
		t.Errorf("identities = %v, want [%s %s]", u.Identities, g.Identities[0], fbKey)
	}
	// Signing in with the first provider again keeps the second's link.
	u, err = s.UpsertLogin(ctx(), uid, login(g.Identities[0], "google", claims.Profile{Name: "G again"}, "tok-g2", t0.Add(2*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if u.Providers["facebook"].AccessTokenSealed != "tok-fb" || u.Providers["google"].AccessTokenSealed != "tok-g2" || len(u.Identities) != 2 {
		t.Errorf("after signing in with google again: %+v", u)
	}
}

func testListUserIdentities(t *testing.T, s store.Store) {
	uid := uniq("user")
	g := signIn(t, s, "google", uniq("g"), uid, t0.Add(time.Minute))
	fb := uniq("fb")
	if _, _, err := s.ClaimIdentity(ctx(), "facebook|"+fb, "facebook", fb, uid, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	signIn(t, s, "google", uniq("g"), uniq("user"), t0) // someone else
	got, err := s.ListUserIdentities(ctx(), uid)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Key != g.Identities[0] || got[1].Key != "facebook|"+fb || got[1].Subject != fb ||
		got[1].Provider != "facebook" || got[1].UserID != uid || !sameTime(got[1].CreatedAt, t0.Add(2*time.Minute)) {
		t.Errorf("ListUserIdentities() = %+v", got)
	}
	if got, err := s.ListUserIdentities(ctx(), "nobody"); err != nil || len(got) != 0 {
		t.Errorf("ListUserIdentities(nobody) = %v, %v", got, err)
	}
}

func testUnknownUser(t *testing.T, s store.Store) {
	_, err := s.GetUser(ctx(), "nobody")
	mustNotFound(t, "GetUser", err)
	_, err = s.GetIdentity(ctx(), "google|nobody")
	mustNotFound(t, "GetIdentity", err)
	mustNotFound(t, "SetDisabled", s.SetDisabled(ctx(), "nobody", true))
	mustNotFound(t, "SetRoles", s.SetRoles(ctx(), "nobody", []string{"admin"}, t0))
	if _, err := s.GetUser(ctx(), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetDisabled created a user: %v", err)
	}
}

func testSetDisabled(t *testing.T, s store.Store) {
	u := signIn(t, s, "google", uniq("d"), uniq("user"), t0)
	if u.Disabled {
		t.Fatal("a new user is disabled")
	}
	if err := s.SetDisabled(ctx(), u.ID, true); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(ctx(), u.ID)
	if err != nil || !got.Disabled || got.Profile != u.Profile {
		t.Errorf("after disabling: %+v, %v", got, err)
	}
	// A sign-in does not re-enable the user.
	again, err := s.UpsertLogin(ctx(), u.ID, login(u.Identities[0], "google", u.Profile, "tok-again", t0.Add(time.Minute)))
	if err != nil || !again.Disabled {
		t.Errorf("a login re-enabled a disabled user: %+v, %v", again, err)
	}
	if err := s.SetDisabled(ctx(), u.ID, false); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetUser(ctx(), u.ID); err != nil || got.Disabled {
		t.Errorf("after enabling: %+v, %v", got, err)
	}
}

func testNotBefore(t *testing.T, s store.Store) {
	u := signIn(t, s, "google", uniq("nb"), uniq("user"), t0)
	if !u.NotBefore.IsZero() {
		t.Fatalf("a new user has not-before %v, want zero", u.NotBefore)
	}
	odd := time.Date(2026, 11, 23, 13, 0, 0, 250_000_000, time.FixedZone("X", -7200))
	if err := s.SetUserNotBefore(ctx(), u.ID, odd); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(ctx(), u.ID)
	if err != nil || !sameTime(got.NotBefore, odd) {
		t.Fatalf("GetUser() after SetUserNotBefore = %+v, %v; want not-before %v in UTC", got, err, odd)
	}
	if err := s.SetUserNotBefore(ctx(), u.ID, odd.Add(-time.Minute)); err != nil {
		t.Errorf("SetUserNotBefore of an earlier time: %v, want nil (and no change)", err)
	}
	if got, err := s.GetUser(ctx(), u.ID); err != nil || !sameTime(got.NotBefore, odd) {
		t.Errorf("an earlier not-before moved it back: %+v, %v; want %v", got, err, odd)
	}
	later := odd.Add(time.Hour)
	if err := s.SetUserNotBefore(ctx(), u.ID, later); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx(), u.ID, true); err != nil {
		t.Fatal(err)
	}
	// A sign-in changes neither.
	again, err := s.UpsertLogin(ctx(), u.ID, login(u.Identities[0], "google", u.Profile, "tok-again", later.Add(time.Minute)))
	if err != nil || !sameTime(again.NotBefore, later) || !again.Disabled {
		t.Errorf("after a sign-in: %+v, %v; want not-before %v and still disabled", again, err, later)
	}
	if got, err := s.GetUser(ctx(), u.ID); err != nil || !sameTime(got.NotBefore, later) || got.Profile != u.Profile {
		t.Errorf("GetUser() = %+v, %v; want not-before %v", got, err, later)
	}

	mustNotFound(t, "SetUserNotBefore of an unknown user", s.SetUserNotBefore(ctx(), "nobody", t0))
	if _, err := s.GetUser(ctx(), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetUserNotBefore created a user: %v", err)
	}
	if err := s.SetUserNotBefore(ctx(), u.ID, time.Time{}); err == nil || isNotFound(err) {
		t.Errorf("SetUserNotBefore of the zero time = %v, want an error", err)
	}
}

func testSetRoles(t *testing.T, s store.Store) {
	u := signIn(t, s, "google", uniq("roles"), uniq("user"), t0)
	if u.Roles != nil {
		t.Fatalf("a new user has roles %q, want nil", u.Roles)
	}
	// Fields that SetRoles must leave, all set.
	if err := s.SetDisabled(ctx(), u.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserNotBefore(ctx(), u.ID, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	before, err := s.GetUser(ctx(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	odd := time.Date(2026, 11, 23, 14, 0, 0, 417_000_000, time.FixedZone("X", 3*3600)) // ms precision, not UTC
	for i, tt := range []struct {
		name  string
		roles []string
		want  []string // nil: cleared
	}{
		{"one role is set", []string{"reader"}, []string{"reader"}},
		{"several replace it, in the order given", []string{"writer", "admin", "reader"}, []string{"writer", "admin", "reader"}},
		// The store does not validate, sort or deduplicate: the caller does.
		{"roles are kept as given, case, repeats and path-like characters included",
			[]string{"Admin", "admin", "a.b", "$where", "ü x", "admin"}, []string{"Admin", "admin", "a.b", "$where", "ü x", "admin"}},
		{"an empty list clears them", []string{}, nil},
		{"roles are set again after a clear", []string{"reader"}, []string{"reader"}},
		{"nil clears them", nil, nil},
		{"clearing cleared roles is no error", nil, nil},
	} {
		now := odd.Add(time.Duration(i) * time.Minute)
		if err := s.SetRoles(ctx(), u.ID, tt.roles, now); err != nil {
			t.Fatalf("%s: SetRoles(%q): %v", tt.name, tt.roles, err)
		}
		got, err := s.GetUser(ctx(), u.ID)
		if err != nil {
			t.Fatalf("%s: GetUser: %v", tt.name, err)
		}
		if !slices.Equal(got.Roles, tt.want) || (tt.want == nil) != (got.Roles == nil) {
			t.Errorf("%s: roles after SetRoles(%q) = %#v, want %#v", tt.name, tt.roles, got.Roles, tt.want)
		}
		if !sameTime(got.UpdatedAt, now) {
			t.Errorf("%s: UpdatedAt = %v, want %v in UTC", tt.name, got.UpdatedAt, now)
		}
		// Everything else is as it was.
		want := *before
		want.Roles, want.UpdatedAt = got.Roles, got.UpdatedAt
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("%s: SetRoles changed more than the roles and UpdatedAt:\n got %+v\nwant %+v", tt.name, *got, want)
		}
	}
}

func testSetRolesUnknownUser(t *testing.T, s store.Store) {
	for _, roles := range [][]string{{"admin"}, nil} {
		mustNotFound(t, fmt.Sprintf("SetRoles(%q) of an unknown user", roles), s.SetRoles(ctx(), "nobody", roles, t0))
	}
	if _, err := s.GetUser(ctx(), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetRoles created a user: %v", err)
	}
	if n, err := s.CountUsers(ctx()); err != nil || n != 0 {
		t.Errorf("CountUsers() = %d, %v; want 0", n, err)
	}
	// An identity without its user (a crash before UpsertLogin) is no
	// user either.
	if _, _, err := s.ClaimIdentity(ctx(), "google|orphan", "google", "orphan", "orphan-user", t0); err != nil {
		t.Fatal(err)
	}
	mustNotFound(t, "SetRoles of a user whose identity exists without it", s.SetRoles(ctx(), "orphan-user", []string{"admin"}, t0))
}

func testRolesSurvive(t *testing.T, s store.Store) {
	u := signIn(t, s, "google", uniq("roles"), uniq("user"), t0)
	roles := []string{"admin", "reader"}
	if err := s.SetRoles(ctx(), u.ID, roles, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Hour)
	again, err := s.UpsertLogin(ctx(), u.ID, login(u.Identities[0], "google", claims.Profile{Name: "Again"}, "tok-again", later))
	if err != nil || !slices.Equal(again.Roles, roles) || again.Profile.Name != "Again" {
		t.Errorf("UpsertLogin() after SetRoles = %+v, %v; want roles %q kept", again, err, roles)
	}
	if err := s.SetDisabled(ctx(), u.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserNotBefore(ctx(), u.ID, later); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(ctx(), u.ID)
	if err != nil || !slices.Equal(got.Roles, roles) || !got.Disabled || !sameTime(got.NotBefore, later) || !sameTime(got.UpdatedAt, later) {
		t.Errorf("GetUser() = %+v, %v; want roles %q, disabled, not-before and last update %v", got, err, roles, later)
	}
}

func testInvalidProviderNames(t *testing.T, s store.Store) {
	long := strings.Repeat("p", 65)
	for _, name := range []string{"", "google.profile", "$where", "a b", "quo\"te", "ünï", "slash/name", "google|x", long} {
		key := name + "|" + uniq("s")
		uid := uniq("user")
		_, _, err := s.ClaimIdentity(ctx(), key, name, "s", uid, t0)
		checkInvalidName(t, "ClaimIdentity", name, err)
		if _, err := s.GetIdentity(ctx(), key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ClaimIdentity with provider %q wrote the identity: %v", name, err)
		}
		_, err = s.UpsertLogin(ctx(), uid, login(key, name, claims.Profile{Email: "x@example.com"}, "tok", t0))
		checkInvalidName(t, "UpsertLogin", name, err)
		if _, err := s.GetUser(ctx(), uid); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpsertLogin with provider %q wrote the user: %v", name, err)
		}
	}
	// The longest valid name, and every kind of character allowed.
	for _, name := range []string{strings.Repeat("p", 64), "Azure-Work_2"} {
		u := signIn(t, s, name, uniq("ok"), uniq("user"), t0)
		if _, ok := u.Providers[name]; !ok {
			t.Errorf("provider %q: providers = %v", name, u.Providers)
		}
	}
}

// checkInvalidName checks that op refused provider name with the error of
// store.ValidProviderName.
func checkInvalidName(t *testing.T, op, name string, err error) {
	t.Helper()
	want := store.ValidProviderName(name)
	switch {
	case want == nil:
		t.Fatalf("ValidProviderName(%q) = nil; the case is wrong", name)
	case err == nil:
		t.Errorf("%s with provider name %q succeeded, want it refused", op, name)
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict):
		t.Errorf("%s with provider name %q: %v; want an invalid-name error, not ErrNotFound or ErrConflict", op, name, err)
	case !strings.Contains(err.Error(), want.Error()):
		t.Errorf("%s with provider name %q: %v; want it to say %q", op, name, err, want)
	}
}

func testCountUsers(t *testing.T, s store.Store) {
	if n, err := s.CountUsers(ctx()); err != nil || n != 0 {
		t.Fatalf("CountUsers() of an empty store = %d, %v", n, err)
	}
	for range 3 {
		signIn(t, s, "google", uniq("c"), uniq("user"), t0)
	}
	// An identity without its user (a crash) is not a user.
	if _, _, err := s.ClaimIdentity(ctx(), "google|orphan", "google", "orphan", "orphan-user", t0); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountUsers(ctx()); err != nil || n != 3 {
		t.Errorf("CountUsers() = %d, %v; want 3", n, err)
	}
}
