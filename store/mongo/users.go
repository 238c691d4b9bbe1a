package mongo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/socialbridge/socialbridge/store"
)

// ClaimIdentity returns the user an identity belongs to, first creating the
// identity with newUserID when it does not exist yet; created reports
// whether this call created it. Concurrent first logins of one identity all
// get the same user id.
//
// The identity's _id is its key, so of concurrent first logins exactly one
// upsert inserts; the others match the inserted document or fail with a
// duplicate key and retry. The update only sets fields on insert and
// returns the document as it was before, so "no document before" is
// exactly "this call created it".
func (s *Store) ClaimIdentity(ctx context.Context, key, provider, subject, newUserID string, now time.Time) (userID string, created bool, err error) {
	update := bson.M{"$setOnInsert": bson.M{
		"user_id": newUserID, "provider": provider, "subject": subject, "created_at": now,
	}}
	if err := store.ValidProviderName(provider); err != nil {
		return "", false, fmt.Errorf("claim identity: %w", err)
	}
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.Before)
	for range upsertAttempts {
		var id store.Identity
		err = s.identities.FindOneAndUpdate(ctx, bson.M{"_id": key}, update, opts).Decode(&id)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			return newUserID, true, nil
		case mongo.IsDuplicateKeyError(err):
			continue // lost the race to insert it; the retry finds the winner's
		case err != nil:
			return "", false, fmt.Errorf("claim identity: %w", mapErr(err))
		}
		return id.UserID, false, nil
	}
	return "", false, fmt.Errorf("claim identity: gave up after %d duplicate-key retries: %w", upsertAttempts, err)
}

// userDoc is a user document with the fields that only the store reads:
// link_emails, the index of FindUsersByLinkEmail, and link_rev, the
// version that guards its tidying (see the package documentation).
type userDoc struct {
	store.User `bson:",inline"`
	LinkEmails []string `bson:"link_emails,omitempty"`
	LinkRev    int64    `bson:"link_rev,omitempty"`
}

// UpsertLogin writes one sign-in to user userID in one atomic update
// (profile, the provider's link with its sealed tokens, the identity key,
// the link email and the timestamps together), creating the user if
// needed, and returns the user as it is after the write. When the link
// replaced one with another link email, a second, conditional update
// takes the old email out of link_emails.
//
// A link without a refresh token keeps the stored link's when the stored
// link has the same subject. Whether it does depends on the stored
// subject, which an update operator cannot compare with (an
// aggregation-pipeline update could, but the FerretDB stand-in has none),
// so the choice is made by the filters of two alternative updates, each a
// whole sign-in, of which exactly one applies:
//
//   - keep: filter _id and providers.<p>.subject = subject; it sets the
//     link field by field and unsets its empty fields, except
//     refresh_token, which it leaves as stored.
//   - replace: filter _id and providers.<p>.subject ≠ subject (or no
//     link at all); it sets the link whole, as a sign-in with a refresh
//     token always does.
//
// Both upsert: keep creates a missing user in one round trip (a first
// sign-in); when the user exists with another subject or no link of the
// provider, its upsert fails with a duplicate key and replace applies. A
// sign-in racing one of another subject may find the document changed
// between the two (replace then fails with a duplicate key too), and
// starts over. Each applied update is one single-document write that
// checked the subject it depends on, so no interleaving or crash can
// keep a refresh token under another subject or half-write a sign-in:
// the updates that do not apply change nothing.
func (s *Store) UpsertLogin(ctx context.Context, userID string, l store.Login) (*store.User, error) {
	// The provider name becomes part of a field path: a '.' or a '$'
	// would reach elsewhere, and ValidProviderName allows neither.
	if err := store.ValidProviderName(l.Provider); err != nil {
		return nil, fmt.Errorf("upsert user %s: %w", userID, err)
	}
	path := "providers." + l.Provider
	writes := []loginWrite{{
		filter: bson.D{{Key: "_id", Value: userID}, notDeleted},
		update: loginUpdate(l, bson.M{path: l.Link}, nil),
	}}
	if l.Link.RefreshTokenSealed == "" {
		set, unset, err := linkByField(path, l.Link)
		if err != nil {
			return nil, fmt.Errorf("upsert user %s: %w", userID, err)
		}
		writes = []loginWrite{{
			filter: bson.D{{Key: "_id", Value: userID}, notDeleted, {Key: path + ".subject", Value: l.Link.Subject}},
			update: loginUpdate(l, set, unset),
		}, {
			filter: bson.D{{Key: "_id", Value: userID}, notDeleted, {Key: path + ".subject", Value: bson.M{"$ne": l.Link.Subject}}},
			update: writes[0].update,
		}}
	}
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)
	var err error
	for range upsertAttempts {
		for _, w := range writes {
			var u userDoc
			err = s.users.FindOneAndUpdate(ctx, w.filter, w.update, opts).Decode(&u)
			if mongo.IsDuplicateKeyError(err) {
				// The user exists and does not match this write's
				// filter (or a concurrent first sign-in created it):
				// the next write, or the next round, matches it.
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("upsert user %s: %w", userID, mapErr(err))
			}
			s.tidyLinkEmails(ctx, &u)
			return &u.User, nil
		}
		// Every write met a document it did not match: a concurrent
		// sign-in's, or the tombstone of a deleted user.
		if err := s.refuseDeleted(ctx, userID, l.IdentityKey); err != nil {
			return nil, fmt.Errorf("upsert user %s: %w", userID, err)
		}
	}
	return nil, fmt.Errorf("upsert user %s: gave up after %d duplicate-key retries: %w", userID, upsertAttempts, err)
}

// notDeleted is the condition on a user document that it is not the
// tombstone of a deleted user, nor being deleted (see DeleteUser).
var notDeleted = bson.E{Key: "deleted_at", Value: bson.M{"$exists": false}}

// refuseDeleted returns store.ErrUserDeleted if userID is the tombstone
// of a deleted user (or one being deleted), after deleting identity
// record key if it still points at it, so that the identity's next claim
// creates a new user; nil otherwise.
func (s *Store) refuseDeleted(ctx context.Context, userID, key string) error {
	n, err := s.users.CountDocuments(ctx, bson.D{{Key: "_id", Value: userID}, {Key: "deleted_at", Value: bson.M{"$exists": true}}},
		options.Count().SetLimit(1))
	if err != nil {
		return fmt.Errorf("look for a tombstone: %w", mapErr(err))
	}
	if n == 0 {
		return nil
	}
	if _, err := s.identities.DeleteOne(ctx, bson.M{"_id": key, "user_id": userID}); err != nil {
		return fmt.Errorf("deleted, and releasing identity: %w", mapErr(err))
	}
	return store.ErrUserDeleted
}

// loginWrite is one conditional upsert of a sign-in.
type loginWrite struct {
	filter bson.D
	update bson.M
}

// loginUpdate is the update of a sign-in that writes the provider's link
// with set (and unset, if any): the profile, the identity key, the link
// email and the timestamps with it.
func loginUpdate(l store.Login, set, unset bson.M) bson.M {
	set = maps.Clone(set)
	set["profile"] = l.Profile
	set["updated_at"] = l.Now
	set["last_login_at"] = l.Now
	addToSet := bson.M{"identities": l.IdentityKey}
	if l.Link.LinkEmail != "" {
		addToSet["link_emails"] = l.Link.LinkEmail
	}
	update := bson.M{
		"$set":         set,
		"$setOnInsert": bson.M{"created_at": l.Now},
		"$addToSet":    addToSet,
		"$inc":         bson.M{"link_rev": int64(1)},
	}
	if len(unset) > 0 {
		update["$unset"] = unset
	}
	return update
}

// linkKeys are the field names of a stored store.ProviderLink.
var linkKeys = func() []string {
	t := reflect.TypeFor[store.ProviderLink]()
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("bson"), ",")
		keys = append(keys, name)
	}
	return keys
}()

// linkByField returns the $set and $unset of an update that writes link
// at path field by field, as a whole replacement would leave it (its
// empty fields, omitted from the document, unset), except that it leaves
// refresh_token alone when link has none.
func linkByField(path string, link store.ProviderLink) (set, unset bson.M, err error) {
	raw, err := bson.Marshal(link)
	if err != nil {
		return nil, nil, fmt.Errorf("encode provider link: %w", err)
	}
	var doc bson.D
	if err := bson.Unmarshal(raw, &doc); err != nil {
		return nil, nil, fmt.Errorf("encode provider link: %w", err)
	}
	set, unset = bson.M{}, bson.M{}
	for _, e := range doc {
		set[path+"."+e.Key] = e.Value
	}
	for _, key := range linkKeys {
		if _, ok := set[path+"."+key]; !ok && key != "refresh_token" {
			unset[path+"."+key] = ""
		}
	}
	return set, unset, nil
}

// linkEmails returns the link emails of a user's links, sorted, each once.
func linkEmails(links map[string]store.ProviderLink) []string {
	set := map[string]bool{}
	for _, l := range links {
		if l.LinkEmail != "" {
			set[l.LinkEmail] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// tidyLinkEmails takes out of u's link_emails the emails that no link of u
// holds any more, if u (as a write just returned it) has some: one update,
// conditional on link_rev, so that it applies only if no sign-in or unlink
// changed the links since. If one did, that write tidies after itself, from
// a document that includes this one's change. A failure is logged, not
// returned: the sign-in or unlink is written, and the stale email costs
// FindUsersByLinkEmail only a document it skips.
func (s *Store) tidyLinkEmails(ctx context.Context, u *userDoc) {
	want := linkEmails(u.Providers)
	have := slices.Clone(u.LinkEmails)
	slices.Sort(have)
	if slices.Equal(want, slices.Compact(have)) {
		return
	}
	filter := bson.D{{Key: "_id", Value: u.ID}, {Key: "link_rev", Value: u.LinkRev}}
	if u.LinkRev == 0 {
		filter[1].Value = bson.M{"$exists": false}
	}
	update := bson.M{"$set": bson.M{"link_emails": want}}
	if len(want) == 0 {
		update = bson.M{"$unset": bson.M{"link_emails": ""}}
	}
	if _, err := s.users.UpdateOne(ctx, filter, update); err != nil {
		s.logger.WarnContext(ctx, "could not remove stale link emails of a user; lookups skip them", "user_id", u.ID, "err", err)
	}
}

// FindUsersByLinkEmail returns the ids of the users holding a link of one
// of providers with link email email, sorted, at most
// store.MaxUsersByLinkEmail, through the link_emails_id index. The index
// finds the users whose link_emails hold the email; the filter then keeps
// those with a link of a named provider that holds it, which also skips
// an email that link_emails still holds although no link does any more
// (see tidyLinkEmails).
func (s *Store) FindUsersByLinkEmail(ctx context.Context, email string, providers []string) ([]string, error) {
	fail := func(err error) ([]string, error) { return nil, fmt.Errorf("find users by link email: %w", mapErr(err)) }
	or := bson.A{}
	for _, p := range providers {
		// The provider name becomes part of a field path.
		if err := store.ValidProviderName(p); err != nil {
			return fail(err)
		}
		or = append(or, bson.M{"providers." + p + ".link_email": email})
	}
	if email == "" || len(providers) == 0 {
		return nil, nil
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetProjection(bson.M{"_id": 1}).
		SetLimit(store.MaxUsersByLinkEmail)
	cur, err := s.users.Find(ctx, bson.D{{Key: "link_emails", Value: email}, {Key: "$or", Value: or}, notDeleted}, opts)
	if err != nil {
		return fail(err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return fail(err)
	}
	var ids []string
	for _, d := range docs {
		ids = append(ids, d.ID)
	}
	return ids, nil
}

// unlinkStale is how old a mark of UnlinkIdentity must be for another
// call to take it over or clear it: the unlink that made it crashed or
// stalled far longer than its few operations take.
const unlinkStale = time.Minute

// UnlinkIdentity removes identity key from user userID without a
// transaction, in four single-document steps (see
// store.Users.UnlinkIdentity):
//
//  1. Mark the identity (unlinking_at, and a random unlink_token that only
//     this call knows), if it is the user's and not marked, or marked
//     longer ago than unlinkStale; then clear the stale marks of the
//     user's other identities.
//  2. Count the user's identities that are not marked; if none is, unmark
//     (if still ours) and return store.ErrLastIdentity.
//  3. Take the key, and the provider's link if it is this identity's, out
//     of the user document.
//  4. Delete the identity, if it still carries our token.
//
// Why two concurrent unlinks of a two-identity user cannot both succeed,
// and more generally why a user always keeps an identity record: an
// identity is deleted only by the call whose token it carries, so it was
// marked continuously from that call's mark, before its count, to its
// delete (clearing or taking over a mark replaces the token, and the
// delete of the call that made it then deletes nothing). Of the calls
// that delete, take the one whose count started last, X. Every other
// deleter marked before its own count started, so before X's count
// started, and stayed marked until it deleted: X counted none of them.
// X counted at least one unmarked identity Y, so Y is no deleter's
// identity at that moment, and anyone who marks Y later starts its count
// after X's, so is no deleter either: Y survives. With two identities A
// and B, each call marks its own before counting, so whichever counts
// second sees both marked and returns ErrLastIdentity. (A count can also
// see a mark whose call then fails or returns ErrLastIdentity, and refuse
// an unlink it could have allowed: marks make the count conservative,
// never generous.)
//
// The user document is updated before the identity is deleted: an
// identity key can be claimed anew only once its record is deleted, so
// step 3 can never take out a key that a new record (an explicit link of
// the same key racing this call) added back. A crash after step 3 leaves
// a marked record that the user no longer lists: it still signs in as the
// user (and the sign-in lists it again), a repeated unlink finishes the
// job, and any unlink of the user clears the mark after unlinkStale.
func (s *Store) UnlinkIdentity(ctx context.Context, userID, key string, now time.Time) error {
	fail := func(err error) error { return fmt.Errorf("unlink identity from user %s: %w", userID, mapErr(err)) }
	token := rand.Text()
	stale := now.Add(-unlinkStale)

	// 1. Mark.
	var id store.Identity
	err := s.identities.FindOneAndUpdate(ctx,
		bson.D{
			{Key: "_id", Value: key}, {Key: "user_id", Value: userID},
			{Key: "$or", Value: bson.A{
				bson.M{"unlinking_at": bson.M{"$exists": false}},
				bson.M{"unlinking_at": bson.M{"$lte": stale}},
			}},
		},
		bson.M{"$set": bson.M{"unlinking_at": now, "unlink_token": token}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&id)
	if err != nil {
		// Unknown, another user's, or being unlinked by another call.
		return fail(mapErr(err))
	}
	// unmark takes our mark off again when the unlink stops before it
	// touched the user; if it cannot, the mark goes stale.
	unmark := func(cause error) error {
		_, err := s.identities.UpdateOne(context.WithoutCancel(ctx),
			bson.D{{Key: "_id", Value: key}, {Key: "unlink_token", Value: token}},
			bson.M{"$unset": bson.M{"unlinking_at": "", "unlink_token": ""}})
		if err != nil {
			return fail(fmt.Errorf("%w (and taking the identity's unlink mark off: %w)", cause, err))
		}
		return fail(cause)
	}
	if err := store.ValidProviderName(id.Provider); err != nil {
		return unmark(err)
	}
	_, err = s.identities.UpdateMany(ctx,
		bson.D{{Key: "user_id", Value: userID}, {Key: "_id", Value: bson.M{"$ne": key}}, {Key: "unlinking_at", Value: bson.M{"$lte": stale}}},
		bson.M{"$unset": bson.M{"unlinking_at": "", "unlink_token": ""}})
	if err != nil {
		return unmark(fmt.Errorf("clear stale unlink marks: %w", err))
	}

	// 2. Count.
	n, err := s.identities.CountDocuments(ctx, bson.D{{Key: "user_id", Value: userID}, {Key: "unlinking_at", Value: bson.M{"$exists": false}}})
	if err != nil {
		return unmark(fmt.Errorf("count identities: %w", err))
	}
	if n == 0 {
		return unmark(store.ErrLastIdentity)
	}

	// 3. The user document: the key, and the link if it is this
	// identity's (its email leaves link_emails with it).
	opts := options.FindOneAndUpdate().SetReturnDocument(options.After)
	linkPath := "providers." + id.Provider
	update := bson.M{
		"$pull":  bson.M{"identities": key},
		"$unset": bson.M{linkPath: ""},
		"$set":   bson.M{"updated_at": now},
		"$inc":   bson.M{"link_rev": int64(1)},
	}
	var u userDoc
	err = s.users.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: userID}, {Key: linkPath + ".subject", Value: id.Subject}}, update, opts).Decode(&u)
	if errors.Is(err, mongo.ErrNoDocuments) {
		// The link is another identity's of the same provider, or there
		// is none (or no user: a crash before the first sign-in wrote it).
		delete(update, "$unset")
		err = s.users.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: userID}, notDeleted}, update, opts).Decode(&u)
	}
	switch {
	case err == nil:
		s.tidyLinkEmails(ctx, &u)
	case !errors.Is(err, mongo.ErrNoDocuments):
		return fail(fmt.Errorf("update the user: %w", err))
	}

	// 4. Delete, if the mark is still ours.
	res, err := s.identities.DeleteOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "unlink_token", Value: token}})
	if err != nil {
		return fail(fmt.Errorf("delete the identity: %w", err))
	}
	if res.DeletedCount == 0 {
		return fail(fmt.Errorf("another unlink cleared or took over this one's mark: %w", store.ErrNotFound))
	}
	return nil
}

// UpdateProviderTokens replaces the refreshed parts of a provider's link in
// one update conditional on the link's updated_at, field by field, so that
// the rest of the link stays as stored.
func (s *Store) UpdateProviderTokens(ctx context.Context, userID, provider string, prev time.Time, link store.ProviderLink) error {
	fail := func(err error) error {
		return fmt.Errorf("update %s tokens of user %s: %w", provider, userID, mapErr(err))
	}
	// The provider name becomes part of a field path.
	if err := store.ValidProviderName(provider); err != nil {
		return fail(err)
	}
	if link.UpdatedAt.Truncate(time.Millisecond).Equal(prev.Truncate(time.Millisecond)) {
		return fail(errors.New("the new UpdatedAt equals prev"))
	}
	p := "providers." + provider + "."
	set := bson.M{p + "updated_at": link.UpdatedAt}
	unset := bson.M{}
	// Empty values are removed, as the link's omitempty fields are absent
	// when empty.
	setOrUnset := func(field string, v any, empty bool) {
		if empty {
			unset[p+field] = ""
		} else {
			set[p+field] = v
		}
	}
	setOrUnset("access_token", link.AccessTokenSealed, link.AccessTokenSealed == "")
	setOrUnset("expiry", link.Expiry, link.Expiry.IsZero())
	setOrUnset("scopes", link.Scopes, len(link.Scopes) == 0)
	if link.RefreshTokenSealed != "" {
		set[p+"refresh_token"] = link.RefreshTokenSealed
	}
	if link.IDTokenSealed != "" {
		set[p+"id_token"] = link.IDTokenSealed
	}
	update := bson.M{"$set": set}
	if len(unset) > 0 {
		update["$unset"] = unset
	}
	res, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: userID}, {Key: p + "updated_at", Value: prev}}, update)
	if err != nil {
		return fail(err)
	}
	if res.MatchedCount == 0 {
		return fail(store.ErrNotFound)
	}
	return nil
}

// GetUser returns a user by id.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	var u store.User
	if err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: id}, notDeleted}).Decode(&u); err != nil {
		return nil, fmt.Errorf("get user %s: %w", id, mapErr(err))
	}
	return &u, nil
}

// GetIdentity returns an identity by key.
func (s *Store) GetIdentity(ctx context.Context, key string) (*store.Identity, error) {
	var id store.Identity
	if err := s.identities.FindOne(ctx, bson.M{"_id": key}).Decode(&id); err != nil {
		return nil, fmt.Errorf("get identity: %w", mapErr(err))
	}
	return &id, nil
}

// ListUserIdentities returns the identities linked to a user, oldest first
// (ties broken by key).
func (s *Store) ListUserIdentities(ctx context.Context, userID string) ([]store.Identity, error) {
	opts := options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}})
	cur, err := s.identities.Find(ctx, bson.M{"user_id": userID}, opts)
	if err != nil {
		return nil, fmt.Errorf("list identities of user %s: %w", userID, mapErr(err))
	}
	list := []store.Identity{}
	if err := cur.All(ctx, &list); err != nil {
		return nil, fmt.Errorf("read identities of user %s: %w", userID, mapErr(err))
	}
	return list, nil
}

// CountUsers returns how many users exist. It counts documents rather than
// reading the collection's metadata, which can be off on sharded clusters,
// and leaves out the tombstones of deleted users.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	n, err := s.users.CountDocuments(ctx, bson.D{notDeleted})
	if err != nil {
		return 0, fmt.Errorf("count users: %w", mapErr(err))
	}
	return n, nil
}

// SetDisabled disables or re-enables a user. store.ErrNotFound means there
// is no such user.
func (s *Store) SetDisabled(ctx context.Context, id string, disabled bool) error {
	res, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, notDeleted}, bson.M{"$set": bson.M{"disabled": disabled}})
	if err != nil {
		return fmt.Errorf("set user %s disabled: %w", id, mapErr(err))
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("set user %s disabled: %w", id, store.ErrNotFound)
	}
	return nil
}

// SetRoles replaces the user's roles and sets its updated_at in one
// update. Empty roles are unset rather than stored as an empty array, so
// that the field is absent, as on a user whose roles were never set.
// store.ErrNotFound means there is no such user.
func (s *Store) SetRoles(ctx context.Context, id string, roles []string, now time.Time) error {
	update := bson.M{"$set": bson.M{"roles": roles, "updated_at": now}}
	if len(roles) == 0 {
		update = bson.M{"$set": bson.M{"updated_at": now}, "$unset": bson.M{"roles": ""}}
	}
	res, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, notDeleted}, update)
	if err != nil {
		return fmt.Errorf("set roles of user %s: %w", id, mapErr(err))
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("set roles of user %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// SetUserNotBefore raises the user's not-before time to t with $max, which
// never lowers it. store.ErrNotFound means there is no such user.
func (s *Store) SetUserNotBefore(ctx context.Context, id string, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("set not-before of user %s: zero time", id)
	}
	res, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, notDeleted}, bson.M{"$max": bson.M{"not_before": t}})
	if err != nil {
		return fmt.Errorf("set not-before of user %s: %w", id, mapErr(err))
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("set not-before of user %s: %w", id, store.ErrNotFound)
	}
	return nil
}
