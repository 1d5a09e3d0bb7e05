// Package csvio reads and writes registrations in the CSV import format of
// CONTRACT §4: one streaming decoder for files as spreadsheets really write
// them (BOM, CRLF, semicolons, trailing empty columns) and one encoder whose
// output the decoder reads back unchanged.
package csvio

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/prereg/prereg/internal/prereg"
)

// MaxRecordBytes bounds one record (a row with all its cells), so that a
// record never holds more than this much of the file in memory.
const MaxRecordBytes = 64 << 10

// saveAsHint ends every encoding error: it is the menu entry a person looks
// for in Excel's "Save as" dialog (Google Sheets and LibreOffice write UTF-8
// anyway).
const saveAsHint = `save the file as "CSV UTF-8 (Comma delimited)" (Excel) or export it as UTF-8 CSV and try again`

// Row is one data record of the file.
type Row struct {
	// Line is the physical line the record starts on; the header is line 1
	// and quoted cells that span lines count every line they span.
	Line int
	// Input is the record, normalised (prereg.Input.Normalize). It is only
	// fit to write when Errors is empty.
	Input prereg.Input
	// Errors says what is wrong with the record; empty for a good row.
	Errors []prereg.RowError
	// Status is the row's status cell, lower-cased: empty when the file
	// has no status column or the cell is empty. A row whose status is
	// revoked or expired is Skipped; its other cells are not checked. An
	// import only checks a granted row against the store, never writes it.
	Status prereg.Status

	// rolesCell is the raw roles cell, echoed when the roles as a whole
	// are wrong; unchecked marks a row decoded with validation off.
	rolesCell string
	unchecked bool
}

// Decoder reads registrations from a CSV stream, one record at a time; it
// never holds more than one record (at most MaxRecordBytes) of the file.
type Decoder struct {
	cr        *csv.Reader
	src       *limitReader
	delim     rune
	width     int   // header cells up to the last named one
	idx       []int // column of each of knownColumns in the file, -1 if absent
	header    []string
	validate  bool
	lastLine  int // last physical line of the previous record
	roleSemis bool
	bom       int64 // bytes of byte-order mark before the records
	err       error // the fatal error, returned again by every Next
}

// NewDecoder reads and checks the header row of r. A missing, empty or
// unusable header and a file that is not UTF-8 are an Invalid *prereg.Error
// whose Details say what to fix.
func NewDecoder(r io.Reader) (*Decoder, error) {
	br := bufio.NewReaderSize(r, MaxRecordBytes+csvBufferSlack)
	head, err := br.Peek(MaxRecordBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("read csv header: %w", err)
	}
	if err := checkEncoding(head); err != nil {
		return nil, err
	}
	bom := 0
	if bytes.HasPrefix(head, utf8BOM) {
		bom = len(utf8BOM)
	}
	delim := detectDelimiter(head[bom:])
	if _, err := br.Discard(bom); err != nil {
		return nil, fmt.Errorf("read csv header: %w", err)
	}

	d := &Decoder{delim: delim, validate: true, roleSemis: delim == ',', bom: int64(bom)}
	// n starts past the byte-order mark so that BytesRead counts the file.
	d.src = &limitReader{r: br, n: int64(bom), limit: int64(bom) + MaxRecordBytes + csvBufferSlack}
	d.cr = csv.NewReader(d.src)
	d.cr.Comma = delim
	d.cr.FieldsPerRecord = -1
	d.cr.ReuseRecord = true
	// A tab delimiter is white space itself: trimming it would shift cells.
	d.cr.TrimLeadingSpace = delim != '\t'
	d.src.keep = d.cr.TrimLeadingSpace

	rec, err := d.cr.Read()
	for err == nil && allBlank(rec) && !d.src.truncated {
		rec, err = d.cr.Read()
	}
	if d.src.truncated {
		return nil, headerError("header", fmt.Sprintf("the header row is longer than %d KiB; the first line must be a header row naming the columns %s", MaxRecordBytes>>10, strings.Join(Columns, ",")))
	}
	if errors.Is(err, io.EOF) {
		return nil, headerError("file", "the file is empty: the first line must be a header row naming the columns "+strings.Join(Columns, ","))
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return nil, headerError("header", fmt.Sprintf("the header row is not valid CSV (line %d, column %d: %v)", pe.Line, pe.Column, pe.Err))
	}
	if err != nil {
		return nil, fmt.Errorf("read csv header: %w", err)
	}
	line, _ := d.cr.FieldPos(0)
	if err := d.parseHeader(rec); err != nil {
		return nil, err
	}
	d.lastLine = line + endLineOffset(rec)
	return d, nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// checkEncoding refuses the encodings spreadsheets write when not asked for
// UTF-8: UTF-16 (Excel's "Unicode Text") and single-byte code pages
// (Excel's plain "CSV" on Windows writes Windows-1252).
func checkEncoding(head []byte) error {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return encodingError("the file is UTF-16 (it starts with a UTF-16 byte-order mark), not UTF-8; " + saveAsHint)
	case bytes.IndexByte(firstLine(head), 0) >= 0:
		return encodingError("the file holds NUL bytes: it looks like UTF-16 or a binary file, not UTF-8 text; " + saveAsHint)
	}
	// Only the first line is checked here; rows are checked as they are
	// read. A first line longer than the peek is left to the header check.
	line := firstLine(bytes.TrimPrefix(head, utf8BOM))
	if len(line) == len(head) && len(head) >= MaxRecordBytes {
		return nil
	}
	if !utf8.Valid(line) {
		return encodingError("line 1 is not valid UTF-8 (the file looks like Latin-1 or Windows-1252); " + saveAsHint)
	}
	if bytes.IndexByte(bytes.TrimSuffix(line, []byte{'\r'}), '\r') >= 0 {
		return headerError("header", "lines end with a bare carriage return (classic Mac OS) instead of LF or CRLF; "+saveAsHint)
	}
	return nil
}

func firstLine(b []byte) []byte {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i]
	}
	return b
}

// detectDelimiter picks comma, semicolon or tab, whichever occurs most in
// the first non-blank line outside quotes; comma on a tie.
func detectDelimiter(head []byte) rune {
	for len(head) > 0 {
		line := firstLine(head)
		head = head[len(line):]
		if len(head) > 0 {
			head = head[1:]
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var comma, semi, tab int
		quoted := false
		for _, c := range line {
			switch c {
			case '"':
				quoted = !quoted
			case ',':
				if !quoted {
					comma++
				}
			case ';':
				if !quoted {
					semi++
				}
			case '\t':
				if !quoted {
					tab++
				}
			}
		}
		switch {
		case semi > comma && semi >= tab:
			return ';'
		case tab > comma && tab > semi:
			return '\t'
		}
		return ','
	}
	return ','
}

func encodingError(msg string) *prereg.Error {
	return &prereg.Error{Code: prereg.Invalid, Message: msg, Details: []prereg.FieldError{{Field: "encoding", Message: msg}}}
}

// Delimiter returns the delimiter detected from the header row.
func (d *Decoder) Delimiter() rune { return d.delim }

// Header returns the header's column names, lower-cased.
func (d *Decoder) Header() []string { return d.header }

// BytesRead returns how many bytes of the input the decoder has consumed so
// far, for progress reports; it runs ahead of the last record by at most a
// buffer.
func (d *Decoder) BytesRead() int64 { return d.src.n }

// SetValidation turns row validation off (or back on): decoding stays the
// same, only prereg.Input.Validate is left out, to be run later with
// Row.Validate or not at all (the importer's second pass reads rows it has
// already validated).
func (d *Decoder) SetValidation(on bool) { d.validate = on }

// Next returns the next data record, skipping blank lines (and lines whose
// cells are all empty). It returns io.EOF at the end. A record with the
// wrong number of cells or quoting broken within one line is a Row with
// Errors, not an error; an error is fatal, and every later call returns it
// again: bytes that are not UTF-8, a quoted cell that is never closed, a
// record longer than MaxRecordBytes (each an Invalid *prereg.Error naming
// the line), or a read failure.
func (d *Decoder) Next() (Row, error) {
	if d.err != nil {
		return Row{}, d.err
	}
	row, err := d.next()
	if err != nil && !errors.Is(err, io.EOF) {
		d.err = err
	}
	return row, err
}

func (d *Decoder) next() (Row, error) {
	for {
		d.src.limit = d.src.n + MaxRecordBytes + csvBufferSlack
		from := d.cr.InputOffset()
		if d.src.keep {
			d.src.release(from)
		}
		rec, err := d.cr.Read()
		if err != nil || d.src.truncated {
			return d.readError(rec, err)
		}
		line, _ := d.cr.FieldPos(0)
		d.lastLine = line + endLineOffset(rec)
		for i, c := range rec {
			if !utf8.ValidString(c) {
				l, _ := d.cr.FieldPos(i)
				return Row{}, encodingError(fmt.Sprintf("line %d is not valid UTF-8 (the file looks like Latin-1 or Windows-1252); %s", l, saveAsHint))
			}
		}
		if allBlank(rec) {
			continue
		}
		if i := d.idx[iEmail]; d.src.keep && i < len(rec) {
			if p := d.emailPrefix(i, from, line); p != "" {
				rec[i] = p + rec[i]
			}
		}
		return d.decode(line, rec), nil
	}
}

// emailPrefix returns the white space csv.Reader's TrimLeadingSpace dropped
// in front of cell i of the record just read (which starts at stream
// offset from, on line first), when it holds anything but ASCII white
// space: an address is trimmed of ASCII white space only (CONTRACT §1), so
// the decoder puts the rest back for the address rule to refuse. It finds
// the cell in the kept copy of the input by the position csv.Reader gives.
func (d *Decoder) emailPrefix(i int, from int64, first int) string {
	raw := d.src.upTo(d.cr.InputOffset())[from-d.src.keptOff:]
	// Before the record's first line come only the blank lines csv.Reader
	// skipped, and its other lines follow line breaks.
	start := 0
	for start < len(raw) {
		if raw[start] == '\n' {
			start++
		} else if raw[start] == '\r' && start+1 < len(raw) && raw[start+1] == '\n' {
			start += 2
		} else {
			break
		}
	}
	line, col := d.cr.FieldPos(i)
	for l := first; l < line; l++ {
		n := bytes.IndexByte(raw[start:], '\n')
		if n < 0 {
			return ""
		}
		start += n + 1
	}
	p := start + col - 1
	if p == start || p > len(raw) || raw[p-1] == byte(d.delim) {
		return "" // the usual case: nothing trimmed
	}
	q := p
	ascii := true
	for q > start {
		r, n := utf8.DecodeLastRune(raw[start:q])
		if !unicode.IsSpace(r) { // the delimiter
			break
		}
		ascii = ascii && (r == ' ' || r == '\t' || r == '\r' || r == '\n')
		q -= n
	}
	if ascii {
		return ""
	}
	return string(raw[q:p])
}

// Skipped reports whether the row is a revoked or expired registration,
// which an import never writes: importing an export must not reopen what
// was revoked or expired (CONTRACT §4).
func (r *Row) Skipped() bool {
	return r.Status == prereg.StatusRevoked || r.Status == prereg.StatusExpired
}

// parseStatus reads a status cell, folding ASCII letters only; it returns
// "" for anything but a known status.
func parseStatus(s string) prereg.Status {
	st := prereg.Status(strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s))
	switch st {
	case prereg.StatusPending, prereg.StatusGranted, prereg.StatusRevoked, prereg.StatusExpired:
		return st
	}
	return ""
}

// allBlank reports whether every cell is empty or white space: a blank
// line, or the ",,,," a spreadsheet writes for an empty row.
func allBlank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// endLineOffset is how many line breaks the record spans (encoding/csv
// turns CRLF inside quotes into LF, so counting LF is exact).
func endLineOffset(rec []string) int {
	n := 0
	for _, c := range rec {
		n += strings.Count(c, "\n")
	}
	return n
}

func (d *Decoder) decode(line int, rec []string) Row {
	row := Row{Line: line}
	if len(rec) < d.width {
		row.Errors = append(row.Errors, prereg.RowError{Line: line, Message: fmt.Sprintf("this row has %d cells but the header has %d columns; check for a missing delimiter or an unquoted line break", len(rec), d.width)})
		return row
	}
	for i := d.width; i < len(rec); i++ {
		if strings.TrimSpace(rec[i]) != "" {
			row.Errors = append(row.Errors, prereg.RowError{Line: line, Value: prereg.Truncate(strings.TrimSpace(rec[i])), Message: fmt.Sprintf("this row has a value in cell %d but the header has only %d columns; a cell that contains the delimiter %s must be wrapped in double quotes", i+1, d.width, delimName(d.delim))})
			return row
		}
	}
	cell := func(k int) string {
		if d.idx[k] < 0 {
			return ""
		}
		// ASCII white space only: a no-break space or U+2028 around an
		// address is not trimmed but refused (prereg.TrimEmail).
		return unneutralize(prereg.TrimEmail(rec[d.idx[k]]))
	}
	if st := cell(iStatus); st != "" {
		row.Status = parseStatus(st)
		if row.Skipped() {
			return row
		}
		if row.Status == "" {
			row.Errors = append(row.Errors, prereg.RowError{Line: line, Column: ColStatus, Value: prereg.Truncate(st), Message: "unknown status; the valid values are pending, granted, revoked and expired, or an empty cell"})
		}
	}
	rolesCell := cell(iRoles)
	in := prereg.Input{
		Email:          cell(iEmail),
		OrganizationID: cell(iOrganizationID),
		Roles:          splitRoles(rolesCell, d.roleSemis),
		Connection:     cell(iConnection),
	}
	if exp := cell(iExpiresAt); exp != "" {
		t, err := prereg.ParseExpiry(exp)
		if err != nil {
			row.Errors = append(row.Errors, prereg.RowError{Line: line, Column: ColExpiresAt, Value: prereg.Truncate(exp), Message: "not an RFC 3339 time (2027-01-31T18:00:00Z) or a date (2027-01-31, meaning the end of that day UTC)"})
		}
		in.ExpiresAt = t
	}
	row.Input = in.Normalize()
	row.rolesCell = rolesCell
	row.unchecked = true
	if d.validate {
		row.Validate()
	}
	return row
}

// Validate applies prereg's rules (prereg.Input.Validate) to a row read
// with validation off and adds what it finds to Errors; on any other row it
// does nothing. It touches only the row, so rows may be validated on other
// goroutines than the decoder's: the importer spreads this, the costly part
// of reading a file, over all cores.
func (row *Row) Validate() {
	if !row.unchecked {
		return
	}
	row.unchecked = false
	in, line := row.Input, row.Line
	if err := in.Validate(); err != nil {
		var pe *prereg.Error
		if !errors.As(err, &pe) || pe.Code != prereg.Invalid || len(pe.Details) == 0 {
			row.Errors = append(row.Errors, prereg.RowError{Line: line, Message: prereg.ErrorMessage(err)})
			return
		}
		for _, fd := range pe.Details {
			value := fd.Value
			switch fd.Field {
			case ColEmail:
				value = prereg.Truncate(in.Email)
			case ColOrganizationID:
				value = prereg.Truncate(in.OrganizationID)
			case ColConnection:
				value = prereg.Truncate(in.Connection)
			case ColRoles:
				// A single bad role is named by the validator; "no
				// roles" or "too many" are about the whole cell.
				if !containsTruncated(in.Roles, value) {
					value = prereg.Truncate(row.rolesCell)
				}
			}
			row.Errors = append(row.Errors, prereg.RowError{Line: line, Column: fd.Field, Value: value, Message: fd.Message})
		}
	}
}

func containsTruncated(roles []string, v string) bool {
	for _, r := range roles {
		if prereg.Truncate(r) == v {
			return true
		}
	}
	return false
}

func delimName(d rune) string {
	switch d {
	case ';':
		return "';'"
	case '\t':
		return "(tab)"
	}
	return "','"
}

// splitRoles splits a roles cell on '|', and on ';' too when the file's
// delimiter is a comma (CONTRACT §4). Empty pieces are dropped later by
// Normalize.
func splitRoles(s string, semis bool) []string {
	if s == "" {
		return nil
	}
	isSep := func(c byte) bool { return c == '|' || (semis && c == ';') }
	n := 1
	for i := 0; i < len(s); i++ {
		if isSep(s[i]) {
			n++
		}
	}
	out := make([]string, 0, n)
	start := 0
	for i := 0; i < len(s); i++ {
		if isSep(s[i]) {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unneutralize removes the one leading apostrophe the encoder puts in front
// of a cell that a spreadsheet would read as a formula. The encoder also
// adds one to a value that already starts with apostrophes before such a
// character, so one is removed whenever apostrophes lead to one.
func unneutralize(s string) string {
	if len(s) >= 2 && s[0] == '\'' && formulaAfterQuotes(s[1:]) {
		return s[1:]
	}
	return s
}

// formulaAfterQuotes reports whether s, after any leading apostrophes,
// begins with a character a spreadsheet takes for the start of a formula.
func formulaAfterQuotes(s string) bool {
	i := 0
	for i < len(s) && s[i] == '\'' {
		i++
	}
	return i < len(s) && isFormulaStart(s[i])
}

func isFormulaStart(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}
