package importer

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// A record is how pass 1 keeps a good row in the temporary file for pass
// 2: the normalised prereg.Input, and nothing else (the row's line and key
// are in its entry). Its layout:
//
//	uvarint len, email bytes
//	uvarint len, organization_id bytes
//	uvarint len, connection bytes
//	uvarint number of roles, then per role: uvarint len, bytes
//	byte 0: no expiry; byte 1: expiry, varint Unix seconds, uvarint nanoseconds (UTC)
//
// Seconds and nanoseconds rather than UnixNano, which overflows outside
// the years 1678 to 2262 and RFC 3339 allows years 0000 to 9999.

// appendRecord appends the record of in to b.
func appendRecord(b []byte, in *prereg.Input) []byte {
	b = appendString(b, in.Email)
	b = appendString(b, in.OrganizationID)
	b = appendString(b, in.Connection)
	b = binary.AppendUvarint(b, uint64(len(in.Roles)))
	for _, r := range in.Roles {
		b = appendString(b, r)
	}
	if in.ExpiresAt == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, in.ExpiresAt.Unix())
	return binary.AppendUvarint(b, uint64(in.ExpiresAt.Nanosecond()))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errBadRecord = errors.New("malformed record")

// decodeRecord reads back a record made by appendRecord. The strings it
// returns share one allocation, a copy of rec: rec may be reused.
func decodeRecord(rec []byte) (prereg.Input, error) {
	d := recordDecoder{b: rec, s: string(rec)}
	in := prereg.Input{
		Email:          d.string(),
		OrganizationID: d.string(),
		Connection:     d.string(),
	}
	n := d.uvarint()
	if n > uint64(len(rec)) { // each role takes a byte at least
		return prereg.Input{}, errBadRecord
	}
	in.Roles = make([]string, n)
	for i := range in.Roles {
		in.Roles[i] = d.string()
	}
	if d.pos >= len(rec) {
		return prereg.Input{}, errBadRecord
	}
	hasExpiry := rec[d.pos]
	d.pos++
	if hasExpiry == 1 {
		sec := d.varint()
		nsec := d.uvarint()
		if nsec >= uint64(time.Second) {
			d.bad = true
		}
		t := time.Unix(sec, int64(nsec)).UTC()
		in.ExpiresAt = &t
	} else if hasExpiry != 0 {
		d.bad = true
	}
	if d.bad || d.pos != len(rec) {
		return prereg.Input{}, errBadRecord
	}
	return in, nil
}

// recordDecoder reads a record's fields in order: b is the record, s the
// same bytes as a string to slice the fields from, pos the read position;
// bad is set, and the position stops moving, at the first malformed field.
type recordDecoder struct {
	b   []byte
	s   string
	pos int
	bad bool
}

func (d *recordDecoder) uvarint() uint64 {
	if d.bad {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.pos:])
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.pos += n
	return v
}

func (d *recordDecoder) varint() int64 {
	// binary.Varint's zigzag form, read as the uvarint it is.
	u := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (d *recordDecoder) string() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)-d.pos) {
		d.bad = true
		return ""
	}
	s := d.s[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return s
}
