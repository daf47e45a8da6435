package keyring

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/fairlead/fairlead/internal/store"
)

// A backup of the database holds no contact keys: they go to a separate key
// file, so that erasing a person (shredding their key) also makes them
// unreadable in every database backup taken before. Only the key file must
// be kept short-lived (the newest one); database backups can be kept as long
// as needed.

// KeyFileFormat names the key file format in its first line.
const KeyFileFormat = "fairlead-keys"

// keyLine is one line of a key file (JSON lines): the header, a derived key
// or a contact key. Wrapped values stay wrapped under the master key, so the
// file alone opens nothing.
type keyLine struct {
	Format  string `json:"format,omitempty"`
	Version int    `json:"version,omitempty"`

	Derived string `json:"derived,omitempty"`

	WorkspaceID string     `json:"workspace_id,omitempty"`
	ContactID   string     `json:"contact_id,omitempty"`
	Wrapped     []byte     `json:"wrapped,omitempty"`
	KeyID       string     `json:"key_id,omitempty"`
	CreatedAt   *time.Time `json:"created_at,omitempty"`
	ShreddedAt  *time.Time `json:"shredded_at,omitempty"`
}

// WithholdKeys takes the key material of every contact key out of q, a
// backup copy. The rows stay, marked neither shredded nor readable, so a
// restore knows which keys to bring back and the contacts cannot get fresh
// keys meanwhile. It returns the number of keys taken out.
func WithholdKeys(ctx context.Context, q store.Querier) (int, error) {
	wss, err := store.Strings(ctx, q, `SELECT id FROM workspaces ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("read workspaces: %w", err)
	}
	total := 0
	for _, ws := range wss {
		res, err := q.ExecContext(ctx, `UPDATE contact_keys SET wrapped = NULL, key_id = NULL WHERE workspace_id = $1 AND wrapped IS NOT NULL`, ws)
		if err != nil {
			return total, fmt.Errorf("withhold contact keys: %w", err)
		}
		n, _ := res.RowsAffected()
		total += int(n)
	}
	return total, nil
}

// ExportReport counts what ExportKeys wrote.
type ExportReport struct {
	Keys, Shredded, Derived int
}

// ExportKeys writes the contact keys (shredded ones as such) and the derived
// keys of q as a key file.
func ExportKeys(ctx context.Context, q store.Querier, w io.Writer) (ExportReport, error) {
	var rep ExportReport
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(keyLine{Format: KeyFileFormat, Version: 1}); err != nil {
		return rep, err
	}
	rows, err := readDerived(ctx, q)
	if err != nil {
		return rep, err
	}
	for _, d := range derived {
		if s, ok := rows[d.name]; ok {
			if err := enc.Encode(keyLine{Derived: d.name, Wrapped: s.wrapped, KeyID: s.keyID}); err != nil {
				return rep, err
			}
			rep.Derived++
		}
	}
	wss, err := store.Strings(ctx, q, `SELECT id FROM workspaces ORDER BY id`)
	if err != nil {
		return rep, fmt.Errorf("read workspaces: %w", err)
	}
	for _, ws := range wss {
		rows, err := q.QueryContext(ctx, `SELECT contact_id, wrapped, key_id, created_at, shredded_at FROM contact_keys WHERE workspace_id = $1 ORDER BY contact_id`, ws)
		if err != nil {
			return rep, fmt.Errorf("read contact keys: %w", err)
		}
		for rows.Next() {
			l := keyLine{WorkspaceID: ws}
			var keyID sql.NullString
			var created time.Time
			var shredded sql.NullTime
			if err := rows.Scan(&l.ContactID, &l.Wrapped, &keyID, &created, &shredded); err != nil {
				rows.Close()
				return rep, err
			}
			l.KeyID, l.CreatedAt = keyID.String, &created
			if l.Wrapped == nil {
				t := created
				if shredded.Valid {
					t = shredded.Time
				}
				l.ShreddedAt = &t
				rep.Shredded++
			} else {
				rep.Keys++
			}
			if err := enc.Encode(l); err != nil {
				rows.Close()
				return rep, err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return rep, err
		}
	}
	return rep, bw.Flush()
}

// KeySource is where RestoreKeys takes the contact keys from.
type KeySource struct {
	// Live is the database being replaced, or nil when it is lost.
	Live store.Querier
	// File is a key file written by ExportKeys, or nil. When given, the keys
	// come from it; otherwise from Live. Either way a key shredded in Live
	// stays shredded.
	File io.Reader
}

// RestoreReport counts what RestoreKeys did.
type RestoreReport struct {
	// Restored keys open again.
	Restored int
	// Shredded keys were erased before the backup, or since in the live
	// database: those people stay unreadable.
	Shredded int
	// ErasedSince were readable in the backup and erased since (part of Shredded).
	ErasedSince int
	// Missing keys were in neither source; those contacts are unreadable.
	Missing int
}

// RestoreKeys fills the withheld contact keys of a restored SQLite copy from
// src. A key comes back only if the source has it and the backup did not
// already record it as shredded; everything else ends shredded, so no
// restore can bring back an erased person. The derived keys are taken from
// the source too (their values never change, but the source has them under
// the current master key).
func RestoreKeys(ctx context.Context, restored *store.DB, src KeySource) (RestoreReport, error) {
	var rep RestoreReport
	if restored.Dialect != store.SQLite {
		return rep, errors.New("keyring: RestoreKeys works on a restored SQLite copy")
	}
	if src.Live == nil && src.File == nil {
		return rep, errors.New("keyring: no source for the contact keys")
	}
	// One connection: the source keys sit in TEMP tables, which live in
	// memory (temp_store) and vanish with it, so keys of people erased in
	// the live database never touch the restored file.
	conn, err := restored.W.Conn(ctx)
	if err != nil {
		return rep, err
	}
	defer conn.Close()
	for _, q := range []string{
		`CREATE TEMP TABLE restore_keys (workspace_id TEXT NOT NULL, contact_id TEXT NOT NULL, wrapped BLOB, key_id TEXT, shredded_at TIMESTAMP, PRIMARY KEY (workspace_id, contact_id))`,
		`CREATE TEMP TABLE restore_derived (name TEXT PRIMARY KEY, wrapped BLOB NOT NULL, key_id TEXT NOT NULL)`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return rep, err
		}
	}
	defer func() {
		conn.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS temp.restore_keys`)
		conn.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS temp.restore_derived`)
	}()

	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return rep, err
	}
	defer tx.Rollback()
	if src.File != nil {
		if err := loadKeyFile(ctx, tx, src.File); err != nil {
			return rep, err
		}
	}
	if src.Live != nil {
		if err := loadLive(ctx, tx, src.Live, src.File == nil); err != nil {
			return rep, err
		}
	}
	now := time.Now().UTC()
	wss, err := store.Strings(ctx, tx, `SELECT id FROM workspaces ORDER BY id`)
	if err != nil {
		return rep, err
	}
	const match = `r.workspace_id = contact_keys.workspace_id AND r.contact_id = contact_keys.contact_id`
	for _, ws := range wss {
		var missing, erasedSince int
		if err := tx.QueryRowContext(ctx, `SELECT
			COALESCE(SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM restore_keys r WHERE `+match+`) THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM restore_keys r WHERE `+match+` AND r.wrapped IS NULL) THEN 1 ELSE 0 END), 0)
			FROM contact_keys WHERE workspace_id = $1 AND shredded_at IS NULL`, ws).Scan(&missing, &erasedSince); err != nil {
			return rep, fmt.Errorf("compare keys: %w", err)
		}
		rep.Missing += missing
		rep.ErasedSince += erasedSince
		if _, err := tx.ExecContext(ctx, `UPDATE contact_keys SET
			wrapped = (SELECT r.wrapped FROM restore_keys r WHERE `+match+`),
			key_id = (SELECT r.key_id FROM restore_keys r WHERE `+match+`)
			WHERE workspace_id = $1 AND shredded_at IS NULL
			AND EXISTS (SELECT 1 FROM restore_keys r WHERE `+match+` AND r.wrapped IS NOT NULL)`, ws); err != nil {
			return rep, fmt.Errorf("restore keys: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE contact_keys SET wrapped = NULL, key_id = NULL,
			shredded_at = COALESCE(shredded_at, (SELECT r.shredded_at FROM restore_keys r WHERE `+match+`), $2)
			WHERE workspace_id = $1 AND (shredded_at IS NOT NULL
				OR NOT EXISTS (SELECT 1 FROM restore_keys r WHERE `+match+` AND r.wrapped IS NOT NULL))`, ws, now); err != nil {
			return rep, fmt.Errorf("keep erased keys shredded: %w", err)
		}
		var restoredN, shredded int
		if err := tx.QueryRowContext(ctx, `SELECT
			COALESCE(SUM(CASE WHEN wrapped IS NOT NULL THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN wrapped IS NULL THEN 1 ELSE 0 END), 0)
			FROM contact_keys WHERE workspace_id = $1`, ws).Scan(&restoredN, &shredded); err != nil {
			return rep, err
		}
		rep.Restored += restoredN
		rep.Shredded += shredded - missing
	}
	var nDerived int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM restore_derived`).Scan(&nDerived); err != nil {
		return rep, err
	}
	if nDerived > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM keyring_keys`); err != nil {
			return rep, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO keyring_keys (name, wrapped, key_id, created_at, updated_at) SELECT name, wrapped, key_id, $1, $1 FROM restore_derived`, now); err != nil {
			return rep, fmt.Errorf("restore derived keys: %w", err)
		}
	}
	return rep, tx.Commit()
}

func loadKeyFile(ctx context.Context, tx *sql.Tx, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		var l keyLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("key file line %d: %w", line, err)
		}
		switch {
		case line == 1:
			if l.Format != KeyFileFormat || l.Version != 1 {
				return fmt.Errorf("--keys: not a fairlead key file (want format %q version 1 in the first line)", KeyFileFormat)
			}
		case l.Derived != "":
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO restore_derived (name, wrapped, key_id) VALUES ($1, $2, $3)`, l.Derived, l.Wrapped, l.KeyID); err != nil {
				return err
			}
		case l.WorkspaceID != "" && l.ContactID != "":
			var wrapped []byte
			var keyID any
			if l.ShreddedAt == nil {
				wrapped, keyID = l.Wrapped, l.KeyID
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO restore_keys (workspace_id, contact_id, wrapped, key_id, shredded_at) VALUES ($1, $2, $3, $4, $5)`,
				l.WorkspaceID, l.ContactID, wrapped, keyID, l.ShreddedAt); err != nil {
				return err
			}
		default:
			return fmt.Errorf("key file line %d: neither a derived nor a contact key", line)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read key file: %w", err)
	}
	if line == 0 {
		return errors.New("--keys: the key file is empty")
	}
	return nil
}

// loadLive copies the live database's keys (all of them, or only the
// shredded ones when a key file is the source) into the temp tables.
func loadLive(ctx context.Context, tx *sql.Tx, live store.Querier, all bool) error {
	if all {
		rows, err := readDerived(ctx, live)
		if err != nil {
			return err
		}
		for name, s := range rows {
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO restore_derived (name, wrapped, key_id) VALUES ($1, $2, $3)`, name, s.wrapped, s.keyID); err != nil {
				return err
			}
		}
	}
	wss, err := store.Strings(ctx, live, `SELECT id FROM workspaces ORDER BY id`)
	if err != nil {
		return fmt.Errorf("read live workspaces: %w", err)
	}
	for _, ws := range wss {
		q := `SELECT contact_id, wrapped, key_id, created_at, shredded_at FROM contact_keys WHERE workspace_id = $1`
		if !all {
			q += ` AND wrapped IS NULL`
		}
		rows, err := live.QueryContext(ctx, q, ws)
		if err != nil {
			return fmt.Errorf("read live contact keys: %w", err)
		}
		for rows.Next() {
			var contactID string
			var wrapped []byte
			var keyID sql.NullString
			var created time.Time
			var shredded sql.NullTime
			if err := rows.Scan(&contactID, &wrapped, &keyID, &created, &shredded); err != nil {
				rows.Close()
				return err
			}
			var at any
			if wrapped == nil {
				t := created
				if shredded.Valid {
					t = shredded.Time
				}
				at = t
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO restore_keys (workspace_id, contact_id, wrapped, key_id, shredded_at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (workspace_id, contact_id) DO UPDATE SET wrapped = excluded.wrapped, key_id = excluded.key_id, shredded_at = excluded.shredded_at`,
				ws, contactID, wrapped, keyID, at); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}
