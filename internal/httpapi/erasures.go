package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/prereg"
)

// Erasures remove every trace of an address.
type Erasures interface {
	// Erase erases every trace of email; limitOrg, when set, confines it
	// to that organization's registrations and what refers to them.
	Erase(ctx context.Context, email, limitOrg, actor string) (prereg.Erasure, error)
}

func (s *Server) erase(c *gin.Context) {
	p := principal(c)
	body, err := readBody(c, MaxAdminBody)
	if err != nil {
		s.fail(c, err)
		return
	}
	var b struct {
		Email string `json:"email"`
	}
	if err := decodeJSON(body, &b, true); err != nil {
		s.fail(c, err)
		return
	}
	if p.ReadOnly {
		s.fail(c, prereg.Errorf(prereg.Forbidden, "this token is read-only"))
		return
	}
	// Erase refuses anything but a valid address (prereg.ValidateEmail).
	out, err := s.stores.Erasures.Erase(c.Request.Context(), b.Email, p.OrganizationID, p.TokenID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}
