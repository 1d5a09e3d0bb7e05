package etcdstore

import (
	"encoding/binary"
	"encoding/hex"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// Key spaces under the prefix (doc.go, "Keys"). Parts after a space are
// joined with NUL, which neither organization IDs, user IDs (prereg.Login
// refuses control characters) nor statuses hold.
const (
	kSchema  = "meta/schema"
	kEver    = "meta/tokens_ever" // set when the first token is made
	kSecret  = "secret/"          // name -> value
	kRec     = "rec/"             // prereg.Key -> record
	kOrg     = "org/"             // org \0 status \0 key -> ""
	kUser    = "user/"            // user_id \0 key -> grant
	kExp     = "exp/"             // org \0 expiry(12) key -> "" (pending with an expiry)
	kSync    = "sync/"            // state \0 key -> "" (grants with Auth0 sync)
	kOrgs    = "orgs/"            // org -> "" (every organization ever written)
	kJob     = "job/"             // job id -> job
	kDue     = "due/"             // not-before(12) job id -> ""
	kOwn     = "own/"             // job id -> replica (on its lease)
	kTok     = "tok/"             // token id -> token record
	kTokHash = "tokhash/"         // hex sha256 -> token id
	kImp     = "imp/"             // import id -> report
	kAud     = "aud/"             // ordered id -> audit entry
	kVerify  = "verify/"          // user_id -> unix seconds
	kPing    = "ping/"            // replica -> time of its last probe
	// kSess (sessions.go) holds the console's sessions.
	// kDefrag (defrag.go) announces a member being defragmented.
)

// Stored statuses: expired is pending with a past expiry.
var storedStatuses = []prereg.Status{prereg.StatusPending, prereg.StatusGranted, prereg.StatusRevoked}

// k joins the prefix and parts into a key.
func (s *Store) k(parts ...string) string {
	n := len(s.p)
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	b = append(b, s.p...)
	for _, p := range parts {
		b = append(b, p...)
	}
	return string(b)
}

func (s *Store) recKey(k prereg.Key) string { return s.k(kRec, string(k[:])) }

// stamp encodes t so that keys sort by time: its Unix second with the
// sign bit flipped, then its nanoseconds (every time prereg accepts fits).
func stamp(t time.Time) string {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 12), uint64(t.Unix())^1<<63)
	return string(binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond())))
}

// keyTail returns the registration key a record or index key ends with.
func keyTail(k []byte) (prereg.Key, bool) {
	var out prereg.Key
	if len(k) < prereg.KeySize {
		return out, false
	}
	copy(out[:], k[len(k)-prereg.KeySize:])
	return out, true
}

// end is the end of the range of keys starting with prefix.
func end(prefix string) string { return clientv3.GetPrefixRangeEnd(prefix) }

func hashHex(h [32]byte) string { return hex.EncodeToString(h[:]) }

// mvccKV is a key-value pair as etcd returns it.
type mvccKV = mvccpb.KeyValue
