package storetest

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

var auditCases = []testCase{
	{name: "an audit event reads back field for field", run: testAuditRoundTrip},
	{name: "an audit event id can be appended only once", run: testAuditConflict},
	{name: "audit events are listed newest first, for everyone or one user, and page without gaps", run: testAuditList},
	{name: "audit events of one type are listed newest first, for everyone or one user", run: testAuditListByType},
	{name: "audit events of one type page without gaps, ties included, for everyone or one user", run: testAuditPageByType},
	{name: "an audit type that no event has, or that differs in case or length, lists nothing", run: testAuditUnknownType},
	{name: "the audit sweep removes only events older than its cutoff", run: testAuditSweep},
	{name: "incomplete audit events and a limit below 1 are refused", run: testAuditRefusals},
}

// auditEvent is an event of user uid at t0+at.
func auditEvent(id, uid string, at time.Duration) store.AuditEvent {
	return store.AuditEvent{ID: id, At: t0.Add(at), Type: "login", UserID: uid}
}

// typedEvent is an event of type typ of user uid (none when "") at
// t0+at.
func typedEvent(id, uid, typ string, at time.Duration) store.AuditEvent {
	return store.AuditEvent{ID: id, At: t0.Add(at), Type: typ, UserID: uid}
}

// appendTypedTrail appends events of three types, some without a user,
// whose ids sort in the order they are named: c1, c2 and c3 share a time,
// c1 and c2 are logins (of two users), c3 a logout of c1's user.
func appendTypedTrail(t *testing.T, s store.Store) {
	t.Helper()
	appendAll(t, s,
		typedEvent("a", "u1", "login", time.Second),
		typedEvent("b", "u2", "logout", 2*time.Second),
		typedEvent("c1", "u1", "login", 3*time.Second),
		typedEvent("c2", "u2", "login", 3*time.Second),
		typedEvent("c3", "u1", "logout", 3*time.Second),
		typedEvent("d", "", "login_failed", 4*time.Second),
		typedEvent("e", "u1", "login", 5*time.Second),
		typedEvent("f", "", "login", 6*time.Second),
	)
}

func appendAll(t *testing.T, s store.Store, events ...store.AuditEvent) {
	t.Helper()
	for _, e := range events {
		if err := s.AppendAudit(ctx(), e); err != nil {
			t.Fatalf("AppendAudit(%s): %v", e.ID, err)
		}
	}
}

func listAudit(t *testing.T, s store.Store, q store.AuditQuery) string {
	t.Helper()
	list, err := s.ListAudit(ctx(), q)
	if err != nil {
		t.Fatalf("ListAudit(%+v): %v", q, err)
	}
	ids := make([]string, len(list))
	for i, e := range list {
		ids[i] = e.ID
	}
	return strings.Join(ids, " ")
}

func testAuditRoundTrip(t *testing.T, s store.Store) {
	odd := time.Date(2026, 11, 23, 12, 0, 0, 321_000_000, time.FixedZone("X", 5400))
	e := store.AuditEvent{
		ID: uniq("ev"), At: odd, Type: "refresh_reuse", UserID: "u1", SessionID: "s1", ClientID: "spa",
		Actor: "admin", IP: "2001:db8::1",
		Detail: map[string]string{"provider": "google", "reason": "reused generation 3 \"quoted\" ü", "grace-window_ms": "10000"},
	}
	minimal := store.AuditEvent{ID: uniq("ev"), At: odd.Add(-time.Second), Type: "login_failed"}
	appendAll(t, s, e, minimal)
	list, err := s.ListAudit(ctx(), store.AuditQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("ListAudit() = %+v, want 2 events", list)
	}
	got := list[0]
	if got.ID != e.ID || !sameTime(got.At, odd) || got.Type != e.Type || got.UserID != e.UserID || got.SessionID != e.SessionID ||
		got.ClientID != e.ClientID || got.Actor != e.Actor || got.IP != e.IP || !maps.Equal(got.Detail, e.Detail) {
		t.Errorf("ListAudit()[0] = %+v\nwant %+v (At in UTC)", got, e)
	}
	got = list[1]
	if got.ID != minimal.ID || got.Type != minimal.Type || got.UserID != "" || got.SessionID != "" || got.ClientID != "" ||
		got.Actor != "" || got.IP != "" || got.Detail != nil {
		t.Errorf("ListAudit()[1] = %+v\nwant %+v with no detail", got, minimal)
	}
}

func testAuditConflict(t *testing.T, s store.Store) {
	e := auditEvent(uniq("ev"), "u1", 0)
	appendAll(t, s, e)
	again := e
	again.Type = "logout"
	if err := s.AppendAudit(ctx(), again); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second AppendAudit of one id: %v, want store.ErrConflict", err)
	}
	list, err := s.ListAudit(ctx(), store.AuditQuery{Limit: 10})
	if err != nil || len(list) != 1 || list[0].Type != "login" {
		t.Errorf("ListAudit() = %+v, %v; want the first event only", list, err)
	}
}

func testAuditList(t *testing.T, s store.Store) {
	// Ids that sort in the order they are named; c1 and c2 share a time.
	appendAll(t, s,
		auditEvent("a", "u1", time.Second),
		auditEvent("b", "u2", 2*time.Second),
		auditEvent("c1", "u1", 3*time.Second),
		auditEvent("c2", "u2", 3*time.Second),
		auditEvent("d", "", 4*time.Second), // no user
		auditEvent("e", "u1", 5*time.Second),
	)
	for _, tt := range []struct {
		name string
		q    store.AuditQuery
		want string
	}{
		{"everything", store.AuditQuery{Limit: 100}, "e d c2 c1 b a"},
		{"the newest", store.AuditQuery{Limit: 2}, "e d"},
		{"one user", store.AuditQuery{UserID: "u1", Limit: 100}, "e c1 a"},
		{"a user with none", store.AuditQuery{UserID: "nobody", Limit: 100}, ""},
		{"strictly before a time", store.AuditQuery{Before: t0.Add(3 * time.Second), Limit: 100}, "b a"},
		{"after an event sharing its time with another", store.AuditQuery{Before: t0.Add(3 * time.Second), BeforeID: "c2", Limit: 100}, "c1 b a"},
		{"one user, before a time", store.AuditQuery{UserID: "u2", Before: t0.Add(3 * time.Second), Limit: 100}, "b"},
		{"one user, after an event", store.AuditQuery{UserID: "u1", Before: t0.Add(5 * time.Second), BeforeID: "e", Limit: 1}, "c1"},
	} {
		if got := listAudit(t, s, tt.q); got != tt.want {
			t.Errorf("%s: ListAudit(%+v) = [%s], want [%s]", tt.name, tt.q, got, tt.want)
		}
	}
	// Paging one at a time from the last event of each page reads every
	// event once, ties included.
	var seen []string
	q := store.AuditQuery{Limit: 1}
	for range 10 {
		list, err := s.ListAudit(ctx(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 0 {
			break
		}
		seen = append(seen, list[0].ID)
		q.Before, q.BeforeID = list[0].At, list[0].ID
	}
	if got := strings.Join(seen, " "); got != "e d c2 c1 b a" {
		t.Errorf("paging one at a time read [%s], want [e d c2 c1 b a]", got)
	}
}

func testAuditListByType(t *testing.T, s store.Store) {
	appendTypedTrail(t, s)
	for _, tt := range []struct {
		name string
		q    store.AuditQuery
		want string
	}{
		{"one type, everyone's, with and without a user", store.AuditQuery{Type: "login", Limit: 100}, "f e c2 c1 a"},
		{"another type", store.AuditQuery{Type: "logout", Limit: 100}, "c3 b"},
		{"a type only events without a user have", store.AuditQuery{Type: "login_failed", Limit: 100}, "d"},
		{"the newest of one type", store.AuditQuery{Type: "login", Limit: 2}, "f e"},
		{"one user's of one type", store.AuditQuery{UserID: "u1", Type: "login", Limit: 100}, "e c1 a"},
		{"one user's of another type", store.AuditQuery{UserID: "u1", Type: "logout", Limit: 100}, "c3"},
		{"another user's of one type", store.AuditQuery{UserID: "u2", Type: "login", Limit: 100}, "c2"},
		{"one user's of a type only others have", store.AuditQuery{UserID: "u2", Type: "login_failed", Limit: 100}, ""},
		{"a user with none, of one type", store.AuditQuery{UserID: "nobody", Type: "login", Limit: 100}, ""},
		{"one type, strictly before a time", store.AuditQuery{Type: "login", Before: t0.Add(3 * time.Second), Limit: 100}, "a"},
		{"one type, after an event sharing its time with others", store.AuditQuery{Type: "login", Before: t0.Add(3 * time.Second), BeforeID: "c2", Limit: 100}, "c1 a"},
		{"one type, after an event of another type", store.AuditQuery{Type: "login", Before: t0.Add(4 * time.Second), BeforeID: "d", Limit: 100}, "c2 c1 a"},
		{"one user's of one type, after an event", store.AuditQuery{UserID: "u1", Type: "login", Before: t0.Add(5 * time.Second), BeforeID: "e", Limit: 1}, "c1"},
		{"one user's of one type, before a time", store.AuditQuery{UserID: "u1", Type: "logout", Before: t0.Add(3 * time.Second), Limit: 100}, ""},
		// Without a type, every type is listed, as before.
		{"one user's of every type", store.AuditQuery{UserID: "u1", Limit: 100}, "e c3 c1 a"},
		{"everything", store.AuditQuery{Limit: 100}, "f e d c3 c2 c1 b a"},
	} {
		if got := listAudit(t, s, tt.q); got != tt.want {
			t.Errorf("%s: ListAudit(%+v) = [%s], want [%s]", tt.name, tt.q, got, tt.want)
		}
	}
	// The events come back whole, not only their ids.
	list, err := s.ListAudit(ctx(), store.AuditQuery{UserID: "u1", Type: "logout", Limit: 10})
	if err != nil || len(list) != 1 || list[0].Type != "logout" || list[0].UserID != "u1" || !sameTime(list[0].At, t0.Add(3*time.Second)) {
		t.Errorf("ListAudit(u1, logout) = %+v, %v; want event c3 whole", list, err)
	}
}

func testAuditPageByType(t *testing.T, s store.Store) {
	appendTypedTrail(t, s)
	for _, tt := range []struct {
		name  string
		q     store.AuditQuery
		limit int
		want  string
	}{
		{"one type, one at a time", store.AuditQuery{Type: "login"}, 1, "f e c2 c1 a"},
		{"one type, two at a time", store.AuditQuery{Type: "login"}, 2, "f e c2 c1 a"},
		{"one type, three at a time (a page ends inside a tie)", store.AuditQuery{Type: "login"}, 3, "f e c2 c1 a"},
		{"one user's of one type, one at a time", store.AuditQuery{UserID: "u1", Type: "login"}, 1, "e c1 a"},
		{"one user's of one type, two at a time", store.AuditQuery{UserID: "u1", Type: "login"}, 2, "e c1 a"},
		{"another type, one at a time", store.AuditQuery{Type: "logout"}, 1, "c3 b"},
	} {
		// Paging from the last event of each page reads every event of
		// the selection once.
		var seen []string
		q := tt.q
		q.Limit = tt.limit
		for range 20 {
			list, err := s.ListAudit(ctx(), q)
			if err != nil {
				t.Fatalf("%s: ListAudit(%+v): %v", tt.name, q, err)
			}
			if len(list) > tt.limit {
				t.Errorf("%s: ListAudit(%+v) returned %d events, more than the limit", tt.name, q, len(list))
			}
			for _, e := range list {
				if e.Type != tt.q.Type || (tt.q.UserID != "" && e.UserID != tt.q.UserID) {
					t.Errorf("%s: ListAudit(%+v) returned %+v, which the query does not select", tt.name, q, e)
				}
				seen = append(seen, e.ID)
			}
			if len(list) < tt.limit {
				break
			}
			last := list[len(list)-1]
			q.Before, q.BeforeID = last.At, last.ID
		}
		if got := strings.Join(seen, " "); got != tt.want {
			t.Errorf("%s: paging read [%s], want [%s]", tt.name, got, tt.want)
		}
	}
}

func testAuditUnknownType(t *testing.T, s store.Store) {
	appendTypedTrail(t, s)
	for _, q := range []store.AuditQuery{
		{Type: "no_such_type", Limit: 100},
		{UserID: "u1", Type: "no_such_type", Limit: 100},
		{Type: "Login", Limit: 100},          // types match exactly, case included
		{Type: "log", Limit: 100},            // not a prefix
		{Type: "login_failed_x", Limit: 100}, // nor an extension
		{Type: "no_such_type", Before: t0.Add(time.Hour), BeforeID: "z", Limit: 100},
	} {
		list, err := s.ListAudit(ctx(), q)
		if err != nil || len(list) != 0 {
			t.Errorf("ListAudit(%+v) = %+v, %v; want no events and no error", q, list, err)
		}
	}
}

func testAuditSweep(t *testing.T, s store.Store) {
	for i := range 5 {
		appendAll(t, s, auditEvent(fmt.Sprintf("ev%d", i), "u1", time.Duration(i)*time.Hour))
	}
	n, err := s.SweepAudit(ctx(), t0.Add(2*time.Hour))
	if err != nil || n != 2 {
		t.Errorf("SweepAudit(t0+2h) = %d, %v; want 2 (the events at t0 and t0+1h)", n, err)
	}
	if got := listAudit(t, s, store.AuditQuery{Limit: 100}); got != "ev4 ev3 ev2" {
		t.Errorf("ListAudit() after the sweep = [%s], want [ev4 ev3 ev2]", got)
	}
	if n, err := s.SweepAudit(ctx(), t0.Add(2*time.Hour)); err != nil || n != 0 {
		t.Errorf("second SweepAudit = %d, %v; want 0", n, err)
	}
	// Sessions and users are not audit events.
	u := signIn(t, s, "google", uniq("audit"), uniq("user"), t0)
	sess := activeSession(t, s, u.ID)
	if _, err := s.SweepAudit(ctx(), t0.Add(1000*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx(), sess.ID); err != nil {
		t.Errorf("GetSession after SweepAudit: %v", err)
	}
	if got := listAudit(t, s, store.AuditQuery{Limit: 100}); got != "" {
		t.Errorf("ListAudit() after sweeping everything = [%s]", got)
	}
}

func testAuditRefusals(t *testing.T, s store.Store) {
	for _, tt := range []struct {
		name string
		edit func(e *store.AuditEvent)
	}{
		{"no id", func(e *store.AuditEvent) { e.ID = "" }},
		{"no time", func(e *store.AuditEvent) { e.At = time.Time{} }},
		{"no type", func(e *store.AuditEvent) { e.Type = "" }},
		{"a detail key with a dot", func(e *store.AuditEvent) { e.Detail = map[string]string{"a.b": "x"} }},
		{"a detail key with a dollar", func(e *store.AuditEvent) { e.Detail = map[string]string{"$where": "x"} }},
		{"an empty detail key", func(e *store.AuditEvent) { e.Detail = map[string]string{"": "x"} }},
	} {
		e := auditEvent(uniq("ev"), "u1", 0)
		tt.edit(&e)
		if err := s.AppendAudit(ctx(), e); err == nil || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("AppendAudit with %s = %v, want an invalid-event error", tt.name, err)
		}
	}
	if got := listAudit(t, s, store.AuditQuery{Limit: 100}); got != "" {
		t.Errorf("refused events were stored: [%s]", got)
	}
	for _, limit := range []int{0, -5} {
		if _, err := s.ListAudit(ctx(), store.AuditQuery{Limit: limit}); err == nil {
			t.Errorf("ListAudit(limit %d) succeeded, want an error", limit)
		}
	}
}
