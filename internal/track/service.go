package track

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Business purposes the tracking service asks the engine about.
const (
	// PurposeWebTracking is the consent to identified tracking on the web:
	// events linked to the person's contact record.
	PurposeWebTracking = "web_tracking"
	// PurposeEmailTracking is the consent to per-recipient open and click
	// measurement in e-mails.
	PurposeEmailTracking = "email_tracking"
	// PurposeWebAnalytics is usage measurement: pseudonymous or anonymous.
	PurposeWebAnalytics = "web_analytics"
)

// Decider decides for one contact (audience.Resolver implements it).
type Decider interface {
	Decide(ctx context.Context, ws, contactID, purposeKey, channel string, c audience.Campaign) (policy.Decision, error)
	DecideContacts(ctx context.Context, ws string, ids []string, purposeKey, channel string, c audience.Campaign) (map[string]policy.Decision, error)
}

// Grants reads the stored permission state (consent.Ledger implements it).
type Grants interface {
	StoredGrants(ctx context.Context, ws string, ids []string, channel string, purposeKeys []string, asOf time.Time) (map[string]consent.Granted, error)
}

// Incoming is one event as it arrives, before the engine chose its branch.
type Incoming struct {
	// ContactID is the contact the event is about, "" when unknown. It comes
	// from a trusted system or from a checked visitor token.
	ContactID string
	Type      string
	Name      string
	Ref       string
	Props     map[string]string
	At        time.Time
	// Signal is what the pseudonym is computed from: for a request, its
	// client address and user agent. It is never stored.
	Signal string
	// GPC: the person sent Global Privacy Control; treated as an objection
	// to pseudonymous analytics and to identification.
	GPC bool
	// DeviceAccess: the event was collected through the person's device (a
	// script, a pixel, an SDK), TDDDG §25; false for server logs.
	DeviceAccess bool
}

// Outcome counts what became of a batch.
type Outcome struct {
	Identified   int `json:"identified"`
	Pseudonymous int `json:"pseudonymous"`
	Anonymous    int `json:"anonymous"`
	Dropped      int `json:"dropped"`
	// Forgotten counts pseudonymous events deleted because of an objection.
	Forgotten int `json:"forgotten"`
}

// Service decides the branch of every event and stores it there.
type Service struct {
	DB         *store.DB
	Store      *Store
	Pseudonyms *Pseudonyms
	Decider    Decider
	// Grants, when set, answers identification for the contacts whose
	// stored permission state grants the tracking purpose, without reading
	// their ledger; the others are decided live by Decider.
	Grants Grants
	Signer Signer
	Now    func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// MaxBatch is the most events one call takes.
const MaxBatch = 1000

func checkIncoming(i int, e Incoming) error {
	f := func(name string) string { return "events[" + strconv.Itoa(i) + "]." + name }
	if e.ContactID != "" && !id.Valid(e.ContactID) {
		return validate.Invalid(f("contact_id"), f("contact_id")+" must be a contact ID")
	}
	// Check wants a contact; any valid ID stands in for an event without
	// one (a fresh random ID per event cost a read of the system's random
	// source each).
	ev := Event{ContactID: placeholderContact, Type: e.Type, Name: e.Name, Ref: e.Ref, Props: e.Props}
	return Check(i, ev)
}

const placeholderContact = "00000000-0000-7000-8000-000000000000"

// purposeOf names the purposes and channel an event type is decided on:
// opens and clicks are e-mail measurement, the rest is the web.
func purposeOf(typ string) (identified, measured, channel string) {
	if typ == "email_open" || typ == "email_click" {
		return PurposeEmailTracking, PurposeEmailTracking, "email"
	}
	return PurposeWebTracking, PurposeWebAnalytics, "web"
}

type decisionKey struct {
	contact, purpose, channel string
	mode                      policy.AnalyticsMode
	device, gpc               bool
}

// batch remembers decisions within one call: a batch of 100 events of one
// contact asks the engine once, not 100 times.
type batch struct {
	s     *Service
	ws    string
	asOf  time.Time
	cache map[decisionKey]policy.Decision
}

func (b *batch) decide(ctx context.Context, k decisionKey) (policy.Decision, error) {
	if d, ok := b.cache[k]; ok {
		return d, nil
	}
	var d policy.Decision
	var err error
	if k.contact != "" {
		d, err = b.s.Decider.Decide(ctx, b.ws, k.contact, k.purpose, k.channel, audience.Campaign{DeviceAccess: k.device, AnalyticsMode: string(k.mode)})
	} else {
		// Nobody known: the facts of a person with no consent, plus the
		// objection Global Privacy Control stands for.
		f := policy.Facts{AsOf: policy.DateOf(b.asOf), Audience: policy.AudienceB2C, Relationship: policy.RelationshipProspect,
			Processing: policy.Processing{DeviceAccess: k.device, AnalyticsMode: k.mode}}
		if k.gpc {
			f.Objections = []policy.Objection{{Type: policy.ObjectionAnalytics}}
		}
		d, err = policy.Decide(f, policy.Request{Purpose: policy.PurposeAnalytics, Channel: policy.Channel(k.channel)})
	}
	if err != nil {
		return d, err
	}
	b.cache[k] = d
	return d, nil
}

// prefetch decides identification for every contact of the batch with one
// ledger read per purpose, and fails on the first unknown contact.
//
// Contacts whose stored permission state grants the purpose on the channel
// need no ledger read: the state holds the engine's answer with no
// processing facts, and for an analytics purpose in identified mode a
// grant can only be a valid consent with no objection, erasure or
// restriction in the way — the same answer with or without device access,
// which only adds a denial without consent. The state is rewritten in the
// transaction of every ledger append, so a withdrawal committed before the
// read is seen. Everyone the state does not grant or cannot vouch for (no
// mark, stale catalogue, due for a recheck) is decided live; a denial is
// not taken from the state, so an unknown contact is still refused.
func (b *batch) prefetch(ctx context.Context, in []Incoming) error {
	type group struct {
		purpose, channel string
		device           bool
	}
	type pc struct{ purpose, channel string }
	groups := map[group][]string{}
	asked := map[pc][]string{}
	seen := map[decisionKey]bool{}
	seenContact := map[pc]map[string]bool{}
	for _, e := range in {
		if e.ContactID == "" || e.GPC {
			continue
		}
		idp, _, ch := purposeOf(e.Type)
		k := decisionKey{contact: e.ContactID, purpose: idp, channel: ch, mode: policy.AnalyticsIdentified, device: e.DeviceAccess}
		if !seen[k] {
			seen[k] = true
			g := group{idp, ch, e.DeviceAccess}
			groups[g] = append(groups[g], e.ContactID)
			p := pc{idp, ch}
			if seenContact[p] == nil {
				seenContact[p] = map[string]bool{}
			}
			if !seenContact[p][e.ContactID] {
				seenContact[p][e.ContactID] = true
				asked[p] = append(asked[p], e.ContactID)
			}
		}
	}
	granted := map[pc]map[string]consent.Granted{}
	if b.s.Grants != nil {
		for p, ids := range asked {
			gs, err := b.s.Grants.StoredGrants(ctx, b.ws, ids, p.channel, []string{p.purpose}, b.asOf)
			if err != nil {
				return err
			}
			granted[p] = gs
		}
	}
	for g, ids := range groups {
		gs := granted[pc{g.purpose, g.channel}]
		live := ids
		if len(gs) > 0 {
			live = make([]string, 0, len(ids))
			for _, cid := range ids {
				// The state's keys are lower case; an ID spelt otherwise
				// goes the live way, as before.
				if gs[cid].Has(0) {
					b.cache[decisionKey{contact: cid, purpose: g.purpose, channel: g.channel, mode: policy.AnalyticsIdentified, device: g.device}] = policy.Decision{Allowed: true}
					continue
				}
				live = append(live, cid)
			}
		}
		if len(live) == 0 {
			continue
		}
		ds, err := b.s.Decider.DecideContacts(ctx, b.ws, live, g.purpose, g.channel, audience.Campaign{DeviceAccess: g.device, AnalyticsMode: string(policy.AnalyticsIdentified)})
		if err != nil {
			return err
		}
		for _, cid := range live {
			d, ok := ds[cid]
			if !ok {
				for i, e := range in {
					if e.ContactID == cid {
						return validate.Invalid("events["+strconv.Itoa(i)+"].contact_id", "no contact with this ID in this workspace")
					}
				}
			}
			b.cache[decisionKey{contact: cid, purpose: g.purpose, channel: g.channel, mode: policy.AnalyticsIdentified, device: g.device}] = d
		}
	}
	return nil
}

func objected(d policy.Decision) bool {
	return len(d.Reasons) > 0 && d.Reasons[0] == policy.ReasonProcessingObjection
}

type countKey struct {
	bucket    time.Time
	typ, name string
}

type pseudoRow struct {
	pseudonym string
	period    int64
	e         Incoming
}

// Ingest decides every event through the engine and stores it in one
// transaction:
//   - identified (track_events, with the contact) only when the engine
//     allows identified tracking, i.e. the person consented;
//   - else, when the workspace enabled it and the engine allows
//     pseudonymized analytics (no objection, no GPC), under the keyed
//     pseudonym of the period (track_pseudonymous);
//   - else, when the engine allows anonymous measurement, as a count
//     (track_counts) without any identifier;
//   - else not at all.
//
// An objection (GPC, or the engine's processing_objection) deletes the
// pseudonymous history the signal leads to. A bad event stores nothing.
func (s *Service) Ingest(ctx context.Context, ws string, in []Incoming) (Outcome, error) {
	_, out, err := s.ingest(ctx, ws, in, nil)
	return out, err
}

// IngestWith is Ingest that also runs also, when not nil, in the batch's
// transaction after the events are stored (the caller's audit entry):
// its error rolls the batch back.
func (s *Service) IngestWith(ctx context.Context, ws string, in []Incoming, also func(context.Context, store.Querier) error) (Outcome, error) {
	_, out, err := s.ingest(ctx, ws, in, also)
	return out, err
}

// Branch is where one event went.
type Branch uint8

// Branches.
const (
	Dropped Branch = iota
	Anonymous
	Pseudonymous
	Identified
)

// check validates a call's events.
func check(ws string, in []Incoming) error {
	if !id.Valid(ws) {
		return store.ErrNotFound
	}
	if len(in) > MaxBatch {
		return validate.Invalid("events", fmt.Sprintf("at most %d events per call", MaxBatch))
	}
	for i, e := range in {
		if err := checkIncoming(i, e); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) ingest(ctx context.Context, ws string, in []Incoming, also func(context.Context, store.Querier) error) ([]Branch, Outcome, error) {
	var out Outcome
	if err := check(ws, in); err != nil {
		return nil, out, err
	}
	branches := make([]Branch, len(in))
	now := s.now()
	st, err := s.Pseudonyms.Settings(ctx, ws)
	if err != nil {
		return nil, out, err
	}
	b := &batch{s: s, ws: ws, asOf: now, cache: map[decisionKey]policy.Decision{}}
	if err := b.prefetch(ctx, in); err != nil {
		return nil, out, err
	}
	var ident []Event
	var pseudo []pseudoRow
	counts := map[countKey]int{}
	toForget := map[string]bool{}
	var key *periodKey
	for i, e := range in {
		if e.At.IsZero() || e.At.After(now) {
			e.At = now
		}
		e.At = e.At.UTC().Truncate(time.Microsecond)
		idp, mp, ch := purposeOf(e.Type)
		if e.GPC && e.Signal != "" {
			toForget[e.Signal] = true
		}
		if e.ContactID != "" && !e.GPC {
			d, err := b.decide(ctx, decisionKey{contact: e.ContactID, purpose: idp, channel: ch, mode: policy.AnalyticsIdentified, device: e.DeviceAccess})
			if errors.Is(err, store.ErrNotFound) {
				return nil, Outcome{}, validate.Invalid("events["+strconv.Itoa(i)+"].contact_id", "no contact with this ID in this workspace")
			}
			if err != nil {
				return nil, Outcome{}, err
			}
			if d.Allowed {
				ident = append(ident, Event{ContactID: e.ContactID, Type: e.Type, Name: e.Name, Ref: e.Ref, Props: e.Props, At: e.At})
				branches[i] = Identified
				continue
			}
		}
		if st.Pseudonymous && e.Signal != "" && !e.GPC {
			k := decisionKey{contact: e.ContactID, purpose: mp, channel: ch, mode: policy.AnalyticsPseudonymized, device: e.DeviceAccess}
			d, err := b.decide(ctx, k)
			if err != nil {
				return nil, Outcome{}, err
			}
			if d.Allowed {
				if key == nil {
					k, err := s.Pseudonyms.key(ctx, ws, st.RotationDays)
					if err != nil {
						return nil, Outcome{}, err
					}
					key = &k
				}
				pseudo = append(pseudo, pseudoRow{pseudonym: pseudonym(*key, ws, e.Signal), period: key.period, e: e})
				branches[i] = Pseudonymous
				continue
			}
			if objected(d) {
				toForget[e.Signal] = true
			}
		}
		// Anonymous counts are about nobody: decided without the person's
		// facts, and GPC does not stop them.
		d, err := b.decide(ctx, decisionKey{purpose: mp, channel: ch, mode: policy.AnalyticsAnonymous, device: e.DeviceAccess})
		if err != nil {
			return nil, Outcome{}, err
		}
		if !d.Allowed {
			out.Dropped++
			continue
		}
		counts[countKey{bucket: e.At.Truncate(time.Hour), typ: e.Type, name: e.Name}]++
		branches[i] = Anonymous
		out.Anonymous++
	}
	out.Identified, out.Pseudonymous = len(ident), len(pseudo)
	// The pseudonyms to forget are computed before the transaction: that
	// may rotate the period key, which takes the writer itself.
	var forgetting []string
	for sig := range toForget {
		ps, err := s.Pseudonyms.current(ctx, ws, sig)
		if err != nil {
			return nil, Outcome{}, err
		}
		if ps != "" {
			forgetting = append(forgetting, ps)
		}
	}
	// Statements prepared once on SQLite (parsing a multi-row INSERT was a
	// quarter of a batch's CPU), and the batches of concurrent callers
	// committed together: a commit's page writes were a sixth of a batch.
	err = s.DB.TxGrouped(ctx, func(tx store.Querier) error {
		if err := s.Store.Record(ctx, tx, ws, ident); err != nil {
			return err
		}
		if err := insertPseudonymous(ctx, tx, ws, pseudo); err != nil {
			return err
		}
		if err := addCounts(ctx, tx, ws, counts); err != nil {
			return err
		}
		out.Forgotten = 0 // a grouped write may run twice
		for _, ps := range forgetting {
			n, err := forget(ctx, tx, ws, ps)
			if err != nil {
				return err
			}
			out.Forgotten += n
		}
		if also != nil {
			return also(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return nil, Outcome{}, err
	}
	return branches, out, nil
}

func insertPseudonymous(ctx context.Context, q store.Querier, ws string, rows []pseudoRow) error {
	for start := 0; start < len(rows); start += insertChunk {
		part := rows[start:min(start+insertChunk, len(rows))]
		var b strings.Builder
		b.WriteString(`INSERT INTO track_pseudonymous (id, workspace_id, pseudonym, period, type, name, occurred_at) VALUES `)
		args := make([]any, 0, len(part)*7)
		for i, r := range part {
			if i > 0 {
				b.WriteByte(',')
			}
			n := len(args)
			fmt.Fprintf(&b, "($%d,$%d,$%d,$%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7)
			args = append(args, id.NewAt(r.e.At), ws, r.pseudonym, r.period, r.e.Type, r.e.Name, r.e.At)
		}
		if _, err := q.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("track: record pseudonymous events: %w", store.MapError(err))
		}
	}
	return nil
}

func addCounts(ctx context.Context, q store.Querier, ws string, counts map[countKey]int) error {
	keys := make([]countKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	// A fixed order keeps two batches from locking the same rows in
	// opposite orders on PostgreSQL.
	slices.SortFunc(keys, func(a, b countKey) int {
		if c := a.bucket.Compare(b.bucket); c != 0 {
			return c
		}
		if c := strings.Compare(a.typ, b.typ); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	for start := 0; start < len(keys); start += insertChunk {
		part := keys[start:min(start+insertChunk, len(keys))]
		var b strings.Builder
		b.WriteString(`INSERT INTO track_counts (workspace_id, bucket, type, name, count) VALUES `)
		args := make([]any, 0, len(part)*5)
		for i, k := range part {
			if i > 0 {
				b.WriteByte(',')
			}
			n := len(args)
			fmt.Fprintf(&b, "($%d,$%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4, n+5)
			args = append(args, ws, k.bucket, k.typ, k.name, counts[k])
		}
		b.WriteString(` ON CONFLICT (workspace_id, bucket, type, name) DO UPDATE SET count = track_counts.count + excluded.count`)
		if _, err := q.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("track: count events: %w", store.MapError(err))
		}
	}
	return nil
}

// IssueVisitorToken signs a visitor token for a contact who consented to
// identified web tracking now; without that consent it refuses, so a token
// only ever reaches a device after consent.
func (s *Service) IssueVisitorToken(ctx context.Context, ws, contactID string) (string, time.Time, error) {
	if !id.Valid(ws) {
		return "", time.Time{}, store.ErrNotFound
	}
	if !id.Valid(contactID) {
		return "", time.Time{}, validate.Invalid("contact_id", "contact_id must be a contact ID")
	}
	d, err := s.Decider.Decide(ctx, ws, contactID, PurposeWebTracking, "web", audience.Campaign{DeviceAccess: true, AnalyticsMode: string(policy.AnalyticsIdentified)})
	if err != nil {
		return "", time.Time{}, err
	}
	if !d.Allowed {
		return "", time.Time{}, &validate.Error{Field: "contact_id", Code: "no_tracking_consent",
			Message: "the contact has no valid consent to " + PurposeWebTracking + " on web; a visitor token is only issued after that consent"}
	}
	exp := s.now().Add(VisitorTokenDays * 24 * time.Hour).Truncate(time.Second)
	tok, err := SignVisitor(s.Signer, ws, contactID, exp)
	return tok, exp, err
}

// OnLedgerEvent keeps identified events in step with the ledger, in the
// appending transaction: an objection to analytics, or the withdrawal of a
// tracking consent, deletes what was recorded under it (Art. 17(1)(b)-(c),
// Art. 21(1) GDPR).
func (s *Service) OnLedgerEvent(ctx context.Context, q store.Querier, ws, contactID string, ev consent.Event) error {
	switch {
	case ev.Kind == consent.KindObjection && ev.Details.ObjectionType == "analytics",
		ev.Kind == consent.KindConsentWithdrawn && ev.Purpose == PurposeWebTracking:
		_, err := s.Store.DeleteContact(ctx, q, ws, contactID)
		return err
	case ev.Kind == consent.KindConsentWithdrawn && ev.Purpose == PurposeEmailTracking:
		_, err := q.ExecContext(ctx, `DELETE FROM track_events WHERE workspace_id = $1 AND contact_id = $2 AND type IN ('email_open', 'email_click')`, ws, contactID)
		if err != nil {
			return fmt.Errorf("track: delete e-mail events: %w", err)
		}
	}
	return nil
}

// EraseContact deletes the contact's identified events as part of an
// erasure (privacy.Service calls it in the erasure's transaction).
func (s *Service) EraseContact(ctx context.Context, q store.Querier, ws, contactID string) (map[string]int, error) {
	n, err := s.Store.DeleteContact(ctx, q, ws, contactID)
	if err != nil {
		return nil, err
	}
	return map[string]int{"track_events": n}, nil
}
