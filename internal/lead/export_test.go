package lead

// SetRecomputeBatch makes Recompute write n contacts per transaction, so
// a test crosses batch boundaries with few contacts; the returned func
// restores the size.
func SetRecomputeBatch(n int) func() {
	old := recomputeBatch
	recomputeBatch = n
	return func() { recomputeBatch = old }
}
