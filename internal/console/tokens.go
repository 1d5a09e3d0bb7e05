package console

import (
	"net/http"

	"github.com/prereg/prereg/internal/prereg"
)

type tokensData struct {
	Items []prereg.Token
	// Created is the token just made, with its secret shown this once.
	Created *prereg.Token
	Secret  string
	Problem string
	Req     prereg.TokenRequest
	Revoked string
}

// tokens lists the admin tokens; only a tenant-wide read-write session
// manages them, as in the API.
func (c *Console) tokens(w http.ResponseWriter, r *http.Request, q *request) {
	c.tokensPage(w, r, q, http.StatusOK, tokensData{Revoked: r.URL.Query().Get("revoked")})
}

func (c *Console) tokensPage(w http.ResponseWriter, r *http.Request, q *request, status int, d tokensData) {
	if err := q.p.CheckTenantAdmin(); err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	var err error
	if d.Items, err = c.st.Tokens.Tokens(r.Context()); err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	c.render(w, r, q, status, "tokens", d)
}

// createToken makes a token and shows its secret on the answer to this
// POST only: it is not in any URL, and the store keeps its hash alone.
func (c *Console) createToken(w http.ResponseWriter, r *http.Request, q *request) {
	if err := q.p.CheckTenantAdmin(); err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	req := prereg.TokenRequest{Name: r.PostFormValue("name"), OrganizationID: r.PostFormValue("organization_id"), ReadOnly: r.PostFormValue("read_only") == "true"}.Normalize()
	if err := req.Validate(); err != nil {
		d := tokensData{Problem: prereg.ErrorMessage(err), Req: req}
		if pe, ok := err.(*prereg.Error); ok {
			for _, fe := range pe.Details {
				d.Problem += "; " + fe.Field + ": " + fe.Message
			}
		}
		c.tokensPage(w, r, q, http.StatusBadRequest, d)
		return
	}
	tok, secret, err := c.st.Tokens.CreateToken(r.Context(), req, q.p.TokenID)
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	c.tokensPage(w, r, q, http.StatusCreated, tokensData{Created: &tok, Secret: secret})
}

func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request, q *request) {
	if err := q.p.CheckTenantAdmin(); err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	tok, err := c.st.Tokens.RevokeToken(r.Context(), r.PathValue("id"), q.p.TokenID)
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	http.Redirect(w, r, "/console/tokens?revoked="+tok.ID, http.StatusSeeOther)
}
