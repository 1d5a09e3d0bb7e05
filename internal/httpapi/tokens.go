package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/prereg"
)

// Tokens are the admin API tokens kept in the store.
type Tokens interface {
	CreateToken(ctx context.Context, req prereg.TokenRequest, actor string) (prereg.Token, string, error)
	Tokens(ctx context.Context) ([]prereg.Token, error)
	RevokeToken(ctx context.Context, id, actor string) (prereg.Token, error)
	// Authenticate finds the token whose secret hashes to h.
	Authenticate(ctx context.Context, h [32]byte) (prereg.Token, bool, error)
}

type createdToken struct {
	ID             string    `json:"id"`
	Token          string    `json:"token"`
	Name           string    `json:"name"`
	OrganizationID string    `json:"organization_id"`
	ReadOnly       bool      `json:"read_only"`
	CreatedAt      time.Time `json:"created_at"`
}

func (s *Server) createToken(c *gin.Context) {
	p := principal(c)
	if err := p.CheckTenantAdmin(); err != nil {
		s.fail(c, err)
		return
	}
	body, err := readBody(c, MaxAdminBody)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req prereg.TokenRequest
	if err := decodeJSON(body, &req, true); err != nil {
		s.fail(c, err)
		return
	}
	req = req.Normalize()
	if err := req.Validate(); err != nil {
		s.fail(c, err)
		return
	}
	tok, secret, err := s.stores.Tokens.CreateToken(c.Request.Context(), req, p.TokenID)
	if err != nil {
		s.fail(c, err)
		return
	}
	// The secret is shown this once; the store keeps only its hash.
	c.JSON(http.StatusCreated, createdToken{ID: tok.ID, Token: secret, Name: tok.Name, OrganizationID: tok.OrganizationID, ReadOnly: tok.ReadOnly, CreatedAt: tok.CreatedAt})
}

func (s *Server) listTokens(c *gin.Context) {
	if err := principal(c).CheckTenantAdmin(); err != nil {
		s.fail(c, err)
		return
	}
	toks, err := s.stores.Tokens.Tokens(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": toks})
}

func (s *Server) revokeToken(c *gin.Context) {
	p := principal(c)
	if err := p.CheckTenantAdmin(); err != nil {
		s.fail(c, err)
		return
	}
	tok, err := s.stores.Tokens.RevokeToken(c.Request.Context(), c.Param("id"), p.TokenID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, tok)
}
