package prereg

// WriteResult is what one write of a batch did: Change is Rejected and Err
// set (a *Error) when the store refused that one item, e.g. a conflict with
// a granted registration. A batch never fails as a whole for one item.
// Status is the record's stored status after the write (in a dry run, as
// the write would leave it): an import tells by it whether an unchanged
// record is a grant.
type WriteResult struct {
	ID     string
	Change Change
	Status Status
	Err    error
}

// RowError is one rejected CSV row (CONTRACT §4). Line counts physical
// lines from 1 (the header), so multi-line quoted cells are counted right.
type RowError struct {
	Line    int    `json:"line"`
	Column  string `json:"column,omitempty"`
	Value   string `json:"value,omitempty"`
	Message string `json:"message"`
}

// RowWarning is something a person should know about a row that was still
// imported, e.g. a duplicate that a later line overrode.
type RowWarning struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// MaxReportIssues bounds the errors and warnings an import report keeps, so
// one broken million-row file does not make a report of a million entries.
// The counts stay exact; ErrorsTruncated says how many were left out.
const MaxReportIssues = 1000

// ImportReport is the result of one import (CONTRACT §4), kept in the store
// and readable later.
type ImportReport struct {
	ImportSummary
	Errors   []RowError   `json:"errors"`
	Warnings []RowWarning `json:"warnings"`
}

// AddError records a rejected row, keeping at most MaxReportIssues.
func (r *ImportReport) AddError(e RowError) {
	if len(r.Errors) < MaxReportIssues {
		r.Errors = append(r.Errors, e)
	} else {
		r.ErrorsTruncated++
	}
}

// AddWarning records a warning, keeping at most MaxReportIssues.
func (r *ImportReport) AddWarning(w RowWarning) {
	if len(r.Warnings) < MaxReportIssues {
		r.Warnings = append(r.Warnings, w)
	} else {
		r.WarningsTruncated++
	}
}
