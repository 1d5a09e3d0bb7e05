package etcdstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// Dump calls fn for every stored thing, kinds in prereg.DumpKinds order,
// all read at one revision: one consistent snapshot while writes go on.
func (s *Store) Dump(ctx context.Context, fn func(prereg.DumpItem) error) error {
	var rev int64
	for _, kind := range prereg.DumpKinds {
		var err error
		rev, err = s.eachKVRev(ctx, s.k(dumpSpace[kind]), rev, false, func(kv *mvccKV) error {
			item, err := s.dumpItem(kind, kv)
			if err != nil {
				return err
			}
			return fn(item)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// dumpSpace is where each kind of dumped thing is kept.
var dumpSpace = map[prereg.DumpKind]string{
	prereg.DumpSecret:       kSecret,
	prereg.DumpToken:        kTok,
	prereg.DumpRegistration: kRec,
	prereg.DumpJob:          kJob,
	prereg.DumpImport:       kImp,
	prereg.DumpAudit:        kAud,
}

func (s *Store) dumpItem(kind prereg.DumpKind, kv *mvccKV) (prereg.DumpItem, error) {
	item := prereg.DumpItem{Kind: kind}
	var err error
	switch kind {
	case prereg.DumpSecret:
		item.Secret = &prereg.Secret{Name: string(kv.Key[len(s.k(kSecret)):]), Value: kv.Value}
	case prereg.DumpToken:
		var r tokenRecord
		if err = json.Unmarshal(kv.Value, &r); err == nil {
			item.Token = &prereg.StoredToken{Token: r.Token}
			var h []byte
			if h, err = hex.DecodeString(r.Hash); err == nil {
				copy(item.Token.Hash[:], h)
			}
		}
	case prereg.DumpRegistration:
		item.Registration, err = decodeReg(kv.Value)
	case prereg.DumpJob:
		item.Job = &prereg.SyncJob{}
		err = json.Unmarshal(kv.Value, item.Job)
	case prereg.DumpImport:
		item.Import = &prereg.ImportReport{}
		err = json.Unmarshal(kv.Value, item.Import)
	case prereg.DumpAudit:
		item.Audit = &prereg.AuditEntry{}
		err = json.Unmarshal(kv.Value, item.Audit)
	}
	if err != nil {
		return item, fmt.Errorf("decode %q: %w", kv.Key, err)
	}
	return item, nil
}

// DumpCounts counts what Dump would yield, with count-only reads.
func (s *Store) DumpCounts(ctx context.Context) (prereg.DumpCounts, error) {
	var ops []clientv3.Op
	for _, kind := range prereg.DumpKinds {
		p := s.k(dumpSpace[kind])
		ops = append(ops, clientv3.OpGet(p, clientv3.WithRange(end(p)), clientv3.WithCountOnly()))
	}
	counts, err := s.readMany(ctx, ops, 0, 1)
	if err != nil {
		return nil, err
	}
	out := prereg.DumpCounts{}
	for i, kind := range prereg.DumpKinds {
		out[kind] = int(counts[i])
	}
	return out, nil
}

// Load writes items as they are (IDs, times, hashes), with the indexes
// the store derives from them, in transactions within etcd's limits.
func (s *Store) Load(ctx context.Context, items []prereg.DumpItem) error {
	var tx pendingTxn
	for _, item := range items {
		ops, err := s.loadOps(item)
		if err != nil {
			return err
		}
		if !tx.fits(ops) {
			if _, err := s.commit(ctx, nil, tx.ops); err != nil {
				return err
			}
			tx = pendingTxn{}
		}
		tx.add(keyRun{}, clientv3.Compare(clientv3.Version(s.k(kSchema)), ">", 0), ops)
	}
	if len(tx.ops) > 0 {
		_, err := s.commit(ctx, nil, tx.ops)
		return err
	}
	return nil
}

// loadOps are the operations that write one dumped item.
func (s *Store) loadOps(item prereg.DumpItem) ([]clientv3.Op, error) {
	switch {
	case item.Secret != nil:
		return []clientv3.Op{clientv3.OpPut(s.k(kSecret, item.Secret.Name), string(item.Secret.Value))}, nil
	case item.Token != nil:
		if item.Token.Revoked {
			return []clientv3.Op{clientv3.OpPut(s.k(kEver), "1")}, nil
		}
		return s.tokenOps(item.Token.Token, item.Token.Hash), nil
	case item.Registration != nil:
		r := item.Registration
		k, ok := prereg.ParseKey(r.ID)
		if !ok {
			k = prereg.RegistrationKey(r.OrganizationID, r.Email)
		}
		return s.putOps(k, nil, r)
	case item.Job != nil:
		j := item.Job
		return []clientv3.Op{clientv3.OpPut(s.k(kJob, j.ID), mustJSON(j)), clientv3.OpPut(s.k(kDue, stamp(j.NotBefore), j.ID), "")}, nil
	case item.Import != nil:
		return []clientv3.Op{clientv3.OpPut(s.k(kImp, item.Import.ImportID), mustJSON(item.Import))}, nil
	case item.Audit != nil:
		id := strings.TrimPrefix(item.Audit.ID, "aud_")
		return []clientv3.Op{clientv3.OpPut(s.k(kAud, id), mustJSON(item.Audit))}, nil
	}
	return nil, prereg.Errorf(prereg.Invalid, "a dump item of kind %q holds nothing", item.Kind)
}

// clearChunk is how many keys one delete of Clear removes: a delete of
// millions of keys in one request would hold etcd's backend for longer
// than any timeout.
const clearChunk = 10000

// Clear deletes everything under the prefix, clearChunk keys at a time,
// and initializes it again.
func (s *Store) Clear(ctx context.Context) error {
	s.orgsKnown.Clear()
	for {
		cctx, cancel := context.WithTimeout(ctx, scanTimeout)
		resp, err := s.cli.Get(cctx, s.p, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(clearChunk))
		cancel()
		if err != nil {
			return translate(err)
		}
		if len(resp.Kvs) == 0 {
			return s.init(ctx)
		}
		from, to := string(resp.Kvs[0].Key), string(resp.Kvs[len(resp.Kvs)-1].Key)+"\x00"
		cctx, cancel = context.WithTimeout(ctx, scanTimeout)
		_, err = s.cli.Delete(cctx, from, clientv3.WithRange(to))
		cancel()
		if err != nil {
			return translate(err)
		}
	}
}
