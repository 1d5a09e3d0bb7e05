// Package csvgen writes large, realistic import files for benchmarks and
// load tests, so that no large file needs to be committed.
package csvgen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
)

// Options shape a generated file.
type Options struct {
	// Rows is the number of data rows.
	Rows int
	// OrgShare is the share (0..1) of rows that belong to an organization;
	// the others are tenant-wide.
	OrgShare float64
	// Orgs is how many distinct organizations those rows spread over
	// (default 100).
	Orgs int
	// Roles is the number of roles per row (default 2).
	Roles int
	// Seed makes the file reproducible.
	Seed uint64
	// Delimiter is ',' (default), ';' or '\t'.
	Delimiter rune
	// CRLF ends lines with CRLF as spreadsheets do.
	CRLF bool
	// BOM starts the file with a UTF-8 byte-order mark.
	BOM bool
}

var roleNames = []string{"viewer", "editor", "billing-admin", "Support Agent", "auditor", "rol_lEh5V8omwZrnZd9o", "rol_Q2w3E4r5T6y7U8i9", "owner"}

// Write writes the header and o.Rows data rows to w. Every row is valid
// and every (organization, email) pair is distinct, so importing the file
// creates exactly o.Rows registrations.
func Write(w io.Writer, o Options) error {
	if o.Orgs <= 0 {
		o.Orgs = 100
	}
	if o.Roles <= 0 {
		o.Roles = 2
	}
	d := string(o.Delimiter)
	if o.Delimiter == 0 {
		d = ","
	}
	sep := "|"
	nl := "\n"
	if o.CRLF {
		nl = "\r\n"
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15))
	bw := bufio.NewWriterSize(w, 1<<16)
	if o.BOM {
		bw.WriteString("\ufeff")
	}
	bw.WriteString(strings.Join([]string{"email", "organization_id", "roles", "connection", "expires_at"}, d) + nl)
	roles := make([]string, 0, o.Roles)
	for i := range o.Rows {
		org := ""
		if rng.Float64() < o.OrgShare {
			org = fmt.Sprintf("org_%016d", rng.IntN(o.Orgs))
		}
		roles = roles[:0]
		for j := range o.Roles {
			// A step of 3 over 8 names visits all 8 before repeating.
			if j < len(roleNames) {
				roles = append(roles, roleNames[(i+j*3)%len(roleNames)])
			} else {
				roles = append(roles, fmt.Sprintf("role-%d", j))
			}
		}
		conn, exp := "", ""
		switch i % 10 {
		case 3:
			conn = "google-oauth2"
		case 7:
			exp = fmt.Sprintf("2027-%02d-%02d", 1+i%12, 1+i%28)
		}
		// The row index makes every address distinct; the upper case
		// in some exercises case-insensitive matching.
		email := fmt.Sprintf("user%08d.%x@Example%d.com", i, rng.Uint32()&0xffff, i%50)
		fmt.Fprintf(bw, "%s%s%s%s%s%s%s%s%s%s", email, d, org, d, strings.Join(roles, sep), d, conn, d, exp, nl)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write generated csv: %w", err)
	}
	return nil
}
