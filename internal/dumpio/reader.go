package dumpio

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/prereg/prereg/internal/prereg"
)

// MaxLineBytes bounds one line of a stream (an import report with its
// thousand row errors is the longest item), so a corrupt stream without
// newlines cannot fill the memory.
const MaxLineBytes = 16 << 20

// magic is how every stream starts; Sniff compares it.
var magic = []byte(`{"format":"` + formatName + `"`)

// Sniff reports whether first, the first bytes of a file (at least 22 of
// them), begin a dump stream rather than something else, e.g. a bbolt file.
func Sniff(first []byte) bool {
	return bytes.HasPrefix(first, magic)
}

// Reader reads a dump stream. Every error names the line it is about.
type Reader struct {
	r      *bufio.Reader
	line   int
	rank   int
	counts prereg.DumpCounts
	done   bool
	err    error
}

// NewReader reads the stream's header and returns a Reader positioned at
// the first item.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{r: bufio.NewReaderSize(r, 64<<10), counts: prereg.DumpCounts{}}
	b, err := rd.readLine()
	if err == io.EOF {
		return nil, errors.New("dump stream is empty: want a header line")
	}
	if err != nil {
		return nil, err
	}
	var h header
	if !Sniff(b) || strictDecode(b, &h) != nil {
		return nil, fmt.Errorf("line 1: not a prereg dump (want a %s header)", magic)
	}
	if h.Version != version {
		return nil, fmt.Errorf("line 1: dump format version %d, this prereg reads version %d", h.Version, version)
	}
	return rd, nil
}

// Next returns the next item, or io.EOF after the end line, once the
// counts it holds matched the items read.
func (r *Reader) Next() (prereg.DumpItem, error) {
	if r.err != nil {
		return prereg.DumpItem{}, r.err
	}
	it, err := r.next()
	if err != nil {
		r.err = err
	}
	return it, err
}

func (r *Reader) next() (prereg.DumpItem, error) {
	if r.done {
		return prereg.DumpItem{}, io.EOF
	}
	b, err := r.readLine()
	if err == io.EOF {
		return prereg.DumpItem{}, fmt.Errorf("line %d: the stream ends without its end line (cut short?)", r.line)
	}
	if err != nil {
		return prereg.DumpItem{}, err
	}
	var l line
	if err := strictDecode(b, &l); err != nil {
		return prereg.DumpItem{}, r.errorf("%v", err)
	}
	if l.Kind == endKind {
		return prereg.DumpItem{}, r.end(l)
	}
	it, err := l.item()
	if err != nil {
		return it, r.errorf("%v", err)
	}
	rank := kindRank(it.Kind)
	if rank < r.rank {
		return prereg.DumpItem{}, r.errorf("a %s item after %s items (kinds come in the order %s)", it.Kind, prereg.DumpKinds[r.rank], kindList())
	}
	r.rank = rank
	r.counts[it.Kind]++
	return it, nil
}

// end checks the end line's counts and that nothing follows it.
func (r *Reader) end(l line) error {
	if l.Counts == nil {
		return r.errorf("end line without counts")
	}
	for _, k := range slices.Sorted(maps.Keys(l.Counts)) {
		if kindRank(k) < 0 {
			return r.errorf("end line counts an unknown kind %q", k)
		}
	}
	for _, k := range prereg.DumpKinds {
		if l.Counts[k] != r.counts[k] {
			return r.errorf("end line counts %d %s items, the stream held %d", l.Counts[k], k, r.counts[k])
		}
	}
	if _, err := r.readLine(); err != io.EOF {
		if err == nil {
			return r.errorf("data after the end line")
		}
		return err
	}
	r.done = true
	return io.EOF
}

// readLine returns the next line without its newline; a last line
// without one is still a line.
func (r *Reader) readLine() ([]byte, error) {
	r.line++
	var buf []byte
	for {
		chunk, err := r.r.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLineBytes {
			return nil, r.errorf("longer than %d bytes", MaxLineBytes)
		}
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			return buf[:len(buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(buf) > 0:
			return buf, nil
		case err == io.EOF:
			return nil, io.EOF
		default:
			return nil, r.errorf("read: %w", err)
		}
	}
}

func (r *Reader) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d: "+format, append([]any{r.line}, args...)...)
}

// strictDecode decodes exactly one JSON object with known fields only.
func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

func kindList() string {
	names := make([]string, len(prereg.DumpKinds))
	for i, k := range prereg.DumpKinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}
