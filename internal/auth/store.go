package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Store reads and writes users and tokens. Every method that takes an ID also
// takes the workspace and filters on both, so one tenant can never reach
// another's rows (see the isolation test in internal/app).
type Store struct {
	w, r store.Querier
	now  func() time.Time
}

// NewStore works on the database's pools.
func NewStore(db *store.DB, now func() time.Time) *Store {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &Store{w: db.W, r: db.R, now: now}
}

// WithTx returns a Store whose reads and writes happen in tx.
func (s *Store) WithTx(tx store.Tx) *Store { return &Store{w: tx, r: tx, now: s.now} }

// User is a person who logs in to fairlead.
type User struct {
	ID          string     `json:"id"`
	WorkspaceID string     `json:"workspace_id"`
	Email       string     `json:"email"`
	Name        string     `json:"name"`
	Role        Role       `json:"role"`
	CreatedAt   time.Time  `json:"created_at"`
	DisabledAt  *time.Time `json:"disabled_at"`
}

// NewUser is the input of CreateUser.
type NewUser struct {
	Email    string
	Name     string
	Role     string
	Password string
}

func normEmail(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 {
		return "", validate.Invalid(field, field+" must be a plain e-mail address such as name@example.com")
	}
	return strings.ToLower(s), nil
}

// CreateUser adds a user to a workspace.
func (s *Store) CreateUser(ctx context.Context, wsID string, in NewUser) (User, error) {
	email, err := normEmail("email", in.Email)
	if err != nil {
		return User{}, err
	}
	role, err := ParseRole("role", in.Role)
	if err != nil {
		return User{}, err
	}
	if len(in.Password) < 12 {
		return User{}, validate.Invalid("password", "password must have at least 12 characters")
	}
	if len(in.Name) > 200 {
		return User{}, validate.Invalid("name", "name must have at most 200 characters")
	}
	hash, err := HashPassword(in.Password)
	if err != nil {
		return User{}, err
	}
	u := User{ID: id.New(), WorkspaceID: wsID, Email: email, Name: strings.TrimSpace(in.Name), Role: role, CreatedAt: s.now()}
	_, err = s.w.ExecContext(ctx, `INSERT INTO users (id, workspace_id, email, name, role, password_hash, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		u.ID, wsID, u.Email, u.Name, string(u.Role), hash, u.CreatedAt)
	if err = store.MapError(err); errors.Is(err, store.ErrConflict) {
		return User{}, &validate.Error{Field: "email", Code: "duplicate", Message: "a user with this e-mail address exists in this workspace"}
	}
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

const userCols = `id, workspace_id, email, name, role, created_at, disabled_at`

func scanUser(sc interface{ Scan(...any) error }) (User, error) {
	var u User
	var role string
	var dis sql.NullTime
	if err := sc.Scan(&u.ID, &u.WorkspaceID, &u.Email, &u.Name, &role, &u.CreatedAt, &dis); err != nil {
		return User{}, store.MapError(err)
	}
	u.Role = Role(role)
	u.CreatedAt = u.CreatedAt.UTC()
	if dis.Valid {
		t := dis.Time.UTC()
		u.DisabledAt = &t
	}
	return u, nil
}

// User returns one user of the workspace.
func (s *Store) User(ctx context.Context, wsID, userID string) (User, error) {
	if !id.Valid(userID) || !id.Valid(wsID) {
		return User{}, store.ErrNotFound
	}
	return scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE workspace_id = $1 AND id = $2`, wsID, userID))
}

// Users lists the users of the workspace.
func (s *Store) Users(ctx context.Context, wsID string) ([]User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userCols+` FROM users WHERE workspace_id = $1 ORDER BY id`, wsID)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UserUpdate is the input of UpdateUser; nil fields stay as they are.
type UserUpdate struct {
	Role     *string
	Name     *string
	Disabled *bool
}

// UpdateUser changes a user's role, name or disabled state. Only the fields
// sent are written, in one statement, so two concurrent changes of
// different fields (a demotion and a re-enable, say) cannot undo each other.
func (s *Store) UpdateUser(ctx context.Context, wsID, userID string, up UserUpdate) (User, error) {
	if !id.Valid(userID) || !id.Valid(wsID) {
		return User{}, store.ErrNotFound
	}
	var role, name, disabled any
	if up.Role != nil {
		r, err := ParseRole("role", *up.Role)
		if err != nil {
			return User{}, err
		}
		role = string(r)
	}
	if up.Name != nil {
		if len(*up.Name) > 200 {
			return User{}, validate.Invalid("name", "name must have at most 200 characters")
		}
		name = strings.TrimSpace(*up.Name)
	}
	if up.Disabled != nil {
		disabled = 0
		if *up.Disabled {
			disabled = 1
		}
	}
	return scanUser(s.w.QueryRowContext(ctx, `UPDATE users SET
		role = COALESCE($3, role),
		name = COALESCE($4, name),
		disabled_at = CASE WHEN $5 = 1 THEN COALESCE(disabled_at, $6) WHEN $5 = 0 THEN NULL ELSE disabled_at END
		WHERE workspace_id = $1 AND id = $2
		RETURNING `+userCols, wsID, userID, role, name, disabled, s.now()))
}

// ErrBadCredentials hides whether the e-mail or the password was wrong.
var ErrBadCredentials = errors.New("wrong e-mail address or password")

// CheckLogin verifies an e-mail and password within a workspace.
func (s *Store) CheckLogin(ctx context.Context, wsID, email, password string) (User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	var hash string
	row := s.r.QueryRowContext(ctx, `SELECT `+userCols+`, password_hash FROM users WHERE workspace_id = $1 AND email = $2`, wsID, email)
	var u User
	var role string
	var dis sql.NullTime
	err := row.Scan(&u.ID, &u.WorkspaceID, &u.Email, &u.Name, &role, &u.CreatedAt, &dis, &hash)
	if err != nil {
		// Spend the same time as a real check so response time does not tell
		// which addresses exist.
		_, _ = CheckPassword(dummyHash(), password)
		return User{}, ErrBadCredentials
	}
	ok, err := CheckPassword(hash, password)
	if err != nil || !ok || dis.Valid {
		return User{}, ErrBadCredentials
	}
	u.Role = Role(role)
	return u, nil
}

// dummyHash is made on first use, not at start: argon2id costs tens of
// milliseconds and 19 MiB, which start-up time and idle memory should not pay.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("fairlead-timing-equaliser")
	return h
})

// Token is an API token as listed (never with its secret).
type Token struct {
	ID          string     `json:"id"`
	WorkspaceID string     `json:"workspace_id"`
	Name        string     `json:"name"`
	Role        Role       `json:"role"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	RevokedAt   *time.Time `json:"revoked_at"`
}

// TokenPrefix starts every API token so secret scanners can find leaked ones.
const TokenPrefix = "flt_"

func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes an API token and returns it with its secret, which is
// shown once and never stored.
func (s *Store) CreateToken(ctx context.Context, wsID, name, role string) (Token, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Token{}, "", validate.Required("name")
	}
	if len(name) > 100 {
		return Token{}, "", validate.Invalid("name", "name must have at most 100 characters")
	}
	r, err := ParseRole("role", role)
	if err != nil {
		return Token{}, "", err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Token{}, "", err
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	t := Token{ID: id.New(), WorkspaceID: wsID, Name: name, Role: r, CreatedAt: s.now()}
	_, err = s.w.ExecContext(ctx, `INSERT INTO api_tokens (id, workspace_id, name, role, token_hash, created_at) VALUES ($1,$2,$3,$4,$5,$6)`,
		t.ID, wsID, t.Name, string(t.Role), hashToken(secret), t.CreatedAt)
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", store.MapError(err))
	}
	return t, secret, nil
}

const tokenCols = `id, workspace_id, name, role, created_at, last_used_at, revoked_at`

func scanToken(sc interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var role string
	var used, rev sql.NullTime
	if err := sc.Scan(&t.ID, &t.WorkspaceID, &t.Name, &role, &t.CreatedAt, &used, &rev); err != nil {
		return Token{}, store.MapError(err)
	}
	t.Role = Role(role)
	t.CreatedAt = t.CreatedAt.UTC()
	if used.Valid {
		x := used.Time.UTC()
		t.LastUsedAt = &x
	}
	if rev.Valid {
		x := rev.Time.UTC()
		t.RevokedAt = &x
	}
	return t, nil
}

// Token returns one token of the workspace.
func (s *Store) Token(ctx context.Context, wsID, tokenID string) (Token, error) {
	if !id.Valid(tokenID) || !id.Valid(wsID) {
		return Token{}, store.ErrNotFound
	}
	return scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE workspace_id = $1 AND id = $2`, wsID, tokenID))
}

// Tokens lists the tokens of the workspace, newest first.
func (s *Store) Tokens(ctx context.Context, wsID string) ([]Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE workspace_id = $1 ORDER BY id DESC`, wsID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken makes a token unusable at once. Revoking twice is not an error.
func (s *Store) RevokeToken(ctx context.Context, wsID, tokenID string) error {
	if !id.Valid(tokenID) || !id.Valid(wsID) {
		return store.ErrNotFound
	}
	res, err := s.w.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $3) WHERE workspace_id = $1 AND id = $2`, wsID, tokenID, s.now())
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return store.ErrNotFound
	}
	return nil
}

// ErrUnauthenticated means the bearer token is missing, unknown or revoked.
var ErrUnauthenticated = errors.New("missing, unknown or revoked API token")

// Authenticate resolves a bearer token to its principal.
func (s *Store) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 100 {
		return Principal{}, ErrUnauthenticated
	}
	var p Principal
	var role string
	var used, rev sql.NullTime
	err := s.r.QueryRowContext(ctx, `SELECT id, workspace_id, role, last_used_at, revoked_at FROM api_tokens WHERE token_hash = $1`, hashToken(secret)).
		Scan(&p.TokenID, &p.WorkspaceID, &role, &used, &rev)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Principal{}, ErrUnauthenticated
		}
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	if rev.Valid {
		return Principal{}, ErrUnauthenticated
	}
	p.Role = Role(role)
	// Recording every use would turn each read into a write; a minute's
	// precision is enough to see which tokens are alive.
	if now := s.now(); !used.Valid || now.Sub(used.Time) > time.Minute {
		_, _ = s.w.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $2 WHERE id = $1`, p.TokenID, now)
	}
	return p, nil
}
