package store

// CachedStmts is how many statements db keeps prepared (tests).
func CachedStmts(db *DB) int {
	if db.stmts == nil {
		return 0
	}
	db.stmts.mu.Lock()
	defer db.stmts.mu.Unlock()
	return len(db.stmts.stmts)
}
