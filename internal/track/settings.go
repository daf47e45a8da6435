package track

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Settings are a workspace's choices about pseudonymous analytics.
type Settings struct {
	// Pseudonymous enables the pseudonymous branch: events of people who
	// gave no tracking consent and did not object are kept under a keyed
	// pseudonym instead of only being counted. Off by default.
	Pseudonymous bool `json:"pseudonymous_analytics"`
	// RotationDays is how long one pseudonym lives: after it the key is
	// replaced and the old one deleted (1 to 90, default 7).
	RotationDays int `json:"rotation_days"`
}

// DefaultRotationDays is the pseudonym lifetime of a workspace that did not
// choose one: a week gives weekly unique visitors and stays short.
const DefaultRotationDays = 7

// SettingsUpdate changes settings; nil fields stay.
type SettingsUpdate struct {
	Pseudonymous *bool `json:"pseudonymous_analytics"`
	RotationDays *int  `json:"rotation_days"`
}

// Keys seals the period keys; keyring.Keyring implements it.
type Keys interface {
	SealSecret(ws, label string, plaintext []byte) ([]byte, error)
	OpenSecret(ws, label string, sealed []byte) ([]byte, error)
	MAC(domain string, msg []byte) []byte
}

// Pseudonyms holds the workspace settings and the period keys.
type Pseudonyms struct {
	db   *store.DB
	keys Keys
	now  func() time.Time
}

type periodKey struct {
	rotation int
	period   int64
	key      []byte
}

// NewPseudonyms works on db with keys.
func NewPseudonyms(db *store.DB, keys Keys, now func() time.Time) *Pseudonyms {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &Pseudonyms{db: db, keys: keys, now: now}
}

// Settings returns the workspace's settings (defaults when it has none).
func (p *Pseudonyms) Settings(ctx context.Context, ws string) (Settings, error) {
	return p.settings(ctx, p.db.R, ws)
}

func (p *Pseudonyms) settings(ctx context.Context, q store.Querier, ws string) (Settings, error) {
	st := Settings{RotationDays: DefaultRotationDays}
	if !id.Valid(ws) {
		return st, store.ErrNotFound
	}
	err := q.QueryRowContext(ctx, `SELECT pseudonymous, rotation_days FROM track_settings WHERE workspace_id = $1`, ws).Scan(&st.Pseudonymous, &st.RotationDays)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("track: read settings: %w", err)
	}
	return st, nil
}

// UpdateSettings applies up and returns the new settings. Turning the
// pseudonymous branch off deletes its history and the period key: what was
// collected under a choice the workspace withdrew is not kept.
func (p *Pseudonyms) UpdateSettings(ctx context.Context, ws string, up SettingsUpdate) (Settings, error) {
	if !id.Valid(ws) {
		return Settings{}, store.ErrNotFound
	}
	if up.RotationDays != nil && (*up.RotationDays < 1 || *up.RotationDays > 90) {
		return Settings{}, validate.Invalid("rotation_days", "rotation_days must be 1 to 90")
	}
	var out Settings
	err := p.db.Tx(ctx, func(tx store.Tx) error {
		st, err := p.settings(ctx, tx, ws)
		if err != nil {
			return err
		}
		if up.Pseudonymous != nil {
			st.Pseudonymous = *up.Pseudonymous
		}
		if up.RotationDays != nil {
			st.RotationDays = *up.RotationDays
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO track_settings (workspace_id, pseudonymous, rotation_days, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (workspace_id) DO UPDATE SET pseudonymous = excluded.pseudonymous, rotation_days = excluded.rotation_days, updated_at = excluded.updated_at`,
			ws, st.Pseudonymous, st.RotationDays, p.now().UTC().Truncate(time.Microsecond)); err != nil {
			return fmt.Errorf("track: save settings: %w", store.MapError(err))
		}
		if !st.Pseudonymous {
			for _, t := range []string{"track_pseudonymous", "track_period_keys"} {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE workspace_id = $1`, ws); err != nil {
					return fmt.Errorf("track: clear %s: %w", t, err)
				}
			}
		}
		out = st
		return nil
	})
	return out, err
}

// Period is the number of the pseudonym period t falls in: whole periods
// of rotationDays since the Unix epoch, the same in every process.
func Period(t time.Time, rotationDays int) int64 {
	if rotationDays < 1 {
		rotationDays = DefaultRotationDays
	}
	return t.UTC().Unix() / 86400 / int64(rotationDays)
}

const keyLabel = "track-period-key"

// key returns the key of the current period, making one when the period is
// new. The key is random, not derived: a key derived from a secret that
// stays could be derived again, and deleting it would unlink nothing.
// Replacing the row deletes the closed period's key; pseudonymous rows
// older than the previous period go with it.
func (p *Pseudonyms) key(ctx context.Context, ws string, rotation int) (periodKey, error) {
	now := p.now()
	period := Period(now, rotation)
	// Read every time, not kept in memory: another process may have turned
	// the branch off and on again (a new key), and two keys in one period
	// would give one visitor two pseudonyms and let an objection miss one.
	read := func(q store.Querier) (periodKey, bool, error) {
		var k periodKey
		var sealed []byte
		err := q.QueryRowContext(ctx, `SELECT rotation_days, period, sealed FROM track_period_keys WHERE workspace_id = $1`, ws).Scan(&k.rotation, &k.period, &sealed)
		if errors.Is(err, sql.ErrNoRows) {
			return k, false, nil
		}
		if err != nil {
			return k, false, fmt.Errorf("track: read period key: %w", err)
		}
		if k.key, err = p.keys.OpenSecret(ws, keyLabel, sealed); err != nil {
			return k, false, err
		}
		return k, k.rotation == rotation && k.period == period, nil
	}
	k, ok, err := read(p.db.R)
	if err != nil {
		return k, err
	}
	if !ok {
		err = p.db.Tx(ctx, func(tx store.Tx) error {
			var err error
			// Another process may have rotated meanwhile: the writer lock
			// (SQLite) or the row lock (PostgreSQL) makes one of them win.
			if p.db.Dialect == store.Postgres {
				if _, err := tx.ExecContext(ctx, `SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE`, ws); err != nil {
					return fmt.Errorf("track: lock workspace: %w", err)
				}
			}
			if k, ok, err = read(tx); err != nil || ok {
				return err
			}
			fresh := make([]byte, 32)
			if _, err := rand.Read(fresh); err != nil {
				return err
			}
			sealed, err := p.keys.SealSecret(ws, keyLabel, fresh)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO track_period_keys (workspace_id, rotation_days, period, sealed, created_at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (workspace_id) DO UPDATE SET rotation_days = excluded.rotation_days, period = excluded.period, sealed = excluded.sealed, created_at = excluded.created_at`,
				ws, rotation, period, sealed, now.UTC().Truncate(time.Microsecond)); err != nil {
				return fmt.Errorf("track: rotate period key: %w", store.MapError(err))
			}
			// Rows of the previous period stay for the period-over-period
			// figures; nothing older is kept.
			if _, err := tx.ExecContext(ctx, `DELETE FROM track_pseudonymous WHERE workspace_id = $1 AND period < $2`, ws, period-1); err != nil {
				return fmt.Errorf("track: drop old pseudonymous events: %w", err)
			}
			k = periodKey{rotation: rotation, period: period, key: fresh}
			return nil
		})
		if err != nil {
			return k, err
		}
	}
	return k, nil
}

// pseudonym is HMAC-SHA256(period key, workspace ‖ signal), truncated to
// 128 bits: stable within one period, unlinkable across periods once the
// key is gone, and never the signal itself.
func pseudonym(k periodKey, ws, signal string) string {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(ws))
	m.Write([]byte{0})
	m.Write([]byte(signal))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// Forget deletes the pseudonymous history of the visitor with this signal
// in the current period (an objection or Global Privacy Control). Rows of a
// closed period cannot be found: their key is gone, which is the point.
func (p *Pseudonyms) Forget(ctx context.Context, q store.Querier, ws, signal string) (int, error) {
	ps, err := p.current(ctx, ws, signal)
	if err != nil || ps == "" {
		return 0, err
	}
	if q == nil {
		q = p.db.W
	}
	return forget(ctx, q, ws, ps)
}

// current is the signal's pseudonym in the current period, "" when the
// workspace has no period key (and so no pseudonymous history). It may
// rotate the key, in a transaction of its own: call it before, never
// inside, a write transaction (SQLite has one writer connection).
func (p *Pseudonyms) current(ctx context.Context, ws, signal string) (string, error) {
	if signal == "" {
		return "", nil
	}
	var hasKey int
	err := p.db.R.QueryRowContext(ctx, `SELECT 1 FROM track_period_keys WHERE workspace_id = $1`, ws).Scan(&hasKey)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("track: read period key: %w", err)
	}
	st, err := p.settings(ctx, p.db.R, ws)
	if err != nil {
		return "", err
	}
	k, err := p.key(ctx, ws, st.RotationDays)
	if err != nil {
		return "", err
	}
	return pseudonym(k, ws, signal), nil
}

func forget(ctx context.Context, q store.Querier, ws, ps string) (int, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM track_pseudonymous WHERE workspace_id = $1 AND pseudonym = $2`, ws, ps)
	if err != nil {
		return 0, fmt.Errorf("track: forget pseudonym: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
