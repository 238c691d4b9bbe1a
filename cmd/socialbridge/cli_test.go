package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/socialbridge/socialbridge/store"
	"github.com/socialbridge/socialbridge/store/sqlite"
)

// cliEnv is a dev-mode socialbridge on a temporary data directory with
// Alice signed in through the dev provider; cli runs subcommands against
// the same database.
type cliEnv struct {
	env   map[string]string
	inst  *instance
	alice tokenSet
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	e := &cliEnv{env: map[string]string{"SOCIALBRIDGE_DATA_DIR": t.TempDir()}}
	e.inst = start(t, e.env)
	e.alice = devSignIn(t, e.inst.url, "alice")
	return e
}

// cli runs `socialbridge args...` and returns its stdout, stderr and error.
func (e *cliEnv) cli(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := map[string]string{}
	for k, v := range e.env {
		if k != "SOCIALBRIDGE_SERVER_ADDR" {
			env[k] = v
		}
	}
	err := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// ok runs a subcommand that must succeed and decodes its one JSON object.
func (e *cliEnv) ok(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out, errOut, err := e.cli(t, args...)
	if err != nil {
		t.Fatalf("socialbridge %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	var v map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("socialbridge %s printed %q, not a JSON object: %v", strings.Join(args, " "), out, err)
	}
	if dec.More() {
		t.Errorf("socialbridge %s printed more than one object: %s", strings.Join(args, " "), out)
	}
	return v
}

// aliceID finds Alice by her dev identity.
func (e *cliEnv) aliceID(t *testing.T) string {
	t.Helper()
	users, _ := e.ok(t, "users", "find", "--provider", "dev", "--subject", "alice")["users"].([]any)
	if len(users) != 1 {
		t.Fatalf("users find --provider dev --subject alice: %v, want one user", users)
	}
	return users[0].(map[string]any)["id"].(string)
}

// refreshes reports whether Alice's refresh token still refreshes.
func (e *cliEnv) refreshes(t *testing.T, rt string) bool {
	t.Helper()
	status, _ := postToken(t, e.inst.url, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"demo"}})
	return status == http.StatusOK
}

func TestCLIUsers(t *testing.T) {
	e := newCLIEnv(t)
	id := e.aliceID(t)

	if u := e.ok(t, "users", "get", id); u["id"] != id || u["profile"].(map[string]any)["email"] != "alice@example.com" {
		t.Errorf("users get = %v", u)
	}
	if found := e.ok(t, "users", "find", "--email", "ALICE@example.com")["users"].([]any); len(found) != 1 || found[0].(map[string]any)["id"] != id {
		t.Errorf("users find --email = %v", found)
	}
	if found := e.ok(t, "users", "find", "--email", "nobody@example.com")["users"].([]any); len(found) != 0 {
		t.Errorf("users find of an unknown email = %v, want []", found)
	}

	got := e.ok(t, "users", "roles", id, "editor,viewer", "-config", "")
	if roles, _ := got["roles"].([]any); len(roles) != 2 || roles[0] != "editor" || got["sessions_revoked"] != float64(1) {
		t.Errorf("users roles = %v", got)
	}
	if e.refreshes(t, e.alice.RefreshToken) {
		t.Errorf("a refresh token survived a change of roles")
	}

	again := devSignIn(t, e.inst.url, "alice")
	if got := e.ok(t, "users", "revoke", id); got["sessions_revoked"] != float64(1) {
		t.Errorf("users revoke = %v", got)
	}
	if e.refreshes(t, again.RefreshToken) {
		t.Errorf("a refresh token survived users revoke")
	}

	if got := e.ok(t, "users", "disable", id); got["disabled"] != true {
		t.Errorf("users disable = %v", got)
	}
	if u := e.ok(t, "users", "get", id); u["disabled"] != true {
		t.Errorf("after users disable: %v", u)
	}
	if got := e.ok(t, "users", "enable", id); got["disabled"] != false {
		t.Errorf("users enable = %v", got)
	}

	// The audit trail names the command line as the actor.
	events, err := e.openAudit(t, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if ev.Actor != "cli" {
			t.Errorf("audit event %s has actor %q, want cli", ev.Type, ev.Actor)
		}
	}
	if len(events) < 4 {
		t.Errorf("audit events of the CLI's actions: %d, want at least 4", len(events))
	}

	last := devSignIn(t, e.inst.url, "alice")
	if _, errOut, err := e.cli(t, "users", "delete", id); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("users delete without --yes: %v %s, want a refusal naming --yes", err, errOut)
	}
	if _, _, err := e.cli(t, "users", "get", id); err != nil {
		t.Errorf("the user is gone after a refused delete: %v", err)
	}
	if got := e.ok(t, "users", "delete", id, "--yes"); got["deleted"] != true || got["sessions_revoked"] != float64(1) {
		t.Errorf("users delete = %v", got)
	}
	if e.refreshes(t, last.RefreshToken) {
		t.Errorf("a refresh token survived users delete")
	}
	if _, _, err := e.cli(t, "users", "get", id); err == nil || !strings.Contains(err.Error(), "user_not_found") {
		t.Errorf("users get after delete: %v, want user_not_found", err)
	}
	devSignIn(t, e.inst.url, "alice")
	if newID := e.aliceID(t); newID == id {
		t.Errorf("a sign-in after the deletion is the deleted user")
	}
}

func TestCLIErrors(t *testing.T) {
	e := newCLIEnv(t)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"an unknown user", []string{"users", "get", "nosuchuser"}, "user_not_found"},
		{"disabling an unknown user", []string{"users", "disable", "nosuchuser"}, "user_not_found"},
		{"deleting an unknown user", []string{"users", "delete", "nosuchuser", "--yes"}, "user_not_found"},
		{"a delete without --yes", []string{"users", "delete", "nosuchuser"}, "--yes"},
		{"a retire without --yes", []string{"keys", "retire", "somekid"}, "--yes"},
		{"retiring an unknown key", []string{"keys", "retire", "somekid", "--yes"}, "key_not_found"},
		{"a missing argument", []string{"users", "get"}, "want 1 argument"},
		{"an extra argument", []string{"users", "get", "a", "b"}, "want 1 argument"},
		{"an unknown flag", []string{"users", "get", "--nope", "a"}, "flag provided but not defined"},
		{"an unknown command", []string{"users", "frobnicate"}, "unknown command"},
		{"no command", []string{"keys"}, "name a command"},
		{"find without a selector", []string{"users", "find"}, "--email"},
		{"find by two selectors", []string{"users", "find", "--email", "a@example.com", "--provider", "dev", "--subject", "alice"}, "exactly one"},
		{"find by provider alone", []string{"users", "find", "--provider", "dev"}, "provider and subject"},
		{"bad roles", []string{"users", "roles", "nosuchuser", "bad role!"}, "invalid_request"},
		{"a missing config file", []string{"users", "get", "x", "-config", "/nonexistent/socialbridge.yaml"}, "configuration"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := e.cli(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("socialbridge %s: %v, want an error containing %q", strings.Join(tt.args, " "), err, tt.want)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing on error", out)
			}
		})
	}
}

func TestCLIKeys(t *testing.T) {
	e := newCLIEnv(t)
	keys := e.ok(t, "keys", "list")["keys"].([]any)
	if len(keys) == 0 {
		t.Fatal("keys list: no keys")
	}
	rotated := e.ok(t, "keys", "rotate")["keys"].([]any)
	if len(rotated) == 0 || rotated[0].(map[string]any)["created"] != true {
		t.Errorf("keys rotate = %v", rotated)
	}
	var kid string
	for _, k := range keys {
		if k := k.(map[string]any); k["use"] == "access" && k["signing"] == true {
			kid = k["kid"].(string)
		}
	}
	if kid == "" {
		t.Fatalf("no signing access key in %v", keys)
	}
	got := e.ok(t, "keys", "retire", kid, "--yes")
	if got["retired"].(map[string]any)["kid"] != kid || got["replacement"] == nil {
		t.Errorf("keys retire = %v", got)
	}
	if after := e.ok(t, "keys", "list")["keys"].([]any); len(after) <= len(keys) {
		t.Errorf("keys list after rotate and retire: %d keys, want more than %d", len(after), len(keys))
	}
}

func TestCLIHelpListsTheCommands(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"users get", "users find", "users disable", "users enable", "users revoke", "users roles", "users delete", "keys list", "keys rotate", "keys retire"} {
		if !strings.Contains(out.String(), cmd) {
			t.Errorf("help does not list %q", cmd)
		}
	}
}

// TestHelpSucceeds asks for help every way an operator might: each
// prints something and exits 0, and opens no database.
func TestHelpSucceeds(t *testing.T) {
	for _, args := range [][]string{
		{"help"}, {"-h"}, {"--help"}, {"-help"}, {"serve", "-h"}, {"serve", "--help"}, {"serve", "-help"},
		{"users", "-h"}, {"users", "help"}, {"keys", "--help"},
		{"users", "get", "-h"}, {"users", "delete", "--help"}, {"keys", "retire", "-h"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			dir := t.TempDir()
			env := map[string]string{"SOCIALBRIDGE_DATA_DIR": dir}
			if err := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr); err != nil {
				t.Fatalf("run(%q) = %v, want success", args, err)
			}
			if stdout.Len()+stderr.Len() == 0 {
				t.Errorf("run(%q) printed nothing", args)
			}
			if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
				t.Errorf("run(%q) wrote %v to the data directory (%v)", args, entries, err)
			}
		})
	}
}

// openAudit reads the user's audit events from the database file.
func (e *cliEnv) openAudit(t *testing.T, userID string) ([]store.AuditEvent, error) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(e.env["SOCIALBRIDGE_DATA_DIR"], "socialbridge.db")})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var out []store.AuditEvent
	for _, typ := range []string{"user_roles_changed", "user_tokens_revoked", "user_disabled", "user_enabled"} {
		events, err := st.ListAudit(context.Background(), store.AuditQuery{UserID: userID, Type: typ, Limit: 10})
		if err != nil {
			return nil, err
		}
		out = append(out, events...)
	}
	return out, nil
}
