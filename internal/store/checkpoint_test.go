package store_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// walIndex reads the frames in the WAL (mxFrame) and how many of them a
// checkpoint has copied into the database file (nBackfill) from the
// wal-index in the -shm file, without taking part in SQLite's locking:
// a checkpoint run to look would be the very thing under test. The
// header's mxFrame is at byte 16, the checkpoint information (nBackfill
// first) after the two header copies at byte 96, in native byte order.
func walIndex(t *testing.T, path string) (mxFrame, nBackfill uint32) {
	t.Helper()
	b, err := os.ReadFile(path + "-shm")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 100 {
		t.Fatalf("wal-index of %d bytes", len(b))
	}
	return binary.NativeEndian.Uint32(b[16:]), binary.NativeEndian.Uint32(b[96:])
}

// TestCheckpointsBesideTheWriter: on SQLite the commits of DB.Tx leave the
// WAL's copying to the checkpointer on a read connection, which copies a
// few commits' pages soon after, well before SQLite's own threshold
// (1,000 pages, which these writes are far below); SQLite's automatic
// checkpoint stays as a backstop only.
func TestCheckpointsBesideTheWriter(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, store.SQLite)
	ctx := context.Background()
	var auto int
	if err := db.W.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil {
		t.Fatal(err)
	}
	if auto != 10000 {
		t.Fatalf("write connection's wal_autocheckpoint %d, want the backstop of 10000 pages", auto)
	}
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for i := range 20 {
		err := db.Tx(ctx, func(tx store.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`,
				id.New(), fmt.Sprintf("ckpt-%d", i), "Checkpoint", now)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mx, back := walIndex(t, db.Path())
		if mx > 0 && back == mx {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d WAL frames copied into the database file 5 s after the commits, want all", back, mx)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var n int
	if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM workspaces WHERE slug LIKE 'ckpt-%'`).Scan(&n); err != nil || n != 20 {
		t.Fatalf("%d rows read back (%v), want 20", n, err)
	}
}
