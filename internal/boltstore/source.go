package boltstore

import (
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// OpenSource opens the store at path to be read from, as the source of a
// copy or a restore: read-only, so a file in use by a service is refused
// (its lock) and the file is never written. A store of an older schema
// cannot be read as this version's, and a read-only open cannot migrate
// it: its snapshot is copied into a temporary file ($TMPDIR), migrated
// there, and read from that copy, which Close removes. The file at path
// is left as it was.
func OpenSource(path string, opts Options) (*Store, error) {
	opts.ReadOnly = true
	s, err := Open(path, opts)
	if err != nil {
		return nil, err
	}
	have, err := s.schema()
	if err != nil {
		s.Close()
		return nil, err
	}
	if have == SchemaVersion {
		return s, nil
	}
	tmp, err := os.CreateTemp("", "prereg-migrated-*.db")
	if err != nil {
		s.Close()
		return nil, prereg.Wrap(prereg.Unavailable, err, fmt.Sprintf("%s has schema %d: it is read through a migrated copy, which cannot be made: %s", path, have, osCause(err)))
	}
	name := tmp.Name()
	err = s.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(tmp)
		return err
	})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	s.Close()
	if err != nil {
		os.Remove(name)
		return nil, prereg.Wrap(prereg.Unavailable, err, fmt.Sprintf("copying %s (schema %d) to migrate it: %s", path, have, osCause(err)))
	}
	opts.ReadOnly = false
	m, err := Open(name, opts)
	if err != nil {
		os.Remove(name)
		return nil, err
	}
	m.removeOnClose = name
	return m, nil
}
