package etcdstore

// ReadGroupsSent counts the group read transactions s has sent.
func ReadGroupsSent(s *Store) int64 { return s.reads.sent.Load() }
