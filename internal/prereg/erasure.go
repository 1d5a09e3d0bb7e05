package prereg

// Erasure says what an erasure removed.
type Erasure struct {
	Registrations   []string `json:"registrations"`
	ImportsScrubbed int      `json:"imports_scrubbed"`
	Compacted       bool     `json:"compacted"`
}
