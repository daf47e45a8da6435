package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
)

// Session is a logged-in user of the admin UI. Role, name and e-mail are
// read from the user on every request, so a demotion or a disabled account
// takes effect at the next click, not at the next login.
type Session struct {
	ID          string // hex SHA-256 of the cookie token
	WorkspaceID string
	UserID      string
	Role        auth.Role
	Name        string
	Email       string
	Lang        string
	// SecondFactor is true while the TOTP code of the login is outstanding:
	// such a session reaches only the code page.
	SecondFactor bool
	CreatedAt    time.Time
	LastSeenAt   time.Time
	ExpiresAt    time.Time
}

// Principal is the session as the domain services see their callers.
func (s *Session) Principal() auth.Principal {
	return auth.Principal{WorkspaceID: s.WorkspaceID, Role: s.Role, UserID: s.UserID}
}

// Sessions stores login sessions. Only the SHA-256 of a token is stored:
// the token carries 256 random bits, so a slow hash would add latency and
// nothing else.
type Sessions struct {
	db *store.DB
	// Idle ends a session this long after its last request; MaxAge ends it
	// this long after the login, however busy it is.
	Idle, MaxAge time.Duration
	now          func() time.Time
}

// Default lifetimes of a session.
const (
	DefaultIdle   = 30 * time.Minute
	DefaultMaxAge = 12 * time.Hour
	// touchEvery bounds the writes: last_seen_at moves at most once a
	// minute, which is precise enough for a 30-minute idle limit.
	touchEvery = time.Minute
)

// NewSessions works on db; zero lifetimes take the defaults.
func NewSessions(db *store.DB, idle, maxAge time.Duration, now func() time.Time) *Sessions {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	if idle <= 0 {
		idle = DefaultIdle
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	return &Sessions{db: db, Idle: idle, MaxAge: maxAge, now: now}
}

func hashSessionToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// Create starts a session for a user and returns the cookie token, which is
// never stored. secondFactor marks a session that still needs its TOTP code.
func (ss *Sessions) Create(ctx context.Context, ws, userID, lang string, secondFactor bool) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(raw)
	if lang != "de" {
		lang = "en"
	}
	now := ss.now()
	sf := 0
	if secondFactor {
		sf = 1
	}
	if !id.Valid(ws) || !id.Valid(userID) {
		return "", store.ErrNotFound
	}
	// Only a user of the workspace gets a session in it.
	res, err := ss.db.W.ExecContext(ctx, `INSERT INTO admin_sessions (id, workspace_id, user_id, lang, second_factor, created_at, last_seen_at, expires_at)
		SELECT $1, workspace_id, id, $4, $5, $6, $7, $8 FROM users WHERE workspace_id = $2 AND id = $3`,
		hashSessionToken(tok), ws, userID, lang, sf, now, now, now.Add(ss.MaxAge))
	if err != nil {
		return "", fmt.Errorf("create session: %w", store.MapError(err))
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return "", store.ErrNotFound
	}
	return tok, nil
}

// ErrNoSession means the cookie is missing, unknown, expired or belongs to a
// disabled user.
var ErrNoSession = errors.New("no valid session")

// Lookup resolves a cookie token. An expired session is deleted on sight.
func (ss *Sessions) Lookup(ctx context.Context, tok string) (*Session, error) {
	if tok == "" || len(tok) > 100 {
		return nil, ErrNoSession
	}
	sid := hashSessionToken(tok)
	s := &Session{ID: sid}
	var role string
	var sf int
	var dis sql.NullTime
	err := ss.db.R.QueryRowContext(ctx, `SELECT s.workspace_id, s.user_id, s.lang, s.second_factor, s.created_at, s.last_seen_at, s.expires_at,
			u.role, u.name, u.email, u.disabled_at
		FROM admin_sessions s JOIN users u ON u.workspace_id = s.workspace_id AND u.id = s.user_id
		WHERE s.id = $1`, sid).Scan(&s.WorkspaceID, &s.UserID, &s.Lang, &sf, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &role, &s.Name, &s.Email, &dis)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	s.Role, s.SecondFactor = auth.Role(role), sf == 1
	now := ss.now()
	if dis.Valid || !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= ss.Idle {
		_, _ = ss.db.W.ExecContext(ctx, `DELETE FROM admin_sessions WHERE id = $1`, sid)
		return nil, ErrNoSession
	}
	if now.Sub(s.LastSeenAt) >= touchEvery {
		if _, err := ss.db.W.ExecContext(ctx, `UPDATE admin_sessions SET last_seen_at = $2 WHERE id = $1`, sid, now); err != nil {
			return nil, fmt.Errorf("touch session: %w", err)
		}
		s.LastSeenAt = now
	}
	return s, nil
}

// Passed marks the second factor of a session as given. The token is
// replaced, so a token seen before the code was entered never becomes a
// full login.
func (ss *Sessions) Passed(ctx context.Context, s *Session) (string, error) {
	var tok string
	err := ss.db.Tx(ctx, func(tx store.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM admin_sessions WHERE id = $1 AND second_factor = 1`, s.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrNoSession
		}
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return err
		}
		tok = base64.RawURLEncoding.EncodeToString(raw)
		now := ss.now()
		_, err = tx.ExecContext(ctx, `INSERT INTO admin_sessions (id, workspace_id, user_id, lang, second_factor, created_at, last_seen_at, expires_at)
			VALUES ($1,$2,$3,$4,0,$5,$6,$7)`, hashSessionToken(tok), s.WorkspaceID, s.UserID, s.Lang, now, now, now.Add(ss.MaxAge))
		return err
	})
	return tok, err
}

// SetLang stores the language the user picked for this session.
func (ss *Sessions) SetLang(ctx context.Context, s *Session, lang string) error {
	if lang != "de" && lang != "en" {
		return nil
	}
	_, err := ss.db.W.ExecContext(ctx, `UPDATE admin_sessions SET lang = $2 WHERE id = $1`, s.ID, lang)
	s.Lang = lang
	return err
}

// Delete ends a session (logout).
func (ss *Sessions) Delete(ctx context.Context, sid string) error {
	_, err := ss.db.W.ExecContext(ctx, `DELETE FROM admin_sessions WHERE id = $1`, sid)
	return err
}

// DeleteUser ends every session of a user (password change, disabling).
func (ss *Sessions) DeleteUser(ctx context.Context, ws, userID string) error {
	if !id.Valid(ws) || !id.Valid(userID) {
		return store.ErrNotFound
	}
	if err := userIn(ctx, ss.db.R, ws, userID); err != nil {
		return err
	}
	_, err := ss.db.W.ExecContext(ctx, `DELETE FROM admin_sessions WHERE workspace_id = $1 AND user_id = $2`, ws, userID)
	return err
}

// userIn is store.ErrNotFound unless the user belongs to the workspace.
func userIn(ctx context.Context, q store.Querier, ws, userID string) error {
	if !id.Valid(ws) || !id.Valid(userID) {
		return store.ErrNotFound
	}
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM users WHERE workspace_id = $1 AND id = $2`, ws, userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// Sweep deletes expired sessions; lookups delete the ones they meet, this
// keeps the table small when nobody comes back.
func (ss *Sessions) Sweep(ctx context.Context) (int64, error) {
	now := ss.now()
	res, err := ss.db.W.ExecContext(ctx, `DELETE FROM admin_sessions WHERE expires_at <= $1 OR last_seen_at <= $2`, now, now.Add(-ss.Idle))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
