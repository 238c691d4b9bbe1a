package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialbridge/socialbridge/bridge"
)

// The admin API: Authorization: Bearer <admin.token>. It is not offered
// to browsers (no CORS), and every change is in the audit trail with
// actor "admin".

// requireAdmin authenticates the administrator or answers 401 (404 when
// the admin API is off, so that it is not there for anyone to probe).
func (s *Server) requireAdmin(c *gin.Context) {
	scheme, tok, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		tok = ""
	}
	err := s.o.Bridge.AuthenticateAdmin(strings.TrimSpace(tok))
	var oe *bridge.OAuthError
	if errors.As(err, &oe) && oe.Code == bridge.ErrCodeAdminDisabled {
		writeOAuthError(c, http.StatusNotFound, oe.Code, oe.Description)
		c.Abort()
		return
	}
	if err != nil {
		c.Header("WWW-Authenticate", `Bearer realm="socialbridge-admin"`)
		writeOAuthError(c, http.StatusUnauthorized, bridge.ErrCodeInvalidToken, "send the admin credential as Authorization: Bearer <admin.token>")
		c.Abort()
		return
	}
	noStore(c)
	c.Next()
}

func (s *Server) adminRoutes() {
	g := s.engine.Group("/admin", s.rateLimit, s.requireAdmin)
	g.GET("/users", s.adminFindUsers)
	g.GET("/users/:id", s.adminUser)
	g.DELETE("/users/:id", s.adminDeleteUser)
	g.POST("/users/:id/disable", s.adminDisable)
	g.POST("/users/:id/enable", s.adminEnable)
	g.POST("/users/:id/revoke-tokens", s.adminRevokeTokens)
	g.PUT("/users/:id/roles", s.adminSetRoles)
	g.GET("/audit", s.adminAudit)
	g.GET("/keys", s.adminKeys)
	g.POST("/keys/rotate", s.adminRotateKeys)
	g.POST("/keys/:kid/retire", s.adminRetireKey)
}

func (s *Server) adminUser(c *gin.Context) {
	u, err := s.o.Bridge.AdminUser(c.Request.Context(), s.action(c))
	if err != nil {
		s.apiError(c, err)
		return
	}
	c.JSON(http.StatusOK, u)
}

// adminFindUsers finds users by exactly one selector: ?email= or
// ?provider=&subject=: {"users": [...]}, empty when none matches.
func (s *Server) adminFindUsers(c *gin.Context) {
	q := c.Request.URL.Query()
	for k, v := range q {
		switch k {
		case "email", "provider", "subject":
		default:
			s.apiError(c, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "unknown parameter " + k + ": select users by email, or by provider and subject"})
			return
		}
		if len(v) > 1 {
			s.apiError(c, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "parameter " + k + " is repeated"})
			return
		}
	}
	if q.Get("email") == "" && q.Get("provider") == "" && q.Get("subject") == "" {
		s.apiError(c, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "select users by email, or by provider and subject"})
		return
	}
	users, err := s.o.Bridge.AdminFindUsers(c.Request.Context(), bridge.AdminUserQuery{
		Email: q.Get("email"), Provider: q.Get("provider"), Subject: q.Get("subject")}, s.action(c))
	if err != nil {
		s.apiError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"users": users})
}

// adminDeleteUser deletes a user and everything stored about them.
func (s *Server) adminDeleteUser(c *gin.Context) {
	n, err := s.o.Bridge.DeleteUser(c.Request.Context(), s.action(c))
	if err != nil {
		s.apiError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": true, "sessions_revoked": n})
}

func (s *Server) action(c *gin.Context) bridge.AdminAction {
	return bridge.AdminAction{UserID: c.Param("id"), IP: c.ClientIP()}
}

func (s *Server) adminDisable(c *gin.Context) {
	n, err := s.o.Bridge.DisableUser(c.Request.Context(), s.action(c))
	if err != nil {
		s.apiError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"disabled": true, "sessions_revoked": n})
}

func (s *Server) adminEnable(c *gin.Context) {
	if err := s.o.Bridge.EnableUser(c.Request.Context(), s.action(c)); err != nil {
		s.apiError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"disabled": false})
}

func (s *Server) adminRevokeTokens(c *gin.Context) {
	n, err := s.o.Bridge.RevokeUserTokens(c.Request.Context(), s.action(c))
	if err != nil {
		s.apiError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"sessions_revoked": n})
}

// adminSetRoles takes {"roles": ["..."]} (application/json).
func (s *Server) adminSetRoles(c *gin.Context) {
	var body struct {
		Roles *[]string `json:"roles"`
	}
	if err := readJSON(c, &body); err != nil {
		s.apiError(c, err)
		return
	}
	if body.Roles == nil {
		s.apiError(c, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: `the body must be {"roles": [...]}`})
		return
	}
	roles, n, err := s.o.Bridge.SetUserRoles(c.Request.Context(), s.action(c), *body.Roles)
	if err != nil {
		s.apiError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"roles": roles, "sessions_revoked": n})
}

// adminAudit lists audit events: ?user_id=&type=&before=<RFC 3339>&before_id=&limit=.
func (s *Server) adminAudit(c *gin.Context) {
	q := c.Request.URL.Query()
	for k, v := range q {
		switch k {
		case "user_id", "type", "before", "before_id", "limit":
		default:
			s.apiError(c, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "unknown parameter " + k})
			return
		}
		if len(v) > 1 {
			s.apiError(c, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "parameter " + k + " is repeated"})
			return
		}
	}
	aq := bridge.AuditQuery{UserID: q.Get("user_id"), Type: q.Get("type"), BeforeID: q.Get("before_id"), By: s.action(c)}
	if v := q.Get("before"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			s.apiError(c, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "before must be an RFC 3339 time"})
			return
		}
		aq.Before = t
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.apiError(c, &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "limit must be a positive whole number"})
			return
		}
		aq.Limit = n
	}
	events, err := s.o.Bridge.AuditEvents(c.Request.Context(), aq)
	if err != nil {
		s.apiError(c, err)
		return
	}
	out := gin.H{"events": events}
	limit := aq.Limit
	if limit == 0 {
		limit = bridge.DefaultAuditPage
	}
	if len(events) > 0 && len(events) == limit {
		last := events[len(events)-1]
		out["next"] = gin.H{"before": last.At.Format(time.RFC3339Nano), "before_id": last.ID}
	}
	c.JSON(http.StatusOK, out)
}

// adminKeys lists the signing keys: {"keys": [...]}, public facts only.
func (s *Server) adminKeys(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"keys": s.o.Bridge.SigningKeys()})
}

// adminRotateKeys starts a key succession on every line that has none
// under way: {"keys": [successor, ...]}.
func (s *Server) adminRotateKeys(c *gin.Context) {
	keys, err := s.o.Bridge.RotateKeys(c.Request.Context(), c.ClientIP())
	if err != nil {
		s.apiError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"keys": keys})
}

// adminRetireKey retires the key with this kid at once:
// {"retired": key, "replacement": key or null}.
func (s *Server) adminRetireKey(c *gin.Context) {
	r, err := s.o.Bridge.RetireKey(c.Request.Context(), c.Param("kid"), c.ClientIP())
	if err != nil {
		s.apiError(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

// maxJSONBody bounds an admin request's JSON body.
const maxJSONBody = 16 << 10

// readJSON decodes a JSON body strictly: the right media type, one value,
// no unknown fields.
func readJSON(c *gin.Context, v any) error {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		return &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "the body must be application/json"}
	}
	dec := json.NewDecoder(io.LimitReader(c.Request.Body, maxJSONBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "the request body is too large"}
		}
		return &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: fmt.Sprintf("the body is not valid JSON: %v", err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &bridge.OAuthError{Code: bridge.ErrCodeInvalidRequest, Description: "the body must hold one JSON object and nothing after it"}
	}
	return nil
}
