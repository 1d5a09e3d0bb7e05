package boltstore

import (
	"fmt"
	"os"
	"slices"
)

// FreelistAgreesForTest checks that the free pages read from the
// freelist page on the file (wipePages' fast path) are exactly those
// Tx.Page calls free and as many as bbolt's stats count, and that
// there are some.
func (s *Store) FreelistAgreesForTest() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, err := os.Open(s.path)
	if err != nil {
		return err
	}
	defer f.Close()
	tx, err := s.db.Begin(true)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	ps := s.db.Info().PageSize
	fast, ok := freelistFromFile(tx, f, ps)
	if !ok {
		return fmt.Errorf("the freelist page could not be read")
	}
	slow, err := scanFree(tx, ps)
	if err != nil {
		return err
	}
	if !slices.Equal(fast, slow) || len(fast) == 0 {
		return fmt.Errorf("freelist page lists %v, Tx.Page finds %v", fast, slow)
	}
	if st := s.db.Stats(); st.FreePageN+st.PendingPageN != len(fast) {
		return fmt.Errorf("freelist page lists %d pages, bbolt's stats count %d free and %d pending", len(fast), st.FreePageN, st.PendingPageN)
	}
	return nil
}
