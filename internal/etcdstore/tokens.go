package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// tokenRecord is a token as stored: the secret only as its SHA-256.
type tokenRecord struct {
	prereg.Token
	Hash string `json:"hash"`
}

// tokenOps are the operations that store a new token with its hash and
// mark that the store has held a token.
func (s *Store) tokenOps(tok prereg.Token, h [32]byte) []clientv3.Op {
	return []clientv3.Op{
		clientv3.OpPut(s.k(kTok, tok.ID), mustJSON(tokenRecord{Token: tok, Hash: hashHex(h)})),
		clientv3.OpPut(s.k(kTokHash, hashHex(h)), tok.ID),
		clientv3.OpPut(s.k(kEver), "1"),
	}
}

// CreateToken stores a new admin token and returns it with its secret,
// which is never stored or shown again; req must be normalised and valid.
func (s *Store) CreateToken(ctx context.Context, req prereg.TokenRequest, actor string) (prereg.Token, string, error) {
	secret := prereg.NewSecret(prereg.TokenPrefix)
	h := prereg.HashSecret(secret)
	now := s.now().UTC()
	tok := prereg.Token{ID: "tok_" + s.orderedID(), Name: req.Name, OrganizationID: req.OrganizationID, ReadOnly: req.ReadOnly, CreatedAt: now}
	mode := "read-write"
	if req.ReadOnly {
		mode = "read-only"
	}
	scope := "tenant-wide"
	if req.OrganizationID != "" {
		scope = "organization " + req.OrganizationID
	}
	ops := append(s.tokenOps(tok, h), s.auditOp(now, actor, prereg.AuditTokenCreated, req.OrganizationID, "", fmt.Sprintf("token %s (%q, %s, %s) created", tok.ID, req.Name, scope, mode)))
	if _, err := s.commit(ctx, nil, ops); err != nil {
		return prereg.Token{}, "", err
	}
	return tok, secret, nil
}

// Tokens lists the tokens, never their secrets.
func (s *Store) Tokens(ctx context.Context) ([]prereg.Token, error) {
	out := []prereg.Token{}
	err := s.eachKV(ctx, s.k(kTok), 0, func(kv *mvccKV) error {
		var r tokenRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return fmt.Errorf("decode token %s: %w", kv.Key, err)
		}
		out = append(out, r.Token)
		return nil
	})
	return out, err
}

// RevokeToken deletes a token; it stops working at once, on every
// replica (every authentication reads etcd).
func (s *Store) RevokeToken(ctx context.Context, id, actor string) (prereg.Token, error) {
	var r tokenRecord
	ok, mod, err := s.getJSON(ctx, s.k(kTok, id), &r)
	if err != nil {
		return prereg.Token{}, err
	}
	if !ok {
		return prereg.Token{}, prereg.Errorf(prereg.NotFound, "no token %s", prereg.Truncate(id))
	}
	ops := []clientv3.Op{
		clientv3.OpDelete(s.k(kTokHash, r.Hash)),
		clientv3.OpDelete(s.k(kTok, id)),
		s.auditOp(s.now(), actor, prereg.AuditTokenRevoked, r.OrganizationID, "", fmt.Sprintf("token %s (%q) revoked", id, r.Name)),
	}
	_, err = s.commit(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.k(kTok, id)), "=", mod)}, ops)
	if err == errRetry {
		// Changed meanwhile (its last use noted): revoke what is there.
		return s.RevokeToken(ctx, id, actor)
	}
	return r.Token, err
}

// Authenticate finds the token whose secret hashes to h, with a
// linearizable read: a token revoked through any replica is refused at
// once.
func (s *Store) Authenticate(ctx context.Context, h [32]byte) (prereg.Token, bool, error) {
	cctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.cli.Get(cctx, s.k(kTokHash, hashHex(h)))
	if err != nil || len(resp.Kvs) == 0 {
		return prereg.Token{}, false, translate(err)
	}
	var r tokenRecord
	ok, _, err := s.getJSON(ctx, s.k(kTok, string(resp.Kvs[0].Value)), &r)
	if err != nil || !ok {
		return prereg.Token{}, false, err
	}
	s.touch(r.ID)
	return r.Token, true, nil
}

// touch records last use, at most once a minute per token and replica
// and off the request path.
func (s *Store) touch(id string) {
	now := s.now()
	s.touchMu.Lock()
	last, ok := s.touched[id]
	if (ok && now.Sub(last) < time.Minute) || s.closed.Load() {
		s.touchMu.Unlock()
		return
	}
	s.touched[id] = now
	s.bg.Add(1)
	s.touchMu.Unlock()
	go func() {
		defer s.bg.Done()
		ctx := context.Background()
		var r tokenRecord
		ok, mod, err := s.getJSON(ctx, s.k(kTok, id), &r)
		if err != nil || !ok {
			return
		}
		t := now.UTC()
		r.LastUsedAt = &t
		_, _ = s.commit(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.k(kTok, id)), "=", mod)},
			[]clientv3.Op{clientv3.OpPut(s.k(kTok, id), mustJSON(r))})
	}()
}

// secretHookHash names the hash of the hook secret generated at a first
// start.
const secretHookHash = "generated_hook_secret_sha256"

// Bootstrap makes sure a first run needs no set-up: as o asks, it creates
// a hook secret and a tenant-wide admin token once for the whole cluster
// (each a create-if-absent transaction, so of replicas starting together
// one generates it and the others nothing), stores only their hashes, and
// returns the secrets (empty when they already existed).
func (s *Store) Bootstrap(ctx context.Context, o prereg.BootstrapOptions) (hookSecret, adminToken string, err error) {
	if o.HookSecret {
		secret := prereg.NewSecret(prereg.HookSecretPrefix)
		h := prereg.HashSecret(secret)
		k := s.k(kSecret, secretHookHash)
		_, err := s.commit(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), "=", 0)}, []clientv3.Op{clientv3.OpPut(k, string(h[:]))})
		switch err {
		case nil:
			hookSecret = secret
		case errRetry:
		default:
			return "", "", err
		}
	}
	if o.AdminToken {
		secret := prereg.NewSecret(prereg.TokenPrefix)
		h := prereg.HashSecret(secret)
		now := s.now().UTC()
		tok := prereg.Token{ID: "tok_" + s.orderedID(), Name: "bootstrap", CreatedAt: now}
		ops := append(s.tokenOps(tok, h), s.auditOp(now, "bootstrap", prereg.AuditTokenCreated, "", "", fmt.Sprintf("token %s (\"bootstrap\", tenant-wide, read-write) generated at first start", tok.ID)))
		_, err := s.commit(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(s.k(kEver)), "=", 0)}, ops)
		switch err {
		case nil:
			adminToken = secret
		case errRetry:
		default:
			return hookSecret, "", err
		}
	}
	return hookSecret, adminToken, nil
}

// GeneratedHookSecret returns the hash of the hook secret generated at the
// first start, if any.
func (s *Store) GeneratedHookSecret(ctx context.Context) ([]byte, error) {
	cctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.cli.Get(cctx, s.k(kSecret, secretHookHash))
	if err != nil || len(resp.Kvs) == 0 {
		return nil, translate(err)
	}
	return resp.Kvs[0].Value, nil
}
