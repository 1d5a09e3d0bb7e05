package etcdstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prereg/prereg/internal/prereg"
)

// SchemaVersion is the key layout this code reads and writes (doc.go).
const SchemaVersion = 1

// Config says where the etcd cluster is and how to reach it.
type Config struct {
	Endpoints []string
	// Prefix is where prereg's keys live (default "/prereg/"): several
	// prereg installations may share one cluster under different ones.
	Prefix                    string
	CAFile, CertFile, KeyFile string
	Username, Password        string
	DialTimeout               time.Duration
}

// Options tune a Store; the zero value suits a command.
type Options struct {
	// SyncEnabled makes every grant and forced revoke also enqueue a job
	// for Auth0's Management API.
	SyncEnabled bool
	// Now is the clock; tests inject one to drive expiry.
	Now func() time.Time
	// Serve opens the store for the service. The etcd store keeps no
	// caches, so it changes nothing; it is accepted for symmetry.
	Serve bool
	// Logger gets the store's rare operational messages (nil: none).
	Logger *slog.Logger
	// CallTimeout bounds each etcd call of the hook path and of single
	// writes (0: callTimeout), so that a cluster without quorum answers
	// Unavailable quickly. Tests on a loaded machine raise it.
	CallTimeout time.Duration
}

// Timeouts of etcd calls: a lost quorum must turn into an Unavailable
// error quickly, never a hang. callTimeout bounds one call of the hook
// path and of single writes; scanTimeout one page of a long read.
const (
	callTimeout = 2 * time.Second
	scanTimeout = 10 * time.Second
	// sessionTTL is the lease of a replica's claims on sync jobs: a dead
	// replica's jobs are taken over that long after it stopped.
	sessionTTL = 10
)

// Store is prereg's store on etcd. Its methods are safe for concurrent
// use, and any number of Stores (replicas) may share one prefix.
type Store struct {
	cli  *clientv3.Client
	own  bool // Close closes cli
	p    string
	opts Options
	now  func() time.Time
	log  *slog.Logger

	// id names this replica in the keys it owns (job claims, probes).
	id string
	// clock is the last value next handed out (see orderedID).
	clock atomic.Int64

	// member is the client settings of one member alone (erasure compacts
	// and defragments member by member), made from Open's settings.
	member clientv3.Config
	// hedge has a client of each member alone: logins' reads and writes
	// go to them in turn, and a read is also sent to the others when its
	// member is slow to answer (hedge.go).
	hedge      []*clientv3.Client
	hedgeState hedgeState

	sessMu  sync.Mutex
	session *concurrency.Session

	touchMu sync.Mutex
	touched map[string]time.Time
	bg      sync.WaitGroup
	closed  atomic.Bool

	// reads groups the reads of concurrent logins (readgroup.go).
	reads readGroup
	// claims groups the claims of concurrent logins (claimgroup.go).
	claims claimGroup

	// orgsKnown holds the kOrgs entries this replica saw a batch commit:
	// most chunks of an import are of organizations already written, and
	// comparing that an entry exists costs the cluster less than writing
	// it again (no new revision of the key, nothing to apply to the
	// backend). The compare keeps it correct when another replica clears
	// the prefix (pendingTxn.settled); Clear forgets them all.
	orgsKnown sync.Map
}

// Open connects to the cluster in cfg and returns the store under
// cfg.Prefix, initializing the prefix when it is empty. It fails with an
// Unavailable error when the cluster cannot be reached within the dial
// timeout.
func Open(ctx context.Context, cfg Config, opts Options) (*Store, error) {
	ccfg, err := clientConfig(cfg)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(ccfg)
	if err != nil {
		return nil, openError(ctx, cfg, ccfg, err)
	}
	// The first call (init) is bounded by the dial timeout: a cluster
	// that cannot be reached, or refuses the connection, fails here.
	ictx, cancel := context.WithTimeout(ctx, ccfg.DialTimeout)
	s, err := newStore(ictx, cli, cfg.Prefix, opts, &ccfg)
	cancel()
	if err != nil {
		cli.Close()
		return nil, openError(ctx, cfg, ccfg, err)
	}
	s.own = true
	return s, nil
}

// New is Open on a client the caller made (and closes after the store).
// The store hedges login reads (hedge.go) over the client's endpoints
// only when they are plain http://, since it cannot see the client's TLS
// settings.
func New(ctx context.Context, cli *clientv3.Client, prefix string, opts Options) (*Store, error) {
	return newStore(ctx, cli, prefix, opts, nil)
}

// newStore makes the store on cli; ccfg is cli's settings when Open made
// it, nil when the caller did.
func newStore(ctx context.Context, cli *clientv3.Client, prefix string, opts Options, ccfg *clientv3.Config) (*Store, error) {
	if prefix == "" {
		prefix = "/prereg/"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = callTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	s := &Store{cli: cli, p: prefix, opts: opts, now: opts.Now, log: opts.Logger, id: hex.EncodeToString(id), touched: map[string]time.Time{}}
	// A client made by the caller shows its user but not its TLS
	// settings: Open replaces these.
	s.member = clientv3.Config{Username: cli.Username, Password: cli.Password, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	eps := cli.Endpoints()
	if ccfg != nil {
		s.member, eps = *ccfg, ccfg.Endpoints
	}
	if err := s.init(ctx); err != nil {
		return nil, err
	}
	if ccfg != nil || plainEndpoints(eps) {
		s.initHedge(s.hedgeClients(s.member, eps))
	}
	return s, nil
}

func clientConfig(cfg Config) (clientv3.Config, error) {
	if len(cfg.Endpoints) == 0 {
		return clientv3.Config{}, prereg.Errorf(prereg.Invalid, "no etcd endpoints given")
	}
	dial := cfg.DialTimeout
	if dial == 0 {
		dial = 5 * time.Second
	}
	c := clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: dial,
		Username:    cfg.Username,
		Password:    cfg.Password,
		Logger:      zap.NewNop(),
		// Keepalives find a dead member while no call is in flight, so
		// the next call goes to a live one.
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
	}
	if cfg.CAFile != "" || cfg.CertFile != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return c, err
		}
		c.TLS = tc
	}
	return c, nil
}

// init records the schema version under an empty prefix (the first
// replica to start) and refuses one of another version.
func (s *Store) init(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*s.opts.CallTimeout)
	defer cancel()
	k := s.p + kSchema
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, fmt.Sprint(SchemaVersion))).
		Else(clientv3.OpGet(k)).Commit()
	if err != nil {
		return translate(err)
	}
	if resp.Succeeded {
		return nil
	}
	got := resp.Responses[0].GetResponseRange().Kvs
	if len(got) == 1 && string(got[0].Value) != fmt.Sprint(SchemaVersion) {
		return prereg.Errorf(prereg.Invalid, "the etcd prefix %s holds schema %s; this prereg reads schema %d", s.p, got[0].Value, SchemaVersion)
	}
	return nil
}

// Close ends the store: its job claims are released at once (other
// replicas take the jobs over), and the client is closed if Open made it.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.bg.Wait()
	s.sessMu.Lock()
	if s.session != nil {
		s.session.Close()
		s.session = nil
	}
	s.sessMu.Unlock()
	s.closeHedge()
	if s.own {
		return s.cli.Close()
	}
	return nil
}

// Prefix is the key prefix the store lives under.
func (s *Store) Prefix() string { return s.p }

// call gives one etcd call its bounded context.
func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.opts.CallTimeout
	if ctx.Value(bulkKey{}) != nil && d < scanTimeout {
		d = scanTimeout
	}
	return context.WithTimeout(ctx, d)
}

// bulkKey marks the context of a bulk write (an import's batches): its
// transactions are large and many run at once, and one answered late under
// load must not fail a whole import, so each gets scanTimeout rather than
// the hook path's call timeout.
type bulkKey struct{}

func bulk(ctx context.Context) context.Context { return context.WithValue(ctx, bulkKey{}, true) }

// translate gives an etcd or gRPC error its code: anything that says the
// cluster cannot answer now (no leader, unreachable, timed out, too many
// requests) is Unavailable, which the API answers with 503 and
// Retry-After; a request etcd refuses as too large is Internal (prereg
// keeps within etcd's default limits), naming the etcd setting.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var pe *prereg.Error
	if errors.As(err, &pe) {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return prereg.Wrap(prereg.Unavailable, err, "etcd did not answer in time")
	case errors.Is(err, rpctypes.ErrCompacted):
		return prereg.Wrap(prereg.Unavailable, err, "an erasure compacted etcd's history during a long read; try again")
	case isEtcd(err, rpctypes.ErrTooManyOps):
		return prereg.Wrap(prereg.Internal, err, fmt.Sprintf("etcd refused a transaction as too large: prereg needs its --max-txn-ops at %d or more (the default)", maxOps))
	case isEtcd(err, rpctypes.ErrRequestTooLarge):
		return prereg.Wrap(prereg.Internal, err, "etcd refused a request as too large: prereg needs its --max-request-bytes at 1.5 MiB or more (the default)")
	case errors.Is(err, rpctypes.ErrNoSpace):
		return prereg.Wrap(prereg.Unavailable, err, "etcd is out of space: it refuses writes until an administrator compacts and defragments it (`etcdctl compact`, `etcdctl defrag --cluster`) or raises --quota-backend-bytes, then runs `etcdctl alarm disarm`")
	}
	switch status.Code(errors.Unwrap(err)) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted, codes.Aborted:
		return prereg.Wrap(prereg.Unavailable, err, "etcd is unavailable (no leader or no quorum)")
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted, codes.Aborted:
		return prereg.Wrap(prereg.Unavailable, err, "etcd is unavailable (no leader or no quorum)")
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		switch ee.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
			return prereg.Wrap(prereg.Unavailable, err, "etcd is unavailable: "+ee.Error())
		}
	}
	return prereg.Wrap(prereg.Internal, err, "internal error")
}

// orderedID returns a value that grows with every call on this replica
// and follows the wall clock across replicas: IDs of audit entries and
// jobs made from it list in the order they were made, with no shared
// counter key for every write to contend on.
func (s *Store) orderedID() string {
	for {
		last := s.clock.Load()
		n := max(time.Now().UnixNano(), last+1)
		if s.clock.CompareAndSwap(last, n) {
			return fmt.Sprintf("%016x%s", n, s.id)
		}
	}
}
