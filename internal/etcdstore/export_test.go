package etcdstore

import "context"

// ReadGroupsSent counts the group read transactions s has sent.
func ReadGroupsSent(s *Store) int64 { return s.reads.sent.Load() }

// ReadsHedged counts the login reads s also sent to another member.
func ReadsHedged(s *Store) int64 { return s.reads.hedged.Load() }

// StopHedging makes s send every login read and write through its client
// alone, as before hedging (for the benchmark's comparison); call it before s is
// used concurrently.
func StopHedging(s *Store) {
	s.closeHedge()
	s.hedge = nil
	s.hedgeState = hedgeState{}
}

// ClaimGroupsSent counts the claim requests s has sent, and of them those
// holding more than one login's claim.
func ClaimGroupsSent(s *Store) (sent, shared int64) {
	return s.claims.sent.Load(), s.claims.shared.Load()
}

// AnnounceDefrag announces, as an erasure does, that member id is about
// to be defragmented.
func AnnounceDefrag(s *Store, ctx context.Context, id uint64) (func(), error) {
	return s.announceDefrag(ctx, id)
}

// Announced reports which of s's members' clients it takes for announced.
func Announced(s *Store) []bool {
	out := make([]bool, len(s.hedgeState.announced))
	for i := range out {
		out[i] = s.hedgeState.announced[i].Load()
	}
	return out
}
