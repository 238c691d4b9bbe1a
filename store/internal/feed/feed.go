// Package feed holds what the implementations of store.Store share to
// answer RevocationsSince: the order of the feed and the rule that a page
// never splits an instant.
package feed

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

// Source reads a database's revocations of both kinds.
type Source struct {
	// From returns the entries with At at or after since: at most limit
	// revoked sessions and at most limit not-before times, in any order.
	From func(ctx context.Context, since time.Time, limit int) ([]store.Revocation, error)
	// At returns every entry whose At is exactly at, in any order.
	At func(ctx context.Context, at time.Time) ([]store.Revocation, error)
}

// Page answers store.Store.RevocationsSince from src: the entries at or
// after since in feed order, at most limit of them unless the limit falls
// inside entries sharing one At, which are then all returned.
func Page(ctx context.Context, src Source, since time.Time, limit int) ([]store.Revocation, error) {
	if limit < 1 {
		return nil, fmt.Errorf("limit is %d, want at least 1", limit)
	}
	list, err := src.From(ctx, since, limit)
	if err != nil {
		return nil, err
	}
	Sort(list)
	if len(list) < limit {
		// Each kind returned fewer than limit entries: that is all of
		// them.
		return list, nil
	}
	// Every entry older than the limit-th one's At is in list: a kind
	// cut short by its limit stopped at an At no older than that. The
	// entries at that At may be cut short, so read them all.
	cut := list[limit-1].At
	keep, _ := slices.BinarySearchFunc(list, cut, func(r store.Revocation, t time.Time) int { return r.At.Compare(t) })
	ties, err := src.At(ctx, cut)
	if err != nil {
		return nil, err
	}
	Sort(ties)
	return append(list[:keep:keep], ties...), nil
}

// Sort puts revocations in feed order: by At, then Kind, then id.
func Sort(list []store.Revocation) {
	slices.SortFunc(list, func(a, b store.Revocation) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Kind, b.Kind), cmp.Compare(id(a), id(b)))
	})
}

// id is what identifies r among the entries of its kind.
func id(r store.Revocation) string {
	if r.Kind == store.RevokedSession {
		return r.SessionID
	}
	return r.UserID
}
