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
	{name: "the audit sweep removes only events older than its cutoff", run: testAuditSweep},
	{name: "incomplete audit events and a limit below 1 are refused", run: testAuditRefusals},
}

// auditEvent is an event of user uid at t0+at.
func auditEvent(id, uid string, at time.Duration) store.AuditEvent {
	return store.AuditEvent{ID: id, At: t0.Add(at), Type: "login", UserID: uid}
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
