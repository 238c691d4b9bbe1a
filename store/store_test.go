package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/socialbridge/socialbridge/store"
)

func TestValidProviderName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"google", true},
		{"azure-work", true},
		{"oidc_2", true},
		{"A", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{"google.profile", false},
		{"$where", false},
		{"a b", false},
		{"ünï", false},
		{"google|1", false},
		{"a/b", false},
		{`quo"te`, false},
	}
	for _, tt := range tests {
		err := store.ValidProviderName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidProviderName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "letters, digits") {
			t.Errorf("ValidProviderName(%q) = %v; want it to say what is allowed", tt.name, err)
		}
	}
}

func TestValidAuditEvent(t *testing.T) {
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	valid := store.AuditEvent{ID: "e1", At: at, Type: "login", Detail: map[string]string{"provider": "google", "grace-ms_2": "1"}}
	tests := []struct {
		name    string
		edit    func(e *store.AuditEvent)
		wantErr string
	}{
		{"a complete event is valid", func(*store.AuditEvent) {}, ""},
		{"an event without detail is valid", func(e *store.AuditEvent) { e.Detail = nil }, ""},
		{"an event needs an id", func(e *store.AuditEvent) { e.ID = "" }, "no ID"},
		{"an event needs a time", func(e *store.AuditEvent) { e.At = time.Time{} }, "no time"},
		{"an event needs a type", func(e *store.AuditEvent) { e.Type = "" }, "no type"},
		{"detail keys are names", func(e *store.AuditEvent) { e.Detail = map[string]string{"a.b": "x"} }, `detail key "a.b"`},
	}
	for _, tt := range tests {
		e := valid
		tt.edit(&e)
		err := store.ValidAuditEvent(e)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: ValidAuditEvent() = %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: ValidAuditEvent() = %v, want an error containing %q", tt.name, err, tt.wantErr)
		}
	}
}
