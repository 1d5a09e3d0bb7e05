package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// Erase removes every registration of an address (all organizations) and
// every other trace of it, then compacts the file: bbolt keeps freed pages
// with their old bytes, so only a rewrite into a fresh file guarantees the
// address is gone from disk. limitOrg, when set, restricts the erasure to
// that organization's registrations (a limited token), and then the
// compaction still runs.
func (s *Store) Erase(ctx context.Context, email, limitOrg, actor string) (prereg.Erasure, error) {
	var (
		out     prereg.Erasure
		settled keyMark
	)
	ekey := prereg.EmailKey(email)
	if ekey == "" {
		return out, prereg.Errorf(prereg.Invalid, "email is required")
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		out, settled = prereg.Erasure{}, keyMark{}
		t := s.regTx(tx)
		prefix := prereg.EmailPrefix(ekey)
		var regs []*prereg.Registration
		c := t.recs.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			r, err := t.decode(k, v)
			if err != nil {
				return err
			}
			if prereg.EmailKey(r.Email) == ekey {
				regs = append(regs, r)
			}
		}
		now := s.now().UTC()
		for _, r := range regs {
			id := r.ID
			if limitOrg != "" && r.OrganizationID != limitOrg {
				continue
			}
			if err := t.delete(r); err != nil {
				return err
			}
			out.Registrations = append(out.Registrations, id)
			if err := addAudit(tx, now, actor, prereg.AuditErased, r.OrganizationID, id, "registration erased on request (right to erasure)"); err != nil {
				return err
			}
		}
		n, err := scrubImports(tx, ekey)
		out.ImportsScrubbed = n
		if err != nil {
			return err
		}
		// The service's memory of the address goes too (unless another
		// address shares its hash prefix, or another organization's
		// registration stays).
		settled, err = t.noPendingUnder(prefix)
		return err
	})
	if err != nil {
		return out, err
	}
	s.pendingAddrs.removeIf(settled)
	if out.Registrations == nil {
		out.Registrations = []string{}
	}
	if err := s.Compact(ctx); err != nil {
		return out, err
	}
	out.Compacted = true
	return out, nil
}

// scrubImports removes the address from kept import reports: row errors
// echo the offending value, which may be the address itself.
func scrubImports(tx *bolt.Tx, ekey string) (int, error) {
	b := tx.Bucket(bImports)
	type upd struct {
		k []byte
		v []byte
	}
	var changes []upd
	err := b.ForEach(func(k, v []byte) error {
		// EmailKey folds A-Z only, as matching does: the address in
		// any ASCII case, and no look-alike of it.
		if !strings.Contains(prereg.EmailKey(string(v)), ekey) {
			return nil
		}
		var r prereg.ImportReport
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode import %s: %w", k, err)
		}
		for i := range r.Errors {
			r.Errors[i].Value = scrub(r.Errors[i].Value, ekey)
			r.Errors[i].Message = scrub(r.Errors[i].Message, ekey)
		}
		for i := range r.Warnings {
			r.Warnings[i].Message = scrub(r.Warnings[i].Message, ekey)
		}
		raw, err := json.Marshal(r)
		if err != nil {
			return err
		}
		changes = append(changes, upd{append([]byte(nil), k...), raw})
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, c := range changes {
		if err := b.Put(c.k, c.v); err != nil {
			return 0, err
		}
	}
	return len(changes), nil
}

func scrub(s, ekey string) string {
	if strings.Contains(prereg.EmailKey(s), ekey) {
		return "[erased]"
	}
	return s
}

// Compact rewrites the store into a fresh file and swaps it in, leaving no
// freed page behind. Operations wait for the swap (it holds the lock
// exclusively); it is meant for erasures, which are rare.
func (s *Store) Compact(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tmp := s.path + ".compact"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: s.opts.LockTimeout, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return prereg.Wrap(prereg.Unavailable, err, "cannot create the compacted store")
	}
	if err := bolt.Compact(dst, s.db, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return prereg.Wrap(prereg.Unavailable, err, "compaction failed")
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return prereg.Wrap(prereg.Unavailable, err, "compaction failed")
	}
	if err := s.db.Close(); err != nil {
		return prereg.Wrap(prereg.Internal, err, "close store for compaction")
	}
	renameErr := os.Rename(tmp, s.path)
	// Reopen whatever file is now at path: the compacted one, or the
	// original if the rename failed.
	db, err := openDB(s.path, s.opts)
	if err != nil {
		return err
	}
	s.db = db
	if renameErr != nil {
		os.Remove(tmp)
		return prereg.Wrap(prereg.Unavailable, renameErr, "cannot swap in the compacted store")
	}
	if d, err := os.Open(dirOf(s.path)); err == nil {
		_ = d.Sync() // make the rename durable
		d.Close()
	}
	return nil
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, os.PathSeparator); i >= 0 {
		return p[:i+1]
	}
	return "."
}

// Backup writes a consistent copy of the store to w (a read transaction
// sees one snapshot while writers go on) and returns its size.
func (s *Store) Backup(ctx context.Context, w io.Writer, size func(n int64)) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}
