package mongo_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/socialbridge/socialbridge/store"
)

// TestStorageShape checks, on each available server, what the conformance
// suite cannot see through the contract: how records are laid out in the
// database and which Go types come back.
func TestStorageShape(t *testing.T) {
	type server struct{ name, uri string }
	servers := []server{{name: "FerretDB stand-in"}}
	if uri := os.Getenv("MONGODB_URI"); uri != "" {
		servers = append(servers, server{"MongoDB", uri})
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			uri, mongoDB := srv.uri, srv.uri != ""
			if !mongoDB {
				uri = startFerretDB(t)
			}
			t.Run("unset times and strings of a new flow are absent, not stored as zero values", func(t *testing.T) {
				testUnsetFieldsAbsent(t, uri, mongoDB)
			})
			t.Run("claims come back as JSON-shaped Go values", func(t *testing.T) {
				testClaimTypes(t, uri, mongoDB)
			})
			t.Run("every query has its index, with its keys in order, and opening again keeps them", func(t *testing.T) {
				testIndexes(t, uri, mongoDB)
			})
			t.Run("an index that a newer one replaced is dropped at open", func(t *testing.T) {
				testReplacedIndexDropped(t, uri, mongoDB)
			})
			t.Run("a user has no not-before field until one is set", func(t *testing.T) {
				testNotBeforeAbsent(t, uri, mongoDB)
			})
			t.Run("a user's roles are an array of strings as given, absent until set and once cleared", func(t *testing.T) {
				testRolesShape(t, uri, mongoDB)
			})
			t.Run("link_emails holds the emails of the user's links, and is absent when they hold none", func(t *testing.T) {
				testLinkEmailsShape(t, uri, mongoDB)
			})
			t.Run("an unlink's mark refuses other unlinks while fresh and is taken over or cleared once stale", func(t *testing.T) {
				testUnlinkMarks(t, uri, mongoDB)
			})
			t.Run("a completed link flow's document no longer holds the sealed identity", func(t *testing.T) {
				testLinkSealedRemoved(t, uri, mongoDB)
			})
			t.Run("a sign-in that keeps the refresh token stores the link as a whole replacement would, the refresh token aside", func(t *testing.T) {
				testKeptLinkShape(t, uri, mongoDB)
			})
			t.Run("a created session is a session document without flow, code, link or revocation fields", func(t *testing.T) {
				testCreatedSessionShape(t, uri, mongoDB)
			})
			t.Run("a remembered token is its hash as _id and a BSON date, replaced in place when expired", func(t *testing.T) {
				testRememberedTokenShape(t, uri, mongoDB)
			})
			t.Run("a signing key has no retired_at until retired, then a BSON date", func(t *testing.T) {
				testRetiredAtShape(t, uri, mongoDB)
			})
		})
	}
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// rawDatabase returns database db at uri through a plain driver client,
// to look at documents as they are stored.
func rawDatabase(t *testing.T, uri, db string) *driver.Database {
	t.Helper()
	c, err := driver.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c.Database(db)
}

func newFlow(t *testing.T, s store.Store) *store.Session {
	t.Helper()
	f := &store.Session{
		ID: "flow-1", ExpiresAt: t0.Add(10 * time.Minute), CreatedAt: t0, ClientID: "spa",
		RedirectURI: "https://app.example/cb", CodeChallenge: "challenge", Provider: "google",
	}
	if err := s.CreateFlow(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	return f
}

func testUnsetFieldsAbsent(t *testing.T, uri string, mongoDB bool) {
	db := newDatabaseName()
	s := openStore(t, uri, db, mongoDB)
	f := newFlow(t, s)
	var doc bson.M
	if err := rawDatabase(t, uri, db).Collection("sessions").FindOne(context.Background(), bson.M{"_id": f.ID}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	// A zero date would put every session in the sparse revoked_at_id index
	// and read back as year 1 rather than "unset".
	for _, field := range []string{"auth_time", "rotated_at", "idle_expires_at", "revoked_at", "user_id", "claims", "code_hash", "generation", "revoke_reason", "nonce", "scope", "client_state", "max_age", "link_user_id", "link_session_id", "link_sealed", "user_agent", "ip"} {
		if v, ok := doc[field]; ok {
			t.Errorf("a new flow stores %s = %v; want the field absent", field, v)
		}
	}
	if _, ok := doc["expires_at"].(bson.DateTime); !ok {
		t.Errorf("expires_at is stored as %T, want a BSON date (the TTL index needs one)", doc["expires_at"])
	}
	if doc["state"] != store.StatePending {
		t.Errorf("state = %v, want pending", doc["state"])
	}
}

func testClaimTypes(t *testing.T, uri string, mongoDB bool) {
	s := openStore(t, uri, newDatabaseName(), mongoDB)
	f := newFlow(t, s)
	in := map[string]any{
		"roles":  []string{"reader", "writer"},
		"org":    map[string]any{"id": "o1", "tier": 3, "tags": []any{"a"}, "parent": map[string]any{"id": "p"}},
		"score":  1.5,
		"banned": false,
		"none":   nil,
	}
	if _, err := s.ClaimFlow(context.Background(), f.ID, "google", t0); err != nil {
		t.Fatal(err)
	}
	_, err := s.IssueCode(context.Background(), f.ID, "google", t0, store.CodeIssue{
		UserID: "u1", AuthTime: t0, Claims: in, CodeHash: "h", CodeExpiresAt: t0.Add(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSession(context.Background(), f.ID)
	if err != nil {
		t.Fatal(err)
	}
	roles, ok := got.Claims["roles"].([]any)
	if !ok || !slices.Equal(roles, []any{"reader", "writer"}) {
		t.Errorf("roles = %#v, want []any{\"reader\", \"writer\"}", got.Claims["roles"])
	}
	org, ok := got.Claims["org"].(map[string]any)
	if !ok {
		t.Fatalf("org = %#v, want a map[string]any", got.Claims["org"])
	}
	if tier, ok := org["tier"].(float64); !ok || tier != 3 {
		t.Errorf("org.tier = %#v, want float64 3, as from JSON", org["tier"])
	}
	if tags, ok := org["tags"].([]any); !ok || len(tags) != 1 || tags[0] != "a" {
		t.Errorf("org.tags = %#v, want []any{\"a\"}", org["tags"])
	}
	if parent, ok := org["parent"].(map[string]any); !ok || parent["id"] != "p" {
		t.Errorf("org.parent = %#v, want map[string]any{\"id\": \"p\"}", org["parent"])
	}
	if got.Claims["score"] != 1.5 || got.Claims["banned"] != false {
		t.Errorf("score, banned = %#v, %#v", got.Claims["score"], got.Claims["banned"])
	}
	if v, ok := got.Claims["none"]; !ok || v != nil {
		t.Errorf("none = %#v, %v; want a nil value", v, ok)
	}
}

func testIndexes(t *testing.T, uri string, mongoDB bool) {
	db := newDatabaseName()
	openStore(t, uri, db, mongoDB)
	openStore(t, uri, db, false) // a restart, or a second replica
	// FerretDB has no TTL indexes: plain ones carry the field's name.
	ttl := ""
	if mongoDB {
		ttl = "_ttl"
	}
	// Every index of every collection, with its keys in order (the
	// equalities of the queries it serves first, then their sort) and
	// what needs it. The revocation feed, a user's sessions and the audit
	// listings are polled: without their index each would read a whole
	// collection.
	type index struct{ name, keys, usedBy string }
	want := map[string][]index{
		"sessions": {
			{"_id_", "_id:1", "every compare-and-set and GetSession"},
			{"expires_at" + ttl, "expires_at:1", "expiry and SweepExpired"},
			{"idle_expires_at" + ttl, "idle_expires_at:1", "expiry and SweepExpired"},
			{"revoked_at_id", "revoked_at:1,_id:1", "RevocationsSince (revoked sessions, in the feed's order)"},
			{"user_id_state", "user_id:1,state:1", "ListUserSessions, RevokeUserSessions and DeleteUser's scrub"},
			{"link_user_id", "link_user_id:1", "DeleteUser's deletion of link flows"},
		},
		"users": {
			{"_id_", "_id:1", "every update of a user and GetUser"},
			{"deleted_at", "deleted_at:1", "DeleteUser's removal of old tombstones"},
			{"link_emails_id", "link_emails:1,_id:1", "FindUsersByLinkEmail"},
			{"not_before_id", "not_before:1,_id:1", "RevocationsSince (not-before times, in the feed's order)"},
			{"profile_email_id", "profile.email:1,_id:1", "FindUsersByEmail"},
		},
		"identities": {
			{"_id_", "_id:1", "ClaimIdentity and GetIdentity"},
			{"user_id", "user_id:1", "ListUserIdentities and UnlinkIdentity's count"},
		},
		"signing_keys": {
			{"_id_", "_id:1", "InsertKey"},
			{"use_generation", "use:1,generation:1", "ListKeys"},
		},
		"audit_events": {
			{"_id_", "_id:1", "AppendAudit"},
			{"at_id", "at:-1,_id:-1", "ListAudit of every event, and SweepAudit"},
			{"type_at_id", "type:1,at:-1,_id:-1", "ListAudit of one type"},
			{"user_id_at_id", "user_id:1,at:-1,_id:-1", "ListAudit of one user"},
			{"user_id_type_at_id", "user_id:1,type:1,at:-1,_id:-1", "ListAudit of one user's events of one type"},
		},
		"remembered_tokens": {
			{"_id_", "_id:1", "RememberToken"},
			{"expires_at" + ttl, "expires_at:1", "expiry and SweepExpired"},
		},
	}
	// Sparse indexes hold only the documents that have the field: revoked
	// sessions, users with a not-before or link emails.
	sparse := []string{"revoked_at_id", "not_before_id", "link_emails_id", "profile_email_id", "link_user_id"}
	raw := rawDatabase(t, uri, db)
	for coll, indexes := range want {
		specs, err := raw.Collection(coll).Indexes().ListSpecifications(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, spec := range specs {
			got[spec.Name] = keyPattern(t, spec.KeysDocument)
			if strings.HasSuffix(spec.Name, "_ttl") && (spec.ExpireAfterSeconds == nil || *spec.ExpireAfterSeconds != 3600) {
				t.Errorf("%s.%s expireAfterSeconds = %v, want 3600", coll, spec.Name, spec.ExpireAfterSeconds)
			}
			if slices.Contains(sparse, spec.Name) && mongoDB && (spec.Sparse == nil || !*spec.Sparse) {
				t.Errorf("%s.%s index is not sparse: %+v", coll, spec.Name, spec)
			}
		}
		for _, ix := range indexes {
			keys, ok := got[ix.name]
			switch {
			case !ok:
				t.Errorf("%s has no index %s (%s), which %s needs", coll, ix.name, ix.keys, ix.usedBy)
			case keys != ix.keys:
				t.Errorf("%s.%s keys = %s, want %s (for %s)", coll, ix.name, keys, ix.keys, ix.usedBy)
			}
			delete(got, ix.name)
		}
		for name, keys := range got {
			t.Errorf("%s has an index %s (%s) that no query is listed as needing", coll, name, keys)
		}
	}
}

// keyPattern is an index's keys document as "field:direction,...", in
// its order.
func keyPattern(t *testing.T, keys bson.Raw) string {
	t.Helper()
	elems, err := keys.Elements()
	if err != nil {
		t.Fatalf("index keys %s: %v", keys, err)
	}
	parts := make([]string, len(elems))
	for i, e := range elems {
		dir, ok := e.Value().AsInt64OK()
		if !ok {
			t.Errorf("index key %s is %s, want a direction", e.Key(), e.Value())
		}
		parts[i] = fmt.Sprintf("%s:%d", e.Key(), dir)
	}
	return strings.Join(parts, ",")
}

func testReplacedIndexDropped(t *testing.T, uri string, mongoDB bool) {
	db := newDatabaseName()
	raw := rawDatabase(t, uri, db)
	// The revocation feed's index of the first MongoDB store.
	old := driver.IndexModel{Keys: bson.D{{Key: "revoked_at", Value: 1}}, Options: options.Index().SetName("revoked_at").SetSparse(true)}
	if _, err := raw.Collection("sessions").Indexes().CreateOne(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	openStore(t, uri, db, mongoDB)
	specs, err := raw.Collection("sessions").Indexes().ListSpecifications(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range specs {
		if spec.Name == "revoked_at" {
			t.Errorf("index revoked_at is still there after Open: %+v", spec)
		}
	}
}

func testNotBeforeAbsent(t *testing.T, uri string, mongoDB bool) {
	db := newDatabaseName()
	s := openStore(t, uri, db, mongoDB)
	if _, err := s.UpsertLogin(context.Background(), "u1", store.Login{IdentityKey: "google|1", Provider: "google", Now: t0}); err != nil {
		t.Fatal(err)
	}
	users := rawDatabase(t, uri, db).Collection("users")
	var doc bson.M
	if err := users.FindOne(context.Background(), bson.M{"_id": "u1"}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	// A zero date would put every user in the sparse not_before_id index
	// and in the revocation feed.
	if v, ok := doc["not_before"]; ok {
		t.Errorf("a new user stores not_before = %v; want the field absent", v)
	}
	if err := s.SetUserNotBefore(context.Background(), "u1", t0); err != nil {
		t.Fatal(err)
	}
	doc = nil
	if err := users.FindOne(context.Background(), bson.M{"_id": "u1"}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["not_before"].(bson.DateTime); !ok {
		t.Errorf("not_before is stored as %T, want a BSON date", doc["not_before"])
	}
}

func testRetiredAtShape(t *testing.T, uri string, mongoDB bool) {
	db := newDatabaseName()
	s := openStore(t, uri, db, mongoDB)
	ctx := context.Background()
	k := store.SigningKey{ID: "access-1", KID: "k1", Use: "access", Algorithm: "ES256", Generation: 1, PrivateSealed: "sealed", CreatedAt: t0, SignFrom: t0}
	if err := s.InsertKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	keys := rawDatabase(t, uri, db).Collection("signing_keys")
	// RetireKey's condition is that the field is absent: a zero date
	// would make every key look retired already.
	if v, ok := rawDoc(t, keys, "access-1")["retired_at"]; ok {
		t.Errorf("a new key stores retired_at = %v; want the field absent", v)
	}
	if err := s.RetireKey(ctx, "access-1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok := rawDoc(t, keys, "access-1")["retired_at"].(bson.DateTime); !ok {
		t.Errorf("retired_at is stored as %T, want a BSON date", rawDoc(t, keys, "access-1")["retired_at"])
	}
}

func testRolesShape(t *testing.T, uri string, mongoDB bool) {
	db := newDatabaseName()
	s := openStore(t, uri, db, mongoDB)
	ctx := context.Background()
	if _, err := s.UpsertLogin(ctx, "u1", store.Login{IdentityKey: "google|1", Provider: "google", Now: t0}); err != nil {
		t.Fatal(err)
	}
	users := rawDatabase(t, uri, db).Collection("users")
	if v, ok := rawDoc(t, users, "u1")["roles"]; ok {
		t.Errorf("a new user stores roles = %#v; want the field absent", v)
	}
	for _, tt := range []struct {
		name  string
		roles []string
		want  bson.A // nil: the field is absent
	}{
		{"roles set", []string{"writer", "a.b", "$x"}, bson.A{"writer", "a.b", "$x"}},
		{"roles cleared with an empty list", []string{}, nil},
		{"roles set again", []string{"reader"}, bson.A{"reader"}},
		{"roles cleared with nil", nil, nil},
	} {
		if err := s.SetRoles(ctx, "u1", tt.roles, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		v, ok := rawDoc(t, users, "u1")["roles"]
		switch {
		case tt.want == nil && ok:
			t.Errorf("%s: roles = %#v; want the field absent, not an empty array or null", tt.name, v)
		case tt.want != nil && !reflect.DeepEqual(v, tt.want):
			t.Errorf("%s: roles = %#v, want the array %#v", tt.name, v, tt.want)
		}
	}
}

func testLinkSealedRemoved(t *testing.T, uri string, mongoDB bool) {
	db := newDatabaseName()
	s := openStore(t, uri, db, mongoDB)
	sessions := rawDatabase(t, uri, db).Collection("sessions")
	ctx := context.Background()
	f := &store.Session{
		ID: "link-1", State: store.StateReady, ExpiresAt: t0.Add(10 * time.Minute), CreatedAt: t0, ClientID: "spa",
		CodeChallenge: "challenge", Provider: "google", LinkUserID: "u1", LinkSessionID: "s1",
	}
	if err := s.CreateFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartFlow(ctx, f.ID, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimFlow(ctx, f.ID, "google", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssueLinkCode(ctx, f.ID, "google", t0, store.LinkCodeIssue{CodeHash: "h", CodeExpiresAt: t0.Add(time.Minute), Sealed: "sealed"}); err != nil {
		t.Fatal(err)
	}
	if v := rawDoc(t, sessions, f.ID)["link_sealed"]; v != "sealed" {
		t.Errorf("link_sealed of a flow holding its link code = %v, want \"sealed\"", v)
	}
	r := store.LinkRedemption{CodeHash: "h", ClientID: "spa", CodeChallenge: "challenge", UserID: "u1", SessionID: "s1", Now: t0}
	if _, err := s.CompleteLink(ctx, f.ID, r); err != nil {
		t.Fatal(err)
	}
	doc := rawDoc(t, sessions, f.ID)
	if v, ok := doc["link_sealed"]; ok {
		t.Errorf("a completed link flow stores link_sealed = %v; want the field absent", v)
	}
	if doc["state"] != store.StateLinked {
		t.Errorf("state = %v, want linked", doc["state"])
	}
}

func testKeptLinkShape(t *testing.T, uri string, mongoDB bool) {
	db := newDatabaseName()
	s := openStore(t, uri, db, mongoDB)
	users := rawDatabase(t, uri, db).Collection("users")
	ctx := context.Background()
	full := store.ProviderLink{
		Subject: "g", AccessTokenSealed: "a", RefreshTokenSealed: "r", IDTokenSealed: "i", Expiry: t0.Add(time.Hour),
		Scopes: []string{"openid"}, LinkEmail: "a@example.com", UpdatedAt: t0,
	}
	if _, err := s.UpsertLogin(ctx, "u1", store.Login{IdentityKey: "google|g", Provider: "google", Link: full, Now: t0}); err != nil {
		t.Fatal(err)
	}
	// googleLink reads user u1's google link as stored.
	googleLink := func() bson.M {
		t.Helper()
		var doc struct {
			Providers map[string]bson.M `bson:"providers"`
		}
		if err := users.FindOne(ctx, bson.M{"_id": "u1"}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		return doc.Providers["google"]
	}
	whole := googleLink()
	less := store.ProviderLink{Subject: "g", AccessTokenSealed: "a2", UpdatedAt: t0.Add(time.Minute)}
	if _, err := s.UpsertLogin(ctx, "u1", store.Login{IdentityKey: "google|g", Provider: "google", Link: less, Now: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	kept := googleLink()
	keys := func(m bson.M) []string { return slices.Sorted(maps.Keys(m)) }
	if got, want := keys(kept), []string{"access_token", "profile", "refresh_token", "subject", "updated_at"}; !slices.Equal(got, want) {
		t.Errorf("the kept link's fields = %v, want %v (the empty ones absent, as in a replaced link)", got, want)
	}
	if kept["refresh_token"] != "r" {
		t.Errorf("refresh_token = %v, want the stored r", kept["refresh_token"])
	}
	for _, field := range []string{"updated_at", "profile", "subject"} {
		if g, w := fmt.Sprintf("%T", kept[field]), fmt.Sprintf("%T", whole[field]); g != w {
			t.Errorf("%s is stored as %s by field, as %s whole", field, g, w)
		}
	}
}

func testCreatedSessionShape(t *testing.T, uri string, mongoDB bool) {
	db := newDatabaseName()
	s := openStore(t, uri, db, mongoDB)
	sess := &store.Session{
		ID: "session-1", UserID: "u1", ClientID: "mobile", Provider: "google", Scope: "openid",
		CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), IdleExpiresAt: t0.Add(time.Hour), RotatedAt: t0,
		UserAgent: "ExampleApp/1.0", IP: "192.0.2.1",
		// Not kept: a created session has none of these.
		State: store.StateRevoked, Generation: 9, CodeHash: "h", LinkUserID: "u2", RevokedAt: t0,
	}
	if err := s.CreateSession(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	doc := rawDoc(t, rawDatabase(t, uri, db).Collection("sessions"), sess.ID)
	if doc["state"] != store.StateActive || doc["generation"] != int64(1) || doc["user_agent"] != "ExampleApp/1.0" || doc["ip"] != "192.0.2.1" {
		t.Errorf("state, generation, user_agent, ip = %#v, %#v, %#v, %#v; want active, int64 1 (as RedeemCode writes it) and the device",
			doc["state"], doc["generation"], doc["user_agent"], doc["ip"])
	}
	// link_user_id would make it a link flow; revoked_at would put it in
	// the sparse feed index.
	for _, field := range []string{"code_hash", "link_user_id", "link_session_id", "link_sealed", "revoked_at", "revoke_reason", "max_age", "auth_time", "claims", "nonce"} {
		if v, ok := doc[field]; ok {
			t.Errorf("a created session stores %s = %v; want the field absent", field, v)
		}
	}
	for _, field := range []string{"expires_at", "idle_expires_at", "rotated_at", "created_at"} {
		if _, ok := doc[field].(bson.DateTime); !ok {
			t.Errorf("%s is stored as %T, want a BSON date", field, doc[field])
		}
	}
}

func testRememberedTokenShape(t *testing.T, uri string, mongoDB bool) {
	db := newDatabaseName()
	s := openStore(t, uri, db, mongoDB)
	tokens := rawDatabase(t, uri, db).Collection("remembered_tokens")
	ctx := context.Background()
	if err := s.RememberToken(ctx, "hash-1", t0.Add(time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	doc := rawDoc(t, tokens, "hash-1")
	if got := slices.Sorted(maps.Keys(doc)); !slices.Equal(got, []string{"_id", "expires_at"}) {
		t.Errorf("a remembered token's fields = %v, want [_id expires_at]", got)
	}
	// The TTL index needs a date.
	if d, ok := doc["expires_at"].(bson.DateTime); !ok || !d.Time().Equal(t0.Add(time.Minute)) {
		t.Errorf("expires_at = %#v, want the BSON date %v", doc["expires_at"], t0.Add(time.Minute))
	}
	if err := s.RememberToken(ctx, "hash-1", t0.Add(time.Hour), t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n, err := tokens.CountDocuments(ctx, bson.M{}); err != nil || n != 1 {
		t.Errorf("documents after an expired record was replaced = %d, %v; want 1", n, err)
	}
	if d, ok := rawDoc(t, tokens, "hash-1")["expires_at"].(bson.DateTime); !ok || !d.Time().Equal(t0.Add(time.Hour)) {
		t.Errorf("expires_at after the replacement = %v, want %v", d, t0.Add(time.Hour))
	}
}
