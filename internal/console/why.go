package console

import (
	"fmt"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// explain says in words why a registration is in its state, and for a
// pending one what a login must bring to claim it.
func explain(r prereg.Registration, now time.Time) []string {
	day := func(t *time.Time) string {
		if t == nil {
			return "an unknown date"
		}
		return t.UTC().Format("2 January 2006 15:04 UTC")
	}
	switch r.EffectiveStatus(now) {
	case prereg.StatusExpired:
		return []string{fmt.Sprintf("It expired on %s without anyone claiming it: nobody logged in with this address (verified%s) before then. Import or add it again with a later expiry to reopen it.", day(r.ExpiresAt), connectionNote(r))}
	case prereg.StatusRevoked:
		if r.GrantedTo != "" {
			return []string{fmt.Sprintf("It was granted to %s and then force-revoked: its roles were taken back, and it no longer applies to any login.", r.GrantedTo)}
		}
		return []string{"It was revoked before anyone claimed it: logins with this address no longer get its roles."}
	case prereg.StatusGranted:
		return []string{fmt.Sprintf("It was claimed by %s on %s, who got its roles at that login.", r.GrantedTo, day(r.GrantedAt))}
	}
	why := []string{"Nobody has claimed it yet. Most often the person has never logged in since it was created."}
	why = append(why, "A login claims it only with a verified email address (unless the connection is trusted): if the person signed up but did not verify the address, it stays pending.")
	if r.Connection != "" {
		why = append(why, fmt.Sprintf("It is pinned to the connection %q: a login through another connection (for example social login instead of the database) does not claim it.", r.Connection))
	}
	if r.OrganizationID != "" {
		why = append(why, fmt.Sprintf("It applies to logins into organization %s only.", r.OrganizationID))
	}
	if r.ExpiresAt != nil {
		why = append(why, fmt.Sprintf("It expires on %s if still unclaimed.", day(r.ExpiresAt)))
	}
	return why
}

func connectionNote(r prereg.Registration) string {
	if r.Connection == "" {
		return ""
	}
	return fmt.Sprintf(", through connection %q", r.Connection)
}
