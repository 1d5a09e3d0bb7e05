package prereg

import "context"

// PreparedBatch is a batch of registrations a store has readied for
// writing: the work that needs no transaction is done, so that an import
// prepares its next batch while the store commits the current one. Apply
// writes (or, with dryRun, only evaluates) the batch in one transaction and
// reports each item's change in input order; an item the store refuses
// (e.g. a conflict with a granted registration) has Change Rejected and Err
// set, and the batch as a whole fails only on a store error.
type PreparedBatch interface {
	Apply(ctx context.Context, actor string, dryRun bool) ([]WriteResult, error)
}
