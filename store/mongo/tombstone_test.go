package mongo_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/socialbridge/socialbridge/store"
)

// TestADeletionCutShortIsFinishedByTheNextCall leaves a user as a
// DeleteUser that crashed after its first step leaves it (marked deleted,
// nothing else done), on each available server: the user already reads
// as no user and refuses a sign-in's write, a repeated DeleteUser
// finishes the job, leaving only the tombstone, and a third call finds no
// user to delete.
func TestADeletionCutShortIsFinishedByTheNextCall(t *testing.T) {
	uri, mongoDB := os.Getenv("MONGODB_URI"), true
	if uri == "" {
		uri, mongoDB = startFerretDB(t), false
	}
	db := newDatabaseName()
	s := openStore(t, uri, db, mongoDB)
	users := rawDatabase(t, uri, db).Collection("users")
	ctx := context.Background()
	signIn(t, s, "u1", "google", "g", "ann@example.com", t0)

	// Step 1 of DeleteUser, and the crash.
	if _, err := users.UpdateOne(ctx, bson.M{"_id": "u1"}, bson.M{"$set": bson.M{"disabled": true, "deleted_at": t0.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUser(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser of a user being deleted = %v, want not found", err)
	}
	if ids, err := s.FindUsersByLinkEmail(ctx, "ann@example.com", []string{"google"}); err != nil || len(ids) != 0 {
		t.Errorf("FindUsersByLinkEmail of a user being deleted = %v, %v; want none", ids, err)
	}
	login := store.Login{IdentityKey: "google|g", Provider: "google", Now: t0.Add(2 * time.Minute),
		Link: store.ProviderLink{Subject: "g", AccessTokenSealed: "late", UpdatedAt: t0.Add(2 * time.Minute)}}
	if _, err := s.UpsertLogin(ctx, "u1", login); !errors.Is(err, store.ErrUserDeleted) {
		t.Errorf("UpsertLogin of a user being deleted = %v, want ErrUserDeleted", err)
	}

	if err := s.DeleteUser(ctx, "u1", t0.Add(3*time.Minute)); err != nil {
		t.Fatalf("DeleteUser after the crash: %v", err)
	}
	doc := rawDoc(t, users, "u1")
	delete(doc, "_id")
	if len(doc) != 2 || doc["erased"] != true || doc["deleted_at"] == nil {
		t.Errorf("the user document after the deletion = %v, want only deleted_at and erased", doc)
	}
	if n, err := rawDatabase(t, uri, db).Collection("identities").CountDocuments(ctx, bson.M{"user_id": "u1"}); err != nil || n != 0 {
		t.Errorf("identities of the deleted user = %d, %v; want none", n, err)
	}
	if err := s.DeleteUser(ctx, "u1", t0.Add(4*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteUser of a tombstone = %v, want not found", err)
	}
}
