package importer

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/prereg"
)

// newReport is the report of an import that has not read a row yet.
func newReport(opts Options) prereg.ImportReport {
	return prereg.ImportReport{ImportSummary: prereg.ImportSummary{ImportID: opts.ImportID, DryRun: opts.DryRun, Strict: opts.Strict, OrganizationID: opts.Principal.OrganizationID, Actor: opts.Principal.TokenID, StartedAt: opts.Now().UTC()}, Errors: []prereg.RowError{}, Warnings: []prereg.RowWarning{}}
}

// finishReport is the report as it is saved and returned: errors and
// warnings in line order, the organizations named, the finish time.
func (im *run) finishReport() prereg.ImportReport {
	rep := im.report
	rep.Organizations = im.orgs.List()
	slices.SortStableFunc(rep.Errors, func(a, b prereg.RowError) int { return a.Line - b.Line })
	slices.SortStableFunc(rep.Warnings, func(a, b prereg.RowWarning) int { return a.Line - b.Line })
	rep.FinishedAt = im.opts.Now().UTC()
	return rep
}

// skip reports a row that is not written: a revoked or expired row of an
// export takes no part in the import, not even as a duplicate of another.
func (im *run) skip(row *csvio.Row) {
	im.report.Skipped++
	im.report.AddWarning(prereg.RowWarning{Line: row.Line, Message: fmt.Sprintf("status %s: skipped, exports never reopen a registration (empty the status cell to reopen it)", row.Status)})
}

// reject reports a row pass 1 found bad.
func (im *run) reject(errs []prereg.RowError) {
	im.bad++
	im.report.Rejected++
	for _, e := range errs {
		im.report.AddError(e)
	}
}

// warnDuplicates reports the overridden rows pickWinners kept, of total,
// in the order one pass would have given them, once sorted by line.
func (im *run) warnDuplicates(dups []dupWarning, total int) {
	slices.SortFunc(dups, func(a, b dupWarning) int {
		return cmp.Or(cmp.Compare(a.win, b.win), cmp.Compare(a.next, b.next))
	})
	for _, d := range dups {
		im.report.AddWarning(prereg.RowWarning{Line: int(d.win), Message: fmt.Sprintf("duplicate of line %d; line %d wins", d.prev, d.win)})
	}
	im.report.WarningsTruncated += total - len(dups)
}

// countResults counts what the store did with a batch's rows into rep;
// lines[i] is the line of the row of res[i].
func countResults(rep *prereg.ImportReport, lines []int, res []prereg.WriteResult) {
	for i, wr := range res {
		switch wr.Change {
		case prereg.Created:
			rep.Created++
		case prereg.Updated:
			rep.Updated++
		case prereg.Unchanged:
			rep.Unchanged++
		default:
			rejectWrite(rep, lines[i], wr)
		}
	}
}

// checkGranted counts into rep what the store said of rows with status
// granted, evaluated as dry-run writes: an export's grant is only ever
// confirmed (unchanged) or found to conflict, never handed out again, so
// a row whose registration is missing, pending, revoked or expired is
// skipped (CONTRACT §4).
func checkGranted(rep *prereg.ImportReport, lines []int, res []prereg.WriteResult) {
	for i, wr := range res {
		switch {
		case wr.Change == prereg.Rejected:
			rejectWrite(rep, lines[i], wr)
		case wr.Change == prereg.Unchanged && wr.Status == prereg.StatusGranted:
			rep.Unchanged++
		default:
			rep.Skipped++
			rep.AddWarning(prereg.RowWarning{Line: lines[i], Message: "status granted: skipped, the registration is not granted any more (empty the status cell to write it)"})
		}
	}
}

// rejectWrite counts into rep a row the store refused.
func rejectWrite(rep *prereg.ImportReport, line int, wr prereg.WriteResult) {
	rep.Rejected++
	msg := "rejected by the store"
	if wr.Err != nil {
		msg = prereg.ErrorMessage(wr.Err)
	}
	rep.AddError(prereg.RowError{Line: line, Message: msg})
}

// takeRejections moves the rows a strict import's probe saw rejected into
// the report. Pass 1 rejected none, or there would have been no probe.
func (im *run) takeRejections(probe prereg.ImportReport) {
	im.report.Rejected = probe.Rejected
	for _, e := range probe.Errors {
		im.report.AddError(e)
	}
	im.report.ErrorsTruncated += probe.ErrorsTruncated
}

// abortStrict turns the report into that of a strict import that wrote
// nothing.
func (im *run) abortStrict() {
	im.report.Created, im.report.Updated, im.report.Unchanged = 0, 0, 0
	im.report.AddWarning(prereg.RowWarning{Line: 0, Message: fmt.Sprintf("strict import: nothing was written because %d rows were rejected; fix them and import the file again", im.report.Rejected)})
}

// progressWritten reports pass 2's progress once done of the winners are
// written: pass 1's totals plus that share of them.
func (im *run) progressWritten(done int) {
	if im.opts.Progress == nil {
		return
	}
	rows, winners := int64(im.report.Rows), int64(im.spool.winners)
	if int64(done) >= winners {
		im.opts.Progress(int(2*rows), 2*im.inputBytes)
		return
	}
	im.opts.Progress(int(rows+rows*int64(done)/winners), im.inputBytes+im.inputBytes*int64(done)/winners)
}
