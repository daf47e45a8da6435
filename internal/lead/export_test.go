package lead

import "time"

// SetRecomputeBatch makes Recompute write n contacts per transaction, so
// a test crosses batch boundaries with few contacts; the returned func
// restores the size.
func SetRecomputeBatch(n int) func() {
	old := recomputeBatch
	recomputeBatch = n
	return func() { recomputeBatch = old }
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
