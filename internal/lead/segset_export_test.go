package lead

// SetProbeMax sets how few members of an AND make the set count check the
// remaining conditions contact by contact (0: never); the returned func
// restores it.
func SetProbeMax(n int) func() {
	old := probeMax
	probeMax = n
	return func() { probeMax = old }
}
