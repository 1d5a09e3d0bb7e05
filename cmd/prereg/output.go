package main

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"

	"github.com/prereg/prereg/internal/prereg"
)

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// osCause is the operating system's reason for a failed file operation
// ("permission denied"), without the path the message names already.
func osCause(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// checkLimit refuses a page size the service refuses, on the file too.
func checkLimit(limit int) error {
	if limit < 1 || limit > 1000 {
		return prereg.Errorf(prereg.Invalid, "--limit must be between 1 and 1000")
	}
	return nil
}
