package etcdstore

// ReadGroupsSent counts the group read transactions s has sent.
func ReadGroupsSent(s *Store) int64 { return s.reads.sent.Load() }

// ReadsHedged counts the login reads s also sent to another member.
func ReadsHedged(s *Store) int64 { return s.reads.hedged.Load() }
