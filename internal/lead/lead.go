package lead

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/track"
	"github.com/fairlead/fairlead/internal/webhook"
)

// Service is the lead management of all workspaces.
type Service struct {
	DB       *store.DB
	Events   *track.Store
	Contacts *contact.Store
	// Audience answers every consent question (explicit consent for
	// sensitive data, the channels of the sales view, consent leaves of
	// segments) through the engine.
	Audience *audience.Resolver
	// Webhooks is told of hand-offs in the transaction that makes them.
	Webhooks *webhook.Service
	// Values returns the values a contact gave in forms (capture); nil
	// when forms are not wired, and then values.<name> is always empty.
	Values func(ctx context.Context, ws, contactID string) (map[string]string, error)
	// PublicURL is the base of the links put into messages.
	PublicURL string
	Now       func() time.Time
	// KeepIndexes keeps a large recompute from dropping the score index
	// and building it at its end: for a recompute from the command line,
	// whose build would hold SQLite's write lock for seconds against a
	// server in another process (whose writers wait only busy_timeout).
	KeepIndexes bool
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// epoch is the origin of the log-domain engagement; any fixed instant
// would do, one close to the data keeps the numbers small.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func days(t time.Time) float64 { return t.Sub(epoch).Hours() / 24 }

// logAt is the log-domain form of p points at time a: ln(p) plus ln 2 per
// half-life since the epoch. Adding contributions is logaddexp, and the
// value at any time t is exp(log - ln2 * days(t)/half_life), which is
// p * 0.5^((t-a)/half_life) summed over the contributions.
func logAt(p float64, a time.Time, hl float64) float64 {
	return math.Log(p) + math.Ln2*days(a)/hl
}

func logAdd(x, y float64) float64 {
	if math.IsInf(x, -1) {
		return y
	}
	if math.IsInf(y, -1) {
		return x
	}
	if x < y {
		x, y = y, x
	}
	return x + math.Log1p(math.Exp(y-x))
}

func valueAt(engLog float64, t time.Time, hl float64) float64 {
	if math.IsInf(engLog, -1) {
		return 0
	}
	return math.Exp(engLog - math.Ln2*days(t)/hl)
}

// decayed is p points from time a, seen at time t.
func decayed(p float64, a, t time.Time, hl float64) float64 {
	if t.Before(a) {
		return p
	}
	return p * math.Pow(0.5, t.Sub(a).Hours()/24/hl)
}

// RuleSet is one saved version of the rules.
type RuleSet struct {
	Version   int       `json:"version"`
	Rules     Rules     `json:"rules"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// ActiveRules returns the newest saved rule set, or version 0 with the
// default rules.
func (s *Service) ActiveRules(ctx context.Context, ws string) (RuleSet, error) {
	return s.activeRules(ctx, s.DB.R, ws)
}

func (s *Service) activeRules(ctx context.Context, q store.Querier, ws string) (RuleSet, error) {
	if !id.Valid(ws) {
		return RuleSet{}, store.ErrNotFound
	}
	rs, err := s.ruleSet(ctx, q, `SELECT version, rules, created_by, created_at FROM lead_rule_sets WHERE workspace_id = $1 ORDER BY version DESC LIMIT 1`, ws)
	if errors.Is(err, store.ErrNotFound) {
		return RuleSet{Version: 0, Rules: DefaultRules(), CreatedBy: "", CreatedAt: epoch}, nil
	}
	return rs, err
}

// RuleSetVersion returns one saved version.
func (s *Service) RuleSetVersion(ctx context.Context, ws string, version int) (RuleSet, error) {
	if !id.Valid(ws) || version < 1 {
		return RuleSet{}, store.ErrNotFound
	}
	return s.ruleSet(ctx, s.DB.R, `SELECT version, rules, created_by, created_at FROM lead_rule_sets WHERE workspace_id = $1 AND version = $2`, ws, version)
}

func (s *Service) ruleSet(ctx context.Context, q store.Querier, query string, args ...any) (RuleSet, error) {
	var rs RuleSet
	var raw string
	if err := q.QueryRowContext(ctx, query, args...).Scan(&rs.Version, &raw, &rs.CreatedBy, &rs.CreatedAt); err != nil {
		return RuleSet{}, store.MapError(err)
	}
	rs.CreatedAt = rs.CreatedAt.UTC()
	if err := json.Unmarshal([]byte(raw), &rs.Rules); err != nil {
		return RuleSet{}, fmt.Errorf("lead: stored rule set %d: %w", rs.Version, err)
	}
	rs.Rules.normalize()
	return rs, nil
}

// SaveRules stores r as a new version (versions are never changed). The
// same rules as the newest version store nothing and return it. Scores
// follow the new rules once recomputed (Recompute); until then events keep
// being scored with the new rules on top of the old state.
func (s *Service) SaveRules(ctx context.Context, ws, actor string, r Rules) (RuleSet, bool, error) {
	if !id.Valid(ws) {
		return RuleSet{}, false, store.ErrNotFound
	}
	r.normalize()
	if err := r.Validate(); err != nil {
		return RuleSet{}, false, err
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return RuleSet{}, false, err
	}
	var out RuleSet
	created := false
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		cur, err := s.activeRules(ctx, tx, ws)
		if err != nil {
			return err
		}
		if cur.Version > 0 {
			old, _ := json.Marshal(cur.Rules)
			if string(old) == string(raw) {
				out = cur
				return nil
			}
		}
		out = RuleSet{Version: cur.Version + 1, Rules: r, CreatedBy: actor, CreatedAt: s.now().Truncate(time.Microsecond)}
		created = true
		_, err = tx.ExecContext(ctx, `INSERT INTO lead_rule_sets (workspace_id, version, rules, created_by, created_at) VALUES ($1,$2,$3,$4,$5)`,
			ws, out.Version, string(raw), actor, out.CreatedAt)
		return store.MapError(err)
	})
	return out, created, err
}

// RuleSetVersions lists the saved versions, newest first.
func (s *Service) RuleSetVersions(ctx context.Context, ws string) ([]RuleSet, error) {
	if !id.Valid(ws) {
		return nil, store.ErrNotFound
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT version, rules, created_by, created_at FROM lead_rule_sets WHERE workspace_id = $1 ORDER BY version DESC`, ws)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RuleSet{}
	for rows.Next() {
		var rs RuleSet
		var raw string
		if err := rows.Scan(&rs.Version, &raw, &rs.CreatedBy, &rs.CreatedAt); err != nil {
			return nil, err
		}
		rs.CreatedAt = rs.CreatedAt.UTC()
		_ = json.Unmarshal([]byte(raw), &rs.Rules)
		rs.Rules.normalize()
		out = append(out, rs)
	}
	return out, rows.Err()
}

// State is a contact's lead state.
type State struct {
	ContactID   string     `json:"contact_id"`
	Stage       string     `json:"stage"`
	Score       float64    `json:"score"`
	ScoreAt     time.Time  `json:"score_at"`
	Fit         float64    `json:"fit"`
	Engagement  float64    `json:"engagement"`
	RuleVersion int        `json:"rule_version"`
	Owner       string     `json:"owner,omitempty"`
	HandedOffAt *time.Time `json:"handed_off_at,omitempty"`
}

type stateRow struct {
	exists    bool
	stage     string
	fit       float64
	engLog    float64
	version   int
	owner     string
	handedOff *time.Time
	pack      []byte // the packed contributions, where read (pack.go)
}

func scanState(sc interface{ Scan(...any) error }, r *stateRow) error {
	var engLog sql.NullFloat64
	var owner sql.NullString
	var handed *time.Time
	if err := sc.Scan(&r.stage, &r.fit, &engLog, &r.version, &owner, &handed); err != nil {
		return err
	}
	r.exists = true
	r.engLog = math.Inf(-1)
	if engLog.Valid {
		r.engLog = engLog.Float64
	}
	r.owner = owner.String
	if handed != nil {
		t := handed.UTC()
		r.handedOff = &t
	}
	return nil
}

// refAt is a state's score_ref_at or a stage move's at as a statement
// argument: on SQLite the microseconds since 1970 UTC (migration 0030),
// eight bytes in every row and bound as an integer instead of 32
// characters of text; PostgreSQL keeps its timestamptz.
func refAt(d store.Dialect, t time.Time) any {
	if d == store.SQLite {
		return t.UnixMicro()
	}
	return t
}

// refTime scans score_ref_at or at in any form it is stored in: microseconds
// (SQLite from 0030), the driver's text (rows written before), a time.
type refTime struct{ t time.Time }

func (r *refTime) Scan(v any) error {
	switch x := v.(type) {
	case int64:
		r.t = time.UnixMicro(x).UTC()
		return nil
	case time.Time:
		r.t = x.UTC()
		return nil
	case string:
		t, err := packedTime(x)
		r.t = t
		return err
	case []byte:
		t, err := packedTime(string(x))
		r.t = t
		return err
	}
	return fmt.Errorf("lead: score reference time of type %T", v)
}

const stateCols = `stage, fit, eng_log, rule_version, owner, handed_off_at`

func (s *Service) loadState(ctx context.Context, q store.Querier, ws, contactID string) (stateRow, error) {
	var r stateRow
	err := scanState(q.QueryRowContext(ctx, `SELECT `+stateCols+` FROM lead_state WHERE workspace_id = $1 AND contact_id = $2`, ws, contactID), &r)
	if err != nil {
		if errors.Is(store.MapError(err), store.ErrNotFound) {
			return stateRow{stage: StageVisitor, engLog: math.Inf(-1)}, nil
		}
		return r, err
	}
	return r, nil
}

// lockState makes sure the contact has a state row and, on PostgreSQL,
// locks it for the transaction: two transactions scoring the same contact
// at once would otherwise both add to the same old engagement and one
// contribution would be lost (SQLite has one writer at a time anyway).
func (s *Service) lockState(ctx context.Context, q store.Querier, ws, contactID string, version int, now time.Time) (stateRow, error) {
	if _, err := q.ExecContext(ctx, `INSERT INTO lead_state (workspace_id, contact_id, stage, score, score_ref_at, fit, eng_log, rule_version)
		VALUES ($1, $2, 'visitor', 0, $3, 0, NULL, $4) ON CONFLICT (workspace_id, contact_id) DO NOTHING`, ws, contactID, refAt(s.DB.Dialect, now), version); err != nil {
		return stateRow{}, fmt.Errorf("lead: state: %w", store.MapError(err))
	}
	lock := ""
	if s.DB.Dialect == store.Postgres {
		lock = " FOR UPDATE"
	}
	var r stateRow
	if err := scanState(q.QueryRowContext(ctx, `SELECT `+stateCols+` FROM lead_state WHERE workspace_id = $1 AND contact_id = $2`+lock, ws, contactID), &r); err != nil {
		return stateRow{}, fmt.Errorf("lead: state: %w", store.MapError(err))
	}
	return r, nil
}

// contactExists reports store.ErrNotFound for a contact that is not the
// workspace's.
func (s *Service) contactExists(ctx context.Context, q store.Querier, ws, contactID string) error {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return store.ErrNotFound
	}
	var one int
	return store.MapError(q.QueryRowContext(ctx, `SELECT 1 FROM contacts WHERE workspace_id = $1 AND id = $2`, ws, strings.ToLower(contactID)).Scan(&one))
}

// LeadState returns a contact's state, with the score as of now; a known
// contact never scored is a visitor with 0 points.
func (s *Service) LeadState(ctx context.Context, ws, contactID string) (State, error) {
	if err := s.contactExists(ctx, s.DB.R, ws, contactID); err != nil {
		return State{}, err
	}
	contactID = strings.ToLower(contactID)
	r, err := s.loadState(ctx, s.DB.R, ws, contactID)
	if err != nil {
		return State{}, err
	}
	rs, err := s.ActiveRules(ctx, ws)
	if err != nil {
		return State{}, err
	}
	now := s.now()
	eng := valueAt(r.engLog, now, rs.Rules.HalfLifeDays)
	return State{ContactID: contactID, Stage: r.stage, Score: round(r.fit + eng), ScoreAt: now, Fit: r.fit, Engagement: round(eng),
		RuleVersion: r.version, Owner: r.owner, HandedOffAt: r.handedOff}, nil
}

func round(f float64) float64 { return math.Round(f*1e6) / 1e6 }

// Stage is the contact's lifecycle stage (visitor for a contact never
// scored). It implements the campaign's Conditions.
func (s *Service) Stage(ctx context.Context, ws, contactID string) (string, error) {
	st, err := s.LeadState(ctx, ws, contactID)
	return st.Stage, err
}

// Score is the contact's score now, decay applied. It implements the
// campaign's Conditions.
func (s *Service) Score(ctx context.Context, ws, contactID string) (float64, error) {
	st, err := s.LeadState(ctx, ws, contactID)
	return st.Score, err
}
