package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// accountPagePath is the account page's address, and so the redirect URI
// of its client.
const accountPagePath = "/account/"

// accountPage is the signed-in user's account page: where they are signed
// in (with a way to end each session) and the accounts they sign in with.
// It is a single-page app (assets/account.js) that signs in as the
// account client, a public client in cookie mode: the page's scripts hold
// only a short-lived access token, and its refresh token stays in an
// HttpOnly cookie. The page is static: who is signed in is the script's
// business, so the HTML carries no personal data and no token.
func (s *Server) accountPage(c *gin.Context) {
	id := s.o.AccountClientID
	cl, ok := s.o.Bridge.Client(id)
	if !ok || !cl.RefreshCookie || !cl.AccountManagement {
		// The built-in client always fits. A configured client that
		// replaces it must be in cookie mode with account management:
		// the script keeps no refresh token of its own.
		s.o.Logger.ErrorContext(c.Request.Context(), "account page client is missing or unfit",
			"request_id", RequestID(c.Request.Context()), "client_id", id)
		s.errorPage(c, &page{Status: http.StatusServiceUnavailable, Title: "Account page unavailable",
			Message: "The account page is not set up on this server."})
		return
	}
	s.render(c, http.StatusOK, "account.html", map[string]any{
		"Title": "Your account", "ClientID": id, "RedirectURI": s.o.PublicURL + accountPagePath,
		"Issuer": s.o.PublicURL, "Providers": s.providerLinks(id), "CSRFHeader": CSRFHeader, "DevMode": s.o.DevMode,
	})
}

// providerLinks are the sign-in buttons of a page that signs in as
// client id: the providers the client may use, with their labels.
func (s *Server) providerLinks(clientID string) []providerLink {
	links := make([]providerLink, 0)
	for _, p := range s.o.Bridge.ClientProviders(clientID) {
		links = append(links, providerLink{Name: p, Label: s.o.Bridge.ProviderLabel(p)})
	}
	return links
}
