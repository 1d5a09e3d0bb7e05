package boltstore

import (
	"encoding/json"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// storedReg is a registration as written to disk: short keys, empty fields
// left out and times as Unix nanoseconds, so a record is about a third of
// its API form. The API form (prereg.Registration) never changes with it.
type storedReg struct {
	ID         string           `json:"i"`
	Email      string           `json:"e"`
	Org        string           `json:"o,omitempty"`
	Roles      []string         `json:"r"`
	Connection string           `json:"c,omitempty"`
	ExpiresAt  int64            `json:"x,omitempty"`
	Status     prereg.Status    `json:"s"`
	GrantedTo  string           `json:"g,omitempty"`
	GrantedAt  int64            `json:"ga,omitempty"`
	CreatedAt  int64            `json:"ca"`
	UpdatedAt  int64            `json:"ua"`
	Source     string           `json:"src,omitempty"`
	Sync       prereg.SyncState `json:"sy,omitempty"`
	SyncError  string           `json:"se,omitempty"`
}

func nanos(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.UnixNano()
}

func timePtr(n int64) *time.Time {
	if n == 0 {
		return nil
	}
	t := time.Unix(0, n).UTC()
	return &t
}

func encodeReg(r *prereg.Registration) ([]byte, error) {
	return json.Marshal(storedReg{
		ID: r.ID, Email: r.Email, Org: r.OrganizationID, Roles: r.Roles, Connection: r.Connection,
		ExpiresAt: nanos(r.ExpiresAt), Status: r.Status, GrantedTo: r.GrantedTo, GrantedAt: nanos(r.GrantedAt),
		CreatedAt: r.CreatedAt.UnixNano(), UpdatedAt: r.UpdatedAt.UnixNano(), Source: r.Source,
		Sync: r.Sync, SyncError: r.SyncError,
	})
}

func decodeReg(raw []byte) (*prereg.Registration, error) {
	var s storedReg
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	if s.Roles == nil {
		s.Roles = []string{}
	}
	return &prereg.Registration{
		ID: s.ID, Email: s.Email, OrganizationID: s.Org, Roles: s.Roles, Connection: s.Connection,
		ExpiresAt: timePtr(s.ExpiresAt), Status: s.Status, GrantedTo: s.GrantedTo, GrantedAt: timePtr(s.GrantedAt),
		CreatedAt: time.Unix(0, s.CreatedAt).UTC(), UpdatedAt: time.Unix(0, s.UpdatedAt).UTC(), Source: s.Source,
		Sync: s.Sync, SyncError: s.SyncError,
	}, nil
}
