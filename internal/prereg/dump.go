package prereg

// A store's whole contents travel between stores of any kind (prereg copy,
// and backup and restore across modes: CONTRACT §9) as a stream of
// DumpItems. Each item is one stored thing as the store keeps it, IDs,
// times and hashes included; what a store derives (indexes, counters, the
// user index of grants) is not dumped but rebuilt by Load.

// DumpKind names what a DumpItem holds.
type DumpKind string

// The kinds of a dump, in the order Dump yields them and Load wants them.
const (
	DumpSecret       DumpKind = "secret"
	DumpToken        DumpKind = "token"
	DumpRegistration DumpKind = "registration"
	DumpJob          DumpKind = "job"
	DumpImport       DumpKind = "import"
	DumpAudit        DumpKind = "audit"
)

// DumpKinds lists every kind, in dump order.
var DumpKinds = []DumpKind{DumpSecret, DumpToken, DumpRegistration, DumpJob, DumpImport, DumpAudit}

// StoredToken is a token as a store keeps it: what the API shows, the
// hash it is authenticated by, and whether it was revoked.
type StoredToken struct {
	Token
	Hash    [32]byte
	Revoked bool
}

// Secret is a value the store generated and keeps (the hash of a hook
// secret generated at first start), by name.
type Secret struct {
	Name  string
	Value []byte
}

// DumpItem is one stored thing; exactly the field of its Kind is set.
type DumpItem struct {
	Kind         DumpKind
	Secret       *Secret
	Token        *StoredToken
	Registration *Registration // SyncedRoleIDs included
	Job          *SyncJob
	Import       *ImportReport
	Audit        *AuditEntry
}

// DumpCounts counts a store's items by kind; prereg copy compares the
// source's with the destination's at the end.
type DumpCounts map[DumpKind]int

// SecretHookHash names the secret holding the SHA-256 of the hook secret
// generated at first start; every store dumps and loads it by this name.
const SecretHookHash = "generated_hook_secret_sha256"
