package admin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/store"
)

// Throttle counts failed logins per account and per client address and
// locks a subject out for a while once it has failed too often. Subjects
// are stored as a keyed hash: the table names no e-mail address and no IP
// address, and the hash cannot be reversed by trying addresses without the
// key.
type Throttle struct {
	db  *store.DB
	key []byte
	now func() time.Time
	// AccountLimit failures of one account, or IPLimit from one address,
	// within Window lock the subject for Base, doubled with every further
	// failure up to Max.
	AccountLimit, IPLimit int
	Window, Base, Max     time.Duration
}

// Default lock-out rules: five wrong passwords for one account lock it for
// a minute, then two, four, … up to an hour; an address gets more tries,
// since several people may share it behind a NAT.
const (
	DefaultAccountLimit = 5
	DefaultIPLimit      = 20
)

// NewThrottle keys the subject hashes with key (derived from the master key
// by the caller).
func NewThrottle(db *store.DB, key []byte, now func() time.Time) *Throttle {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &Throttle{db: db, key: key, now: now, AccountLimit: DefaultAccountLimit, IPLimit: DefaultIPLimit,
		Window: 15 * time.Minute, Base: time.Minute, Max: time.Hour}
}

func (t *Throttle) subject(kind, s string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(kind + "\x00" + strings.ToLower(strings.TrimSpace(s))))
	return kind + ":" + hex.EncodeToString(m.Sum(nil))
}

// AccountSubject and IPSubject name what a failure counts against.
func (t *Throttle) AccountSubject(ws, email string) string {
	return t.subject("account", ws+"\x00"+email)
}
func (t *Throttle) IPSubject(ip string) string { return t.subject("ip", ip) }

// ErrLocked says that a subject must wait; Until is when it may try again.
type ErrLocked struct{ Until time.Time }

func (e *ErrLocked) Error() string {
	return "too many failed logins; try again after " + e.Until.Format(time.RFC3339)
}

// Check refuses while any of the subjects is locked.
func (t *Throttle) Check(ctx context.Context, subjects ...string) error {
	now := t.now()
	var latest time.Time
	for _, s := range subjects {
		var until sql.NullTime
		err := t.db.R.QueryRowContext(ctx, `SELECT locked_until FROM admin_login_failures WHERE subject = $1`, s).Scan(&until)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read login failures: %w", err)
		}
		if until.Valid && until.Time.After(now) && until.Time.After(latest) {
			latest = until.Time
		}
	}
	if !latest.IsZero() {
		return &ErrLocked{Until: latest.UTC()}
	}
	return nil
}

func (t *Throttle) limit(subject string) int {
	if strings.HasPrefix(subject, "ip:") {
		return t.IPLimit
	}
	return t.AccountLimit
}

// Fail counts one failure against each subject and locks those over their
// limit. A count older than Window starts again at one.
func (t *Throttle) Fail(ctx context.Context, subjects ...string) error {
	now := t.now()
	return t.db.Tx(ctx, func(tx store.Tx) error {
		for _, s := range subjects {
			var n int
			var first time.Time
			err := tx.QueryRowContext(ctx, `SELECT failures, first_at FROM admin_login_failures WHERE subject = $1`, s).Scan(&n, &first)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				n, first = 0, now
			case err != nil:
				return err
			}
			// Under the limit a count lapses after Window; over it, a day must pass,
			// so that waiting out one lock does not reset the back-off.
			if (now.Sub(first) > t.Window && n < t.limit(s)) || now.Sub(first) > 24*time.Hour {
				n, first = 0, now
			}
			n++
			var until any
			if over := n - t.limit(s); over >= 0 {
				d := t.Base << min(over, 20)
				if d > t.Max || d <= 0 {
					d = t.Max
				}
				until = now.Add(d)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO admin_login_failures (subject, failures, first_at, locked_until) VALUES ($1,$2,$3,$4)
				ON CONFLICT (subject) DO UPDATE SET failures = excluded.failures, first_at = excluded.first_at, locked_until = excluded.locked_until`,
				s, n, first, until); err != nil {
				return err
			}
		}
		return nil
	})
}

// Succeed forgets the failures of an account after a good login. The
// address keeps its count: one good password must not reset a guesser that
// also holds an account.
func (t *Throttle) Succeed(ctx context.Context, account string) error {
	_, err := t.db.W.ExecContext(ctx, `DELETE FROM admin_login_failures WHERE subject = $1`, account)
	return err
}
