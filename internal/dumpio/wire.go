package dumpio

import (
	"fmt"

	"github.com/prereg/prereg/internal/prereg"
)

// header is the first line of every stream; Sniff looks for its start.
type header struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
}

const (
	formatName = "prereg-dump"
	version    = 1
	endKind    = "end"
)

// line is every line after the header: one item, or the end line.
type line struct {
	Kind         string               `json:"kind"`
	Secret       *secret              `json:"secret,omitempty"`
	Token        *token               `json:"token,omitempty"`
	Registration *registration        `json:"registration,omitempty"`
	Job          *prereg.SyncJob      `json:"job,omitempty"`
	Import       *prereg.ImportReport `json:"import,omitempty"`
	Audit        *prereg.AuditEntry   `json:"audit,omitempty"`
	Counts       prereg.DumpCounts    `json:"counts,omitempty"`
}

// secret gives prereg.Secret the stream's field names.
type secret struct {
	Name  string `json:"name"`
	Value []byte `json:"value"`
}

// token carries the hash as base64 (a [32]byte would be 32 numbers).
type token struct {
	prereg.Token
	Hash    []byte `json:"hash"`
	Revoked bool   `json:"revoked,omitempty"`
}

// registration keeps SyncedRoleIDs, which prereg.Registration leaves out
// of its JSON (the API does not show them).
type registration struct {
	plainRegistration
	SyncedRoleIDs []string `json:"synced_role_ids,omitempty"`
}

type plainRegistration prereg.Registration

func toLine(it prereg.DumpItem) (line, error) {
	l := line{Kind: string(it.Kind)}
	if set := count(it.Secret != nil, it.Token != nil, it.Registration != nil, it.Job != nil, it.Import != nil, it.Audit != nil); set != 1 {
		return l, fmt.Errorf("dump item of kind %q has %d payloads, want exactly 1", it.Kind, set)
	}
	ok := false
	switch it.Kind {
	case prereg.DumpSecret:
		if ok = it.Secret != nil; ok {
			l.Secret = &secret{it.Secret.Name, it.Secret.Value}
		}
	case prereg.DumpToken:
		if ok = it.Token != nil; ok {
			l.Token = &token{Token: it.Token.Token, Hash: it.Token.Hash[:], Revoked: it.Token.Revoked}
		}
	case prereg.DumpRegistration:
		if ok = it.Registration != nil; ok {
			l.Registration = &registration{plainRegistration(*it.Registration), it.Registration.SyncedRoleIDs}
		}
	case prereg.DumpJob:
		l.Job, ok = it.Job, it.Job != nil
	case prereg.DumpImport:
		l.Import, ok = it.Import, it.Import != nil
	case prereg.DumpAudit:
		l.Audit, ok = it.Audit, it.Audit != nil
	default:
		return l, fmt.Errorf("unknown dump kind %q", it.Kind)
	}
	if !ok {
		return l, fmt.Errorf("dump item of kind %q lacks its payload", it.Kind)
	}
	return l, nil
}

// item turns a decoded line back into an item, checking that exactly the
// payload of its kind is there.
func (l *line) item() (prereg.DumpItem, error) {
	it := prereg.DumpItem{Kind: prereg.DumpKind(l.Kind)}
	set := count(l.Secret != nil, l.Token != nil, l.Registration != nil, l.Job != nil, l.Import != nil, l.Audit != nil, l.Counts != nil)
	var ok bool
	switch it.Kind {
	case prereg.DumpSecret:
		if ok = l.Secret != nil; ok {
			if l.Secret.Name == "" {
				return it, fmt.Errorf("secret without a name")
			}
			it.Secret = &prereg.Secret{Name: l.Secret.Name, Value: l.Secret.Value}
		}
	case prereg.DumpToken:
		if ok = l.Token != nil; ok {
			if len(l.Token.Hash) != 32 {
				return it, fmt.Errorf("token %q: hash of %d bytes, want 32", l.Token.ID, len(l.Token.Hash))
			}
			t := &prereg.StoredToken{Token: l.Token.Token, Revoked: l.Token.Revoked}
			copy(t.Hash[:], l.Token.Hash)
			it.Token = t
		}
	case prereg.DumpRegistration:
		if ok = l.Registration != nil; ok {
			r := prereg.Registration(l.Registration.plainRegistration)
			r.SyncedRoleIDs = l.Registration.SyncedRoleIDs
			it.Registration = &r
		}
	case prereg.DumpJob:
		it.Job, ok = l.Job, l.Job != nil
	case prereg.DumpImport:
		it.Import, ok = l.Import, l.Import != nil
	case prereg.DumpAudit:
		it.Audit, ok = l.Audit, l.Audit != nil
	default:
		return it, fmt.Errorf("unknown kind %q", l.Kind)
	}
	if !ok || set != 1 {
		return it, fmt.Errorf("a %s line must hold exactly the %q object", l.Kind, l.Kind)
	}
	return it, nil
}

// kindRank is a kind's place in prereg.DumpKinds, or -1.
func kindRank(k prereg.DumpKind) int {
	for i, kk := range prereg.DumpKinds {
		if kk == k {
			return i
		}
	}
	return -1
}

func count(present ...bool) int {
	n := 0
	for _, p := range present {
		if p {
			n++
		}
	}
	return n
}
