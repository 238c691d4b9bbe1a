package mongo_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/mongo"
)

// signIn claims identity provider|subject for user uid and writes a login
// whose link holds link email email.
func signIn(t *testing.T, s *mongo.Store, uid, provider, subject, email string, now time.Time) {
	t.Helper()
	key := provider + "|" + subject
	if got, _, err := s.ClaimIdentity(context.Background(), key, provider, subject, uid, now); err != nil || got != uid {
		t.Fatalf("ClaimIdentity(%s) = %q, %v; want %q", key, got, err, uid)
	}
	login := store.Login{
		IdentityKey: key, Provider: provider, Now: now,
		Link: store.ProviderLink{Subject: subject, AccessTokenSealed: "a", LinkEmail: email, UpdatedAt: now},
	}
	if _, err := s.UpsertLogin(context.Background(), uid, login); err != nil {
		t.Fatal(err)
	}
}

// rawDoc reads document id of coll as stored.
func rawDoc(t *testing.T, coll *driver.Collection, id string) bson.M {
	t.Helper()
	var doc bson.M
	if err := coll.FindOne(context.Background(), bson.M{"_id": id}).Decode(&doc); err != nil {
		t.Fatalf("read %s %s: %v", coll.Name(), id, err)
	}
	return doc
}

// linkEmailsField returns a user document's link_emails, and whether the
// field is there at all.
func linkEmailsField(t *testing.T, users *driver.Collection, id string) ([]string, bool) {
	t.Helper()
	v, ok := rawDoc(t, users, id)["link_emails"]
	if !ok {
		return nil, false
	}
	var list []string
	for _, e := range v.(bson.A) {
		list = append(list, e.(string))
	}
	slices.Sort(list)
	return list, true
}

func testLinkEmailsShape(t *testing.T, uri string, mongoDB bool) {
	db := newDatabaseName()
	s := openStore(t, uri, db, mongoDB)
	users := rawDatabase(t, uri, db).Collection("users")
	ctx := context.Background()
	check := func(when string, want ...string) {
		t.Helper()
		got, ok := linkEmailsField(t, users, "u1")
		switch {
		case len(want) == 0 && ok:
			t.Errorf("%s: link_emails = %v; want the field absent", when, got)
		case len(want) > 0 && !slices.Equal(got, want):
			t.Errorf("%s: link_emails = %v, want %v", when, got, want)
		}
	}
	signIn(t, s, "u1", "google", "g", "", t0)
	check("a link without link email")
	signIn(t, s, "u1", "google", "g", "one@example.com", t0.Add(time.Minute))
	check("a link with a link email", "one@example.com")
	signIn(t, s, "u1", "google", "g", "two@example.com", t0.Add(2*time.Minute))
	check("the link's email changed", "two@example.com")
	signIn(t, s, "u1", "facebook", "f", "two@example.com", t0.Add(3*time.Minute))
	signIn(t, s, "u1", "google", "g", "", t0.Add(4*time.Minute))
	check("google's email dropped, facebook's kept", "two@example.com")

	// An email left behind (a crash between a sign-in's update and its
	// tidying) finds no one, and the next sign-in takes it out.
	if _, err := users.UpdateOne(ctx, bson.M{"_id": "u1"}, bson.M{"$addToSet": bson.M{"link_emails": "stale@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.FindUsersByLinkEmail(ctx, "stale@example.com", []string{"google", "facebook"}); err != nil || len(got) != 0 {
		t.Errorf("FindUsersByLinkEmail() of a stale email = %v, %v; want none", got, err)
	}
	signIn(t, s, "u1", "facebook", "f", "", t0.Add(5*time.Minute))
	check("every link email dropped")
	if got, err := s.FindUsersByLinkEmail(ctx, "two@example.com", []string{"google", "facebook"}); err != nil || len(got) != 0 {
		t.Errorf("FindUsersByLinkEmail() = %v, %v; want none", got, err)
	}
}

func testUnlinkMarks(t *testing.T, uri string, mongoDB bool) {
	db := newDatabaseName()
	s := openStore(t, uri, db, mongoDB)
	raw := rawDatabase(t, uri, db)
	identities, users := raw.Collection("identities"), raw.Collection("users")
	ctx := context.Background()
	// mark leaves identity key as a crashed unlink left it, marked at at.
	mark := func(key string, at time.Time) {
		t.Helper()
		if _, err := identities.UpdateOne(ctx, bson.M{"_id": key}, bson.M{"$set": bson.M{"unlinking_at": at, "unlink_token": "crashed"}}); err != nil {
			t.Fatal(err)
		}
	}
	unmarked := func(key string) {
		t.Helper()
		doc := rawDoc(t, identities, key)
		if _, ok := doc["unlinking_at"]; ok {
			t.Errorf("identity %s still marked: %v", key, doc)
		}
		if _, ok := doc["unlink_token"]; ok {
			t.Errorf("identity %s still has a token: %v", key, doc)
		}
	}

	signIn(t, s, "u1", "google", "a", "a@example.com", t0)
	signIn(t, s, "u1", "facebook", "b", "", t0)

	// A refused unlink leaves no mark behind.
	if err := s.UnlinkIdentity(ctx, "u1", "google|nobody", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UnlinkIdentity() of an unknown identity = %v", err)
	}

	// A crash left google|a marked, before the user was updated.
	mark("google|a", t0)
	now := t0.Add(10 * time.Second)
	if err := s.UnlinkIdentity(ctx, "u1", "google|a", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UnlinkIdentity() of an identity a recent unlink marked = %v, want store.ErrNotFound", err)
	}
	// The mark counts: the count is conservative.
	if err := s.UnlinkIdentity(ctx, "u1", "facebook|b", now); !errors.Is(err, store.ErrLastIdentity) {
		t.Errorf("UnlinkIdentity() beside a recent mark = %v, want store.ErrLastIdentity", err)
	}
	unmarked("facebook|b")
	if got, _, err := s.ClaimIdentity(ctx, "google|a", "google", "a", "someone-else", now); err != nil || got != "u1" {
		t.Errorf("ClaimIdentity() of a marked identity = %q, %v; want u1", got, err)
	}
	if ids, err := s.ListUserIdentities(ctx, "u1"); err != nil || len(ids) != 2 {
		t.Errorf("ListUserIdentities() with a marked identity = %v, %v; want both", ids, err)
	}

	// A minute later the mark is stale: unlinking the other identity
	// clears it, and counts it.
	later := t0.Add(2 * time.Minute)
	if err := s.UnlinkIdentity(ctx, "u1", "facebook|b", later); err != nil {
		t.Fatalf("UnlinkIdentity() beside a stale mark = %v", err)
	}
	unmarked("google|a")
	if _, err := s.GetIdentity(ctx, "facebook|b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetIdentity() of the unlinked identity = %v", err)
	}

	// A crash after the user update: the user no longer lists google|c,
	// nor holds its link, and its record is marked. Unlinking it again
	// after a minute takes the mark over and finishes.
	signIn(t, s, "u1", "azure", "c", "", later)
	mark("azure|c", later)
	if _, err := users.UpdateOne(ctx, bson.M{"_id": "u1"}, bson.M{"$pull": bson.M{"identities": "azure|c"}, "$unset": bson.M{"providers.azure": ""}}); err != nil {
		t.Fatal(err)
	}
	if err := s.UnlinkIdentity(ctx, "u1", "azure|c", later.Add(2*time.Minute)); err != nil {
		t.Fatalf("UnlinkIdentity() of an identity a crashed unlink marked = %v", err)
	}
	if _, err := s.GetIdentity(ctx, "azure|c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetIdentity() after the repaired unlink = %v", err)
	}
	u, err := s.GetUser(ctx, "u1")
	if err != nil || !slices.Equal(u.Identities, []string{"google|a"}) || len(u.Providers) != 1 {
		t.Errorf("GetUser() after the repaired unlink = %+v, %v; want google|a only", u, err)
	}
	if got, err := s.FindUsersByLinkEmail(ctx, "a@example.com", []string{"google"}); err != nil || !slices.Equal(got, []string{"u1"}) {
		t.Errorf("FindUsersByLinkEmail() = %v, %v; want [u1]", got, err)
	}
	if err := s.UnlinkIdentity(ctx, "u1", "google|a", later.Add(3*time.Minute)); !errors.Is(err, store.ErrLastIdentity) {
		t.Errorf("UnlinkIdentity() of the last identity = %v", err)
	}
	unmarked("google|a")
}
