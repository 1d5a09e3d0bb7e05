package auth0sync

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// Queue is the durable job queue the Syncer works from; the store
// implements it.
type Queue interface {
	// DueJobs returns up to limit jobs whose NotBefore is <= now, oldest first.
	DueJobs(ctx context.Context, now time.Time, limit int) ([]prereg.SyncJob, error)
	// FinishJob removes the job and records its outcome on the registration
	// (grant jobs): done, or failed with an error message, and the role IDs
	// the job assigned.
	FinishJob(ctx context.Context, jobID string, out prereg.SyncOutcome) error
	// RetryJob keeps the job for a later attempt.
	RetryJob(ctx context.Context, jobID string, notBefore time.Time, attempts int, errMsg string) error
}

// SyncClient is what the Syncer needs from Auth0; *Client implements it.
type SyncClient interface {
	// SyncGrant returns the role IDs it assigned or tried to, even with an
	// error; nil when it did not get as far as resolving the roles.
	SyncGrant(ctx context.Context, job prereg.SyncJob) ([]string, error)
	RevokeGrant(ctx context.Context, job prereg.SyncJob) error
	SendVerificationEmail(ctx context.Context, userID string) error
}

var _ SyncClient = (*Client)(nil)

// Defaults of SyncerConfig.
const (
	DefaultConcurrency    = 4
	DefaultNowConcurrency = 16
	DefaultMaxAttempts    = 30
	DefaultBaseBackoff    = 2 * time.Second
	DefaultMaxBackoff     = 15 * time.Minute
	DefaultPollInterval   = 5 * time.Second
	DefaultJobTimeout     = 30 * time.Second
)

// SyncerConfig configures a Syncer; zero values take the defaults.
type SyncerConfig struct {
	Queue  Queue
	Client SyncClient
	// Concurrency bounds the jobs the background loop runs at once.
	Concurrency int
	// NowConcurrency bounds the jobs RunNow runs at once, apart from the
	// loop's, so a backlog never delays a login's own grant; beyond it a
	// login's jobs are left to the queue.
	NowConcurrency int
	// MaxAttempts is the number of failed attempts after which a job is
	// failed for good. Rate-limited attempts do not count: a rate limit
	// always ends.
	MaxAttempts int
	// BaseBackoff and MaxBackoff shape the exponential back-off (with
	// full jitter in its upper half) between attempts.
	BaseBackoff, MaxBackoff time.Duration
	// PollInterval is how often the loop looks for due jobs when nothing
	// wakes it earlier.
	PollInterval time.Duration
	// JobTimeout bounds one attempt of one job.
	JobTimeout time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
}

// Syncer runs the sync jobs of the durable queue against Auth0: in the
// background (Run) and, right after a grant, at once (RunNow). A job is
// removed from the queue only once it is done or failed for good, so a
// job in flight when the process dies simply runs again after a restart;
// Auth0's role assignment and membership calls are idempotent.
type Syncer struct {
	cfg     SyncerConfig
	wake    chan struct{}
	loopSem chan struct{}
	nowSem  chan struct{}
	wg      sync.WaitGroup

	mu sync.Mutex
	// running holds the jobs being run now, so no job runs twice at once.
	running map[string]*lease
	// finished remembers jobs finished in the last minute: a DueJobs
	// snapshot taken just before may still list them.
	finished map[string]time.Time
	// nextRetry is the earliest retry this process scheduled, so the
	// loop wakes for it rather than at the next poll.
	nextRetry time.Time
}

type lease struct {
	done  chan struct{}
	state prereg.SyncState // set before done is closed; pending when retried
}

// NewSyncer returns a Syncer; call Run to start its loop.
func NewSyncer(cfg SyncerConfig) *Syncer {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.NowConcurrency <= 0 {
		cfg.NowConcurrency = DefaultNowConcurrency
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = DefaultBaseBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.BaseBackoff {
		cfg.MaxBackoff = cfg.BaseBackoff
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = DefaultJobTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Syncer{
		cfg:      cfg,
		wake:     make(chan struct{}, 1),
		loopSem:  make(chan struct{}, cfg.Concurrency),
		nowSem:   make(chan struct{}, cfg.NowConcurrency),
		running:  map[string]*lease{},
		finished: map[string]time.Time{},
	}
}

// Wake makes the loop look for due jobs now (after a grant was enqueued).
func (s *Syncer) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run works the queue until ctx ends, then waits for the jobs it started
// (and those RunNow started) to finish their current attempt.
func (s *Syncer) Run(ctx context.Context) error {
	defer s.wg.Wait()
	for {
		started := s.poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if started > 0 {
			// More may be due beyond this batch.
			continue
		}
		wait := s.cfg.PollInterval
		s.mu.Lock()
		if !s.nextRetry.IsZero() {
			if d := s.nextRetry.Sub(s.cfg.Now()); d < wait {
				wait = max(d, 10*time.Millisecond)
			}
		}
		s.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// poll starts the due jobs that are not running, waiting for free slots,
// and returns how many it started.
func (s *Syncer) poll(ctx context.Context) int {
	now := s.cfg.Now()
	s.mu.Lock()
	if !s.nextRetry.IsZero() && !now.Before(s.nextRetry) {
		s.nextRetry = time.Time{}
	}
	busy := len(s.running)
	for id, at := range s.finished {
		if now.Sub(at) > time.Minute {
			delete(s.finished, id)
		}
	}
	s.mu.Unlock()
	jobs, err := s.cfg.Queue.DueJobs(ctx, now, 4*s.cfg.Concurrency+busy)
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Logger.Error("auth0 sync: reading the queue failed", "err", err)
		}
		return 0
	}
	started := 0
	for _, job := range jobs {
		select {
		case s.loopSem <- struct{}{}:
		case <-ctx.Done():
			return started
		}
		l, ok := s.acquire(job.ID)
		if !ok {
			<-s.loopSem
			continue
		}
		started++
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.loopSem }()
			s.runJob(context.WithoutCancel(ctx), job, l)
		}()
	}
	return started
}

// acquire leases a job to this caller; false when it is running or has
// just finished.
func (s *Syncer) acquire(id string) (*lease, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.running[id]; ok {
		return nil, false
	}
	if _, ok := s.finished[id]; ok {
		return nil, false
	}
	l := &lease{done: make(chan struct{}), state: prereg.SyncPending}
	s.running[id] = l
	return l, true
}

// runJob makes one attempt and records its outcome in the queue. The
// context is detached from callers so an attempt always completes (bounded
// by JobTimeout) and is recorded.
func (s *Syncer) runJob(ctx context.Context, job prereg.SyncJob, l *lease) {
	state := s.attempt(ctx, job)
	s.mu.Lock()
	delete(s.running, job.ID)
	if state != prereg.SyncPending {
		s.finished[job.ID] = s.cfg.Now()
	}
	l.state = state
	s.mu.Unlock()
	close(l.done)
}

func (s *Syncer) attempt(ctx context.Context, job prereg.SyncJob) prereg.SyncState {
	log := s.cfg.Logger.With("job", job.ID, "kind", job.Kind, "registration", job.RegistrationID)
	actx, cancel := context.WithTimeout(ctx, s.cfg.JobTimeout)
	roleIDs, err := s.do(actx, job)
	cancel()
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	if err == nil {
		if ferr := s.cfg.Queue.FinishJob(rctx, job.ID, prereg.SyncOutcome{State: prereg.SyncDone, RoleIDs: roleIDs}); ferr != nil {
			log.Error("auth0 sync: recording success failed; the job will run again", "err", ferr)
			return prereg.SyncPending
		}
		log.Info("auth0 sync: done", "attempts", job.Attempts+1)
		return prereg.SyncDone
	}
	msg := prereg.ErrorMessage(err)
	code := prereg.ErrorCode(err)
	attempts := job.Attempts + 1
	if permanent(code) || (code != prereg.RateLimited && attempts >= s.cfg.MaxAttempts) {
		if ferr := s.cfg.Queue.FinishJob(rctx, job.ID, prereg.SyncOutcome{State: prereg.SyncFailed, Error: msg, RoleIDs: roleIDs}); ferr != nil {
			log.Error("auth0 sync: recording failure failed; the job will run again", "err", ferr)
			return prereg.SyncPending
		}
		log.Warn("auth0 sync: failed", "attempts", attempts, "err", err)
		return prereg.SyncFailed
	}
	now := s.cfg.Now()
	next := now.Add(s.backoff(attempts))
	if code == prereg.RateLimited {
		// Honour the reset time Auth0 gave, plus a little jitter so that
		// the waiting jobs do not all hit the limit again together.
		if until, ok := RetryAt(err); ok {
			next = until.Add(rand.N(250 * time.Millisecond))
			if next.Before(now) {
				next = now
			}
		}
	}
	if rerr := s.cfg.Queue.RetryJob(rctx, job.ID, next, attempts, msg); rerr != nil {
		log.Error("auth0 sync: scheduling a retry failed", "err", rerr)
	} else {
		log.Info("auth0 sync: will retry", "attempts", attempts, "not_before", next, "err", err)
	}
	s.mu.Lock()
	if s.nextRetry.IsZero() || next.Before(s.nextRetry) {
		s.nextRetry = next
	}
	s.mu.Unlock()
	return prereg.SyncPending
}

// permanent reports errors that another attempt cannot fix.
func permanent(code prereg.Code) bool {
	switch code {
	case prereg.Invalid, prereg.Conflict:
		return true
	case prereg.NotFound:
		// The user or organization does not exist (revokes treat that as
		// done before it gets here).
		return true
	}
	return false
}

// backoff is BaseBackoff·2^(attempts-1), capped at MaxBackoff, with the
// upper half jittered.
func (s *Syncer) backoff(attempts int) time.Duration {
	d := s.cfg.BaseBackoff
	for i := 1; i < attempts && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

// do runs one job; a grant job also returns the role IDs it assigned.
func (s *Syncer) do(ctx context.Context, job prereg.SyncJob) ([]string, error) {
	switch job.Kind {
	case prereg.JobGrant:
		return s.cfg.Client.SyncGrant(ctx, job)
	case prereg.JobRevoke:
		return nil, s.cfg.Client.RevokeGrant(ctx, job)
	case prereg.JobVerifyEmail:
		return nil, s.cfg.Client.SendVerificationEmail(ctx, job.UserID)
	}
	return nil, prereg.Errorf(prereg.Invalid, "unknown sync job kind %q", prereg.Truncate(string(job.Kind)))
}

// RunNow runs jobs at once, right after the grant that enqueued them, and
// waits for them at most budget (or until ctx ends). It returns the state
// of each job that finished in time, done or failed; the others go on in
// the background (their attempt is bounded by JobTimeout) and, if that
// attempt fails too, from the queue, where they already are.
func (s *Syncer) RunNow(ctx context.Context, jobs []prereg.SyncJob, budget time.Duration) map[string]prereg.SyncState {
	out := make(map[string]prereg.SyncState, len(jobs))
	if len(jobs) == 0 {
		return out
	}
	timer := time.NewTimer(max(budget, 0))
	defer timer.Stop()
	var waits []waiting
	for _, job := range jobs {
		l, ok := s.acquire(job.ID)
		if !ok {
			// Running already (the loop picked it up): wait for that run.
			s.mu.Lock()
			if other := s.running[job.ID]; other != nil {
				waits = append(waits, waiting{job.ID, other})
			}
			s.mu.Unlock()
			continue
		}
		select {
		case s.nowSem <- struct{}{}:
		default:
			// Too many logins' jobs in flight: leave this one to the queue.
			s.mu.Lock()
			delete(s.running, job.ID)
			s.mu.Unlock()
			close(l.done)
			s.Wake()
			continue
		}
		waits = append(waits, waiting{job.ID, l})
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.nowSem }()
			s.runJob(context.WithoutCancel(ctx), job, l)
		}()
	}
	for _, w := range waits {
		select {
		case <-w.l.done:
		case <-timer.C:
			return s.collect(out, waits)
		case <-ctx.Done():
			return s.collect(out, waits)
		}
	}
	return s.collect(out, waits)
}

// waiting is a job RunNow waits for.
type waiting struct {
	id string
	l  *lease
}

func (s *Syncer) collect(out map[string]prereg.SyncState, waits []waiting) map[string]prereg.SyncState {
	for _, w := range waits {
		select {
		case <-w.l.done:
			s.mu.Lock()
			st := w.l.state
			s.mu.Unlock()
			if st == prereg.SyncDone || st == prereg.SyncFailed {
				out[w.id] = st
			}
		default:
		}
	}
	return out
}
