package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/claims"
	"github.com/socialbridge/socialbridge/store"
)

var linkingCases = []testCase{
	{name: "a login stores the link's scopes and link email, and the provider's next login replaces them", run: testLinkFields},
	{name: "users are found by their links' link email, exactly, sorted, once each and at most ten", run: testFindUsersByLinkEmail},
	{name: "an email stops finding a user when no link of the user holds it any more", run: testLinkEmailLeaves},
	{name: "only the links of the providers named find a user by link email, and no providers find no one", run: testFindUsersByLinkEmailProviders},
	{name: "a sign-in without a refresh token keeps the stored one of the same subject, and replaces the rest of the link", run: testKeepRefreshToken},
	{name: "a sign-in of another subject replaces the link whole, its refresh token with it", run: testReplaceRefreshToken},
	{name: "a first sign-in, or a provider's first link, without a refresh token stores the link as given", run: testNoRefreshTokenFirstLink},
	{name: "unlinking removes the identity, its key and its provider's link, and frees the identity", run: testUnlink},
	{name: "unlinking keeps the provider's link when it is another identity's of that provider", run: testUnlinkKeepsOtherLink},
	{name: "the last identity cannot be unlinked, and nothing changes", run: testUnlinkLast},
	{name: "unlinking an unknown identity, or another user's, is not found and changes nothing", run: testUnlinkNotFound},
	{name: "an identity of a user that was never written can be unlinked, and the user stays unwritten", run: testUnlinkOrphan},
	{name: "a provider's tokens are replaced only at the version they were read at, and the rest of the link stays", run: testUpdateProviderTokens},
	{name: "token updates of unknown users, links or provider names change nothing", run: testUpdateProviderTokensRefusals},
	{name: "concurrent links, unlinks and sign-ins of one user keep every identity with one existing user and the user with one at least", atomic: true, run: testConcurrentLinking},
	{name: "concurrent unlinks of all of a user's identities leave it at least one", atomic: true, run: testConcurrentUnlinkAll},
	{name: "twenty concurrent token updates from one version have exactly one winner", atomic: true, run: testConcurrentUpdateProviderTokens},
	{name: "concurrent sign-ins of two subjects of one provider never leave one's refresh token with the other's link", atomic: true, run: testConcurrentRefreshTokenKeep},
}

// linkedLogin is a sign-in with identity provider|subject whose link holds
// the provider's subject (as the bridge writes it), scopes and link email.
func linkedLogin(provider, subject, email string, scopes []string, now time.Time) store.Login {
	p := claims.Profile{Email: subject + "@example.com", EmailVerified: true}
	return store.Login{
		IdentityKey: provider + "|" + subject, Provider: provider, Profile: p, Now: now,
		Link: store.ProviderLink{
			Subject: subject, Profile: p, AccessTokenSealed: "a-" + subject, RefreshTokenSealed: "r-" + subject,
			IDTokenSealed: "i-" + subject, Expiry: now.Add(time.Hour), Scopes: scopes, LinkEmail: email, UpdatedAt: now,
		},
	}
}

// link claims identity provider|subject for user uid (creating it for uid
// when new, as an explicit link or a first sign-in does) and records the
// login; it fails the test unless the identity is uid's.
func link(t *testing.T, s store.Store, uid, provider, subject, email string, now time.Time) *store.User {
	t.Helper()
	key := provider + "|" + subject
	got, _, err := s.ClaimIdentity(ctx(), key, provider, subject, uid, now)
	if err != nil || got != uid {
		t.Fatalf("ClaimIdentity(%s, for %s) = %q, %v", key, uid, got, err)
	}
	u, err := s.UpsertLogin(ctx(), uid, linkedLogin(provider, subject, email, []string{"openid", "email"}, now))
	if err != nil {
		t.Fatalf("UpsertLogin(%s): %v", key, err)
	}
	return u
}

// trusted are the providers the suite's link-email lookups trust: every
// provider its links use, unless a case says otherwise.
var trusted = []string{"google", "facebook", "azure"}

// foundBy returns FindUsersByLinkEmail(email, trusted), failing the test
// on error.
func foundBy(t *testing.T, s store.Store, email string) []string {
	t.Helper()
	return foundWith(t, s, email, trusted)
}

// foundWith returns FindUsersByLinkEmail(email, providers), failing the
// test on error.
func foundWith(t *testing.T, s store.Store, email string, providers []string) []string {
	t.Helper()
	ids, err := s.FindUsersByLinkEmail(ctx(), email, providers)
	if err != nil {
		t.Fatalf("FindUsersByLinkEmail(%q): %v", email, err)
	}
	return ids
}

func identityKeys(list []store.Identity) []string {
	keys := make([]string, len(list))
	for i, id := range list {
		keys[i] = id.Key
	}
	return keys
}

func testLinkFields(t *testing.T, s store.Store) {
	uid := uniq("user")
	u := link(t, s, uid, "google", uniq("g"), "a@example.com", t0)
	if l := u.Providers["google"]; !slices.Equal(l.Scopes, []string{"openid", "email"}) || l.LinkEmail != "a@example.com" {
		t.Errorf("UpsertLogin() link = %+v; want scopes [openid email] and link email a@example.com", l)
	}
	fb := uniq("fb")
	link(t, s, uid, "facebook", fb, "b@example.com", t0.Add(time.Minute))
	got, err := s.GetUser(ctx(), uid)
	if err != nil {
		t.Fatal(err)
	}
	if l := got.Providers["google"]; !slices.Equal(l.Scopes, []string{"openid", "email"}) || l.LinkEmail != "a@example.com" {
		t.Errorf("GetUser() google link = %+v; want scopes [openid email] and link email a@example.com", l)
	}
	// The next google login replaces them: fewer scopes, no trusted email.
	again := linkedLogin("google", u.Providers["google"].Subject, "", []string{"openid"}, t0.Add(2*time.Minute))
	u, err = s.UpsertLogin(ctx(), uid, again)
	if err != nil {
		t.Fatal(err)
	}
	if l := u.Providers["google"]; !slices.Equal(l.Scopes, []string{"openid"}) || l.LinkEmail != "" {
		t.Errorf("after the next google login, link = %+v; want scopes [openid] and no link email", l)
	}
	if l := u.Providers["facebook"]; l.Subject != fb || l.LinkEmail != "b@example.com" || !slices.Equal(l.Scopes, []string{"openid", "email"}) {
		t.Errorf("the facebook link changed with a google login: %+v", l)
	}
	got, err = s.GetUser(ctx(), uid)
	if err != nil || !reflect.DeepEqual(got.Providers, u.Providers) {
		t.Errorf("GetUser() providers = %+v, %v\nwant %+v", got.Providers, err, u.Providers)
	}
}

func testFindUsersByLinkEmail(t *testing.T, s store.Store) {
	const email = "shared@example.com"
	var want []string
	for i := range 12 {
		// Ids that do not sort in creation order.
		uid := fmt.Sprintf("user-%02d-%s", (i*7)%12, uniq("u"))
		link(t, s, uid, "google", uniq("g"), email, t0)
		want = append(want, uid)
	}
	slices.Sort(want)
	if got := foundBy(t, s, email); !slices.Equal(got, want[:store.MaxUsersByLinkEmail]) {
		t.Errorf("FindUsersByLinkEmail() = %v\nwant the first %d of %v", got, store.MaxUsersByLinkEmail, want)
	}

	// A user whose two links hold the email is found once; the profile's
	// email, or an email differing in case, finds no one.
	both := "a-" + uniq("both")
	link(t, s, both, "google", uniq("g"), "both@example.com", t0)
	link(t, s, both, "facebook", uniq("fb"), "both@example.com", t0)
	untrusted := uniq("user")
	link(t, s, untrusted, "google", "untrusted", "", t0)
	for _, tt := range []struct {
		email string
		want  []string
	}{
		{"both@example.com", []string{both}},
		{"untrusted@example.com", nil}, // the profile's email, not a link email
		{"Both@example.com", nil},
		{"both@example.co", nil},
		{"nobody@example.com", nil},
		{"", nil},
	} {
		if got := foundBy(t, s, tt.email); !slices.Equal(got, tt.want) {
			t.Errorf("FindUsersByLinkEmail(%q) = %v, want %v", tt.email, got, tt.want)
		}
	}
}

func testLinkEmailLeaves(t *testing.T, s store.Store) {
	uid := uniq("user")
	g, fb := uniq("g"), uniq("fb")
	link(t, s, uid, "google", g, "one@example.com", t0)
	link(t, s, uid, "facebook", fb, "one@example.com", t0)
	other := uniq("user")
	link(t, s, other, "google", uniq("g"), "one@example.com", t0)
	wantBoth := []string{uid, other}
	slices.Sort(wantBoth)
	check := func(when, email string, want ...string) {
		t.Helper()
		slices.Sort(want)
		if got := foundBy(t, s, email); !slices.Equal(got, want) {
			t.Errorf("%s: FindUsersByLinkEmail(%q) = %v, want %v", when, email, got, want)
		}
	}
	check("with two links holding it", "one@example.com", wantBoth...)

	// Google now vouches for another email: the facebook link still
	// holds the first.
	if _, err := s.UpsertLogin(ctx(), uid, linkedLogin("google", g, "two@example.com", nil, t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	check("after google changed its email", "one@example.com", wantBoth...)
	check("after google changed its email", "two@example.com", uid)

	// Facebook's email is no longer trusted: the first email leaves.
	if _, err := s.UpsertLogin(ctx(), uid, linkedLogin("facebook", fb, "", nil, t0.Add(2*time.Minute))); err != nil {
		t.Fatal(err)
	}
	check("after facebook's email was no longer trusted", "one@example.com", other)
	check("after facebook's email was no longer trusted", "two@example.com", uid)

	// Unlinking google takes its link, and its email, away.
	if err := s.UnlinkIdentity(ctx(), uid, "google|"+g, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	check("after google was unlinked", "two@example.com")
	// A later link of the same email finds the user again.
	link(t, s, uid, "azure", uniq("az"), "two@example.com", t0.Add(4*time.Minute))
	check("after azure linked the email", "two@example.com", uid)
}

func testFindUsersByLinkEmailProviders(t *testing.T, s store.Store) {
	const email = "a@example.com"
	// a: google and facebook links hold the email; b: facebook only;
	// c: azure only; d: google holds another email, facebook this one.
	a, b, c, d := "a-"+uniq("user"), "b-"+uniq("user"), "c-"+uniq("user"), "d-"+uniq("user")
	link(t, s, a, "google", uniq("g"), email, t0)
	link(t, s, a, "facebook", uniq("fb"), email, t0)
	link(t, s, b, "facebook", uniq("fb"), email, t0)
	link(t, s, c, "azure", uniq("az"), email, t0)
	link(t, s, d, "google", uniq("g"), "other@example.com", t0)
	link(t, s, d, "facebook", uniq("fb"), email, t0)
	for _, tt := range []struct {
		providers []string
		want      []string
	}{
		{[]string{"google"}, []string{a}},
		{[]string{"facebook"}, []string{a, b, d}},
		{[]string{"google", "azure"}, []string{a, c}},
		{[]string{"azure", "google", "facebook"}, []string{a, b, c, d}},
		{[]string{"google", "google"}, []string{a}},
		{[]string{"okta"}, nil}, // no link of that provider
		{[]string{}, nil},
		{nil, nil},
	} {
		if got := foundWith(t, s, email, tt.providers); !slices.Equal(got, tt.want) {
			t.Errorf("FindUsersByLinkEmail(%q, %q) = %v, want %v", email, tt.providers, got, tt.want)
		}
	}
	// The email and the provider must be one link's: d's google link
	// holds another email.
	if got := foundWith(t, s, "other@example.com", []string{"facebook"}); len(got) != 0 {
		t.Errorf("FindUsersByLinkEmail(other@example.com, [facebook]) = %v, want none: only d's google link holds it", got)
	}

	// The limit counts the users found through the named providers only:
	// twelve users whose untrusted links hold the email do not crowd out
	// the three whose trusted links do.
	const crowded = "crowded@example.com"
	for range 12 {
		link(t, s, "0-"+uniq("user"), "facebook", uniq("fb"), crowded, t0)
	}
	var want []string
	for range 3 {
		uid := "1-" + uniq("user")
		link(t, s, uid, "google", uniq("g"), crowded, t0)
		want = append(want, uid)
	}
	if got := foundWith(t, s, crowded, []string{"google"}); !slices.Equal(got, want) {
		t.Errorf("FindUsersByLinkEmail(%q, [google]) = %v, want %v", crowded, got, want)
	}
	if got := foundWith(t, s, crowded, []string{"facebook"}); len(got) != store.MaxUsersByLinkEmail {
		t.Errorf("FindUsersByLinkEmail(%q, [facebook]) = %d users, want %d", crowded, len(got), store.MaxUsersByLinkEmail)
	}

	for _, name := range []string{"", "google.link_email", "$where", "a b"} {
		_, err := s.FindUsersByLinkEmail(ctx(), email, []string{"google", name})
		checkInvalidName(t, "FindUsersByLinkEmail", name, err)
	}
}

// noRefresh is linkedLogin without a refresh token, as a provider that
// returns one only at the first consent answers later sign-ins.
func noRefresh(l store.Login) store.Login {
	l.Link.RefreshTokenSealed = ""
	return l
}

// checkLink checks that user uid's link of provider, as UpsertLogin
// returned it and as GetUser reads it, is want.
func checkLink(t *testing.T, s store.Store, when string, u *store.User, provider string, want store.ProviderLink) {
	t.Helper()
	if got := u.Providers[provider]; !reflect.DeepEqual(got, want) {
		t.Errorf("%s: UpsertLogin() %s link = %+v\nwant %+v", when, provider, got, want)
	}
	stored, err := s.GetUser(ctx(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := stored.Providers[provider]; !reflect.DeepEqual(got, want) {
		t.Errorf("%s: GetUser() %s link = %+v\nwant %+v", when, provider, got, want)
	}
}

func testKeepRefreshToken(t *testing.T, s store.Store) {
	uid := uniq("user")
	g := uniq("g")
	link(t, s, uid, "google", g, "g@example.com", t0) // refresh token "r-"+g
	fb := link(t, s, uid, "facebook", uniq("fb"), "fb@example.com", t0)

	// The next sign-in brings no refresh token, and less of everything
	// else: no ID token, expiry, scopes or link email.
	later := t0.Add(time.Hour)
	next := noRefresh(linkedLogin("google", g, "", nil, later))
	next.Link.AccessTokenSealed, next.Link.IDTokenSealed, next.Link.Expiry = "a-2", "", time.Time{}
	next.Link.Profile = claims.Profile{Name: "Later"}
	u, err := s.UpsertLogin(ctx(), uid, next)
	if err != nil {
		t.Fatal(err)
	}
	want := next.Link
	want.RefreshTokenSealed = "r-" + g
	checkLink(t, s, "a sign-in without a refresh token", u, "google", want)
	if !reflect.DeepEqual(u.Providers["facebook"], fb.Providers["facebook"]) || !sameTime(u.UpdatedAt, later) || !sameTime(u.LastLoginAt, later) ||
		!sameTime(u.CreatedAt, t0) || u.Profile != next.Profile || len(u.Identities) != 2 {
		t.Errorf("the rest of the user after the sign-in: %+v", u)
	}
	if got := foundBy(t, s, "g@example.com"); len(got) != 0 {
		t.Errorf("FindUsersByLinkEmail(g@example.com) = %v after a sign-in without link email; want none", got)
	}
	if got := foundBy(t, s, "fb@example.com"); !slices.Equal(got, []string{uid}) {
		t.Errorf("FindUsersByLinkEmail(fb@example.com) = %v, want [%s]", got, uid)
	}

	// Again without one, now with a link email: still kept.
	again := noRefresh(linkedLogin("google", g, "g2@example.com", []string{"openid"}, later.Add(time.Minute)))
	u, err = s.UpsertLogin(ctx(), uid, again)
	if err != nil {
		t.Fatal(err)
	}
	want = again.Link
	want.RefreshTokenSealed = "r-" + g
	checkLink(t, s, "a second sign-in without a refresh token", u, "google", want)
	if got := foundBy(t, s, "g2@example.com"); !slices.Equal(got, []string{uid}) {
		t.Errorf("FindUsersByLinkEmail(g2@example.com) = %v, want [%s]", got, uid)
	}

	// A token refresh reads the link at the version the sign-in wrote.
	refreshed := store.ProviderLink{AccessTokenSealed: "a-3", UpdatedAt: later.Add(2 * time.Minute)}
	if err := s.UpdateProviderTokens(ctx(), uid, "google", again.Link.UpdatedAt, refreshed); err != nil {
		t.Errorf("UpdateProviderTokens() after a sign-in that kept the refresh token = %v", err)
	}

	// A sign-in that brings a refresh token replaces it.
	fresh := linkedLogin("google", g, "", nil, later.Add(3*time.Minute))
	fresh.Link.RefreshTokenSealed = "r-new"
	u, err = s.UpsertLogin(ctx(), uid, fresh)
	if err != nil {
		t.Fatal(err)
	}
	checkLink(t, s, "a sign-in with a new refresh token", u, "google", fresh.Link)
	// And the next one without keeps the new one.
	last := noRefresh(linkedLogin("google", g, "", nil, later.Add(4*time.Minute)))
	u, err = s.UpsertLogin(ctx(), uid, last)
	if err != nil {
		t.Fatal(err)
	}
	want = last.Link
	want.RefreshTokenSealed = "r-new"
	checkLink(t, s, "a sign-in without a refresh token after a new one", u, "google", want)
}

func testReplaceRefreshToken(t *testing.T, s store.Store) {
	uid := uniq("user")
	a, b := uniq("a"), uniq("b")
	link(t, s, uid, "google", a, "a@example.com", t0) // refresh token "r-"+a
	// Another google account of the same person, without a refresh token:
	// the link is b's, whole, with none.
	other := noRefresh(linkedLogin("google", b, "b@example.com", []string{"openid"}, t0.Add(time.Minute)))
	if got, _, err := s.ClaimIdentity(ctx(), "google|"+b, "google", b, uid, t0.Add(time.Minute)); err != nil || got != uid {
		t.Fatalf("ClaimIdentity(google|%s) = %q, %v", b, got, err)
	}
	u, err := s.UpsertLogin(ctx(), uid, other)
	if err != nil {
		t.Fatal(err)
	}
	checkLink(t, s, "a sign-in of another subject without a refresh token", u, "google", other.Link)
	if got := foundBy(t, s, "a@example.com"); len(got) != 0 {
		t.Errorf("FindUsersByLinkEmail(a@example.com) = %v, want none: b's link replaced a's", got)
	}
	// a signs in again without one: a's old refresh token went with its
	// link, and b's link (with none) is replaced whole.
	back := noRefresh(linkedLogin("google", a, "", nil, t0.Add(2*time.Minute)))
	u, err = s.UpsertLogin(ctx(), uid, back)
	if err != nil {
		t.Fatal(err)
	}
	checkLink(t, s, "the first subject again without a refresh token", u, "google", back.Link)
	// b with a refresh token, then a without: b's is not kept for a.
	withToken := linkedLogin("google", b, "", nil, t0.Add(3*time.Minute))
	if _, err := s.UpsertLogin(ctx(), uid, withToken); err != nil {
		t.Fatal(err)
	}
	back = noRefresh(linkedLogin("google", a, "", nil, t0.Add(4*time.Minute)))
	u, err = s.UpsertLogin(ctx(), uid, back)
	if err != nil {
		t.Fatal(err)
	}
	checkLink(t, s, "a sign-in without a refresh token after another subject's with one", u, "google", back.Link)
	if len(u.Identities) != 2 {
		t.Errorf("identities = %v, want both google identities", u.Identities)
	}
}

func testNoRefreshTokenFirstLink(t *testing.T, s store.Store) {
	// A first sign-in without a refresh token creates the user.
	uid := uniq("user")
	g := uniq("g")
	key := "google|" + g
	if got, _, err := s.ClaimIdentity(ctx(), key, "google", g, uid, t0); err != nil || got != uid {
		t.Fatalf("ClaimIdentity(%s) = %q, %v", key, got, err)
	}
	first := noRefresh(linkedLogin("google", g, "g@example.com", []string{"openid"}, t0))
	u, err := s.UpsertLogin(ctx(), uid, first)
	if err != nil {
		t.Fatal(err)
	}
	checkLink(t, s, "a first sign-in without a refresh token", u, "google", first.Link)
	if u.ID != uid || u.Profile != first.Profile || !slices.Equal(u.Identities, []string{key}) || !sameTime(u.CreatedAt, t0) ||
		!sameTime(u.UpdatedAt, t0) || !sameTime(u.LastLoginAt, t0) || u.Disabled || len(u.Providers) != 1 {
		t.Errorf("the user a first sign-in without a refresh token created = %+v", u)
	}
	if got := foundBy(t, s, "g@example.com"); !slices.Equal(got, []string{uid}) {
		t.Errorf("FindUsersByLinkEmail() = %v, want [%s]", got, uid)
	}
	// A provider's first link to an existing user, without one.
	fb := uniq("fb")
	if got, _, err := s.ClaimIdentity(ctx(), "facebook|"+fb, "facebook", fb, uid, t0.Add(time.Minute)); err != nil || got != uid {
		t.Fatalf("ClaimIdentity(facebook|%s) = %q, %v", fb, got, err)
	}
	second := noRefresh(linkedLogin("facebook", fb, "fb@example.com", nil, t0.Add(time.Minute)))
	u, err = s.UpsertLogin(ctx(), uid, second)
	if err != nil {
		t.Fatal(err)
	}
	checkLink(t, s, "a provider's first link without a refresh token", u, "facebook", second.Link)
	checkLink(t, s, "the other provider's link after it", u, "google", first.Link)
	if !slices.Equal(u.Identities, []string{key, "facebook|" + fb}) || !sameTime(u.CreatedAt, t0) {
		t.Errorf("the user after a provider's first link = %+v", u)
	}
}

func testUnlink(t *testing.T, s store.Store) {
	uid := uniq("user")
	g, fb := uniq("g"), uniq("fb")
	link(t, s, uid, "google", g, "g@example.com", t0)
	before := link(t, s, uid, "facebook", fb, "fb@example.com", t0.Add(time.Minute))
	at := t0.Add(time.Hour)
	if err := s.UnlinkIdentity(ctx(), uid, "facebook|"+fb, at); err != nil {
		t.Fatalf("UnlinkIdentity() = %v", err)
	}
	_, err := s.GetIdentity(ctx(), "facebook|"+fb)
	mustNotFound(t, "GetIdentity of the unlinked identity", err)
	if ids, err := s.ListUserIdentities(ctx(), uid); err != nil || !slices.Equal(identityKeys(ids), []string{"google|" + g}) {
		t.Errorf("ListUserIdentities() = %v, %v; want [google|%s]", identityKeys(ids), err, g)
	}
	u, err := s.GetUser(ctx(), uid)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(u.Identities, []string{"google|" + g}) {
		t.Errorf("Identities = %v, want [google|%s]", u.Identities, g)
	}
	if _, ok := u.Providers["facebook"]; ok || len(u.Providers) != 1 || !reflect.DeepEqual(u.Providers["google"], before.Providers["google"]) {
		t.Errorf("Providers = %+v; want only the google link, unchanged", u.Providers)
	}
	if u.Profile != before.Profile || !sameTime(u.UpdatedAt, at) || !sameTime(u.CreatedAt, before.CreatedAt) ||
		!sameTime(u.LastLoginAt, before.LastLoginAt) {
		t.Errorf("after the unlink: %+v\nwant the profile and times of %+v, updated at %v", u, before, at)
	}
	// A second unlink finds nothing.
	mustNotFound(t, "a second UnlinkIdentity", s.UnlinkIdentity(ctx(), uid, "facebook|"+fb, at))
	// The identity is free: its next sign-in makes a new user.
	newUser := uniq("user")
	got, created, err := s.ClaimIdentity(ctx(), "facebook|"+fb, "facebook", fb, newUser, at.Add(time.Minute))
	if err != nil || !created || got != newUser {
		t.Errorf("ClaimIdentity() of the unlinked identity = %q, %v, %v; want %q, created", got, created, err, newUser)
	}
}

func testUnlinkKeepsOtherLink(t *testing.T, s store.Store) {
	uid := uniq("user")
	a, b := uniq("a"), uniq("b")
	link(t, s, uid, "google", a, "a@example.com", t0)
	// A second google account of the same person; its sign-in holds the
	// google link now.
	before := link(t, s, uid, "google", b, "b@example.com", t0.Add(time.Minute))
	if err := s.UnlinkIdentity(ctx(), uid, "google|"+a, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	u, err := s.GetUser(ctx(), uid)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(u.Identities, []string{"google|" + b}) || !reflect.DeepEqual(u.Providers, before.Providers) {
		t.Errorf("after unlinking google|a: identities %v, providers %+v; want [google|%s] and the google link of b", u.Identities, u.Providers, b)
	}
	if got := foundBy(t, s, "b@example.com"); !slices.Equal(got, []string{uid}) {
		t.Errorf("FindUsersByLinkEmail(b's email) = %v, want [%s]", got, uid)
	}
}

func testUnlinkLast(t *testing.T, s store.Store) {
	uid := uniq("user")
	g, fb := uniq("g"), uniq("fb")
	link(t, s, uid, "google", g, "g@example.com", t0)
	link(t, s, uid, "facebook", fb, "fb@example.com", t0)
	if err := s.UnlinkIdentity(ctx(), uid, "google|"+g, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	before, err := s.GetUser(ctx(), uid)
	if err != nil {
		t.Fatal(err)
	}
	err = s.UnlinkIdentity(ctx(), uid, "facebook|"+fb, t0.Add(time.Hour))
	if !errors.Is(err, store.ErrLastIdentity) {
		t.Fatalf("UnlinkIdentity() of the only identity = %v, want store.ErrLastIdentity", err)
	}
	if after, err := s.GetUser(ctx(), uid); err != nil || !reflect.DeepEqual(after, before) {
		t.Errorf("a refused unlink changed the user: %+v, %v\nwant %+v", after, err, before)
	}
	if id, err := s.GetIdentity(ctx(), "facebook|"+fb); err != nil || id.UserID != uid {
		t.Errorf("GetIdentity() after a refused unlink = %+v, %v", id, err)
	}
	if got, _, err := s.ClaimIdentity(ctx(), "facebook|"+fb, "facebook", fb, uniq("user"), t0.Add(time.Hour)); err != nil || got != uid {
		t.Errorf("ClaimIdentity() after a refused unlink = %q, %v; want %q", got, err, uid)
	}
	if got := foundBy(t, s, "fb@example.com"); !slices.Equal(got, []string{uid}) {
		t.Errorf("FindUsersByLinkEmail() after a refused unlink = %v, want [%s]", got, uid)
	}
	// Refusing it again, and again, is as harmless (no mark is left behind).
	for range 2 {
		if err := s.UnlinkIdentity(ctx(), uid, "facebook|"+fb, t0.Add(2*time.Hour)); !errors.Is(err, store.ErrLastIdentity) {
			t.Errorf("UnlinkIdentity() of the only identity again = %v, want store.ErrLastIdentity", err)
		}
	}
	// Once another identity is linked, it can go.
	az := uniq("az")
	link(t, s, uid, "azure", az, "", t0.Add(3*time.Hour))
	if err := s.UnlinkIdentity(ctx(), uid, "facebook|"+fb, t0.Add(3*time.Hour)); err != nil {
		t.Errorf("UnlinkIdentity() once another identity is linked = %v", err)
	}
}

func testUnlinkNotFound(t *testing.T, s store.Store) {
	uid, other := uniq("user"), uniq("user")
	g := uniq("g")
	link(t, s, uid, "google", g, "g@example.com", t0)
	link(t, s, uid, "facebook", uniq("fb"), "", t0)
	og := uniq("og")
	link(t, s, other, "google", og, "", t0)
	link(t, s, other, "facebook", uniq("ofb"), "", t0)
	users := func() []*store.User {
		var list []*store.User
		for _, id := range []string{uid, other} {
			u, err := s.GetUser(ctx(), id)
			if err != nil {
				t.Fatal(err)
			}
			list = append(list, u)
		}
		return list
	}
	before := users()
	for _, tt := range []struct{ name, user, key string }{
		{"an unknown identity", uid, "google|" + uniq("nobody")},
		{"another user's identity", uid, "google|" + og},
		{"an identity of an unknown user", "nobody", "google|" + g},
	} {
		mustNotFound(t, "UnlinkIdentity of "+tt.name, s.UnlinkIdentity(ctx(), tt.user, tt.key, t0.Add(time.Hour)))
	}
	if after := users(); !reflect.DeepEqual(after, before) {
		t.Errorf("refused unlinks changed the users:\n%+v\nwant\n%+v", after, before)
	}
	if id, err := s.GetIdentity(ctx(), "google|"+og); err != nil || id.UserID != other {
		t.Errorf("GetIdentity() of the other user's identity = %+v, %v", id, err)
	}
	if _, err := s.GetUser(ctx(), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UnlinkIdentity created a user: %v", err)
	}
	// Nothing was left half-done: both identities of each user can still
	// be unlinked down to one.
	if err := s.UnlinkIdentity(ctx(), other, "google|"+og, t0.Add(2*time.Hour)); err != nil {
		t.Errorf("UnlinkIdentity() of the other user's own identity = %v", err)
	}
	if err := s.UnlinkIdentity(ctx(), uid, "google|"+g, t0.Add(2*time.Hour)); err != nil {
		t.Errorf("UnlinkIdentity() of the user's own identity = %v", err)
	}
}

func testUnlinkOrphan(t *testing.T, s store.Store) {
	// Two identities claimed for a user whose sign-ins crashed before
	// writing it.
	uid := uniq("user")
	a, b := uniq("a"), uniq("b")
	for _, sub := range []string{a, b} {
		if _, _, err := s.ClaimIdentity(ctx(), "google|"+sub, "google", sub, uid, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UnlinkIdentity(ctx(), uid, "google|"+a, t0.Add(time.Minute)); err != nil {
		t.Fatalf("UnlinkIdentity() of an unwritten user's identity = %v", err)
	}
	if _, err := s.GetUser(ctx(), uid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UnlinkIdentity wrote the user: %v", err)
	}
	if ids, err := s.ListUserIdentities(ctx(), uid); err != nil || !slices.Equal(identityKeys(ids), []string{"google|" + b}) {
		t.Errorf("ListUserIdentities() = %v, %v; want [google|%s]", identityKeys(ids), err, b)
	}
	err := s.UnlinkIdentity(ctx(), uid, "google|"+b, t0.Add(time.Minute))
	if !errors.Is(err, store.ErrLastIdentity) {
		t.Errorf("UnlinkIdentity() of the last one = %v, want store.ErrLastIdentity", err)
	}
}

func testUpdateProviderTokens(t *testing.T, s store.Store) {
	uid := uniq("user")
	g := uniq("g")
	// An odd millisecond, as a clock gives it.
	signedIn := t0.Add(123 * time.Millisecond)
	link(t, s, uid, "google", g, "g@example.com", signedIn)
	before := link(t, s, uid, "facebook", uniq("fb"), "fb@example.com", signedIn)
	stored := before.Providers["google"]

	refreshed := t0.Add(time.Hour + 456*time.Millisecond)
	update := store.ProviderLink{
		AccessTokenSealed: "a-2", Expiry: refreshed.Add(time.Hour), Scopes: []string{"openid"}, UpdatedAt: refreshed,
		// Never written: UpdateProviderTokens keeps these.
		Subject: "other", Profile: claims.Profile{Name: "Other"}, LinkEmail: "other@example.com",
	}
	mustNotFound(t, "UpdateProviderTokens from another version",
		s.UpdateProviderTokens(ctx(), uid, "google", signedIn.Add(time.Millisecond), update))
	if u, err := s.GetUser(ctx(), uid); err != nil || !reflect.DeepEqual(u, before) {
		t.Fatalf("a refused update changed the user: %+v, %v", u, err)
	}

	// prev is compared to the millisecond, whatever its zone.
	prev := signedIn.In(time.FixedZone("X", -5*3600)).Add(400 * time.Microsecond)
	if err := s.UpdateProviderTokens(ctx(), uid, "google", prev, update); err != nil {
		t.Fatalf("UpdateProviderTokens() = %v", err)
	}
	u, err := s.GetUser(ctx(), uid)
	if err != nil {
		t.Fatal(err)
	}
	want := stored
	want.AccessTokenSealed, want.Expiry, want.Scopes, want.UpdatedAt = "a-2", update.Expiry, []string{"openid"}, refreshed
	// Refresh and ID tokens were empty in the update: the stored ones stay.
	if got := u.Providers["google"]; !reflect.DeepEqual(got, want) {
		t.Errorf("google link after the update = %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(u.Providers["facebook"], before.Providers["facebook"]) || u.Profile != before.Profile ||
		!slices.Equal(u.Identities, before.Identities) || !sameTime(u.UpdatedAt, before.UpdatedAt) || !sameTime(u.LastLoginAt, before.LastLoginAt) {
		t.Errorf("the update changed more than the google link: %+v\nbefore %+v", u, before)
	}
	if got := foundBy(t, s, "g@example.com"); !slices.Equal(got, []string{uid}) {
		t.Errorf("FindUsersByLinkEmail() after the update = %v, want [%s]", got, uid)
	}
	if got := foundBy(t, s, "other@example.com"); len(got) != 0 {
		t.Errorf("the update's LinkEmail was written: FindUsersByLinkEmail() = %v", got)
	}

	// The version it was read at is gone.
	mustNotFound(t, "UpdateProviderTokens from the replaced version", s.UpdateProviderTokens(ctx(), uid, "google", signedIn, update))

	// A refresh that returns every token; then one that returns none
	// (and no expiry or scopes) empties those.
	again := t0.Add(2 * time.Hour)
	full := store.ProviderLink{AccessTokenSealed: "a-3", RefreshTokenSealed: "r-3", IDTokenSealed: "i-3", Expiry: again.Add(time.Hour), UpdatedAt: again}
	if err := s.UpdateProviderTokens(ctx(), uid, "google", refreshed, full); err != nil {
		t.Fatalf("UpdateProviderTokens() with every token = %v", err)
	}
	empty := store.ProviderLink{UpdatedAt: again.Add(time.Minute)}
	if err := s.UpdateProviderTokens(ctx(), uid, "google", again, empty); err != nil {
		t.Fatalf("UpdateProviderTokens() with no token = %v", err)
	}
	u, err = s.GetUser(ctx(), uid)
	if err != nil {
		t.Fatal(err)
	}
	want = stored
	want.AccessTokenSealed, want.RefreshTokenSealed, want.IDTokenSealed = "", "r-3", "i-3"
	want.Expiry, want.Scopes, want.UpdatedAt = time.Time{}, nil, again.Add(time.Minute)
	if got := u.Providers["google"]; !reflect.DeepEqual(got, want) {
		t.Errorf("google link after two more updates = %+v\nwant %+v", got, want)
	}

	// A sign-in rewrites the link: a refresh read before it loses.
	signedInAgain := again.Add(time.Hour)
	if _, err := s.UpsertLogin(ctx(), uid, linkedLogin("google", g, "g@example.com", []string{"openid", "email"}, signedInAgain)); err != nil {
		t.Fatal(err)
	}
	late := store.ProviderLink{AccessTokenSealed: "a-late", UpdatedAt: signedInAgain.Add(time.Minute)}
	mustNotFound(t, "UpdateProviderTokens read before a sign-in", s.UpdateProviderTokens(ctx(), uid, "google", again.Add(time.Minute), late))
	if u, err := s.GetUser(ctx(), uid); err != nil || u.Providers["google"].AccessTokenSealed != "a-"+g {
		t.Errorf("the sign-in's tokens were overwritten: %+v, %v", u.Providers["google"], err)
	}
}

func testUpdateProviderTokensRefusals(t *testing.T, s store.Store) {
	uid := uniq("user")
	before := link(t, s, uid, "google", uniq("g"), "", t0)
	update := store.ProviderLink{AccessTokenSealed: "a-2", UpdatedAt: t0.Add(time.Hour)}
	mustNotFound(t, "UpdateProviderTokens of an unknown user", s.UpdateProviderTokens(ctx(), "nobody", "google", t0, update))
	if _, err := s.GetUser(ctx(), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateProviderTokens created a user: %v", err)
	}
	mustNotFound(t, "UpdateProviderTokens of a provider without a link", s.UpdateProviderTokens(ctx(), uid, "facebook", t0, update))
	for _, name := range []string{"", "google.access_token", "$set", "a b"} {
		checkInvalidName(t, "UpdateProviderTokens", name, s.UpdateProviderTokens(ctx(), uid, name, t0, update))
	}
	// An update whose UpdatedAt is prev could win again and again: it is
	// refused, and not as "not found".
	same := store.ProviderLink{AccessTokenSealed: "a-2", UpdatedAt: t0}
	if err := s.UpdateProviderTokens(ctx(), uid, "google", t0, same); err == nil || isNotFound(err) {
		t.Errorf("UpdateProviderTokens() with UpdatedAt equal to prev = %v, want an error other than ErrNotFound", err)
	}
	if u, err := s.GetUser(ctx(), uid); err != nil || !reflect.DeepEqual(u, before) {
		t.Errorf("refused updates changed the user: %+v, %v\nwant %+v", u, err, before)
	}
	if _, ok := before.Providers["facebook"]; ok {
		t.Fatal("the case is wrong: the user has a facebook link")
	}
}

// raceAll starts n goroutines at once and returns the error of each call.
func raceAll(n int, f func(i int) error) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// testConcurrentLinking races, on one user U, explicit links of new
// identities, unlinks of identities linked before, and sign-ins (claim,
// then write the user) of those same identities and of U's first one.
// Afterwards it checks, for every identity involved:
//
//   - its record, if any, points at a user that exists and lists it;
//   - U has at least one identity record;
//   - every key U lists has a record that points at U, unless it is a key
//     whose unlink succeeded and that a sign-in claimed for U: that
//     sign-in may have read the record just before the unlink deleted it
//     and written the key back afterwards (the list is informational;
//     ListUserIdentities, from the records, is not fooled);
//   - every other user lists only keys whose records point at it, so no
//     identity belongs to two users;
//   - ListUserIdentities(U) is exactly the records that point at U.
func testConcurrentLinking(t *testing.T, s store.Store) {
	uid := uniq("user")
	first := uniq("first")
	link(t, s, uid, "google", first, "first@example.com", t0)
	const linked = 8
	var pre []string // subjects of facebook identities linked before the race
	for i := range linked {
		sub := fmt.Sprintf("%s-pre-%d", uid, i)
		link(t, s, uid, "facebook", sub, "", t0)
		pre = append(pre, sub)
	}

	const n = 32
	var (
		mu         sync.Mutex
		unlinked   = map[string]bool{} // keys whose unlink succeeded
		signedInU  = map[string]bool{} // keys a sign-in claimed for uid
		otherUsers = map[string]bool{} // users that sign-ins created
		keys       = map[string]bool{"google|" + first: true}
	)
	for _, sub := range pre {
		keys["facebook|"+sub] = true
	}
	now := t0.Add(time.Minute)
	errs := raceAll(n, func(i int) error {
		switch i % 4 {
		case 0: // an explicit link of a new identity
			sub := fmt.Sprintf("%s-new-%d", uid, i)
			key := "azure|" + sub
			mu.Lock()
			keys[key] = true
			mu.Unlock()
			got, created, err := s.ClaimIdentity(ctx(), key, "azure", sub, uid, now)
			if err != nil {
				return err
			}
			if got != uid || !created {
				return fmt.Errorf("ClaimIdentity(%s) of a new identity for %s = %q, created %v", key, uid, got, created)
			}
			_, err = s.UpsertLogin(ctx(), uid, linkedLogin("azure", sub, "", nil, now))
			return err
		case 1: // an unlink of an identity linked before
			key := "facebook|" + pre[(i/4)%linked]
			err := s.UnlinkIdentity(ctx(), uid, key, now)
			if err == nil {
				mu.Lock()
				unlinked[key] = true
				mu.Unlock()
			}
			if errors.Is(err, store.ErrLastIdentity) {
				return fmt.Errorf("UnlinkIdentity(%s) = %w while the user has identities nobody unlinks", key, err)
			}
			return err
		default: // a sign-in, with an identity being unlinked or the first one
			sub := pre[(i/4)%linked]
			provider := "facebook"
			if i%4 == 3 && i%8 == 7 {
				sub, provider = first, "google"
			}
			key := provider + "|" + sub
			newUser := fmt.Sprintf("%s-signin-%d", uid, i)
			got, _, err := s.ClaimIdentity(ctx(), key, provider, sub, newUser, now)
			if err != nil {
				return err
			}
			mu.Lock()
			if got == uid {
				signedInU[key] = true
			} else {
				otherUsers[got] = true
			}
			mu.Unlock()
			_, err = s.UpsertLogin(ctx(), got, linkedLogin(provider, sub, "", nil, now))
			return err
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d (kind %d): %v", i, i%4, err)
		}
	}

	owners := map[string]string{} // key -> the user its record points at
	for key := range keys {
		id, err := s.GetIdentity(ctx(), key)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		owners[key] = id.UserID
		u, err := s.GetUser(ctx(), id.UserID)
		if err != nil {
			t.Errorf("identity %s points at user %s: %v", key, id.UserID, err)
			continue
		}
		if !slices.Contains(u.Identities, key) {
			t.Errorf("identity %s points at user %s, which does not list it: %v", key, id.UserID, u.Identities)
		}
	}
	ids, err := s.ListUserIdentities(ctx(), uid)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) == 0 {
		t.Fatalf("user %s has no identity left", uid)
	}
	var wantIDs []string
	for key, owner := range owners {
		if owner == uid {
			wantIDs = append(wantIDs, key)
		}
	}
	gotIDs := identityKeys(ids)
	slices.Sort(gotIDs)
	slices.Sort(wantIDs)
	if !slices.Equal(gotIDs, wantIDs) {
		t.Errorf("ListUserIdentities() = %v, want the records that point at the user: %v", gotIDs, wantIDs)
	}
	u, err := s.GetUser(ctx(), uid)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range u.Identities {
		if owners[key] != uid && !(unlinked[key] && signedInU[key]) {
			t.Errorf("user %s lists %s, whose record points at %q, and no sign-in raced its unlink", uid, key, owners[key])
		}
	}
	for other := range otherUsers {
		o, err := s.GetUser(ctx(), other)
		if err != nil {
			t.Errorf("user %s that a sign-in created: %v", other, err)
			continue
		}
		for _, key := range o.Identities {
			if owners[key] != other {
				t.Errorf("user %s lists %s, whose record points at %q", other, key, owners[key])
			}
		}
	}
	t.Logf("%d identities unlinked, %d of them signed in again as other users; %d identities left to the user", len(unlinked), len(otherUsers), len(ids))
}

func testConcurrentUnlinkAll(t *testing.T, s store.Store) {
	uid := uniq("user")
	const n = 16
	var keys []string
	for i := range n {
		// One provider per identity, each with its own link and email.
		provider, sub := fmt.Sprintf("p%02d", i), uniq("s")
		link(t, s, uid, provider, sub, fmt.Sprintf("e%02d@example.com", i), t0)
		keys = append(keys, provider+"|"+sub)
	}
	errs := raceAll(n, func(i int) error { return s.UnlinkIdentity(ctx(), uid, keys[i], t0.Add(time.Minute)) })
	unlinked, refused := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			unlinked++
		case errors.Is(err, store.ErrLastIdentity):
			refused++
		default:
			t.Errorf("UnlinkIdentity(%s) = %v, want nil or store.ErrLastIdentity", keys[i], err)
		}
	}
	if unlinked > n-1 || unlinked+refused != n {
		t.Errorf("%d unlinks succeeded and %d were refused as the last identity; want at most %d to succeed and the rest refused", unlinked, refused, n-1)
	}
	ids, err := s.ListUserIdentities(ctx(), uid)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) == 0 || len(ids) != n-unlinked {
		t.Fatalf("%d identities left after %d of %d unlinks succeeded; want %d, at least one", len(ids), unlinked, n, n-unlinked)
	}
	u, err := s.GetUser(ctx(), uid)
	if err != nil {
		t.Fatal(err)
	}
	left := identityKeys(ids)
	slices.Sort(left)
	listed := slices.Sorted(slices.Values(u.Identities))
	if !slices.Equal(listed, left) {
		t.Errorf("the user lists %v, but its identity records are %v", listed, left)
	}
	for i, key := range keys {
		_, kept := slices.BinarySearch(left, key)
		provider := fmt.Sprintf("p%02d", i)
		if _, ok := u.Providers[provider]; ok != kept {
			t.Errorf("identity %s kept %v, but its provider's link present %v", key, kept, ok)
		}
		email := fmt.Sprintf("e%02d@example.com", i)
		if got := foundWith(t, s, email, []string{provider}); (len(got) == 1) != kept {
			t.Errorf("identity %s kept %v, but FindUsersByLinkEmail(%s) = %v", key, kept, email, got)
		}
	}
	t.Logf("%d of %d concurrent unlinks succeeded", unlinked, n)
}

// testConcurrentRefreshTokenKeep races sign-ins of two google accounts
// of one user, with and without refresh tokens: whatever the order, the
// stored link's refresh token is none or its own subject's.
func testConcurrentRefreshTokenKeep(t *testing.T, s store.Store) {
	uid := uniq("user")
	a, b := uniq("a"), uniq("b")
	link(t, s, uid, "google", a, "", t0)
	link(t, s, uid, "google", b, "", t0)
	const n = 32
	errs := raceAll(n, func(i int) error {
		sub := a
		if i%2 == 1 {
			sub = b
		}
		l := linkedLogin("google", sub, "", nil, t0.Add(time.Duration(i)*time.Millisecond))
		if i%4 < 2 {
			l = noRefresh(l)
		}
		u, err := s.UpsertLogin(ctx(), uid, l)
		if err != nil {
			return err
		}
		if got := u.Providers["google"]; got.RefreshTokenSealed != "" && got.RefreshTokenSealed != "r-"+got.Subject {
			return fmt.Errorf("UpsertLogin() returned the link of %s with refresh token %q", got.Subject, got.RefreshTokenSealed)
		}
		return nil
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("sign-in %d: %v", i, err)
		}
	}
	u, err := s.GetUser(ctx(), uid)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Providers["google"]; got.RefreshTokenSealed != "" && got.RefreshTokenSealed != "r-"+got.Subject {
		t.Errorf("after the race the link of %s holds refresh token %q", got.Subject, got.RefreshTokenSealed)
	}
}

func testConcurrentUpdateProviderTokens(t *testing.T, s store.Store) {
	uid := uniq("user")
	link(t, s, uid, "google", uniq("g"), "g@example.com", t0)
	refreshed := t0.Add(time.Hour)
	const n = 20
	errs := raceAll(n, func(i int) error {
		return s.UpdateProviderTokens(ctx(), uid, "google", t0, store.ProviderLink{
			AccessTokenSealed: fmt.Sprintf("a-%d", i), Expiry: refreshed.Add(time.Hour), UpdatedAt: refreshed,
		})
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("updates %d and %d from one version both won", winner, i)
		case err == nil:
			winner = i
		case !isNotFound(err):
			t.Errorf("update %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no update won")
	}
	u, err := s.GetUser(ctx(), uid)
	if err != nil || u.Providers["google"].AccessTokenSealed != fmt.Sprintf("a-%d", winner) || !sameTime(u.Providers["google"].UpdatedAt, refreshed) {
		t.Errorf("after the race: %+v, %v; want update %d's token", u.Providers["google"], err, winner)
	}
}
