package web

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/socialbridge/socialbridge/bridge"
)

func TestEverySignInFailureHasItsOwnPage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind   error
		status int
		title  string
	}{
		{bridge.ErrUnknownClient, http.StatusBadRequest, "Unknown application"},
		{bridge.ErrRedirectMismatch, http.StatusBadRequest, "Redirect URI mismatch"},
		{bridge.ErrUnknownProvider, http.StatusNotFound, "Unknown provider"},
		{bridge.ErrInvalidState, http.StatusBadRequest, "Invalid sign-in response"},
		{bridge.ErrUnboundFlow, http.StatusBadRequest, "Sign-in started elsewhere"},
		{bridge.ErrFlowExpired, http.StatusBadRequest, "Sign-in expired"},
		{bridge.ErrFlowUsed, http.StatusBadRequest, "Sign-in already used"},
		{errors.New("a kind web does not know"), http.StatusBadRequest, "Sign-in failed"},
	}
	for _, tt := range tests {
		t.Run(tt.title, func(t *testing.T) {
			pe := &bridge.PageError{Kind: tt.kind, ClientName: "Shop", Provider: "myspace", Err: errors.New("internal cause")}
			p := signInPage(pe)
			if p.Status != tt.status || p.Title != tt.title || p.Message == "" {
				t.Errorf("signInPage(%v) = %+v, want status %d and title %q", tt.kind, p, tt.status, tt.title)
			}
			if strings.Contains(p.Message, "internal cause") {
				t.Errorf("the page shows the internal cause: %q", p.Message)
			}
		})
	}
	if p := signInPage(&bridge.PageError{Kind: bridge.ErrRedirectMismatch, ClientName: "Shop"}); !strings.Contains(p.Message, `"Shop"`) {
		t.Errorf("the redirect mismatch page does not name the application: %q", p.Message)
	}
	if p := signInPage(&bridge.PageError{Kind: bridge.ErrUnknownProvider, Provider: "myspace"}); !strings.Contains(p.Message, `"myspace"`) {
		t.Errorf("the unknown provider page does not name the provider: %q", p.Message)
	}
}
