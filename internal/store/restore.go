package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
)

// RestoreResult says what Restore did.
type RestoreResult struct {
	// Path is the restored database file.
	Path string
	// Before is where the replaced database was kept ("" when there was none).
	Before string
}

// ErrInUse means another connection holds the SQLite database.
var ErrInUse = errors.New("the database is in use")

// Restore puts the SQLite backup file from in place as the database of
// dataDir. The backup is copied beside the database, migrated, handed to
// prepare together with the live database being replaced (nil when there
// is none), and renamed over the database only when all of that succeeded;
// the replaced file stays as fairlead.db.before-restore (mode 0600).
//
// The live database is held under an exclusive lock from the start, after
// its WAL has been folded in: a fairlead process that still has it open
// makes Restore fail with ErrInUse instead of losing its writes, and none
// can open it while the restore runs.
func Restore(ctx context.Context, dataDir, from string, prepare func(ctx context.Context, restored, live *DB) error) (RestoreResult, error) {
	path := filepath.Join(dataDir, "fairlead.db")
	before := path + ".before-restore"
	tmp := path + ".restoring"
	res := RestoreResult{Path: path}
	if _, err := os.Stat(before); err == nil {
		return res, fmt.Errorf("%s is left from an earlier restore; move it away first", before)
	}
	if abs, _ := filepath.Abs(from); abs != "" {
		if p, _ := filepath.Abs(path); p == abs {
			return res, errors.New("--from is the live database itself")
		}
	}
	if err := checkSQLiteFile(ctx, from); err != nil {
		return res, err
	}

	var live *DB
	if _, err := os.Stat(path); err == nil {
		var err error
		if live, err = lockSQLite(ctx, path); err != nil {
			return res, err
		}
		defer live.Close()
		if _, err := live.Migrate(ctx); err != nil {
			return res, fmt.Errorf("migrate the live database: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return res, err
	}

	os.Remove(tmp) // left by an interrupted restore; never the live database
	os.Remove(tmp + "-wal")
	os.Remove(tmp + "-shm")
	fail := func(err error) (RestoreResult, error) {
		os.Remove(tmp)
		os.Remove(tmp + "-wal")
		os.Remove(tmp + "-shm")
		return res, err
	}
	if err := copyFile(from, tmp); err != nil {
		return fail(fmt.Errorf("copy the backup: %w", err))
	}
	restored, err := openSQLiteFile(ctx, tmp)
	if err != nil {
		return fail(err)
	}
	if _, err := restored.Migrate(ctx); err != nil {
		restored.Close()
		return fail(fmt.Errorf("migrate the backup: %w", err))
	}
	if err := prepare(ctx, restored, live); err != nil {
		restored.Close()
		return fail(err)
	}
	// Fold the copy's WAL into its file, so one rename moves all of it, and
	// vacuum it with the journal in memory: what prepare took out (keys of
	// people erased since, in a backup that still held keys) must not stay
	// in a free page or a journal on disk.
	restored.R.Close()
	var mode string
	if err := restored.W.QueryRowContext(ctx, `PRAGMA journal_mode=MEMORY`).Scan(&mode); err != nil || mode != "memory" {
		restored.Close()
		return fail(fmt.Errorf("finish the restored copy: journal mode %q: %v", mode, err))
	}
	if _, err := restored.W.ExecContext(ctx, `VACUUM`); err != nil {
		restored.Close()
		return fail(fmt.Errorf("vacuum the restored copy: %w", err))
	}
	if err := restored.W.Close(); err != nil {
		return fail(err)
	}
	if err := syncFile(tmp); err != nil {
		return fail(err)
	}
	if live != nil {
		// A hard link keeps the old file under its new name without
		// ever replacing an existing one.
		if err := os.Link(path, before); err != nil {
			return fail(fmt.Errorf("keep the replaced database as %s: %w", before, err))
		}
		os.Chmod(before, 0o600)
		res.Before = before
	}
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	if err := os.Rename(tmp, path); err != nil {
		if live != nil {
			os.Remove(before)
			res.Before = ""
		}
		return fail(err)
	}
	syncDir(dataDir)
	return res, nil
}

// lockSQLite opens the live database on one connection that holds it
// exclusively until closed. Leaving WAL mode needs every other connection
// closed, so it is also the test that no fairlead process has it open.
func lockSQLite(ctx context.Context, path string) (*DB, error) {
	v := url.Values{}
	v.Add("_pragma", "busy_timeout(2000)")
	v.Add("_pragma", "foreign_keys(ON)")
	v.Add("_time_format", "sqlite")
	c, err := sql.Open("sqlite", "file:"+path+"?"+v.Encode())
	if err != nil {
		return nil, err
	}
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	c.SetConnMaxLifetime(0)
	c.SetConnMaxIdleTime(0)
	inUse := fmt.Errorf("%w: stop fairlead serve and every other fairlead command using %s, then restore", ErrInUse, path)
	var mode string
	if err := c.QueryRowContext(ctx, `PRAGMA locking_mode=EXCLUSIVE`).Scan(&mode); err != nil {
		c.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := c.QueryRowContext(ctx, `PRAGMA journal_mode=DELETE`).Scan(&mode); err != nil || mode != "delete" {
		c.Close()
		return nil, inUse
	}
	// In exclusive locking mode the lock of the first write is kept until
	// the connection closes.
	if _, err := c.ExecContext(ctx, `BEGIN EXCLUSIVE`); err != nil {
		c.Close()
		return nil, inUse
	}
	if _, err := c.ExecContext(ctx, `COMMIT`); err != nil {
		c.Close()
		return nil, inUse
	}
	return &DB{Dialect: SQLite, W: c, R: c, path: path}, nil
}

// openSQLiteFile opens a SQLite file that is not the data directory's database.
func openSQLiteFile(ctx context.Context, path string) (*DB, error) {
	w, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(2)
	return &DB{Dialect: SQLite, W: w, R: r, path: path}, nil
}

// checkSQLiteFile refuses anything but an intact fairlead SQLite database.
func checkSQLiteFile(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	v := url.Values{}
	v.Add("mode", "ro")
	c, err := sql.Open("sqlite", "file:"+path+"?"+v.Encode())
	if err != nil {
		return err
	}
	defer c.Close()
	var ok string
	if err := c.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&ok); err != nil || ok != "ok" {
		return fmt.Errorf("%s is not an intact SQLite database (quick_check: %q %v)", path, ok, err)
	}
	var n int
	if err := c.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n == 0 {
		return fmt.Errorf("%s is not a fairlead database (no schema_migrations)", path)
	}
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, cerr := io.Copy(dst, src)
	return errors.Join(cerr, dst.Sync(), dst.Close())
}
