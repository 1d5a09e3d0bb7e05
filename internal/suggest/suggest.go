// Package suggest finds the nearest of known names to a mistyped one, for
// "did you mean" hints (CSV headers, command-line flags).
package suggest

// Distance is the Levenshtein distance between a and b, in runes; a is cut
// to 64 bytes first, so a long typo costs no more than a short one.
func Distance(a, b string) int {
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
