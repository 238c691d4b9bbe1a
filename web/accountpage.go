package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// accountPage is the signed-in user's account page: sessions and linked
// accounts.
func (s *Server) accountPage(c *gin.Context) {
	c.String(http.StatusNotImplemented, "account page: not built yet\n")
}
