package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// On SQLite the WAL is copied back into the database file by a checkpoint.
// Left to SQLite, the commit that takes the WAL past 1,000 pages runs one
// itself: the write connection then copies the pages and syncs the file
// inside that commit, while every other writer waits for it. That was
// about a twelfth of the writer's time in the capture benchmark and its
// longest commits. The checkpointer runs passive checkpoints on a read
// connection instead, on the other core: a passive checkpoint copies what
// no reader still needs and never takes the write lock, so writers go on
// meanwhile.
//
// A commit through DB.Tx asks for one; the checkpointer runs at most one
// per checkpointPause, and one a second in any case for writes made
// outside DB.Tx. SQLite's own checkpoint stays as a backstop at
// checkpointBackstop pages, should the checkpointer fall behind.
const (
	checkpointPause    = 10 * time.Millisecond
	checkpointBackstop = 10000
)

type checkpointer struct {
	// mu is held for each checkpoint: SQLite lets one run at a time and
	// answers any other at once with SQLITE_BUSY, busy timeout or not.
	mu   sync.Mutex
	r    *sql.DB
	kick chan struct{}
	// ctx ends with stop, so that Close does not wait for a checkpoint
	// that waits for a read connection.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// startCheckpointer turns the write connection's automatic checkpoints
// down to the backstop and starts the checkpointer on r.
func startCheckpointer(ctx context.Context, w, r *sql.DB) (*checkpointer, error) {
	if _, err := w.ExecContext(ctx, fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d`, checkpointBackstop)); err != nil {
		return nil, fmt.Errorf("checkpoint setting: %w", err)
	}
	c := &checkpointer{r: r, kick: make(chan struct{}, 1), done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.run()
	return c, nil
}

func (c *checkpointer) run() {
	defer close(c.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	pause := time.NewTimer(0)
	<-pause.C
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.kick:
		case <-tick.C:
		}
		// A failed passive checkpoint loses nothing: the pages stay in the
		// WAL for the next one (or SQLite's backstop).
		_ = c.passive(c.ctx)
		// Commits that come during the pause share the next checkpoint.
		pause.Reset(checkpointPause)
		select {
		case <-c.ctx.Done():
			pause.Stop()
			return
		case <-pause.C:
		}
	}
}

func (c *checkpointer) passive(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.r.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
	return err
}

// request asks for a checkpoint without waiting for it.
func (c *checkpointer) request() {
	if c == nil {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// stop ends the checkpointer and waits for it; SQLite checkpoints what is
// left when the last connection closes.
func (c *checkpointer) stop() {
	if c == nil {
		return
	}
	c.once.Do(func() {
		c.cancel()
		<-c.done
	})
}

// Checkpoint copies the whole WAL into the database file and truncates it
// (SQLite; nothing on PostgreSQL), for whoever reads the file itself: a
// size, a search of its bytes. It waits for the checkpointer's checkpoint
// of the moment instead of failing on it, and for the writers and readers
// of the moment (busy timeout); a WAL still in use after that is an error.
func (db *DB) Checkpoint(ctx context.Context) error {
	if db.Dialect != SQLite {
		return nil
	}
	if db.ckpt != nil {
		db.ckpt.mu.Lock()
		defer db.ckpt.mu.Unlock()
	}
	var busy, log, done int
	if err := db.W.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &log, &done); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("checkpoint: the WAL is still in use (%d of %d frames copied)", done, log)
	}
	return nil
}

// CheckpointPassive runs a passive checkpoint now and returns when it is
// done (SQLite; nothing on PostgreSQL): for a writer that has turned
// SQLite's automatic checkpoint off for a while (a recompute) and wants
// its last pages copied before it reports done. A checkpoint of the
// checkpointer's that is running is waited for, not failed on.
func (db *DB) CheckpointPassive(ctx context.Context) error {
	if db.Dialect != SQLite || db.ckpt == nil {
		return nil
	}
	if err := db.ckpt.passive(ctx); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}
