package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// record is a registration as stored: JSON, with the role IDs its sync
// assigned (which the API never shows), null while unknown.
type record struct {
	prereg.Registration
	SyncedRoleIDs []string `json:"synced_role_ids"`
}

func encodeReg(r *prereg.Registration) ([]byte, error) {
	raw, err := json.Marshal(record{Registration: *r, SyncedRoleIDs: r.SyncedRoleIDs})
	if err != nil {
		return nil, fmt.Errorf("encode registration %s: %w", r.ID, err)
	}
	return raw, nil
}

func decodeReg(raw []byte) (*prereg.Registration, error) {
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("decode registration: %w", err)
	}
	r := rec.Registration
	r.SyncedRoleIDs = rec.SyncedRoleIDs
	return &r, nil
}

// grant is a user index entry: what the hook answers with, so that the
// login of a granted user reads only its own small entries.
type grant struct {
	ID    string           `json:"id"`
	Org   string           `json:"org"`
	Roles []string         `json:"roles"`
	Sync  prereg.SyncState `json:"sync,omitempty"`
}

func encodeGrant(r *prereg.Registration) string {
	raw, _ := json.Marshal(grant{ID: r.ID, Org: r.OrganizationID, Roles: r.Roles, Sync: r.Sync})
	return string(raw)
}

func decodeGrant(raw []byte, userID string) (prereg.Registration, error) {
	var g grant
	if err := json.Unmarshal(raw, &g); err != nil {
		return prereg.Registration{}, fmt.Errorf("decode grant: %w", err)
	}
	return prereg.Registration{ID: g.ID, OrganizationID: g.Org, Roles: g.Roles, Sync: g.Sync, Status: prereg.StatusGranted, GrantedTo: userID}, nil
}

// entries are the index keys of r stored under k, with their values.
func (s *Store) entries(r *prereg.Registration, k prereg.Key) map[string]string {
	ks := string(k[:])
	out := map[string]string{s.k(kOrg, r.OrganizationID, "\x00", string(r.Status), "\x00", ks): ""}
	if r.Status == prereg.StatusGranted {
		out[s.k(kUser, r.GrantedTo, "\x00", ks)] = encodeGrant(r)
		if r.Sync != prereg.SyncNone {
			out[s.k(kSync, string(r.Sync), "\x00", ks)] = ""
		}
	}
	if r.Status == prereg.StatusPending && r.ExpiresAt != nil {
		out[s.k(kExp, r.OrganizationID, "\x00", stamp(*r.ExpiresAt), ks)] = ""
	}
	return out
}

// putOps are the operations that write r over old (nil: a new record)
// under k: the record, and only the index entries that change.
func (s *Store) putOps(k prereg.Key, old, r *prereg.Registration) ([]clientv3.Op, error) {
	raw, err := encodeReg(r)
	if err != nil {
		return nil, err
	}
	ops := []clientv3.Op{clientv3.OpPut(s.recKey(k), string(raw))}
	after := s.entries(r, k)
	if old == nil {
		ops = append(ops, clientv3.OpPut(s.k(kOrgs, r.OrganizationID), ""))
	} else {
		for ik := range s.entries(old, k) {
			if _, ok := after[ik]; !ok {
				ops = append(ops, clientv3.OpDelete(ik))
			}
		}
		before := s.entries(old, k)
		for ik, v := range after {
			if bv, ok := before[ik]; ok && bv == v {
				delete(after, ik)
			}
		}
	}
	for ik, v := range after {
		ops = append(ops, clientv3.OpPut(ik, v))
	}
	return ops, nil
}

// deleteOps are the operations that remove r, stored under k, and its
// index entries.
func (s *Store) deleteOps(k prereg.Key, r *prereg.Registration) []clientv3.Op {
	ops := []clientv3.Op{clientv3.OpDelete(s.recKey(k))}
	for ik := range s.entries(r, k) {
		ops = append(ops, clientv3.OpDelete(ik))
	}
	return ops
}

// stored is a record as read, with the revision a write over it compares.
type stored struct {
	k   prereg.Key
	r   *prereg.Registration
	mod int64
}

// unchanged is the compare that holds while st is as read (a record read
// as absent has ModRevision 0 until it is created).
func (s *Store) unchanged(st stored) clientv3.Cmp {
	return clientv3.Compare(clientv3.ModRevision(s.recKey(st.k)), "=", st.mod)
}

// load reads the record under k; r is nil when there is none.
func (s *Store) load(ctx context.Context, k prereg.Key) (stored, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.recKey(k))
	if err != nil {
		return stored{}, translate(err)
	}
	st := stored{k: k}
	if len(resp.Kvs) == 1 {
		st.mod = resp.Kvs[0].ModRevision
		if st.r, err = decodeReg(resp.Kvs[0].Value); err != nil {
			return st, err
		}
	}
	return st, nil
}

// find loads the registration with ID id: a NotFound error when there is
// none.
func (s *Store) find(ctx context.Context, id string) (stored, error) {
	k, ok := prereg.ParseKey(id)
	if ok {
		st, err := s.load(ctx, k)
		if err != nil || (st.r != nil && st.r.ID == id) {
			return st, err
		}
	}
	return stored{}, prereg.Errorf(prereg.NotFound, "no registration %s", prereg.Truncate(id))
}

// Get returns one registration as it reads now (expired computed).
func (s *Store) Get(ctx context.Context, id string) (prereg.Registration, error) {
	st, err := s.find(ctx, id)
	if err != nil {
		return prereg.Registration{}, err
	}
	return st.r.View(s.now()), nil
}
