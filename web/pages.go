package web

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// pages holds the parsed templates: each page with the shared layout.
type pages struct {
	byName map[string]*template.Template
	assets fs.FS
}

func loadPages() (*pages, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", base, err)
		}
		p.byName[base] = t
	}
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	p.assets = sub
	return p, nil
}

// render writes an HTML page with the page Content-Security-Policy.
func (s *Server) render(c *gin.Context, status int, name string, data map[string]any) {
	t, ok := s.pages.byName[name]
	if !ok {
		panic("web: no template " + name) // a programming error, caught by tests
	}
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	c.Status(status)
	if err := t.ExecuteTemplate(c.Writer, "layout", data); err != nil {
		s.o.Logger.ErrorContext(c.Request.Context(), "render page", "page", name, "err", err)
	}
}

// page is an error page: its status, heading and explanation.
type page struct {
	Status  int
	Title   string
	Message string
}

// errorPage shows a sign-in failure to a person.
func (s *Server) errorPage(c *gin.Context, p *page) {
	status := p.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	s.render(c, status, "error.html", map[string]any{
		"Title": p.Title, "Message": p.Message, "RequestID": RequestID(c.Request.Context()), "DevMode": s.o.DevMode,
	})
}

// asset serves the embedded CSS and JavaScript.
func (s *Server) asset(c *gin.Context) {
	name := strings.TrimPrefix(c.Param("file"), "/")
	data, err := fs.ReadFile(s.pages.assets, name)
	if err != nil || strings.Contains(name, "..") {
		c.Status(http.StatusNotFound)
		return
	}
	ctype := "application/octet-stream"
	switch path.Ext(name) {
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, ctype, data)
}

// home points people at the demo page (in dev mode) and the discovery
// document.
func (s *Server) home(c *gin.Context) {
	s.render(c, http.StatusOK, "home.html", map[string]any{
		"Title": "socialbridge", "Demo": s.o.DemoClientID != "", "Account": s.o.AccountClientID != "", "DevMode": s.o.DevMode,
		"Providers": s.o.Bridge.ProviderNames(), "Issuer": s.o.PublicURL,
	})
}

// demo is a single-page app that runs the whole SPA flow against this
// server and shows the decoded tokens. It runs in either of the two ways a
// browser app can keep its refresh token: in the page, as client
// DemoClientID (/demo/), or in an HttpOnly cookie, as client
// DemoCookieClientID (/demo/?mode=cookie). Both clients share the
// redirect URI /demo/, so the script, not the address, knows the mode of a
// sign-in coming back; the page carries both clients.
func (s *Server) demo(c *gin.Context) {
	mode, shown := "body", s.o.DemoClientID
	if c.Query("mode") == "cookie" && s.o.DemoCookieClientID != "" {
		mode, shown = "cookie", s.o.DemoCookieClientID
	}
	account := func(id string) bool {
		cl, ok := s.o.Bridge.Client(id)
		return ok && cl.AccountManagement
	}
	s.render(c, http.StatusOK, "demo.html", map[string]any{
		"Title": "socialbridge demo", "Mode": mode, "ShownClientID": shown, "ShownAccount": account(shown),
		"ClientID": s.o.DemoClientID, "Account": account(s.o.DemoClientID),
		"CookieClientID": s.o.DemoCookieClientID, "CookieAccount": account(s.o.DemoCookieClientID),
		"RedirectURI": s.o.PublicURL + "/demo/", "Issuer": s.o.PublicURL, "CSRFHeader": CSRFHeader,
		"Providers": s.providerLinks(shown), "DevMode": s.o.DevMode,
	})
}
