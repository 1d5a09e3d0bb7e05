package etcdstore

import (
	"context"
	"encoding/json"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// kSess holds console sessions: hex SHA-256 of the cookie -> sessionRecord.
// Like every other key they live in etcd, so a session made through one
// replica is honoured by every other, and a sign-out on one ends it on all.
const kSess = "sess/"

// sessionRecord is a console session as stored; the cookie's value is never
// stored, only its hash (the key).
type sessionRecord struct {
	prereg.Principal
	CSRF       string `json:"csrf"`
	CreatedAt  int64  `json:"created_at"`
	LastSeenAt int64  `json:"last_seen_at"`
}

func (r sessionRecord) session(h [32]byte) prereg.Session {
	return prereg.Session{Hash: h, Principal: r.Principal, CSRF: r.CSRF,
		CreatedAt: time.Unix(0, r.CreatedAt).UTC(), LastSeenAt: time.Unix(0, r.LastSeenAt).UTC()}
}

var errNoSession = prereg.Errorf(prereg.NotFound, "no such session: it has expired or ended; sign in again")

// CreateSession stores a new console session stamped with the store's
// clock, and drops expired ones (few: the sweep rides on sign-ins).
func (s *Store) CreateSession(ctx context.Context, in prereg.Session) (prereg.Session, error) {
	now := s.now().UTC()
	in.CreatedAt, in.LastSeenAt = now, now
	ops := []clientv3.Op{clientv3.OpPut(s.k(kSess, hashHex(in.Hash)), mustJSON(sessionRecord{
		Principal: in.Principal, CSRF: in.CSRF, CreatedAt: now.UnixNano(), LastSeenAt: now.UnixNano()}))}
	cctx, cancel := s.call(ctx)
	resp, err := s.cli.Get(cctx, s.k(kSess), clientv3.WithPrefix())
	cancel()
	if err != nil {
		return prereg.Session{}, translate(err)
	}
	for _, kv := range resp.Kvs {
		var r sessionRecord
		if json.Unmarshal(kv.Value, &r) != nil || r.session([32]byte{}).Expired(now) {
			// Deleted only if unchanged since read: a touch meanwhile keeps it.
			ops = append(ops, clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)},
				[]clientv3.Op{clientv3.OpDelete(string(kv.Key))}, nil))
		}
		if len(ops) >= maxOps {
			break
		}
	}
	if _, err := s.commit(ctx, nil, ops); err != nil {
		return prereg.Session{}, err
	}
	return in, nil
}

// Session returns the live session whose cookie hashes to h, reading it and
// its token in one linearizable transaction, and records the request (at
// most every prereg.SessionTouchEvery). A session that expired, or whose
// token was revoked through any replica, is deleted and answered not_found.
func (s *Store) Session(ctx context.Context, h [32]byte) (prereg.Session, error) {
	key := s.k(kSess, hashHex(h))
	for {
		now := s.now().UTC()
		cctx, cancel := s.call(ctx)
		resp, err := s.cli.Get(cctx, key)
		cancel()
		if err != nil {
			return prereg.Session{}, translate(err)
		}
		if len(resp.Kvs) == 0 {
			return prereg.Session{}, errNoSession
		}
		kv := resp.Kvs[0]
		var r sessionRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return prereg.Session{}, prereg.Wrap(prereg.Internal, err, "decode session")
		}
		sess := r.session(h)
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)}
		live := !sess.Expired(now)
		if live && sess.TokenID != prereg.BootstrapTokenID {
			// The token must still exist (revoke deletes it) at this
			// transaction's revision, not only at the read above.
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(s.k(kTok, sess.TokenID)), ">", 0))
		}
		var then []clientv3.Op
		if live && sess.NeedsTouch(now) {
			r.LastSeenAt = now.UnixNano()
			then = []clientv3.Op{clientv3.OpPut(key, mustJSON(r))}
		}
		cctx, cancel = s.call(ctx)
		tr, err := s.cli.Txn(cctx).If(cmps...).Then(then...).Else(clientv3.OpGet(key)).Commit()
		cancel()
		if err != nil {
			return prereg.Session{}, translate(err)
		}
		if tr.Succeeded && live {
			if len(then) > 0 {
				sess.LastSeenAt = now
			}
			return sess, nil
		}
		var unchanged bool
		if !tr.Succeeded {
			kvs := tr.Responses[0].GetResponseRange().Kvs
			unchanged = len(kvs) == 1 && kvs[0].ModRevision == kv.ModRevision
		}
		if tr.Succeeded || unchanged {
			// Expired, or its token is gone: end it.
			if err := s.DeleteSession(ctx, h); err != nil {
				return prereg.Session{}, err
			}
			return prereg.Session{}, errNoSession
		}
		if ctx.Err() != nil {
			return prereg.Session{}, translate(ctx.Err())
		}
		// Touched or deleted through another replica meanwhile: read again.
	}
}

// DeleteSession ends the session of h (sign-out) on every replica; ending
// one that is already gone is not an error.
func (s *Store) DeleteSession(ctx context.Context, h [32]byte) error {
	_, err := s.commit(ctx, nil, []clientv3.Op{clientv3.OpDelete(s.k(kSess, hashHex(h)))})
	return err
}
