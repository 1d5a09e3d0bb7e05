package boltstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// dumpBuckets are the buckets of JSON records a dump carries as they are,
// by kind (registrations, tokens and secrets take their own paths).
var dumpBuckets = map[prereg.DumpKind][]byte{prereg.DumpJob: bJobs, prereg.DumpImport: bImports, prereg.DumpAudit: bAudit}

// Dump calls fn with every stored item, kinds in prereg.DumpKinds order,
// all from one read transaction: a consistent snapshot while the store
// goes on serving. Derived data (indexes, counters) is not dumped; Load
// rebuilds it.
func (s *Store) Dump(ctx context.Context, fn func(prereg.DumpItem) error) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		if v := tx.Bucket(bMeta).Get(keyHookSecretHash); v != nil {
			sec := &prereg.Secret{Name: prereg.SecretHookHash, Value: bytes.Clone(v)}
			if err := fn(prereg.DumpItem{Kind: prereg.DumpSecret, Secret: sec}); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bTokens).ForEach(func(k, v []byte) error {
			tok, err := decodeStoredToken(k, v)
			if err != nil {
				return err
			}
			return fn(prereg.DumpItem{Kind: prereg.DumpToken, Token: tok})
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bRecs).ForEach(func(k, v []byte) error {
			r, err := decodeReg(v)
			if err != nil {
				return fmt.Errorf("decode record %x: %w", k, err)
			}
			return fn(prereg.DumpItem{Kind: prereg.DumpRegistration, Registration: r})
		}); err != nil {
			return err
		}
		for _, kind := range []prereg.DumpKind{prereg.DumpJob, prereg.DumpImport, prereg.DumpAudit} {
			if err := dumpJSON(ctx, tx.Bucket(dumpBuckets[kind]), kind, fn); err != nil {
				return err
			}
		}
		return nil
	})
}

// dumpJSON yields every JSON record of b as an item of kind.
func dumpJSON(ctx context.Context, b *bolt.Bucket, kind prereg.DumpKind, fn func(prereg.DumpItem) error) error {
	return b.ForEach(func(k, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		it := prereg.DumpItem{Kind: kind}
		var dst any
		switch kind {
		case prereg.DumpJob:
			it.Job = &prereg.SyncJob{}
			dst = it.Job
		case prereg.DumpImport:
			it.Import = &prereg.ImportReport{}
			dst = it.Import
		default:
			it.Audit = &prereg.AuditEntry{}
			dst = it.Audit
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("decode %s %x: %w", kind, k, err)
		}
		return fn(it)
	})
}

func decodeStoredToken(k, v []byte) (*prereg.StoredToken, error) {
	var r tokenRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode token %s: %w", k, err)
	}
	tok := &prereg.StoredToken{Token: r.Token, Revoked: r.Revoked}
	if h, err := hex.DecodeString(r.Hash); err != nil || len(h) != len(tok.Hash) {
		return nil, fmt.Errorf("token %s: bad hash", k)
	} else {
		copy(tok.Hash[:], h)
	}
	return tok, nil
}

// DumpCounts counts what Dump would yield, by kind.
func (s *Store) DumpCounts(ctx context.Context) (prereg.DumpCounts, error) {
	c := prereg.DumpCounts{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bMeta).Get(keyHookSecretHash) != nil {
			c[prereg.DumpSecret] = 1
		}
		c[prereg.DumpToken] = tx.Bucket(bTokens).Stats().KeyN
		c[prereg.DumpRegistration] = tx.Bucket(bRecs).Stats().KeyN
		for kind, name := range dumpBuckets {
			c[kind] = tx.Bucket(name).Stats().KeyN
		}
		return nil
	})
	return c, err
}

// Load writes items as they are (IDs, times, hashes, statuses) in one
// transaction, through the code the store's own writes use, so indexes,
// counters and the login sets come out as if the store had written them.
// An item whose ID is stored already replaces it. Sequences (token, job,
// audit IDs) move past the IDs loaded, so new IDs never collide.
func (s *Store) Load(ctx context.Context, items []prereg.DumpItem) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		t := s.regTx(tx)
		t.deferCounts()
		t.deferIndex()
		for i, it := range items {
			if err := s.loadItem(t, it); err != nil {
				if prereg.ErrorCode(err) == prereg.Internal {
					err = fmt.Errorf("item %d (%s): %w", i+1, it.Kind, err)
				}
				return err
			}
		}
		if err := t.flushIndex(); err != nil {
			return err
		}
		return t.flushCounts()
	})
}

func (s *Store) loadItem(t *regTx, it prereg.DumpItem) error {
	tx := t.tx
	switch {
	case it.Kind == prereg.DumpSecret && it.Secret != nil:
		if it.Secret.Name != prereg.SecretHookHash {
			return prereg.Errorf(prereg.Invalid, "unknown secret %q in the dump", prereg.Truncate(it.Secret.Name))
		}
		return tx.Bucket(bMeta).Put(keyHookSecretHash, it.Secret.Value)
	case it.Kind == prereg.DumpToken && it.Token != nil:
		return loadToken(tx, it.Token)
	case it.Kind == prereg.DumpRegistration && it.Registration != nil:
		r := *it.Registration
		k, ok := prereg.ParseKey(r.ID)
		if !ok {
			return prereg.Errorf(prereg.Invalid, "registration %q in the dump: not a registration ID", prereg.Truncate(r.ID))
		}
		t.keys[r.ID] = k
		old, err := t.load(k[:])
		if err != nil {
			return err
		}
		return t.putKey(k, old, &r)
	case it.Kind == prereg.DumpJob && it.Job != nil:
		return loadJSON(tx.Bucket(bJobs), []byte(it.Job.ID), it.Job.ID, "job_", it.Job)
	case it.Kind == prereg.DumpImport && it.Import != nil:
		if it.Import.ImportID == "" {
			return prereg.Errorf(prereg.Invalid, "an import report without an ID in the dump")
		}
		return putJSON(tx.Bucket(bImports), []byte(it.Import.ImportID), it.Import)
	case it.Kind == prereg.DumpAudit && it.Audit != nil:
		b := tx.Bucket(bAudit)
		seq, ok := idSeq(it.Audit.ID, "aud_")
		if !ok {
			// Not an ID of ours: appended, in dump order.
			var err error
			if seq, err = b.NextSequence(); err != nil {
				return err
			}
		}
		return loadJSON(b, be64(seq), it.Audit.ID, "aud_", it.Audit)
	}
	return prereg.Errorf(prereg.Invalid, "a dump item of kind %q without its %s", prereg.Truncate(string(it.Kind)), it.Kind)
}

// loadToken stores a token record and, unless revoked, its hash index.
func loadToken(tx *bolt.Tx, tok *prereg.StoredToken) error {
	b, byHash := tx.Bucket(bTokens), tx.Bucket(bTokenHash)
	if v := b.Get([]byte(tok.ID)); v != nil {
		old, err := decodeStoredToken([]byte(tok.ID), v)
		if err != nil {
			return err
		}
		if err := byHash.Delete(old.Hash[:]); err != nil {
			return err
		}
	}
	rec := tokenRecord{Token: tok.Token, Hash: hex.EncodeToString(tok.Hash[:]), Revoked: tok.Revoked}
	if err := loadJSON(b, []byte(tok.ID), tok.ID, "tok_", rec); err != nil {
		return err
	}
	if tok.Revoked {
		return nil
	}
	return byHash.Put(tok.Hash[:], []byte(tok.ID))
}

// loadJSON puts v under k and moves b's sequence past the one id (of the
// form prefix + hex) was made from.
func loadJSON(b *bolt.Bucket, k []byte, id, prefix string, v any) error {
	if id == "" {
		return prereg.Errorf(prereg.Invalid, "a dump item without an ID")
	}
	if seq, ok := idSeq(id, prefix); ok && seq > b.Sequence() {
		if err := b.SetSequence(seq); err != nil {
			return err
		}
	}
	return putJSON(b, k, v)
}

// idSeq is the sequence number an ID of the form prefix + hex was made
// from.
func idSeq(id, prefix string) (uint64, bool) {
	h, ok := strings.CutPrefix(id, prefix)
	if !ok || h == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(h, 16, 64)
	return n, err == nil && n > 0
}

// Clear deletes every item, keeping the schema: what prereg copy --force
// and a restore into etcd do before they load. Verification marks go too.
func (s *Store) Clear(ctx context.Context) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		// Every cached grant goes: begin a write for each granted user.
		t := s.regTx(tx)
		if t.grants != nil {
			if err := tx.Bucket(bByUser).ForEach(func(k, _ []byte) error {
				t.grants.begin(tx, userKey(string(k[:len(k)-prereg.KeySize-1])))
				return nil
			}); err != nil {
				return err
			}
		}
		for _, name := range allBuckets {
			if bytes.Equal(name, bMeta) {
				continue
			}
			if err := tx.DeleteBucket(name); err != nil {
				return fmt.Errorf("clear %s: %w", name, err)
			}
			if _, err := tx.CreateBucket(name); err != nil {
				return fmt.Errorf("clear %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bMeta)
		var drop [][]byte
		if err := meta.ForEach(func(k, _ []byte) error {
			if !bytes.Equal(k, keySchema) {
				drop = append(drop, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range drop {
			if err := meta.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
