package prereg_test

import (
	"testing"

	"github.com/prereg/prereg/internal/prereg"
)

// CONTRACT §2: the outcome of a login follows from what the store found.
func TestLoginOutcome(t *testing.T) {
	tests := []struct {
		name  string
		facts prereg.LoginFacts
		claim bool
		want  prereg.Outcome
	}{
		{"nothing found", prereg.LoginFacts{Verified: true}, false, prereg.OutcomeNoMatch},
		{"nothing found, unverified", prereg.LoginFacts{}, false, prereg.OutcomeNoMatch},
		{"claimable and verified", prereg.LoginFacts{Claimable: true, Verified: true}, true, prereg.OutcomeNoMatch},
		{"claimed one", prereg.LoginFacts{Verified: true, Claimed: 1, Grants: 1}, false, prereg.OutcomeGranted},
		{"claimed one beside earlier grants", prereg.LoginFacts{Verified: true, Claimed: 1, Grants: 3}, false, prereg.OutcomeGranted},
		{"claim lost to a race, earlier grants", prereg.LoginFacts{Verified: true, Grants: 2}, false, prereg.OutcomeAlreadyGranted},
		{"claimable, unverified, no grants", prereg.LoginFacts{Claimable: true}, false, prereg.OutcomeEmailUnverified},
		{"claimable, unverified, holds grants", prereg.LoginFacts{Claimable: true, Grants: 1}, false, prereg.OutcomeAlreadyGranted},
		{"nothing claimable, holds grants", prereg.LoginFacts{Grants: 1}, false, prereg.OutcomeAlreadyGranted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.facts.ShouldClaim(); got != tt.claim {
				t.Errorf("ShouldClaim() = %v, want %v", got, tt.claim)
			}
			if got := tt.facts.Outcome(); got != tt.want {
				t.Errorf("Outcome() = %q, want %q", got, tt.want)
			}
		})
	}
}

// A trusted connection vouches for its addresses; any other connection's
// logins keep the email_verified they carry.
func TestTrustedConnectionsVerified(t *testing.T) {
	trusted := prereg.NewTrustedConnections([]string{"corp-saml"})
	tests := []struct {
		name  string
		login prereg.Login
		want  bool
	}{
		{"verified anywhere", prereg.Login{EmailVerified: true, Connection: "google-oauth2"}, true},
		{"unverified, trusted connection", prereg.Login{Connection: "corp-saml"}, true},
		{"unverified, other connection", prereg.Login{Connection: "google-oauth2"}, false},
		{"unverified, no connection", prereg.Login{}, false},
		{"connection differs in case", prereg.Login{Connection: "Corp-SAML"}, false},
	}
	for _, tt := range tests {
		if got := trusted.Verified(tt.login); got != tt.want {
			t.Errorf("%s: Verified = %v, want %v", tt.name, got, tt.want)
		}
	}
	if prereg.NewTrustedConnections(nil).Verified(prereg.Login{}) {
		t.Error("an empty set with no connection verified a login")
	}
}
