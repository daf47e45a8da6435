package consent

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Notice kinds and languages.
var (
	NoticeKinds     = []string{"privacy_notice", "supplier_privacy_notice", "consent_text", "objection_notice"}
	NoticeLanguages = []string{"de", "en"}
)

// Notice is one immutable version of a text shown to people. Its ID is the
// SHA-256 of its content, so evidence that names the hash proves which text
// was shown, and any change makes a new version.
type Notice struct {
	Hash      string    `json:"id"`
	Kind      string    `json:"kind"`
	Language  string    `json:"language"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// NoticeHash is the version hash of a notice: SHA-256 over the
// length-prefixed language, title and body, hex.
func NoticeHash(language, title, body string) string {
	h := sha256.New()
	for _, s := range []string{"fairlead notice v1", language, title, body} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ValidHash reports whether s looks like a version hash (64 lower-case hex).
func ValidHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Notices stores notice versions.
type Notices struct {
	db  *store.DB
	now func() time.Time
}

// NewNotices works on db.
func NewNotices(db *store.DB, now func() time.Time) *Notices {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &Notices{db: db, now: now}
}

// NewNotice is the input of Create.
type NewNotice struct {
	Kind     string
	Language string
	Title    string
	Body     string
}

// ConflictError is a write that contradicts what is recorded (an impossible
// ledger transition, or a text already stored under another kind). It is a
// store.ErrConflict.
type ConflictError struct {
	Field   string
	Code    string
	Message string
}

func (e *ConflictError) Error() string { return e.Message }

// Unwrap makes errors.Is(err, store.ErrConflict) true.
func (e *ConflictError) Unwrap() error { return store.ErrConflict }

// Create stores a notice version and reports whether it is new. The same
// content again returns the existing version unchanged.
func (n *Notices) Create(ctx context.Context, ws, actor string, in NewNotice) (Notice, bool, error) {
	if !id.Valid(ws) {
		return Notice{}, false, store.ErrNotFound
	}
	if !slices.Contains(NoticeKinds, in.Kind) {
		return Notice{}, false, validate.OneOf("kind", in.Kind, NoticeKinds)
	}
	if !slices.Contains(NoticeLanguages, in.Language) {
		return Notice{}, false, validate.OneOf("language", in.Language, NoticeLanguages)
	}
	in.Title = strings.TrimSpace(in.Title)
	if in.Title == "" {
		return Notice{}, false, validate.Required("title")
	}
	if strings.TrimSpace(in.Body) == "" {
		return Notice{}, false, validate.Required("body")
	}
	if len(in.Title) > 300 {
		return Notice{}, false, validate.Invalid("title", "title must have at most 300 characters")
	}
	if len(in.Body) > 200_000 {
		return Notice{}, false, validate.Invalid("body", "body must have at most 200000 characters")
	}
	if !utf8.ValidString(in.Title) || !utf8.ValidString(in.Body) {
		return Notice{}, false, validate.Invalid("body", "title and body must be valid UTF-8")
	}
	x := Notice{Hash: NoticeHash(in.Language, in.Title, in.Body), Kind: in.Kind, Language: in.Language, Title: in.Title, Body: in.Body,
		CreatedAt: n.now().UTC().Truncate(time.Microsecond), CreatedBy: actor}
	res, err := n.db.W.ExecContext(ctx, `INSERT INTO notices (workspace_id, hash, kind, language, title, body, created_at, created_by)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (workspace_id, hash) DO NOTHING`,
		ws, x.Hash, x.Kind, x.Language, x.Title, x.Body, x.CreatedAt, x.CreatedBy)
	if err != nil {
		return Notice{}, false, fmt.Errorf("create notice: %w", store.MapError(err))
	}
	inserted, _ := res.RowsAffected()
	got, err := n.Get(ctx, ws, x.Hash)
	if err != nil {
		return Notice{}, false, err
	}
	if got.Kind != x.Kind {
		return Notice{}, false, &ConflictError{Field: "kind", Code: "notice_kind_mismatch",
			Message: fmt.Sprintf("this text is already stored as a %s (version %s); a version's kind cannot change", got.Kind, got.Hash)}
	}
	return got, inserted == 1, nil
}

const noticeCols = `hash, kind, language, title, body, created_at, created_by`

func scanNotice(sc interface{ Scan(...any) error }) (Notice, error) {
	var x Notice
	if err := sc.Scan(&x.Hash, &x.Kind, &x.Language, &x.Title, &x.Body, &x.CreatedAt, &x.CreatedBy); err != nil {
		return Notice{}, store.MapError(err)
	}
	x.CreatedAt = x.CreatedAt.UTC()
	return x, nil
}

// Get returns one notice version of the workspace by its hash.
func (n *Notices) Get(ctx context.Context, ws, hash string) (Notice, error) {
	return n.get(ctx, n.db.R, ws, hash)
}

func (n *Notices) get(ctx context.Context, q store.Querier, ws, hash string) (Notice, error) {
	if !id.Valid(ws) || !ValidHash(hash) {
		return Notice{}, store.ErrNotFound
	}
	return scanNotice(q.QueryRowContext(ctx, `SELECT `+noticeCols+` FROM notices WHERE workspace_id = $1 AND hash = $2`, ws, hash))
}

// List returns the workspace's notice versions, newest first, optionally of
// one kind.
func (n *Notices) List(ctx context.Context, ws, kind string) ([]Notice, error) {
	if kind != "" && !slices.Contains(NoticeKinds, kind) {
		return nil, validate.OneOf("kind", kind, NoticeKinds)
	}
	out := []Notice{}
	if !id.Valid(ws) {
		return out, nil
	}
	rows, err := n.db.R.QueryContext(ctx, `SELECT `+noticeCols+` FROM notices WHERE workspace_id = $1 AND ($2 = '' OR kind = $2) ORDER BY created_at DESC, hash`, ws, kind)
	if err != nil {
		return nil, fmt.Errorf("list notices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		x, err := scanNotice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// Published returns a notice version for the public page by its hash alone.
//
// This is the one lookup not scoped by workspace, on purpose: the public
// URL carries only the hash, which commits to the exact content, so the
// page shows nothing its holder could not already prove. It returns the
// content and the first date only, never the workspace or who created it.
func (n *Notices) Published(ctx context.Context, hash string) (Notice, error) {
	if !ValidHash(hash) {
		return Notice{}, store.ErrNotFound
	}
	x, err := scanNotice(n.db.R.QueryRowContext(ctx, `SELECT `+noticeCols+` FROM notices WHERE hash = $1 ORDER BY created_at LIMIT 1`, hash))
	if err != nil {
		return Notice{}, err
	}
	x.CreatedBy = ""
	return x, nil
}
