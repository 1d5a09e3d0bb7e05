package prereg

// ImportOptions say how a CSV import runs, wherever it runs (through the
// admin API or on the store file).
type ImportOptions struct {
	// DryRun validates and reports; nothing but the report is written.
	DryRun bool
	// Strict writes nothing when any row is rejected.
	Strict bool
	// Progress, when set, is called now and then with the input bytes
	// worked through so far (up to twice the input when the import reads it
	// in two passes).
	Progress func(done int64)
}
