package feed

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

// fakeSource is a database of revocations that answers Source's queries
// the way a backend does.
type fakeSource []store.Revocation

func (f fakeSource) source() Source {
	return Source{
		From: func(_ context.Context, since time.Time, limit int) ([]store.Revocation, error) {
			var out []store.Revocation
			for _, kind := range []string{store.RevokedUser, store.RevokedSession} {
				var ofKind []store.Revocation
				for _, r := range f {
					if r.Kind == kind && !r.At.Before(since) {
						ofKind = append(ofKind, r)
					}
				}
				Sort(ofKind)
				out = append(out, ofKind[:min(limit, len(ofKind))]...)
			}
			return out, nil
		},
		At: func(_ context.Context, at time.Time) ([]store.Revocation, error) {
			var out []store.Revocation
			for _, r := range f {
				if r.At.Equal(at) {
					out = append(out, r)
				}
			}
			return out, nil
		},
	}
}

func TestPage(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := func(id string, sec int) store.Revocation {
		return store.Revocation{Kind: store.RevokedSession, SessionID: id, At: t0.Add(time.Duration(sec) * time.Second)}
	}
	u := func(id string, sec int) store.Revocation {
		return store.Revocation{Kind: store.RevokedUser, UserID: id, At: t0.Add(time.Duration(sec) * time.Second)}
	}
	db := fakeSource{s("s4", 4), u("u1", 1), s("s2b", 2), s("s2a", 2), u("u2", 2), s("s3", 3), u("u5", 5), s("s1", 1)}
	tests := []struct {
		since int
		limit int
		want  string
	}{
		{0, 100, "s1 u1 s2a s2b u2 s3 s4 u5"},
		{0, 1, "s1 u1"}, // s1 and u1 share t0+1s
		{0, 2, "s1 u1"},
		{0, 3, "s1 u1 s2a s2b u2"}, // the limit falls inside t0+2s
		{2, 1, "s2a s2b u2"},
		{3, 2, "s3 s4"},
		{5, 1, "u5"},
		{6, 1, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("since %ds limit %d", tt.since, tt.limit), func(t *testing.T) {
			got, err := Page(context.Background(), db.source(), t0.Add(time.Duration(tt.since)*time.Second), tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]string, len(got))
			for i, r := range got {
				ids[i] = id(r)
			}
			if strings.Join(ids, " ") != tt.want {
				t.Errorf("Page() = %v, want [%s]", ids, tt.want)
			}
		})
	}
	if _, err := Page(context.Background(), db.source(), t0, 0); err == nil {
		t.Error("Page(limit 0) succeeded, want an error")
	}
}
