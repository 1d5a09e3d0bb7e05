package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// sessionRecord is a console session as stored under the SHA-256 of its
// cookie; the cookie's value is never stored.
type sessionRecord struct {
	prereg.Principal
	CSRF       string `json:"csrf"`
	CreatedAt  int64  `json:"created_at"`
	LastSeenAt int64  `json:"last_seen_at"`
}

func (r sessionRecord) session(h []byte) prereg.Session {
	s := prereg.Session{Principal: r.Principal, CSRF: r.CSRF, CreatedAt: time.Unix(0, r.CreatedAt).UTC(), LastSeenAt: time.Unix(0, r.LastSeenAt).UTC()}
	copy(s.Hash[:], h)
	return s
}

// CreateSession stores a new console session, stamped with the store's
// clock, and drops the sessions that have expired (there are few, so the
// sweep rides on sign-ins rather than a timer).
func (s *Store) CreateSession(ctx context.Context, in prereg.Session) (prereg.Session, error) {
	now := s.now().UTC()
	in.CreatedAt, in.LastSeenAt = now, now
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bSessions)
		if err := sweepSessions(b, in); err != nil {
			return err
		}
		return putJSON(b, in.Hash[:], sessionRecord{Principal: in.Principal, CSRF: in.CSRF, CreatedAt: now.UnixNano(), LastSeenAt: now.UnixNano()})
	})
	return in, err
}

// sweepSessions deletes the expired sessions of b, judged at in.CreatedAt.
func sweepSessions(b *bolt.Bucket, in prereg.Session) error {
	var dead [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var r sessionRecord
		if err := json.Unmarshal(v, &r); err != nil || r.session(k).Expired(in.CreatedAt) {
			dead = append(dead, append([]byte(nil), k...))
		}
		return nil
	})
	for _, k := range dead {
		if err == nil {
			err = b.Delete(k)
		}
	}
	return err
}

// Session returns the live session whose cookie hashes to h and records the
// request (at most every prereg.SessionTouchEvery). A session that has
// expired, or whose token was revoked since, is deleted and answered
// not_found: it ends at once.
func (s *Store) Session(ctx context.Context, h [32]byte) (prereg.Session, error) {
	now := s.now().UTC()
	var sess prereg.Session
	found, live := false, false
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		sess, found, live, err = readSession(tx, h, now)
		return err
	})
	if err != nil {
		return prereg.Session{}, err
	}
	if !found {
		return prereg.Session{}, errNoSession
	}
	if live && !sess.NeedsTouch(now) {
		return sess, nil
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		sess, found, live, err = readSession(tx, h, now)
		switch {
		case err != nil || !found:
			return err
		case !live:
			return tx.Bucket(bSessions).Delete(h[:])
		}
		sess.LastSeenAt = now
		return putJSON(tx.Bucket(bSessions), h[:], sessionRecord{Principal: sess.Principal, CSRF: sess.CSRF, CreatedAt: sess.CreatedAt.UnixNano(), LastSeenAt: now.UnixNano()})
	})
	if err != nil {
		return prereg.Session{}, err
	}
	if !found || !live {
		return prereg.Session{}, errNoSession
	}
	return sess, nil
}

var errNoSession = prereg.Errorf(prereg.NotFound, "no such session: it has expired or ended; sign in again")

// readSession reads the session of h and whether it is still live at now:
// not expired, and its token (unless the configured one) still stored.
func readSession(tx *bolt.Tx, h [32]byte, now time.Time) (sess prereg.Session, found, live bool, err error) {
	var r sessionRecord
	found, err = getJSON(tx.Bucket(bSessions), h[:], &r)
	if err != nil || !found {
		return sess, found, false, err
	}
	sess = r.session(h[:])
	if sess.Expired(now) {
		return sess, true, false, nil
	}
	if sess.TokenID != prereg.BootstrapTokenID && tx.Bucket(bTokens).Get([]byte(sess.TokenID)) == nil {
		return sess, true, false, nil
	}
	return sess, true, true, nil
}

// DeleteSession ends the session of h (sign-out); ending one that is
// already gone is not an error.
func (s *Store) DeleteSession(ctx context.Context, h [32]byte) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bSessions).Delete(h[:]); err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		return nil
	})
}
