// Package webhook verifies (and, for tests and tools, produces) Standard
// Webhooks signatures on the login hook: an HMAC-SHA256 over
// "<webhook-id>.<webhook-timestamp>.<raw body>", keyed with the base64 part of
// a "whsec_" secret, sent as space-separated "v1,<base64>" entries.
//
// The Verifier refuses stale and future timestamps and replays of a
// webhook-id within the tolerance window. It never logs and never puts a
// secret or a signature into an error message.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// Header names of the Standard Webhooks specification. net/http
// canonicalises them, so the lowercase spelling used on the wire matches.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every secret in its textual form.
const SecretPrefix = "whsec_"

// Key sizes. The specification asks for keys of 24 to 64 bytes; ParseSecret
// enforces exactly that range, so its own test vector (a 24-byte key) and keys
// minted by other Standard Webhooks tools are accepted. StrongKeyLen is what
// GenerateSecret produces and what the service should demand at start unless
// the operator explicitly asks for insecure development mode.
const (
	MinKeyLen    = 24
	MaxKeyLen    = 64
	StrongKeyLen = 32
)

// Bounds on the headers, checked before any work is done, so that a hostile
// caller cannot make verification expensive.
const (
	// MaxIDLen bounds webhook-id. Producers use short ids such as
	// "msg_<27 chars>" or a UUID.
	MaxIDLen = 256
	// MaxSignatureHeaderLen bounds webhook-signature: room for 16 entries
	// of "v1,<44 base64 chars>" (an HMAC-SHA256 entry is 47 bytes).
	MaxSignatureHeaderLen = 1024
	// MaxSignatures bounds the number of entries in webhook-signature; more
	// than a handful only happens during a long rotation or an attack.
	MaxSignatures = 16
	// maxTimestampLen: Unix seconds fit in 11 digits until the year 5138.
	maxTimestampLen = 12
)

// DefaultTolerance is how far webhook-timestamp may be from the local clock,
// in either direction (CONTRACT §2: five minutes).
const DefaultTolerance = 5 * time.Minute

// DefaultMaxIDs bounds the replay cache when Verifier.MaxIDs is zero. An
// entry is a fixed-size keyed digest of the id and its expiry, whatever the
// id's length, and stays until its timestamp leaves the window (about
// Tolerance, at most twice that): the default holds a sustained rate of
// several hundred signed hooks per second in little memory.
const DefaultMaxIDs = 1 << 18

// Errors returned by Verify. Each is a *prereg.Error with code Unauthorized
// (ErrReplayCacheFull: Unavailable) and a message naming the failed check;
// compare with errors.Is. They are shared values: do not modify them.
var (
	ErrMissingHeaders  = prereg.Errorf(prereg.Unauthorized, "webhook signature: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrBadID           = prereg.Errorf(prereg.Unauthorized, "webhook signature: malformed webhook-id (1 to %d printable ASCII characters, no spaces or dots)", MaxIDLen)
	ErrBadTimestamp    = prereg.Errorf(prereg.Unauthorized, "webhook signature: malformed webhook-timestamp (Unix time in whole seconds)")
	ErrBadSignature    = prereg.Errorf(prereg.Unauthorized, "webhook signature: malformed webhook-signature header (space-separated v1,<base64> entries, at most %d)", MaxSignatures)
	ErrStale           = prereg.Errorf(prereg.Unauthorized, "webhook signature: webhook-timestamp too old")
	ErrFuture          = prereg.Errorf(prereg.Unauthorized, "webhook signature: webhook-timestamp too far in the future")
	ErrNoMatch         = prereg.Errorf(prereg.Unauthorized, "webhook signature: no signature matches")
	ErrReplay          = prereg.Errorf(prereg.Unauthorized, "webhook signature: webhook-id already seen (replay)")
	ErrNoSecrets       = prereg.Errorf(prereg.Unauthorized, "webhook signature: no signing secret configured")
	ErrReplayCacheFull = prereg.Errorf(prereg.Unavailable, "webhook signature: too many recent webhook ids to check for replays, try again later")
)

// ParseSecret decodes a "whsec_<base64>" secret into the HMAC key. The key
// must decode to MinKeyLen..MaxKeyLen bytes. Errors are *prereg.Error with
// code Invalid and never repeat the secret.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, SecretPrefix) {
		return nil, prereg.Errorf(prereg.Invalid, "signing secret must start with %q followed by base64 (generate one with: echo %s$(openssl rand -base64 %d))", SecretPrefix, SecretPrefix, StrongKeyLen)
	}
	enc := s[len(SecretPrefix):]
	if len(enc) > base64.StdEncoding.EncodedLen(MaxKeyLen) {
		return nil, prereg.Errorf(prereg.Invalid, "signing secret is longer than %d bytes", MaxKeyLen)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		// Some tools strip the padding; accept that spelling too.
		key, err = base64.RawStdEncoding.DecodeString(enc)
	}
	if err != nil {
		return nil, prereg.Errorf(prereg.Invalid, "signing secret: the part after %q is not valid base64", SecretPrefix)
	}
	if len(key) < MinKeyLen || len(key) > MaxKeyLen {
		return nil, prereg.Errorf(prereg.Invalid, "signing secret decodes to %d bytes; it must be %d to %d bytes (generate one with: echo %s$(openssl rand -base64 %d))", len(key), MinKeyLen, MaxKeyLen, SecretPrefix, StrongKeyLen)
	}
	return key, nil
}

// ParseSecrets parses a comma-separated list of secrets (the form of
// --signing-secrets), skipping empty items. Errors name the item's position,
// never its value.
func ParseSecrets(list string) ([][]byte, error) {
	var keys [][]byte
	for i, item := range strings.Split(list, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, err := ParseSecret(item)
		if err != nil {
			e := *err.(*prereg.Error)
			e.Message = fmt.Sprintf("secret #%d: %s", i+1, e.Message)
			return nil, &e
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// GenerateSecret returns a fresh random secret of StrongKeyLen bytes in its
// "whsec_" form.
func GenerateSecret() (string, error) {
	key := make([]byte, StrongKeyLen)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("generate signing secret: %w", err)
	}
	return FormatSecret(key), nil
}

// FormatSecret is the inverse of ParseSecret.
func FormatSecret(key []byte) string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// Sign returns the webhook-signature header value ("v1,<base64>") for one
// message, as a sender computes it.
func Sign(secret []byte, id string, ts time.Time, body []byte) string {
	m := &macState{h: hmac.New(sha256.New, secret)}
	sum := m.sum(id, strconv.FormatInt(ts.Unix(), 10), body)
	return "v1," + base64.StdEncoding.EncodeToString(sum)
}

// macState is one reusable HMAC computation with its scratch space, so that
// verifying allocates nothing once the pool is warm.
type macState struct {
	h   hash.Hash
	pre []byte // "<id>.<timestamp>."
	out [sha256.Size]byte
}

func (m *macState) sum(id, ts string, body []byte) []byte {
	m.pre = append(m.pre[:0], id...)
	m.pre = append(m.pre, '.')
	m.pre = append(m.pre, ts...)
	m.pre = append(m.pre, '.')
	m.h.Reset()
	// hash.Hash writes never fail.
	_, _ = m.h.Write(m.pre)
	_, _ = m.h.Write(body)
	return m.h.Sum(m.out[:0])
}

// Verifier checks signed hook requests. Secrets holds every currently valid
// key (rotation: a signature under any of them is accepted). The zero values
// of the other fields mean: DefaultTolerance, time.Now, DefaultMaxIDs.
//
// A Verifier is safe for concurrent use; it must not be copied after first
// use, and Secrets must not be changed after first use (build a new Verifier
// to rotate; ids seen by the old one are then forgotten, so swap them only at
// restart or accept that window).
type Verifier struct {
	Secrets   [][]byte
	Tolerance time.Duration
	Now       func() time.Time
	// MaxIDs caps the replay cache. When it is full of ids that are still
	// inside the window, Verify refuses with ErrReplayCacheFull (code
	// Unavailable) rather than forget one: forgetting would let that id be
	// replayed. Only validly signed requests are remembered, so filling the
	// cache takes the secret, not just traffic.
	MaxIDs int

	once  sync.Once
	pools []sync.Pool // one per secret: reusable HMAC states

	mu   sync.Mutex
	seen replayCache
}

func (v *Verifier) init() {
	v.pools = make([]sync.Pool, len(v.Secrets))
	for i, key := range v.Secrets {
		key := key
		v.pools[i].New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	}
	v.seen.init()
}

func (v *Verifier) tolerance() time.Duration {
	if v.Tolerance > 0 {
		return v.Tolerance
	}
	return DefaultTolerance
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) maxIDs() int {
	if v.MaxIDs > 0 {
		return v.MaxIDs
	}
	return DefaultMaxIDs
}

// Remembered returns how many webhook-ids the replay cache holds that are
// still inside the window, for metrics.
func (v *Verifier) Remembered() int {
	v.once.Do(v.init)
	now := v.now().Unix()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen.expire(now)
	return v.seen.len()
}

// VerifyRequest is Verify with the three values read from HTTP headers.
func (v *Verifier) VerifyRequest(h http.Header, body []byte) error {
	return v.Verify(h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature), body)
}

// Verify checks one request: header syntax, then the timestamp window, then
// the signature (constant-time, against every secret), and only then records
// the id, refusing it if it was seen within the window. The checks run in
// that order so that an unsigned request can neither fill nor probe the
// replay cache.
func (v *Verifier) Verify(id, timestamp, signatureHeader string, body []byte) error {
	v.once.Do(v.init)
	if id == "" || timestamp == "" || signatureHeader == "" {
		return ErrMissingHeaders
	}
	if !validID(id) {
		return ErrBadID
	}
	ts, ok := parseTimestamp(timestamp)
	if !ok {
		return ErrBadTimestamp
	}
	if len(signatureHeader) > MaxSignatureHeaderLen {
		return ErrBadSignature
	}
	var sigs sigList
	if !sigs.parse(signatureHeader) {
		return ErrBadSignature
	}
	if len(v.Secrets) == 0 {
		return ErrNoSecrets
	}

	now := v.now()
	tol := v.tolerance()
	nowUnix := now.Unix()
	// Compare in whole seconds, as the header is: a timestamp exactly
	// Tolerance away is still accepted.
	tolSec := int64(tol / time.Second)
	if nowUnix-ts > tolSec {
		return ErrStale
	}
	if ts-nowUnix > tolSec {
		return ErrFuture
	}

	if !v.matches(id, timestamp, body, &sigs) {
		return ErrNoMatch
	}

	// The id stays interesting until its timestamp leaves the window.
	expiry := ts + tolSec
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.seen.add(id, expiry, nowUnix, v.maxIDs())
}

// matches reports whether any v1 entry equals the HMAC under any secret.
// Every secret and every entry is compared, so the time taken does not reveal
// which one matched.
func (v *Verifier) matches(id, timestamp string, body []byte, sigs *sigList) bool {
	found := 0
	for i := range v.Secrets {
		m := v.pools[i].Get().(*macState)
		sum := m.sum(id, timestamp, body)
		for j := 0; j < sigs.n; j++ {
			if hmac.Equal(sum, sigs.mac[j][:]) {
				found++
			}
		}
		v.pools[i].Put(m)
	}
	return found > 0
}

// validID accepts printable ASCII without spaces and without '.', the
// separator of the signed content: an id containing '.' could make two
// different (id, timestamp, body) triples sign the same bytes.
func validID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c > '~' || c == '.' {
			return false
		}
	}
	return true
}

// parseTimestamp accepts decimal digits only: strconv.ParseInt would also
// take a sign, and the header is signed byte for byte as received.
func parseTimestamp(s string) (int64, bool) {
	if len(s) == 0 || len(s) > maxTimestampLen {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// sigList holds the decoded v1 entries without allocating.
type sigList struct {
	n   int // usable v1 entries in mac
	mac [MaxSignatures][sha256.Size]byte
}

// parse splits the header on white space. Entries of other versions (v1a,
// v2...) are skipped, as the specification asks; a v1 entry that is not 32
// bytes of base64 can never match and is skipped too. The header is
// malformed when an entry is not in the "<version>,<value>" form, when it
// has more than MaxSignatures entries, or when it has no v1 entry at all.
func (l *sigList) parse(h string) bool {
	l.n = 0
	entries, v1 := 0, 0
	for len(h) > 0 {
		var f string
		h = strings.TrimLeft(h, " \t")
		if h == "" {
			break
		}
		if i := strings.IndexAny(h, " \t"); i >= 0 {
			f, h = h[:i], h[i:]
		} else {
			f, h = h, ""
		}
		entries++
		if entries > MaxSignatures {
			return false
		}
		version, value, ok := strings.Cut(f, ",")
		if !ok || version == "" {
			return false
		}
		if version != "v1" {
			continue
		}
		v1++
		const encLen = (sha256.Size + 2) / 3 * 4 // 44
		if len(value) != encLen {
			continue
		}
		var src [encLen]byte
		var dst [sha256.Size + 1]byte // DecodedLen(44) is 33
		copy(src[:], value)
		n, err := base64.StdEncoding.Decode(dst[:], src[:])
		if err != nil || n != sha256.Size {
			continue
		}
		copy(l.mac[l.n][:], dst[:n])
		l.n++
	}
	return v1 > 0
}
