package httpapi

import (
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/prereg"
)

// listFilter reads the list/export filters and confines a limited token to
// its organization.
func listFilter(c *gin.Context, p prereg.Principal) (prereg.Filter, bool, error) {
	f := prereg.Filter{
		Status: prereg.Status(c.Query("status")),
		Email:  c.Query("email"),
		Sync:   prereg.SyncState(c.Query("sync")),
		Cursor: c.Query("cursor"),
	}
	if err := f.Validate(); err != nil {
		return f, false, err
	}
	var none bool
	if f.OrganizationID, f.OrganizationSet, none = scope(c, p); none {
		return f, true, nil
	}
	var err error
	f.Limit, err = pageLimit(c)
	return f, false, err
}

// scope reads organization_id and confines it to what p may see
// (prereg.Principal.Scope).
func scope(c *gin.Context, p prereg.Principal) (org string, set, none bool) {
	org, set = c.GetQuery("organization_id")
	return p.Scope(strings.TrimSpace(org), set)
}

// pageLimit reads limit (1 to 1000); 0 when absent, for the default.
func pageLimit(c *gin.Context) (int, error) {
	l := c.Query("limit")
	if l == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > 1000 {
		return 0, &prereg.Error{Code: prereg.Invalid, Message: "limit must be between 1 and 1000",
			Details: []prereg.FieldError{{Field: "limit", Message: "between 1 and 1000"}}}
	}
	return n, nil
}

type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}
