package boltstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// tokenRecord is a token as stored: the secret only as its SHA-256.
// A token revoked here is deleted; one loaded revoked from another store
// (which may keep them) is kept, marked, without its hash index entry.
type tokenRecord struct {
	prereg.Token
	Hash    string `json:"hash"`
	Revoked bool   `json:"revoked,omitempty"`
}

// CreateToken stores a new admin token and returns it with its secret,
// which is never stored or shown again; req must be normalised and valid.
func (s *Store) CreateToken(ctx context.Context, req prereg.TokenRequest, actor string) (prereg.Token, string, error) {
	name, org, readOnly := req.Name, req.OrganizationID, req.ReadOnly
	secret := prereg.NewSecret(prereg.TokenPrefix)
	h := prereg.HashSecret(secret)
	var tok prereg.Token
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bTokens)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		now := s.now().UTC()
		tok = prereg.Token{ID: fmt.Sprintf("tok_%08x", seq), Name: name, OrganizationID: org, ReadOnly: readOnly, CreatedAt: now}
		if err := putJSON(b, []byte(tok.ID), tokenRecord{Token: tok, Hash: hex.EncodeToString(h[:])}); err != nil {
			return err
		}
		if err := tx.Bucket(bTokenHash).Put(h[:], []byte(tok.ID)); err != nil {
			return err
		}
		mode := "read-write"
		if readOnly {
			mode = "read-only"
		}
		scope := "tenant-wide"
		if org != "" {
			scope = "organization " + org
		}
		return addAudit(tx, now, actor, prereg.AuditTokenCreated, org, "", fmt.Sprintf("token %s (%q, %s, %s) created", tok.ID, name, scope, mode))
	})
	return tok, secret, err
}

// Tokens lists the tokens, never their secrets.
func (s *Store) Tokens(ctx context.Context) ([]prereg.Token, error) {
	out := []prereg.Token{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bTokens).ForEach(func(k, v []byte) error {
			var r tokenRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode token %s: %w", k, err)
			}
			if !r.Revoked {
				out = append(out, r.Token)
			}
			return nil
		})
	})
	return out, err
}

// RevokeToken deletes a token; it stops working at once.
func (s *Store) RevokeToken(ctx context.Context, id, actor string) (prereg.Token, error) {
	var tok prereg.Token
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bTokens)
		var r tokenRecord
		ok, err := getJSON(b, []byte(id), &r)
		if err != nil {
			return err
		}
		if !ok || r.Revoked {
			return prereg.Errorf(prereg.NotFound, "no token %s", prereg.Truncate(id))
		}
		h, err := hex.DecodeString(r.Hash)
		if err != nil {
			return fmt.Errorf("token %s hash: %w", id, err)
		}
		if err := tx.Bucket(bTokenHash).Delete(h); err != nil {
			return err
		}
		if err := b.Delete([]byte(id)); err != nil {
			return err
		}
		tok = r.Token
		return addAudit(tx, s.now(), actor, prereg.AuditTokenRevoked, r.OrganizationID, "", fmt.Sprintf("token %s (%q) revoked", id, r.Name))
	})
	return tok, err
}

// Authenticate finds the token whose secret hashes to h. The lookup is by
// hash, so timing reveals nothing about the secret.
func (s *Store) Authenticate(ctx context.Context, h [32]byte) (prereg.Token, bool, error) {
	var tok prereg.Token
	found := false
	err := s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bTokenHash).Get(h[:])
		if id == nil {
			return nil
		}
		var r tokenRecord
		ok, err := getJSON(tx.Bucket(bTokens), id, &r)
		if err != nil || !ok || r.Revoked {
			return err
		}
		tok, found = r.Token, true
		return nil
	})
	if err == nil && found {
		s.touch(tok.ID)
	}
	return tok, found, err
}

// touch records last use, at most once a minute per token and off the
// request path: a login storm must not turn into a write storm.
func (s *Store) touch(id string) {
	now := s.now()
	s.touchMu.Lock()
	last, ok := s.touched[id]
	if ok && now.Sub(last) < time.Minute {
		s.touchMu.Unlock()
		return
	}
	s.touched[id] = now
	s.touchMu.Unlock()
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		_ = s.update(context.Background(), func(tx *bolt.Tx) error {
			b := tx.Bucket(bTokens)
			var r tokenRecord
			ok, err := getJSON(b, []byte(id), &r)
			if err != nil || !ok {
				return err
			}
			t := now.UTC()
			r.LastUsedAt = &t
			return putJSON(b, []byte(id), r)
		})
	}()
}

// Generated secrets kept in the meta bucket on first start.
var (
	keyHookSecretHash = []byte("generated_hook_secret_sha256")
)

// Bootstrap makes sure a first run needs no set-up: as o asks, it creates
// a hook secret and a tenant-wide admin token once, stores only their
// hashes, and returns the secrets (empty when they already existed).
func (s *Store) Bootstrap(ctx context.Context, o prereg.BootstrapOptions) (hookSecret, adminToken string, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if o.HookSecret && meta.Get(keyHookSecretHash) == nil {
			hookSecret = prereg.NewSecret(prereg.HookSecretPrefix)
			h := prereg.HashSecret(hookSecret)
			if err := meta.Put(keyHookSecretHash, h[:]); err != nil {
				return err
			}
		}
		if o.AdminToken && tx.Bucket(bTokens).Stats().KeyN == 0 && tx.Bucket(bTokens).Sequence() == 0 {
			adminToken = prereg.NewSecret(prereg.TokenPrefix)
			h := prereg.HashSecret(adminToken)
			b := tx.Bucket(bTokens)
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			now := s.now().UTC()
			tok := prereg.Token{ID: fmt.Sprintf("tok_%08x", seq), Name: "bootstrap", CreatedAt: now}
			if err := putJSON(b, []byte(tok.ID), tokenRecord{Token: tok, Hash: hex.EncodeToString(h[:])}); err != nil {
				return err
			}
			if err := tx.Bucket(bTokenHash).Put(h[:], []byte(tok.ID)); err != nil {
				return err
			}
			return addAudit(tx, now, "bootstrap", prereg.AuditTokenCreated, "", "", fmt.Sprintf("token %s (\"bootstrap\", tenant-wide, read-write) generated at first start", tok.ID))
		}
		return nil
	})
	return hookSecret, adminToken, err
}

// GeneratedHookSecret returns the hash of the hook secret generated at the
// first start, if any.
func (s *Store) GeneratedHookSecret(ctx context.Context) ([]byte, error) {
	var h []byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if v := tx.Bucket(bMeta).Get(keyHookSecretHash); v != nil {
			h = append([]byte(nil), v...)
		}
		return nil
	})
	return h, err
}
