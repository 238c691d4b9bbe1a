package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/socialbridge/socialbridge/bridge"
)

// foundUsers is GET /admin/users?query decoded to the users' ids.
func (a *app) foundUsers(t testing.TB, query url.Values) []string {
	t.Helper()
	r := a.admin(t, http.MethodGet, "/admin/users?"+query.Encode(), adminSecret, "")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/users?%s: %d %s", query.Encode(), r.StatusCode, r.Body)
	}
	var body struct {
		Users []bridge.UserSummary `json:"users"`
	}
	decodeInto(t, r.Body, &body)
	if body.Users == nil {
		t.Errorf("GET /admin/users?%s: users is %s, want a list", query.Encode(), r.Body)
	}
	ids := []string{}
	for _, u := range body.Users {
		ids = append(ids, u.ID)
	}
	return ids
}

func TestAdminFindsUsers(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	id := a.subOf(t, a.spaSignIn(t, "alice", "openid").AccessToken)
	u := a.adminUser(t, id)
	ident, err := a.store.ListUserIdentities(t.Context(), id)
	if err != nil || len(ident) != 1 {
		t.Fatalf("ListUserIdentities = %v, %v", ident, err)
	}
	tests := []struct {
		name  string
		query url.Values
		want  int
	}{
		{"by email", url.Values{"email": {u.Profile.Email}}, 1},
		{"by email in another case", url.Values{"email": {"ALICE@example.com"}}, 1},
		{"by an unknown email", url.Values{"email": {"nobody@example.com"}}, 0},
		{"by identity", url.Values{"provider": {ident[0].Provider}, "subject": {ident[0].Subject}}, 1},
		{"by an unknown identity", url.Values{"provider": {ident[0].Provider}, "subject": {"nobody"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := a.foundUsers(t, tt.query)
			if len(got) != tt.want || (tt.want == 1 && got[0] != id) {
				t.Errorf("found %v, want %d user(s) (%s)", got, tt.want, id)
			}
		})
	}
	for _, bad := range []string{"", "email=a@example.com&provider=dev&subject=x", "provider=dev", "subject=x",
		"email=a@example.com&email=b@example.com", "id=" + id, "provider=d.v&subject=x"} {
		t.Run("?"+bad+" is 400 invalid_request", func(t *testing.T) {
			r := a.admin(t, http.MethodGet, "/admin/users?"+bad, adminSecret, "")
			if r.StatusCode != http.StatusBadRequest || r.code() != bridge.ErrCodeInvalidRequest {
				t.Errorf("%d %s, want 400 invalid_request", r.StatusCode, r.Body)
			}
		})
	}
	if r := a.admin(t, http.MethodGet, "/admin/users?email=a@example.com", "", ""); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the admin token: %d, want 401", r.StatusCode)
	}
}

func TestAdminDeletesAUser(t *testing.T) {
	t.Parallel()
	a := adminApp(t)
	alice := a.spaSignIn(t, "alice", "openid")
	id := a.subOf(t, alice.AccessToken)
	r := a.admin(t, http.MethodDelete, "/admin/users/"+id, "", "")
	if r.StatusCode != http.StatusUnauthorized {
		t.Errorf("DELETE without the admin token: %d, want 401", r.StatusCode)
	}
	r = a.admin(t, http.MethodDelete, "/admin/users/"+id, adminSecret, "")
	if r.StatusCode != http.StatusOK || r.JSON["deleted"] != true || r.JSON["sessions_revoked"] != float64(1) {
		t.Fatalf("DELETE /admin/users/%s: %d %s", id, r.StatusCode, r.Body)
	}
	a.checkRevoked(t, a.sidOf(t, alice.AccessToken))
	if resp, body := a.refreshSPA(t, alice.RefreshToken); resp.StatusCode != http.StatusBadRequest || body.Error != "invalid_grant" {
		t.Errorf("refresh after the deletion: %d %+v", resp.StatusCode, body)
	}
	if r := a.admin(t, http.MethodGet, "/admin/users/"+id, adminSecret, ""); r.StatusCode != http.StatusNotFound || r.code() != bridge.ErrCodeUserNotFound {
		t.Errorf("GET after the deletion: %d %s, want 404 user_not_found", r.StatusCode, r.Body)
	}
	if r := a.admin(t, http.MethodDelete, "/admin/users/"+id, adminSecret, ""); r.StatusCode != http.StatusNotFound || r.code() != bridge.ErrCodeUserNotFound {
		t.Errorf("DELETE again: %d %s, want 404 user_not_found", r.StatusCode, r.Body)
	}
	if again := a.spaSignIn(t, "alice", "openid"); a.subOf(t, again.AccessToken) == id {
		t.Errorf("the sign-in after the deletion is the deleted user, want a new one")
	}
}
