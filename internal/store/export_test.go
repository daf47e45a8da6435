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

// OnGroupWritten has fn told the size of every batch TxGrouped writes
// (tests).
func OnGroupWritten(db *DB, fn func(n int)) {
	db.group.ran = fn
}

// GroupQueued is how many TxGrouped calls wait (tests).
func GroupQueued(db *DB) int {
	return db.group.Waiting()
}
