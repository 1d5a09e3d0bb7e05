package prereg

// What a reconcile run (granting pending registrations to existing Auth0
// users) did with one registration.
const (
	ReconcileGranted    = "granted"
	ReconcileWouldGrant = "would_grant"
	ReconcileSkipped    = "skipped"
	ReconcileError      = "error"
)

// Why a reconcile run skipped a registration.
const (
	ReasonNoUser        = "no_user"
	ReasonSeveralUsers  = "several_users"
	ReasonNotVerified   = "email_not_verified"
	ReasonAlreadyClaims = "no_longer_pending"
)

// ReconcileItem is the verdict on one pending registration. The address is
// masked: reports end up in terminals and logs.
type ReconcileItem struct {
	RegistrationID string `json:"registration_id"`
	OrganizationID string `json:"organization_id"`
	Email          string `json:"email"`
	Result         string `json:"result"`
	Reason         string `json:"reason,omitempty"`
	UserID         string `json:"user_id,omitempty"`
	Error          string `json:"error,omitempty"`
}

// ReconcileReport sums up a reconcile run.
type ReconcileReport struct {
	DryRun  bool            `json:"dry_run"`
	Checked int             `json:"checked"`
	Granted int             `json:"granted"`
	Skipped int             `json:"skipped"`
	Errors  int             `json:"errors"`
	Items   []ReconcileItem `json:"items"`
	// Jobs are the sync jobs the grants enqueued, for the caller to run
	// at once or leave to the queue.
	Jobs []SyncJob `json:"-"`
}

// Add counts item under its result and lists it.
func (rep *ReconcileReport) Add(item ReconcileItem) {
	switch item.Result {
	case ReconcileGranted, ReconcileWouldGrant:
		rep.Granted++
	case ReconcileSkipped:
		rep.Skipped++
	default:
		rep.Errors++
	}
	rep.Items = append(rep.Items, item)
}
