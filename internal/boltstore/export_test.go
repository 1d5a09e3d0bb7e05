package boltstore

import (
	bolt "go.etcd.io/bbolt"
)

// SetSchemaForTest overwrites the schema version (tests of version checks).
func (s *Store) SetSchemaForTest(v uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(keySchema, be64(v)) })
}
