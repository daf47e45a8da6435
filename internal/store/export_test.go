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

// ReadStmts is how many statements db keeps prepared on the read pool
// (tests).
func ReadStmts(db *DB) int {
	if db.reads == nil {
		return 0
	}
	db.reads.mu.Lock()
	defer db.reads.mu.Unlock()
	return len(db.reads.stmts)
}
