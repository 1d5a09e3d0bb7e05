package boltstore

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// Record versions and section tags: see "Keys and records" in doc.go.
const (
	recordV1 = 1
	recordV2 = 2
	// tagSyncedRoles is followed by the role IDs the grant's sync assigned.
	tagSyncedRoles = 'R'
)

// timePtr reads recordV1's optional time: Unix nanoseconds, 0 for none.
func timePtr(n int64) *time.Time {
	if n == 0 {
		return nil
	}
	t := time.Unix(0, n).UTC()
	return &t
}

func encodeReg(r *prereg.Registration) ([]byte, error) {
	n := 48
	for _, s := range []string{r.ID, r.Email, r.OrganizationID, r.Connection, r.GrantedTo, r.Source, r.SyncError} {
		n += len(s) + 2
	}
	for _, role := range r.Roles {
		n += len(role) + 2
	}
	b := make([]byte, 0, n)
	b = append(b, recordV2)
	str := func(s string) { b = appendString(b, s) }
	str(r.ID)
	str(r.Email)
	str(r.OrganizationID)
	b = appendRoles(b, r.Roles)
	str(r.Connection)
	str(string(r.Status))
	str(r.GrantedTo)
	str(r.Source)
	str(string(r.Sync))
	str(r.SyncError)
	b = appendOptTime(b, r.ExpiresAt)
	b = appendOptTime(b, r.GrantedAt)
	b = appendTime(b, r.CreatedAt)
	b = appendTime(b, r.UpdatedAt)
	if r.SyncedRoleIDs != nil {
		b = appendRoles(append(b, tagSyncedRoles), r.SyncedRoleIDs)
	}
	return b, nil
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func appendOptTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, 0)
	}
	return appendTime(append(b, 1), *t)
}

var errBadRecord = errors.New("malformed record")

// recordReader reads the binary form; the first error sticks.
type recordReader struct {
	b   []byte
	err error
}

func (d *recordReader) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordReader) varint() int64 {
	// binary.Varint's zigzag form, read as the uvarint it is.
	u := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

// time reads appendTime's form, in UTC.
func (d *recordReader) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if nsec >= uint64(time.Second) && d.err == nil {
		d.err = errBadRecord
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// optTime reads appendOptTime's form.
func (d *recordReader) optTime() *time.Time {
	if d.err != nil || len(d.b) == 0 {
		d.err = errBadRecord
		return nil
	}
	present := d.b[0]
	d.b = d.b[1:]
	switch present {
	case 0:
		return nil
	case 1:
		t := d.time()
		return &t
	}
	d.err = errBadRecord
	return nil
}

func (d *recordReader) str() string {
	return string(d.view()) // copies: bbolt's bytes live only in the transaction
}

// view reads a string's bytes without copying them.
func (d *recordReader) view() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errBadRecord
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func decodeReg(raw []byte) (*prereg.Registration, error) {
	if len(raw) == 0 || raw[0] != recordV1 && raw[0] != recordV2 {
		return nil, errBadRecord
	}
	d := &recordReader{b: raw[1:]}
	r := &prereg.Registration{ID: d.str(), Email: d.str(), OrganizationID: d.str()}
	r.Roles = d.roles()
	r.Connection = d.str()
	r.Status = prereg.Status(d.str())
	r.GrantedTo = d.str()
	r.Source = d.str()
	r.Sync = prereg.SyncState(d.str())
	r.SyncError = d.str()
	if raw[0] == recordV1 {
		r.ExpiresAt = timePtr(d.varint())
		r.GrantedAt = timePtr(d.varint())
		r.CreatedAt = time.Unix(0, d.varint()).UTC()
		r.UpdatedAt = time.Unix(0, d.varint()).UTC()
	} else {
		r.ExpiresAt = d.optTime()
		r.GrantedAt = d.optTime()
		r.CreatedAt = d.time()
		r.UpdatedAt = d.time()
	}
	d.sections(r)
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

// sections reads the optional sections; an unknown tag is an error.
func (d *recordReader) sections(r *prereg.Registration) {
	for d.err == nil && len(d.b) > 0 {
		tag := d.b[0]
		d.b = d.b[1:]
		switch tag {
		case tagSyncedRoles:
			r.SyncedRoleIDs = d.roles()
		default:
			d.err = errBadRecord
		}
	}
}

// encodeGrant is a grant as the user index carries it: what the login
// hook answers about it (ID, organization, roles, sync state), in the
// record's binary form.
func encodeGrant(r *prereg.Registration) []byte {
	n := 8 + len(r.ID) + len(r.OrganizationID) + len(r.Sync)
	for _, role := range r.Roles {
		n += len(role) + 2
	}
	b := append(make([]byte, 0, n), recordV1)
	b = appendString(b, r.ID)
	b = appendString(b, r.OrganizationID)
	b = appendRoles(b, r.Roles)
	return appendString(b, string(r.Sync))
}

// decodeGrant reads encodeGrant's form back as a granted registration of
// userID with the fields the hook answers with.
func decodeGrant(raw []byte, userID string) (*prereg.Registration, error) {
	if len(raw) == 0 || raw[0] != recordV1 {
		return nil, errBadRecord
	}
	d := &recordReader{b: raw[1:]}
	r := &prereg.Registration{ID: d.str(), OrganizationID: d.str(), Status: prereg.StatusGranted, GrantedTo: userID}
	r.Roles = d.roles()
	r.Sync = prereg.SyncState(d.str())
	if d.err != nil || len(d.b) != 0 {
		return nil, errBadRecord
	}
	return r, nil
}

// grantInOrg reports whether the grant encodeGrant wrote as raw belongs to
// organization org, reading its first two fields in place. An entry it
// cannot read counts as a match, so that reading its record reports it.
func grantInOrg(raw []byte, org string) bool {
	if len(raw) == 0 || raw[0] != recordV1 {
		return true
	}
	d := &recordReader{b: raw[1:]}
	d.view() // the registration ID
	o := d.view()
	return d.err != nil || string(o) == org
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendRoles(b []byte, roles []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(roles)))
	for _, role := range roles {
		b = appendString(b, role)
	}
	return b
}

// roles reads appendRoles's form.
func (d *recordReader) roles() []string {
	count := d.uvarint()
	if d.err != nil {
		return nil
	}
	if count > uint64(len(d.b)) { // each role takes a byte at least
		d.err = errBadRecord
		return nil
	}
	out := make([]string, 0, count)
	for i := uint64(0); i < count && d.err == nil; i++ {
		out = append(out, d.str())
	}
	return out
}
