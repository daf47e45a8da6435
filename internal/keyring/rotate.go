package keyring

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/fairlead/fairlead/internal/store"
)

// RotateReport counts what Rotate found and did.
type RotateReport struct {
	// Rewrapped contact keys moved from the previous master key to the
	// current one in this run.
	Rewrapped int
	// Current contact keys were already under the current master key.
	Current int
	// Shredded contact keys have no key material left (erased people).
	Shredded int
	// Derived keys (blind index, link MAC, workspace secrets) rewrapped.
	Derived int
	// Failed contact keys open under neither configured master key.
	Failed int
}

// nilUUID sorts before every contact ID on both engines.
const nilUUID = "00000000-0000-0000-0000-000000000000"

// Rotate rewraps every contact key and the stored derived keys that are not
// yet under the current master key, batch keys per transaction. It can be
// stopped and run again at any time: rows already under the current key are
// skipped, and a key shredded while Rotate runs stays shredded (each update
// only replaces the exact wrapped value it read). progress, if not nil, is
// called after every batch with the counts so far.
func (k *Keyring) Rotate(ctx context.Context, batch int, progress func(RotateReport)) (RotateReport, error) {
	var rep RotateReport
	if k.db == nil {
		return rep, errors.New("keyring: Rotate needs a database")
	}
	if batch <= 0 {
		batch = 500
	}
	cur := k.wraps[0]
	n, err := k.rotateDerived(ctx)
	rep.Derived = n
	if err != nil {
		return rep, err
	}
	wss, err := store.Strings(ctx, k.r, `SELECT id FROM workspaces ORDER BY id`)
	if err != nil {
		return rep, fmt.Errorf("read workspaces: %w", err)
	}
	var firstFailure string
	for _, ws := range wss {
		var current, shredded int
		if err := k.r.QueryRowContext(ctx, `SELECT
			COALESCE(SUM(CASE WHEN wrapped IS NOT NULL AND key_id = $2 THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN wrapped IS NULL THEN 1 ELSE 0 END), 0)
			FROM contact_keys WHERE workspace_id = $1`, ws, cur.id).Scan(&current, &shredded); err != nil {
			return rep, fmt.Errorf("count contact keys: %w", err)
		}
		rep.Current += current
		rep.Shredded += shredded
		after := nilUUID
		for {
			type row struct {
				contactID string
				wrapped   []byte
				keyID     sql.NullString
			}
			var list []row
			rows, err := k.r.QueryContext(ctx, `SELECT contact_id, wrapped, key_id FROM contact_keys
				WHERE workspace_id = $1 AND contact_id > $2 AND wrapped IS NOT NULL AND (key_id IS NULL OR key_id <> $3)
				ORDER BY contact_id LIMIT $4`, ws, after, cur.id, batch)
			if err != nil {
				return rep, fmt.Errorf("read contact keys: %w", err)
			}
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.contactID, &r.wrapped, &r.keyID); err != nil {
					rows.Close()
					return rep, err
				}
				list = append(list, r)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return rep, err
			}
			if len(list) == 0 {
				break
			}
			after = list[len(list)-1].contactID
			step := RotateReport{}
			err = k.db.Tx(ctx, func(tx store.Tx) error {
				step = RotateReport{}
				for _, r := range list {
					ad := keyAD(ws, r.contactID)
					dk, used, err := k.unwrap(r.wrapped, r.keyID.String, ad)
					if err != nil {
						step.Failed++
						if firstFailure == "" {
							firstFailure = "workspace " + ws + ", contact " + r.contactID
						}
						continue
					}
					next := r.wrapped
					if used != 0 {
						if next, err = sealAEAD(cur.aead, ad, dk); err != nil {
							return err
						}
					}
					res, err := tx.ExecContext(ctx, `UPDATE contact_keys SET wrapped = $4, key_id = $5
						WHERE workspace_id = $1 AND contact_id = $2 AND wrapped = $3`, ws, r.contactID, r.wrapped, next, cur.id)
					if err != nil {
						return fmt.Errorf("rewrap contact key: %w", err)
					}
					if n, _ := res.RowsAffected(); n != 1 {
						continue // shredded or rewrapped by someone else meanwhile
					}
					if used != 0 {
						step.Rewrapped++
					} else {
						// Written under the current key before key IDs were
						// recorded: only the ID was missing.
						step.Current++
					}
				}
				return nil
			})
			if err != nil {
				return rep, err
			}
			rep.Rewrapped += step.Rewrapped
			rep.Current += step.Current
			rep.Failed += step.Failed
			if progress != nil {
				progress(rep)
			}
		}
	}
	if rep.Failed > 0 {
		return rep, fmt.Errorf("keyring: %d contact key(s) open under neither configured master key (first: %s); they were left as they are", rep.Failed, firstFailure)
	}
	return rep, nil
}

func (k *Keyring) rotateDerived(ctx context.Context) (int, error) {
	cur := k.wraps[0]
	rows, err := readDerived(ctx, k.w)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range derived {
		s, ok := rows[d.name]
		if !ok || s.keyID == cur.id {
			continue
		}
		v, _, err := k.unwrap(s.wrapped, s.keyID, derivedAD(d.name))
		if err != nil {
			return n, fmt.Errorf("keyring: the stored %s key does not open under %s: %w", d.name, k.configured(), err)
		}
		next, err := sealAEAD(cur.aead, derivedAD(d.name), v)
		if err != nil {
			return n, err
		}
		res, err := k.w.ExecContext(ctx, `UPDATE keyring_keys SET wrapped = $3, key_id = $4, updated_at = $5 WHERE name = $1 AND wrapped = $2`,
			d.name, s.wrapped, next, cur.id, k.now())
		if err != nil {
			return n, fmt.Errorf("rewrap %s key: %w", d.name, err)
		}
		if c, _ := res.RowsAffected(); c == 1 {
			n++
		}
	}
	return n, nil
}
