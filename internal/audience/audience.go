// Package audience answers "may we contact this person, for this business
// purpose, on this channel, now?" for one contact, for the whole purpose ×
// channel matrix of a contact, and for every contact of a workspace
// (audience resolution). All three run the same code: facts derived by the
// consent ledger, decided by policy.Decide. There is no cache: every call
// reads the ledger as committed when it starts, so a withdrawal or
// objection takes effect at once (Art. 7(3), Art. 21(3) GDPR).
package audience

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Facts is what the resolver needs of the ledger.
type Facts interface {
	Facts(ctx context.Context, ws, contactID, purposeKey, channel string, asOf time.Time) (policy.Facts, policy.Request, error)
	FactsForContacts(ctx context.Context, ws string, ids []string, purposeKey, channel string, asOf time.Time) (map[string]policy.Facts, policy.Request, error)
	ContactFacts(ctx context.Context, ws, contactID string, asOf time.Time) (*consent.ContactFacts, error)
}

// Catalog lists a workspace's business purposes.
type Catalog interface {
	List(ctx context.Context, ws string) ([]consent.Purpose, error)
}

// Resolver decides contactability for contacts and audiences.
type Resolver struct {
	db       *store.DB
	facts    Facts
	purposes Catalog
	now      func() time.Time
}

// New makes a Resolver.
func New(db *store.DB, facts Facts, purposes Catalog, now func() time.Time) *Resolver {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &Resolver{db: db, facts: facts, purposes: purposes, now: now}
}

// Campaign carries what only the sender knows about the planned message:
// the per-campaign facts the rules leave to the caller (§11 input assembly).
type Campaign struct {
	// OwnSimilarOffer: the message advertises own goods or services similar
	// to those bought (UWG §7(3) Nr. 2).
	OwnSimilarOffer bool `json:"own_similar_offer"`
	// NoticeInMessage: the template contains the notice of the right to
	// object (UWG §7(3) Nr. 4).
	NoticeInMessage     bool   `json:"notice_in_message"`
	ContainsAdvertising bool   `json:"contains_advertising"`
	SpecialCategoryData bool   `json:"special_category_data"`
	DeviceAccess        bool   `json:"device_access"`
	StrictlyNecessary   bool   `json:"strictly_necessary"`
	AnalyticsMode       string `json:"analytics_mode"`
}

var analyticsModes = []string{"identified", "pseudonymized", "anonymous"}

func (c Campaign) validate() error {
	if c.AnalyticsMode != "" && !slices.Contains(analyticsModes, c.AnalyticsMode) {
		return validate.OneOf("campaign.analytics_mode", c.AnalyticsMode, analyticsModes)
	}
	return nil
}

func (c Campaign) apply(f *policy.Facts) {
	f.ExistingCustomer.OwnSimilarOffer = c.OwnSimilarOffer
	f.ExistingCustomer.NoticeInMessage = c.NoticeInMessage
	f.Processing.ContainsAdvertising = c.ContainsAdvertising
	f.Processing.SpecialCategoryData = c.SpecialCategoryData
	f.Processing.DeviceAccess = c.DeviceAccess
	f.Processing.StrictlyNecessary = c.StrictlyNecessary
	if c.AnalyticsMode != "" {
		f.Processing.AnalyticsMode = policy.AnalyticsMode(c.AnalyticsMode)
	}
}

// Decide is the decision for one contact, purpose and channel now.
func (r *Resolver) Decide(ctx context.Context, ws, contactID, purposeKey, channel string, c Campaign) (policy.Decision, error) {
	if err := c.validate(); err != nil {
		return policy.Decision{}, err
	}
	f, req, err := r.facts.Facts(ctx, ws, contactID, purposeKey, channel, r.now())
	if err != nil {
		return policy.Decision{}, err
	}
	c.apply(&f)
	d, err := policy.Decide(f, req)
	if err != nil {
		return policy.Decision{}, fmt.Errorf("decide %s/%s: %w", purposeKey, channel, err)
	}
	return d, nil
}

// DecideContacts is Decide for several contacts at once, with one read of
// the ledger for all of them: a batch of tracking events asks for the same
// few contacts many times, and a sender asks for a batch of recipients
// right before the batch leaves. Contacts that do not exist are left out.
// Each decision is exactly Decide's.
func (r *Resolver) DecideContacts(ctx context.Context, ws string, ids []string, purposeKey, channel string, c Campaign) (map[string]policy.Decision, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	facts, req, err := r.facts.FactsForContacts(ctx, ws, ids, purposeKey, channel, r.now())
	if err != nil {
		return nil, err
	}
	out := make(map[string]policy.Decision, len(facts))
	for cid, f := range facts {
		c.apply(&f)
		d, err := policy.Decide(f, req)
		if err != nil {
			return nil, fmt.Errorf("decide %s/%s for contact %s: %w", purposeKey, channel, cid, err)
		}
		out[cid] = d
	}
	return out, nil
}

// Cell is one entry of a contact's matrix.
type Cell struct {
	Purpose  string          `json:"purpose"`
	Kind     string          `json:"kind"`
	Channel  string          `json:"channel"`
	Decision policy.Decision `json:"-"`
}

// Matrix decides every business purpose of the workspace on each of its
// channels for one contact. The contact and its ledger are read once, as of
// one moment, and every cell is decided from them: the same facts Decide
// derives for the cell, without its three reads per cell.
func (r *Resolver) Matrix(ctx context.Context, ws, contactID string) ([]Cell, error) {
	ps, err := r.purposes.List(ctx, ws)
	if err != nil {
		return nil, err
	}
	cf, err := r.facts.ContactFacts(ctx, ws, contactID, r.now())
	if err != nil {
		return nil, err
	}
	var out []Cell
	for _, p := range ps {
		for _, ch := range p.Channels {
			f, req, err := cf.Facts(p, ch)
			if err != nil {
				return nil, err
			}
			Campaign{}.apply(&f)
			d, err := policy.Decide(f, req)
			if err != nil {
				return nil, fmt.Errorf("decide %s/%s: %w", p.Key, ch, err)
			}
			out = append(out, Cell{Purpose: p.Key, Kind: p.Kind, Channel: ch, Decision: d})
		}
	}
	return out, nil
}

// Filter narrows an audience by the contact record's non-personal fields.
type Filter struct {
	Audience     string `json:"audience"`
	Relationship string `json:"relationship"`
	DataSource   string `json:"data_source"`
}

func (f Filter) validate() error {
	for _, c := range []struct {
		field, v string
		allowed  []string
	}{
		{"filter.audience", f.Audience, []string{"b2c", "b2b"}},
		{"filter.relationship", f.Relationship, []string{"prospect", "customer", "supplier"}},
		{"filter.data_source", f.DataSource, []string{"self_provided", "third_party"}},
	} {
		if c.v != "" && !slices.Contains(c.allowed, c.v) {
			return validate.OneOf(c.field, c.v, c.allowed)
		}
	}
	return nil
}

// Query is one audience resolution.
type Query struct {
	Purpose  string   `json:"purpose"`
	Channel  string   `json:"channel"`
	Filter   Filter   `json:"filter"`
	Campaign Campaign `json:"campaign"`
}

// Validate checks the query before any streaming starts, so a bad query is
// a clean 400.
func (r *Resolver) Validate(ctx context.Context, ws string, q Query) error {
	if q.Purpose == "" {
		return validate.Required("purpose")
	}
	if q.Channel == "" {
		return validate.Required("channel")
	}
	if err := q.Filter.validate(); err != nil {
		return err
	}
	if err := q.Campaign.validate(); err != nil {
		return err
	}
	// The ledger validates purpose and channel (names the allowed values).
	_, _, err := r.facts.FactsForContacts(ctx, ws, nil, q.Purpose, q.Channel, r.now())
	return err
}

const pageSize = 1000

// Resolve calls emit with the ID of every contact of the workspace (matching
// the filter) whom the engine allows to be contacted for the query's purpose
// on its channel now, in ID order, and returns how many there were. The
// decision for each contact is exactly Decide's.
func (r *Resolver) Resolve(ctx context.Context, ws string, q Query, emit func(contactID string) error) (int, error) {
	if !id.Valid(ws) {
		return 0, store.ErrNotFound
	}
	if err := q.Filter.validate(); err != nil {
		return 0, err
	}
	if err := q.Campaign.validate(); err != nil {
		return 0, err
	}
	asOf := r.now()
	if q.Campaign == (Campaign{}) {
		if st, ok := r.facts.(State); ok {
			return r.resolveFromState(ctx, st, ws, q, asOf, emit)
		}
	}
	return r.resolveLive(ctx, ws, q, asOf, nil, emit)
}

// State is the permission state the consent ledger keeps (see
// consent/state.go): the engine's answers for every contact, written in the
// transaction of every change.
type State interface {
	StaleContacts(ctx context.Context, ws string, now time.Time) (map[string]bool, error)
	AllowedContacts(ctx context.Context, ws, purposeKey, channel string, f consent.StateFilter, fn func(contactID string) error) error
	CountAllowed(ctx context.Context, ws, purposeKey, channel string, f consent.StateFilter, except map[string]bool) (int, error)
}

// Count is the size of the audience Resolve would list, without listing
// it: the database counts the stored answers, and only the contacts the
// state cannot vouch for are decided live.
func (r *Resolver) Count(ctx context.Context, ws string, q Query) (int, error) {
	if !id.Valid(ws) {
		return 0, store.ErrNotFound
	}
	if err := q.Filter.validate(); err != nil {
		return 0, err
	}
	if err := q.Campaign.validate(); err != nil {
		return 0, err
	}
	asOf := r.now()
	none := func(string) error { return nil }
	st, ok := r.facts.(State)
	if !ok || q.Campaign != (Campaign{}) {
		return r.resolveLive(ctx, ws, q, asOf, nil, none)
	}
	stale, err := st.StaleContacts(ctx, ws, asOf)
	if err != nil {
		return 0, err
	}
	live := 0
	if err := r.decideStale(ctx, ws, q, asOf, stale, func(string) error { live++; return nil }); err != nil {
		return 0, err
	}
	stored, err := st.CountAllowed(ctx, ws, q.Purpose, q.Channel, stateFilter(q.Filter), stale)
	if err != nil {
		return 0, err
	}
	return stored + live, nil
}

func stateFilter(f Filter) consent.StateFilter {
	return consent.StateFilter{Audience: f.Audience, Relationship: f.Relationship, DataSource: f.DataSource}
}

// decideStale decides the contacts in stale live, emitting the allowed
// ones in ID order.
func (r *Resolver) decideStale(ctx context.Context, ws string, q Query, asOf time.Time, stale map[string]bool, emit func(string) error) error {
	if len(stale) == 0 {
		return nil
	}
	if len(stale) > 10*pageSize {
		// Most of the workspace (say, after a new purpose): walk it all.
		_, err := r.resolveLive(ctx, ws, q, asOf, stale, emit)
		return err
	}
	return r.resolveIDs(ctx, ws, q, asOf, stale, emit)
}

// resolveFromState streams the stored answers, and decides live only the
// contacts the state cannot vouch for; both streams come in ID order and
// are merged. Campaign-specific facts change decisions, so such queries
// always run live.
func (r *Resolver) resolveFromState(ctx context.Context, st State, ws string, q Query, asOf time.Time, emit func(string) error) (int, error) {
	stale, err := st.StaleContacts(ctx, ws, asOf)
	if err != nil {
		return 0, err
	}
	var live []string
	if err := r.decideStale(ctx, ws, q, asOf, stale, func(cid string) error { live = append(live, cid); return nil }); err != nil {
		return 0, err
	}
	n, i := 0, 0
	flushLive := func(upTo string) error {
		for i < len(live) && (upTo == "" || live[i] < upTo) {
			if err := emit(live[i]); err != nil {
				return err
			}
			n++
			i++
		}
		return nil
	}
	err = st.AllowedContacts(ctx, ws, q.Purpose, q.Channel, stateFilter(q.Filter), func(cid string) error {
		if stale[cid] {
			return nil // decided live above
		}
		if err := flushLive(cid); err != nil {
			return err
		}
		n++
		return emit(cid)
	})
	if err != nil {
		return n, err
	}
	return n, flushLive("")
}

// resolveIDs decides the given contacts live, in ID order, applying the
// filter to their records.
func (r *Resolver) resolveIDs(ctx context.Context, ws string, q Query, asOf time.Time, set map[string]bool, emit func(string) error) error {
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for len(ids) > 0 {
		part := ids[:min(len(ids), 500)]
		ids = ids[len(part):]
		keep, err := r.filterIDs(ctx, ws, q.Filter, part)
		if err != nil {
			return err
		}
		if _, err := r.decideMany(ctx, ws, q, asOf, keep, emit); err != nil {
			return err
		}
	}
	return nil
}

// filterIDs keeps the IDs (sorted) of contacts that exist and match f.
func (r *Resolver) filterIDs(ctx context.Context, ws string, f Filter, ids []string) ([]string, error) {
	args := []any{ws}
	ph := make([]string, len(ids))
	for i, x := range ids {
		args = append(args, x)
		ph[i] = fmt.Sprintf("$%d", len(args))
	}
	q := `SELECT id FROM contacts WHERE workspace_id = $1 AND id IN (` + strings.Join(ph, ",") + `)`
	for _, c := range []struct{ col, v string }{{"audience", f.Audience}, {"relationship", f.Relationship}, {"data_source", f.DataSource}} {
		if c.v != "" {
			args = append(args, c.v)
			q += fmt.Sprintf(" AND %s = $%d", c.col, len(args))
		}
	}
	out, err := store.Strings(ctx, r.db.R, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	return out, nil
}

// resolveLive decides every contact (or, with only, the contacts in it)
// from its ledger now.
func (r *Resolver) resolveLive(ctx context.Context, ws string, q Query, asOf time.Time, only map[string]bool, emit func(string) error) (int, error) {
	n, after := 0, ""
	for {
		ids, err := r.page(ctx, ws, q.Filter, after)
		if err != nil {
			return n, err
		}
		if len(ids) == 0 {
			return n, nil
		}
		after = ids[len(ids)-1]
		if only != nil {
			ids = slices.DeleteFunc(ids, func(id string) bool { return !only[id] })
			if len(ids) == 0 {
				continue
			}
		}
		m, err := r.decideMany(ctx, ws, q, asOf, ids, emit)
		n += m
		if err != nil {
			return n, err
		}
	}
}

// decideMany decides the given contacts (in order) from their ledgers and
// emits the allowed ones; it returns how many it emitted.
func (r *Resolver) decideMany(ctx context.Context, ws string, q Query, asOf time.Time, ids []string, emit func(string) error) (int, error) {
	facts, req, err := r.facts.FactsForContacts(ctx, ws, ids, q.Purpose, q.Channel, asOf)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, cid := range ids {
		f, ok := facts[cid]
		if !ok {
			continue // deleted meanwhile
		}
		q.Campaign.apply(&f)
		d, err := policy.Decide(f, req)
		if err != nil {
			return n, fmt.Errorf("decide for contact %s: %w", cid, err)
		}
		if d.Allowed {
			n++
			if err := emit(cid); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (r *Resolver) page(ctx context.Context, ws string, f Filter, after string) ([]string, error) {
	q := `SELECT id FROM contacts WHERE workspace_id = $1`
	args := []any{ws}
	if after != "" {
		args = append(args, after)
		q += fmt.Sprintf(" AND id > $%d", len(args))
	}
	for _, c := range []struct{ col, v string }{{"audience", f.Audience}, {"relationship", f.Relationship}, {"data_source", f.DataSource}} {
		if c.v != "" {
			args = append(args, c.v)
			q += fmt.Sprintf(" AND %s = $%d", c.col, len(args))
		}
	}
	q += fmt.Sprintf(" ORDER BY id LIMIT %d", pageSize)
	ids, err := store.Strings(ctx, r.db.R, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	return ids, nil
}
