package prereg

// Counts are registration counts by status.
type Counts struct {
	Pending int64 `json:"pending"`
	Granted int64 `json:"granted"`
	Revoked int64 `json:"revoked"`
	Expired int64 `json:"expired"`
	Total   int64 `json:"total"`
}

// Add counts n registrations of status st.
func (c *Counts) Add(st Status, n int64) {
	switch st {
	case StatusPending:
		c.Pending += n
	case StatusGranted:
		c.Granted += n
	case StatusRevoked:
		c.Revoked += n
	case StatusExpired:
		c.Expired += n
	}
	c.Total += n
}

// Stats are counts overall and per organization ("" is tenant-wide).
type Stats struct {
	Overall        Counts            `json:"overall"`
	ByOrganization map[string]Counts `json:"by_organization"`
}
