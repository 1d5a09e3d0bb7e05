package csvio

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/prereg/prereg/internal/prereg"
)

// limitReader counts the bytes read and reads no more than MaxRecordBytes
// (plus csv.Reader's own buffer) past the start of the current record,
// which is what keeps a broken quote from eating memory. At the limit it
// tells csv.Reader the input has ended, and says so in truncated: a read
// error in the middle of a quoted cell would leave csv.Reader's record
// without a trace of the cell, while an early end makes it report the cell
// as unclosed, as it does at the real end of a file.
type limitReader struct {
	r         *bufio.Reader
	n         int64
	limit     int64
	eof       bool // r has no more bytes
	truncated bool // the limit, not r, ended the input

	// keep makes Read keep a copy of what it passes on: kept holds the
	// bytes from stream offset keptOff (csv.Reader's InputOffset counts
	// the same) up to what csv.Reader has read (see emailPrefix).
	keep    bool
	kept    []byte
	keptOff int64
}

// releaseAt is how many bytes before the current record the kept copy may
// hold before they are dropped: dropping now and then, not at every
// record, keeps the copying small.
const releaseAt = 64 << 10

// csvBufferSlack is how far csv.Reader's internal bufio may read ahead of
// the record it parses.
const csvBufferSlack = 4096

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n >= l.limit {
		if _, err := l.r.Peek(1); err != nil {
			l.eof = l.eof || errors.Is(err, io.EOF)
			return 0, err
		}
		l.truncated = true
		return 0, io.EOF
	}
	if rem := l.limit - l.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.keep {
		l.kept = append(l.kept, p[:n]...)
	}
	if errors.Is(err, io.EOF) {
		l.eof = true
	}
	return n, err
}

// release drops the kept bytes before stream offset off (a record's start)
// once there are enough of them.
func (l *limitReader) release(off int64) {
	if k := off - l.keptOff; k >= releaseAt {
		l.kept = l.kept[:copy(l.kept, l.kept[k:])]
		l.keptOff = off
	}
}

// upTo returns the kept bytes before stream offset off: the last record
// read, and some bytes before it.
func (l *limitReader) upTo(off int64) []byte {
	return l.kept[:off-l.keptOff]
}

// readError turns what ended a csv.Reader.Read (rec and err as Read
// returned them) into the decoder's answer. A quoted cell that runs to the
// end of the input (or of MaxRecordBytes), or past the line it opened on
// to a quote followed by other text, was never closed where its author
// meant: the lines it swallowed are not rows, so the file stops there
// (CONTRACT §4). A quote problem within one line costs that row only.
func (d *Decoder) readError(rec []string, err error) (Row, error) {
	var pe *csv.ParseError
	isParse := errors.As(err, &pe)
	if isParse && errors.Is(pe.Err, csv.ErrQuote) {
		open := d.openLine(rec, pe.StartLine)
		// At the end of the input csv.Reader reports a cell closed by a
		// quote followed by other text as it reports one never closed; on
		// the last line the two are taken for one.
		if d.src.truncated || pe.Line > open || d.atEOF() {
			return Row{}, unclosedQuote(open)
		}
	}
	if d.src.truncated {
		start := d.lastLine + 1
		switch {
		case isParse:
			start = pe.StartLine
		case len(rec) > 0:
			start, _ = d.cr.FieldPos(0)
		}
		return Row{}, lineError(start, fmt.Sprintf("line %d: the record that starts on this line is longer than %d KiB; check it for a missing line break or a stray quote", start, MaxRecordBytes>>10))
	}
	if errors.Is(err, io.EOF) {
		return Row{}, io.EOF
	}
	if isParse {
		// encoding/csv drops the rest of a record it cannot parse and
		// resumes at the next line, so one bad quote costs one row.
		d.lastLine = pe.Line
		msg := "the quoting is broken: a cell that contains a quote, the delimiter or a line break must be wrapped in double quotes, with each quote inside doubled (\"\")"
		return Row{Line: pe.StartLine, Errors: []prereg.RowError{{Line: pe.StartLine, Message: msg}}}, nil
	}
	return Row{}, fmt.Errorf("read csv: %w", err)
}

// openLine is the line where the quoted cell that broke a record opened:
// rec holds the record's complete cells, and the broken cell begins on the
// line where the last of them ends (or where the record starts).
func (d *Decoder) openLine(rec []string, start int) int {
	if len(rec) == 0 {
		return start
	}
	line, _ := d.cr.FieldPos(len(rec) - 1)
	return line + strings.Count(rec[len(rec)-1], "\n")
}

// atEOF reports whether csv.Reader has consumed the whole input.
func (d *Decoder) atEOF() bool {
	return d.src.eof && d.cr.InputOffset() == d.src.n-d.bom
}

func unclosedQuote(line int) *prereg.Error {
	return lineError(line, fmt.Sprintf("line %d: a quoted cell opens on this line and is never closed (a \" without its partner), so no line after it can be read as rows; close the quote, or double each quote inside a quoted cell (\"\"), and import the file again", line))
}

// lineError is a fatal problem of the file at one line; Details name it.
func lineError(line int, msg string) *prereg.Error {
	return &prereg.Error{Code: prereg.Invalid, Message: msg, Details: []prereg.FieldError{{Field: "line", Value: strconv.Itoa(line), Message: msg}}}
}
