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
	"unicode/utf8"

	"github.com/prereg/prereg/internal/prereg"
)

// MaxRecordBytes bounds one record (a row with all its cells). A quote that
// is never closed would otherwise swallow the rest of the file into one
// cell; past this size the decoder stops with an error naming the line.
const MaxRecordBytes = 64 << 10

// Column names of the import format, in the order the encoder writes them.
const (
	ColEmail          = "email"
	ColOrganizationID = "organization_id"
	ColRoles          = "roles"
	ColConnection     = "connection"
	ColExpiresAt      = "expires_at"
)

// Columns lists the known columns in export order.
var Columns = []string{ColEmail, ColOrganizationID, ColRoles, ColConnection, ColExpiresAt}

// saveAsHint ends every encoding error: it is the menu entry a person looks
// for in Excel's "Save as" dialog (Google Sheets and LibreOffice write UTF-8
// anyway).
const saveAsHint = `save the file as "CSV UTF-8 (Comma delimited)" (Excel) or export it as UTF-8 CSV and try again`

var errRecordTooLarge = errors.New("record too large")

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
	width     int // header cells up to the last named one
	idx       [5]int
	header    []string
	validate  bool
	lastLine  int // last physical line of the previous record
	roleSemis bool
}

// limitReader counts the bytes read and refuses to read more than
// MaxRecordBytes (plus csv.Reader's own buffer) past the start of the
// current record, which is what keeps a broken quote from eating memory.
type limitReader struct {
	r     io.Reader
	n     int64
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n >= l.limit {
		return 0, errRecordTooLarge
	}
	if rem := l.limit - l.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

// csvBufferSlack is how far csv.Reader's internal bufio may read ahead of
// the record it parses.
const csvBufferSlack = 4096

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

	d := &Decoder{delim: delim, validate: true, roleSemis: delim == ','}
	// n starts past the byte-order mark so that BytesRead counts the file.
	d.src = &limitReader{r: br, n: int64(bom), limit: int64(bom) + MaxRecordBytes + csvBufferSlack}
	d.cr = csv.NewReader(d.src)
	d.cr.Comma = delim
	d.cr.FieldsPerRecord = -1
	d.cr.ReuseRecord = true
	// A tab delimiter is white space itself: trimming it would shift cells.
	d.cr.TrimLeadingSpace = delim != '\t'

	rec, err := d.cr.Read()
	for err == nil && allBlank(rec) {
		rec, err = d.cr.Read()
	}
	if errors.Is(err, io.EOF) {
		return nil, headerError("file", "the file is empty: the first line must be a header row naming the columns "+strings.Join(Columns, ","))
	}
	if errors.Is(err, errRecordTooLarge) {
		return nil, headerError("header", fmt.Sprintf("the header row is longer than %d KiB; the first line must be a header row naming the columns %s", MaxRecordBytes>>10, strings.Join(Columns, ",")))
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

func headerError(field, msg string) *prereg.Error {
	return &prereg.Error{Code: prereg.Invalid, Message: msg, Details: []prereg.FieldError{{Field: field, Message: msg}}}
}

func encodingError(msg string) *prereg.Error {
	return &prereg.Error{Code: prereg.Invalid, Message: msg, Details: []prereg.FieldError{{Field: "encoding", Message: msg}}}
}

func (d *Decoder) parseHeader(rec []string) error {
	names := make([]string, len(rec))
	width := 0
	for i, c := range rec {
		names[i] = strings.ToLower(strings.TrimSpace(c))
		if names[i] != "" {
			width = i + 1
		}
	}
	names = names[:width]
	for i := range d.idx {
		d.idx[i] = -1
	}
	var details []prereg.FieldError
	known := 0
	for i, n := range names {
		if n == "" {
			details = append(details, prereg.FieldError{Field: "header", Message: fmt.Sprintf("column %d of the header has no name; name it (one of %s) or delete the column", i+1, strings.Join(Columns, ", "))})
			continue
		}
		k := columnIndex(n)
		if k < 0 {
			msg := fmt.Sprintf("unknown column %q", prereg.Truncate(rec[i]))
			if s := nearestColumn(n); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else {
				msg += "; the known columns are " + strings.Join(Columns, ", ")
			}
			details = append(details, prereg.FieldError{Field: prereg.Truncate(strings.TrimSpace(rec[i])), Message: msg})
			continue
		}
		known++
		if d.idx[k] >= 0 {
			details = append(details, prereg.FieldError{Field: n, Message: fmt.Sprintf("column %q appears twice (columns %d and %d); keep one", n, d.idx[k]+1, i+1)})
			continue
		}
		d.idx[k] = i
	}
	if len(details) == 0 || known > 0 {
		for _, k := range []int{0, 2} {
			if d.idx[k] < 0 {
				details = append(details, prereg.FieldError{Field: Columns[k], Message: fmt.Sprintf("the required column %q is missing from the header row", Columns[k])})
			}
		}
	}
	if len(details) > 0 {
		msg := "the header row is not valid: " + details[0].Message
		if known == 0 {
			msg = "the first line must be a header row naming the columns (" + strings.Join(Columns, ", ") + "): " + details[0].Message
		}
		if len(details) > 1 {
			msg += fmt.Sprintf(" (and %d more)", len(details)-1)
		}
		return &prereg.Error{Code: prereg.Invalid, Message: msg, Details: details}
	}
	d.width = width
	d.header = names
	return nil
}

func columnIndex(name string) int {
	for i, c := range Columns {
		if c == name {
			return i
		}
	}
	return -1
}

// nearestColumn suggests the known column closest to a typo, or "" when
// nothing is close enough to be a plausible typo.
func nearestColumn(name string) string {
	norm := strings.NewReplacer(" ", "_", "-", "_").Replace(name)
	best, bestDist := "", 1<<30
	for _, c := range Columns {
		if dist := levenshtein(norm, c); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	limit := 2
	if len(best) > 8 {
		limit = 4
	}
	if bestDist <= limit {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	if len(a) > 64 {
		a = a[:64]
	}
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
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
// wrong number of cells or broken quoting is a Row with Errors, not an
// error; an error is fatal: bytes that are not UTF-8, a record longer than
// MaxRecordBytes (both an Invalid *prereg.Error naming the line), or a read
// failure.
func (d *Decoder) Next() (Row, error) {
	for {
		d.src.limit = d.src.n + MaxRecordBytes + csvBufferSlack
		rec, err := d.cr.Read()
		if err != nil {
			return d.readError(err)
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
		return d.decode(line, rec), nil
	}
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

func (d *Decoder) readError(err error) (Row, error) {
	if errors.Is(err, io.EOF) {
		return Row{}, io.EOF
	}
	if errors.Is(err, errRecordTooLarge) {
		msg := fmt.Sprintf("the record that starts after line %d is longer than %d KiB, probably because a quoted cell is never closed (a \" without its partner); fix the quoting there", d.lastLine, MaxRecordBytes>>10)
		return Row{}, &prereg.Error{Code: prereg.Invalid, Message: msg, Details: []prereg.FieldError{{Field: "line", Message: msg}}}
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		// encoding/csv drops the rest of a record it cannot parse and
		// resumes at the next line, so one bad quote costs one row.
		d.lastLine = pe.Line
		msg := "the quoting is broken: a cell that contains a quote, the delimiter or a line break must be wrapped in double quotes, with each quote inside doubled (\"\")"
		if errors.Is(pe.Err, csv.ErrQuote) && pe.Line != pe.StartLine {
			msg = fmt.Sprintf("a quoted cell opened on this line is not closed properly (the problem is on line %d); %s", pe.Line, msg)
		}
		return Row{Line: pe.StartLine, Errors: []prereg.RowError{{Line: pe.StartLine, Message: msg}}}, nil
	}
	return Row{}, fmt.Errorf("read csv: %w", err)
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
	rolesCell := cell(2)
	in := prereg.Input{
		Email:          cell(0),
		OrganizationID: cell(1),
		Roles:          splitRoles(rolesCell, d.roleSemis),
		Connection:     cell(3),
	}
	if exp := cell(4); exp != "" {
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
