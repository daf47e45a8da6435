package lead

import "time"

// SetRecomputeBatch makes Recompute read n contacts per batch and split
// the events read of any batch of two or more, so a test crosses batch
// and half boundaries with few contacts; the returned func restores both.
func SetRecomputeBatch(n int) func() {
	old, oldHalf := recomputeBatch, minHalf
	recomputeBatch, minHalf = n, 1
	return func() { recomputeBatch, minHalf = old, oldHalf }
}

// SetRecomputeHold makes a recompute transaction take further batches for
// d (0: one batch per transaction); the returned func restores it.
func SetRecomputeHold(d time.Duration) func() {
	old := recomputeHold
	recomputeHold = d
	return func() { recomputeHold = old }
}

// SetReindexMin sets how many rows a recompute must expect to write before
// it rebuilds the score index (0: always, when most rows change).
func SetReindexMin(n int) func() {
	old := reindexMin
	reindexMin = n
	return func() { reindexMin = old }
}

// ReindexedDef is the kept definition of a reindexed index (tests).
func ReindexedDef(name string) string { return reindexedDefs[name] }
