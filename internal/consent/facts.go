package consent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// state is what the non-consent events say about a person as of a time.
type state struct {
	restriction policy.Restriction
	erasure     policy.Erasure
	retention   policy.RetentionDuty
	openEnded   bool // some retention duty has no end date
	inbound     policy.InboundRequest
	rightsOpen  int
	contract    bool
	customer    bool
	supplier    bool
	// presumed holds the latest presumed consent per purpose key ("" = for
	// every purpose).
	presumed       map[string]policy.PresumedConsent
	supplierNotice bool
	ece            policy.ExistingCustomer
	ecePoint       string
	objections     []policy.Objection
}

type parsed struct {
	*row
	channels []string
	details  Details
	evidence storedEvidence
}

func parse(rs []*row) []parsed {
	out := make([]parsed, 0, len(rs))
	for _, r := range rs {
		p := parsed{row: r}
		if d := r.dec; d != nil {
			p.channels, p.details, p.evidence = d.channels, d.details, d.evidence
			out = append(out, p)
			continue
		}
		// Most events have empty details or evidence; skipping the decoder
		// for those is a large share of audience resolution time.
		if !emptyJSON(r.Channels) {
			_ = json.Unmarshal([]byte(r.Channels), &p.channels)
		}
		if !emptyJSON(r.Details) {
			_ = json.Unmarshal([]byte(r.Details), &p.details)
		}
		if !emptyJSON(r.Ev) {
			_ = json.Unmarshal([]byte(r.Ev), &p.evidence)
		}
		out = append(out, p)
	}
	return out
}

// channelsOf is r's channels decoded (none if they do not decode).
func (r *row) channelsOf() []string {
	if r.dec != nil {
		return r.dec.channels
	}
	var chs []string
	_ = json.Unmarshal([]byte(r.Channels), &chs)
	return chs
}

// detailsOf is r's details decoded (as far as they decode).
func (r *row) detailsOf() Details {
	if r.dec != nil {
		return r.dec.details
	}
	var d Details
	_ = json.Unmarshal([]byte(r.Details), &d)
	return d
}

func emptyJSON(s string) bool { return s == "" || s == "{}" || s == "[]" || s == "null" }

// factsCols are the columns facts are derived from: reading fewer columns
// (no sealed evidence, hashes or recording times) keeps audience resolution
// lean. Single-contact Facts reads full rows through the same code.
const factsCols = `id, contact_id, seq, kind, purpose, channels, contact_point, details, evidence, occurred_at`

func scanFactsRow(sc interface{ Scan(...any) error }) (*row, error) {
	var r row
	if err := sc.Scan(&r.ID, &r.ContactID, &r.Seq, &r.Kind, &r.Purpose, &r.Channels, pointText{&r.ContactPoint}, &r.Details, evidenceText{&r.Ev}, &r.OccurredAt); err != nil {
		return nil, store.MapError(err)
	}
	r.OccurredAt = r.OccurredAt.UTC()
	return &r, nil
}

// chronological returns the events that occurred at or before asOf, in the
// order they happened (occurred_at, then seq: events may be recorded late).
func chronological(rs []*row, asOf time.Time) []parsed {
	var keep []*row
	for _, r := range rs {
		if !r.OccurredAt.After(asOf) {
			keep = append(keep, r)
		}
	}
	sort.SliceStable(keep, func(i, j int) bool {
		if !keep[i].OccurredAt.Equal(keep[j].OccurredAt) {
			return keep[i].OccurredAt.Before(keep[j].OccurredAt)
		}
		return keep[i].Seq < keep[j].Seq
	})
	return parse(keep)
}

func date(t time.Time) policy.Date { return policy.DateOf(t.UTC()) }

func parseDate(s string) policy.Date {
	d, _ := policy.ParseDate(s)
	return d
}

// fold derives the non-consent state from the events as of asOf: the latest
// event of each pair (started/lifted, opened/closed, …) wins.
func fold(rs []*row, asOf time.Time) state {
	return foldParsed(chronological(rs, asOf))
}

// foldParsed is fold over events already filtered and ordered.
func foldParsed(evs []parsed) state {
	st := state{presumed: map[string]policy.PresumedConsent{}}
	for _, e := range evs {
		d := e.details
		switch e.Kind {
		case KindObjection:
			o := policy.Objection{Type: policy.ObjectionType(d.ObjectionType), At: date(e.OccurredAt)}
			for _, c := range e.channels {
				o.Channels = append(o.Channels, policy.Channel(c))
			}
			st.objections = append(st.objections, o)
		case KindRestrictionStarted:
			st.restriction = policy.Restriction{Active: true, Since: date(e.OccurredAt), Ground: policy.RestrictionGround(d.Ground)}
		case KindRestrictionLifted:
			st.restriction = policy.Restriction{}
		case KindRelationshipStarted:
			// Rules §4.1: a customer is a current or former one, so an
			// ended relationship does not turn anyone back into a prospect
			// (nor a former supplier into one whose letters need no notice).
			if d.Relationship == "customer" {
				st.customer = true
			} else {
				st.supplier = true
			}
		case KindNoticeGiven:
			if d.NoticeKind == "supplier_privacy_notice" {
				st.supplierNotice = true
			}
		case KindInboundRequestReceived:
			st.inbound.Open = true
			for _, c := range e.channels {
				if !slices.Contains(st.inbound.ReplyChannels, policy.Channel(c)) {
					st.inbound.ReplyChannels = append(st.inbound.ReplyChannels, policy.Channel(c))
				}
			}
		case KindInboundRequestClosed:
			st.inbound = policy.InboundRequest{}
		case KindContractStarted:
			st.contract = true
		case KindContractEnded:
			st.contract = false
		case KindRightsRequestOpened:
			st.rightsOpen++
		case KindRightsRequestClosed:
			st.rightsOpen = max(0, st.rightsOpen-1)
		case KindRetentionDutyStarted:
			st.retention.Applies = true
			if st.retention.Basis == "" {
				st.retention.Basis = d.Basis
			} else if !strings.Contains(st.retention.Basis, d.Basis) {
				st.retention.Basis += "; " + d.Basis
			}
			if d.Until == "" {
				st.openEnded = true
			} else if u := parseDate(d.Until); u.After(st.retention.Until) {
				st.retention.Until = u
			}
		case KindErasureRequested:
			if st.erasure.Status != policy.ErasureExecuted {
				st.erasure = policy.Erasure{Status: policy.ErasureRequested, At: date(e.OccurredAt)}
			}
		case KindErasureExecuted:
			st.erasure = policy.Erasure{Status: policy.ErasureExecuted, At: date(e.OccurredAt)}
		case KindPresumedConsentRecorded:
			st.presumed[e.Purpose] = policy.PresumedConsent{Present: true, Basis: d.Basis}
		case KindExistingCustomerFacts:
			st.ece = policy.ExistingCustomer{AddressFromSale: d.AddressFromSale, NoticeAtCollection: d.NoticeAtCollection, LastPurchaseAt: parseDate(d.LastPurchaseAt)}
			st.ecePoint = e.ContactPoint
		}
	}
	if st.openEnded {
		st.retention.Until = policy.Date{}
	}
	return st
}

// declarationComplete: the evidence of a consent declaration names the
// notice version, the exact text shown and the source (the time is always
// there: occurred_at).
func declarationComplete(e parsed) bool {
	return e.evidence.NoticeHash != "" && e.evidence.TextSHA256 != "" && e.evidence.Source != ""
}

// confirmationComplete: a double opt-in must show how and when it was
// confirmed (the DOI log).
func confirmationComplete(e parsed, verification string) bool {
	if verification != "email_doi" && verification != "sms_doi" {
		return true
	}
	return e.evidence.ConfirmationMethod != ""
}

type record struct {
	policy.ConsentRecord
	declared bool // the declaration's evidence is complete
}

func toChannels(cs []string) []policy.Channel {
	out := make([]policy.Channel, len(cs))
	for i, c := range cs {
		out[i] = policy.Channel(c)
	}
	return out
}

func without(cs []policy.Channel, drop []string) []policy.Channel {
	var out []policy.Channel
	for _, c := range cs {
		if !slices.Contains(drop, string(c)) {
			out = append(out, c)
		}
	}
	return out
}

func intersects(cs []policy.Channel, other []string) bool {
	for _, c := range cs {
		if slices.Contains(other, string(c)) {
			return true
		}
	}
	return false
}

// consentRecords turns the consent events of one business purpose and one
// contact point into the engine's consent records (§4.2): a request opens a
// pending record; a confirmation turns the latest pending one into a
// confirmed record (keeping when it was given); a withdrawal is a record of
// its own that the engine lets beat older ones.
func consentRecords(events []parsed, kind policy.Purpose) []policy.ConsentRecord {
	var recs []*record
	for _, e := range events {
		d := e.details
		switch e.Kind {
		case KindConsentRequested:
			recs = append(recs, &record{ConsentRecord: policy.ConsentRecord{ID: e.ID, Purpose: kind, Channels: toChannels(e.channels), Status: policy.ConsentPending,
				GivenAt: date(e.OccurredAt), Verification: policy.Verification(d.Verification), CollectedBy: policy.Collector(d.CollectedBy),
				PreTicked: d.PreTicked, Coupled: d.Coupled, ExplicitSpecialCategory: d.ExplicitSpecialCategory,
				EvidenceRecorded: declarationComplete(e)}, declared: declarationComplete(e)})
		case KindConsentConfirmed:
			var req *record
			for i := len(recs) - 1; i >= 0; i-- {
				if recs[i].Status == policy.ConsentPending && intersects(recs[i].Channels, e.channels) {
					req = recs[i]
					break
				}
			}
			c := policy.ConsentRecord{ID: e.ID, Purpose: kind, Channels: toChannels(e.channels), Status: policy.ConsentConfirmed,
				GivenAt: date(e.OccurredAt), ConfirmedAt: date(e.OccurredAt), Verification: policy.Verification(d.Verification),
				CollectedBy: policy.Collector(d.CollectedBy), PreTicked: d.PreTicked, Coupled: d.Coupled, ExplicitSpecialCategory: d.ExplicitSpecialCategory}
			declared := declarationComplete(e)
			if req != nil {
				c.GivenAt = req.GivenAt
				c.PreTicked = c.PreTicked || req.PreTicked
				c.Coupled = c.Coupled || req.Coupled
				c.ExplicitSpecialCategory = c.ExplicitSpecialCategory || req.ExplicitSpecialCategory
				if c.CollectedBy == "" {
					c.CollectedBy = req.CollectedBy
				}
				if c.Verification == "" {
					c.Verification = req.Verification
				}
				declared = declared || req.declared
			}
			// The evidence may say when the link was clicked; it can only make
			// the confirmation earlier than its event, never later: a later
			// date would order it after a withdrawal that beat it (§7.1).
			if t := e.evidence.ConfirmedAt; t != "" {
				if ct, err := time.Parse(time.RFC3339Nano, t); err == nil && !ct.After(e.OccurredAt) {
					c.ConfirmedAt = date(ct)
				}
			}
			c.EvidenceRecorded = declared && confirmationComplete(e, string(c.Verification))
			recs = dropPending(recs, e.channels)
			recs = append(recs, &record{ConsentRecord: c, declared: declared})
		case KindConsentUsed:
			// The newest confirmed record for these channels was relied on.
			for i := len(recs) - 1; i >= 0; i-- {
				if recs[i].Status == policy.ConsentConfirmed && intersects(recs[i].Channels, e.channels) {
					recs[i].LastUsedAt = date(e.OccurredAt)
					break
				}
			}
		case KindConsentWithdrawn:
			recs = dropPending(recs, e.channels)
			recs = append(recs, &record{ConsentRecord: policy.ConsentRecord{ID: e.ID, Purpose: kind, Channels: toChannels(e.channels), Status: policy.ConsentWithdrawn,
				GivenAt: date(e.OccurredAt), WithdrawnAt: date(e.OccurredAt), EvidenceRecorded: true}})
		}
	}
	out := make([]policy.ConsentRecord, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.ConsentRecord)
	}
	return out
}

// dropPending removes channels from pending records: a confirmation or a
// withdrawal settles the sign-up that was waiting for them.
func dropPending(recs []*record, chs []string) []*record {
	out := recs[:0]
	for _, r := range recs {
		if r.Status == policy.ConsentPending && intersects(r.Channels, chs) {
			r.Channels = without(r.Channels, chs)
			if len(r.Channels) == 0 {
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// pointFor is the blind index a consent for channel must carry to count:
// the contact's current e-mail address for e-mail, the current number for
// SMS and phone, none for the other channels.
func pointFor(p contact.Points, channel string) (string, bool) {
	switch channelGroup(channel) {
	case "email":
		return p.EmailIndex, p.EmailIndex != ""
	case "phone":
		return p.PhoneIndex, p.PhoneIndex != ""
	}
	return "", true
}

// purposeKinds maps the built-in purpose keys to their kinds.
var purposeKinds = func() map[string]policy.Purpose {
	m := map[string]policy.Purpose{}
	for _, d := range DefaultCatalog() {
		m[d.Key] = policy.Purpose(d.Kind)
	}
	return m
}()

// buildFacts derives the engine's input for one contact (rules §4, §11).
func buildFacts(p contact.Points, pur Purpose, channel string, rs []*row, asOf time.Time) policy.Facts {
	evs := chronological(rs, asOf)
	return factsFrom(p, pur, channel, evs, foldParsed(evs), asOf)
}

// factsFrom is buildFacts over events already ordered and folded, so the
// permission state parses a contact's ledger once for all its purpose ×
// channel pairs. It reads evs and st without changing them.
func factsFrom(p contact.Points, pur Purpose, channel string, evs []parsed, st state, asOf time.Time) policy.Facts {
	f := policy.Facts{
		AsOf:                date(asOf),
		Audience:            policy.Audience(p.Audience),
		Relationship:        policy.Relationship(p.Relationship),
		DataSource:          policy.DataSource(p.DataSource),
		Objections:          st.objections,
		Restriction:         st.restriction,
		Erasure:             st.erasure,
		RetentionDuty:       st.retention,
		InboundRequest:      st.inbound,
		OpenRightsRequest:   st.rightsOpen > 0,
		ContractActive:      st.contract,
		SupplierNoticeGiven: st.supplierNotice,
		ExistingCustomer:    st.ece,
	}
	switch {
	case st.customer:
		f.Relationship = policy.RelationshipCustomer
	case st.supplier && f.Relationship == policy.RelationshipProspect:
		f.Relationship = policy.RelationshipSupplier
	}
	if f.Erasure.Status == "" {
		f.Erasure.Status = policy.ErasureNone
	}
	if pc, ok := st.presumed[pur.Key]; ok {
		f.B2BPresumedConsent = pc
	} else if pc, ok := st.presumed[""]; ok {
		f.B2BPresumedConsent = pc
	}
	// The address "from the sale" must be the address we would write to.
	if channelGroup(channel) == "email" && st.ecePoint != p.EmailIndex {
		f.ExistingCustomer.AddressFromSale = false
	}
	// Only consents of this business purpose and this contact point count.
	// The one exception is the double opt-in confirmation request: it
	// confirms whatever sign-up is pending at this address, so it sees the
	// pending consents of every purpose (still of this contact point only).
	point, ok := pointFor(p, channel)
	byPurpose := map[string][]parsed{}
	var order []string
	if ok {
		for _, e := range evs {
			if !consentFor(e, point, pur) {
				continue
			}
			if _, seen := byPurpose[e.Purpose]; !seen {
				order = append(order, e.Purpose)
			}
			byPurpose[e.Purpose] = append(byPurpose[e.Purpose], e)
		}
	}
	f.Consents = []policy.ConsentRecord{}
	for _, key := range order {
		kind := policy.Purpose(pur.Kind)
		if key != pur.Key {
			// The engine reads only status and channels of these records;
			// their own kind keeps them from counting as anything else.
			kind = policy.PurposeDirectMarketing
			if k, ok := purposeKinds[key]; ok {
				kind = k
			}
		}
		recs := consentRecords(byPurpose[key], kind)
		if key != pur.Key {
			// Only the double opt-in request sees other purposes' records,
			// and it needs only the pending sign-ups (§7.4). A confirmed
			// consent of another purpose must not become a basis for
			// advertising inside the confirmation mail (Art. 4(11): specific).
			recs = slices.DeleteFunc(recs, func(r policy.ConsentRecord) bool { return r.Status != policy.ConsentPending })
		}
		f.Consents = append(f.Consents, recs...)
	}
	if len(f.Consents) == 0 {
		f.Consents = nil
	}
	return f
}

// consentFor reports whether the event is one of the consent records that
// factsFrom passes for the business purpose at the contact point.
func consentFor(e parsed, point string, pur Purpose) bool {
	if e.ContactPoint != point || (e.Kind != KindConsentRequested && e.Kind != KindConsentConfirmed && e.Kind != KindConsentWithdrawn && e.Kind != KindConsentUsed) {
		return false
	}
	return e.Purpose == pur.Key || pur.Kind == string(policy.PurposeConsentConfirmation)
}

// anyConsentFor reports whether factsFrom would see a consent record for
// the business purpose on the channel.
func anyConsentFor(p contact.Points, pur Purpose, channel string, evs []parsed) bool {
	point, ok := pointFor(p, channel)
	if !ok {
		return false
	}
	for _, e := range evs {
		if consentFor(e, point, pur) {
			return true
		}
	}
	return false
}

// empty reports whether the state is the one of a contact without events:
// then factsFrom's facts for a purpose and channel that sees no consent
// record are exactly those of a contact without events.
func (st state) empty() bool {
	return st.restriction == (policy.Restriction{}) && st.erasure == (policy.Erasure{}) &&
		st.retention == (policy.RetentionDuty{}) && !st.openEnded &&
		!st.inbound.Open && len(st.inbound.ReplyChannels) == 0 && st.rightsOpen == 0 &&
		!st.contract && !st.customer && !st.supplier && len(st.presumed) == 0 &&
		!st.supplierNotice && st.ece == (policy.ExistingCustomer{}) && st.ecePoint == "" &&
		len(st.objections) == 0
}

// request checks that the business purpose may use the channel.
func (l *Ledger) request(ctx context.Context, ws, purposeKey, channel string) (Purpose, policy.Request, error) {
	pur, err := l.purposes.lookup(ctx, l.db.R, ws, "purpose", purposeKey)
	if err != nil {
		return Purpose{}, policy.Request{}, err
	}
	if !slices.Contains(Channels, channel) {
		return Purpose{}, policy.Request{}, validate.OneOf("channel", channel, Channels)
	}
	if !pur.Allows(channel) {
		return Purpose{}, policy.Request{}, &validate.Error{Field: "channel", Code: "channel_not_allowed", Allowed: pur.Channels,
			Message: fmt.Sprintf("purpose %s does not use channel %s; allowed: %s", pur.Key, channel, strings.Join(pur.Channels, ", "))}
	}
	return pur, policy.Request{Purpose: policy.Purpose(pur.Kind), Channel: policy.Channel(channel)}, nil
}

// Facts derives the contactability engine's input for one contact, one
// business purpose and one channel as of asOf, from the contact record and
// its ledger (rules §4, with the input-assembly duties of §11): only the
// consents of this business purpose and of the contact's current contact
// point for the channel; all objections of the person; the other facts from
// the latest events that occurred by asOf. Processing flags and the
// per-campaign existing-customer facts (own_similar_offer,
// notice_in_message) are left for the caller to set.
func (l *Ledger) Facts(ctx context.Context, ws, contactID, purposeKey, channel string, asOf time.Time) (policy.Facts, policy.Request, error) {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return policy.Facts{}, policy.Request{}, store.ErrNotFound
	}
	ws, contactID = strings.ToLower(ws), strings.ToLower(contactID)
	pur, req, err := l.request(ctx, ws, purposeKey, channel)
	if err != nil {
		return policy.Facts{}, policy.Request{}, err
	}
	p, err := l.contacts.Points(ctx, ws, contactID)
	if err != nil {
		return policy.Facts{}, policy.Request{}, err
	}
	rs, err := l.rows(ctx, l.db.R, ws, contactID)
	if err != nil {
		return policy.Facts{}, policy.Request{}, err
	}
	return buildFacts(p, pur, channel, rs, asOf), req, nil
}

// ContactFacts is one contact's record and ledger, read and folded once as
// of a time, from which the engine's input for any business purpose and
// channel follows without another query: a contact's matrix (some thirty
// purpose × channel cells) costs two reads instead of three per cell.
type ContactFacts struct {
	points contact.Points
	evs    []parsed
	st     state
	asOf   time.Time
}

// ContactFacts reads a contact and its ledger for Facts of many purposes
// and channels as of asOf.
func (l *Ledger) ContactFacts(ctx context.Context, ws, contactID string, asOf time.Time) (*ContactFacts, error) {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return nil, store.ErrNotFound
	}
	ws, contactID = strings.ToLower(ws), strings.ToLower(contactID)
	p, err := l.contacts.Points(ctx, ws, contactID)
	if err != nil {
		return nil, err
	}
	rs, err := l.rows(ctx, l.db.R, ws, contactID)
	if err != nil {
		return nil, err
	}
	evs := chronological(rs, asOf)
	return &ContactFacts{points: p, evs: evs, st: foldParsed(evs), asOf: asOf}, nil
}

// Facts is what Ledger.Facts derives for the business purpose pur (as the
// workspace's catalogue lists it) and channel, from what was read once.
func (c *ContactFacts) Facts(pur Purpose, channel string) (policy.Facts, policy.Request, error) {
	if !slices.Contains(Channels, channel) {
		return policy.Facts{}, policy.Request{}, validate.OneOf("channel", channel, Channels)
	}
	if !pur.Allows(channel) {
		return policy.Facts{}, policy.Request{}, &validate.Error{Field: "channel", Code: "channel_not_allowed", Allowed: pur.Channels,
			Message: fmt.Sprintf("purpose %s does not use channel %s; allowed: %s", pur.Key, channel, strings.Join(pur.Channels, ", "))}
	}
	return factsFrom(c.points, pur, channel, c.evs, c.st, c.asOf), policy.Request{Purpose: policy.Purpose(pur.Kind), Channel: policy.Channel(channel)}, nil
}

// FactsForContacts is Facts for many contacts at once (audience
// resolution): two queries per 500 contacts instead of two per contact.
// Contacts that do not exist in the workspace are missing from the map.
func (l *Ledger) FactsForContacts(ctx context.Context, ws string, ids []string, purposeKey, channel string, asOf time.Time) (map[string]policy.Facts, policy.Request, error) {
	pur, req, err := l.request(ctx, ws, purposeKey, channel)
	if err != nil {
		return nil, policy.Request{}, err
	}
	pts, err := l.contacts.PointsFor(ctx, ws, ids)
	if err != nil {
		return nil, policy.Request{}, err
	}
	out := make(map[string]policy.Facts, len(pts))
	all := make([]string, 0, len(pts))
	for k := range pts {
		all = append(all, k)
	}
	sort.Strings(all)
	byContact := map[string][]*row{}
	for len(all) > 0 {
		n := min(len(all), 500)
		part := all[:n]
		all = all[n:]
		args := []any{strings.ToLower(ws)}
		var ph strings.Builder
		for i, x := range part {
			if i > 0 {
				ph.WriteByte(',')
			}
			args = append(args, x)
			fmt.Fprintf(&ph, "$%d", len(args))
		}
		// Ordered by (contact_id, seq) so the planner walks the
		// ledger_events_contact index; ORDER BY seq alone made SQLite scan the
		// whole workspace's chain through the (workspace_id, seq) index for
		// every page — quadratic in the audience size.
		rs, err := l.db.R.QueryContext(ctx, `SELECT `+factsCols+` FROM ledger_events WHERE workspace_id = $1 AND contact_id IN (`+ph.String()+`) ORDER BY contact_id, seq`, args...)
		if err != nil {
			return nil, policy.Request{}, fmt.Errorf("read ledger: %w", err)
		}
		for rs.Next() {
			r, err := scanFactsRow(rs)
			if err != nil {
				rs.Close()
				return nil, policy.Request{}, err
			}
			byContact[r.ContactID] = append(byContact[r.ContactID], r)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return nil, policy.Request{}, err
		}
	}
	for cid, p := range pts {
		out[cid] = buildFacts(p, pur, channel, byContact[cid], asOf)
	}
	return out, req, nil
}
