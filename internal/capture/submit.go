package capture

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/capture/form"
	"github.com/fairlead/fairlead/internal/capture/token"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
)

// requested is one consent of a double opt-in request.
type requested struct {
	Purpose  string   `json:"purpose"`
	Channels []string `json:"channels"`
}

// Result is the outcome of a submission.
type Result struct {
	Form      Form
	Lang      string
	ContactID string
	// Email and SMS are the double opt-in requests made ("" = none); the
	// SMS one is needed for the code page.
	EmailRequest string
	SMSRequest   string
	SMSToken     string
	// Ignored: the honeypot was filled (or the address is erased): nothing
	// was written, and the person sees the same page as everybody.
	Ignored bool
}

// SubmitError is a submission with field errors: nothing was written.
type SubmitError struct {
	Form   Form
	Lang   string
	Errors []form.FieldError
}

func (e *SubmitError) Error() string { return fmt.Sprintf("%d field errors", len(e.Errors)) }

// verification is how a consent on a channel gets verified here.
func verification(ch string) string {
	switch ch {
	case "email":
		return "email_doi"
	case "sms", "phone":
		return "sms_doi"
	}
	return "none"
}

// byPhone: consents on these channels are confirmed by an SMS code.
func byPhone(chs []string) bool { return slices.Contains(chs, "sms") || slices.Contains(chs, "phone") }

// Submit records a public form submission: the contact is found by its
// e-mail address or created, every value is kept with its provenance, each
// ticked consent is recorded as requested with full evidence, and the
// double opt-in messages are enqueued — all in one transaction.
func (s *Service) Submit(ctx context.Context, key string, v url.Values, lang string, m Meta) (Result, error) {
	f, err := s.PublicForm(ctx, key)
	if err != nil {
		return Result{}, err
	}
	return s.SubmitTo(ctx, f, v, lang, m)
}

// SubmitTo is Submit for a form the caller has just read (PublicForm).
//
// Every submission of a workspace waits for the one writing before it
// (SQLite's one write connection, the ledger's chain head on both
// engines), so all that needs no write lock happens first: parsing, the
// consent events, the dedupe lookup in the read pool and, for a new
// contact, its data key, its sealed record and values. The writer then
// only inserts.
func (s *Service) SubmitTo(ctx context.Context, f Form, v url.Values, lang string, m Meta) (Result, error) {
	left := s.submissions.arrive()
	defer left()
	r, err := s.Render(ctx, f, lang)
	if err != nil {
		return Result{}, err
	}
	sub, ferrs := form.Parse(f.Definition, v, r.Lang)
	res := Result{Form: f, Lang: sub.Lang}
	if len(ferrs) > 0 {
		return res, &SubmitError{Form: f, Lang: sub.Lang, Errors: ferrs}
	}
	if sub.Honeypot {
		res.Ignored = true
		return res, nil
	}
	ws := f.WorkspaceID
	var set Effective
	if f.settings != nil {
		set = *f.settings
	} else if set, err = s.Settings.Effective(ctx, ws); err != nil {
		return res, err
	}
	p := submission{f: f, sub: sub, set: set, source: fmt.Sprintf("form:%s@%d", f.Key, f.Version), now: s.now()}
	p.consents(r, m)
	if p.prep, err = s.prepareNew(ctx, ws, &p); err != nil {
		return res, err
	}
	s.Ledger.Warm(ctx, ws, p.events)
	if p.prep != nil {
		// The ledger's checks and the new contact's state need no lock:
		// done here, they leave the batch's serialized part.
		if p.ledger, err = s.Ledger.PrepareNew(ctx, ws, p.newContact(), p.events, consent.Actor{}); err != nil {
			return res, fmt.Errorf("consents: %w", err)
		}
	}
	// The work runs under the context commitSubmission gives it: in a
	// batch, this request's cancellation must not reach the others.
	work := func(ctx context.Context, tx store.Querier, w *batchWrites) error {
		res.ContactID, res.EmailRequest, res.SMSRequest, res.Ignored = "", "", "", false
		if p.prep != nil {
			return s.writeNew(ctx, tx, w, &p, &res)
		}
		return s.writeFound(ctx, tx, &p, &res)
	}
	key := ""
	if p.prep != nil && p.prep.EmailIndex() != "" {
		key = ws + "\x00" + p.prep.EmailIndex()
	}
	err = s.commitSubmission(ctx, ws, key, work)
	if errors.Is(err, errRaced) {
		// Another submission of the same address committed between the
		// lookup and the insert (or before it, with no look-up): this one
		// enriches that contact, and the next submissions are looked up
		// before their batches again.
		s.submissions.lookAhead.Store(lookAheadAfterTaken)
		p.prep, p.ledger = nil, nil
		err = s.commitSubmission(ctx, ws, "", work)
	}
	left()
	if err != nil {
		return res, err
	}
	if res.SMSRequest != "" {
		res.SMSToken, _ = token.Sign(s.Keys, token.Token{Kind: token.Confirm, Workspace: ws, Subject: res.SMSRequest, Expires: p.now.Add(time.Duration(set.SMSCodeMinutes) * time.Minute)})
	}
	return res, nil
}

// errRaced: the new contact's address was taken by a contact committed
// after the lookup.
var errRaced = errors.New("capture: the address was signed up meanwhile")

// submission is what a submission writes, worked out before the writer.
type submission struct {
	f      Form
	sub    form.Submission
	set    Effective
	source string
	now    time.Time

	events    []consent.NewEvent
	eventKeys []string
	byMail    []requested
	bySMS     []requested

	// prep is the new contact when the read pool knows none with this
	// address, with its values sealed (rows of contact_values).
	prep   *contact.Prepared
	values []any
	// ledger are prep's events as the ledger prepared them (nil: the
	// writer prepares them).
	ledger *consent.PreparedNew
}

func (p *submission) newContact() consent.NewContact {
	return consent.NewContact{Points: p.prep.Points(), Sealer: p.prep.Key.Sealer}
}

// consents builds the consent events of the ticked boxes and the double
// opt-in requests they need.
func (p *submission) consents(r Rendered, m Meta) {
	d := p.f.Definition
	for _, k := range d.Consents {
		if !slices.Contains(p.sub.Consents, k.Key) {
			continue
		}
		n := r.Consents[k.Key]
		for _, pur := range k.Purposes {
			ev := consent.NewEvent{
				Kind: consent.KindConsentRequested, Purpose: pur, Channels: k.Channels, OccurredAt: &p.now,
				Details: consent.Details{Verification: verification(k.Channels[0]), CollectedBy: "self", PreTicked: k.PreTicked,
					Coupled: k.Required && !d.MarketingSignup},
				Evidence: consent.EvidenceInput{Source: p.source, NoticeHash: n.Hash, TextShown: n.Body, UserAgent: trim(m.UserAgent, 500)},
			}
			if p.set.RecordIP {
				ev.Evidence.IPAddress = m.IP
			}
			p.events, p.eventKeys = append(p.events, ev), append(p.eventKeys, k.Key)
			rq := requested{Purpose: pur, Channels: k.Channels}
			if byPhone(k.Channels) {
				p.bySMS = append(p.bySMS, rq)
			} else {
				p.byMail = append(p.byMail, rq)
			}
		}
	}
}

// prepareNew looks the address up in the read pool (on SQLite) and, when
// nobody has it, prepares the new contact with its sealed values. nil:
// the contact exists (or may: the writer looks again).
func (s *Service) prepareNew(ctx context.Context, ws string, p *submission) (*contact.Prepared, error) {
	v := p.sub.Values
	// On PostgreSQL the look-up is a round trip of its own for every
	// submission. While no batch met a taken address lately
	// (groupCommit.lookAhead) it is left out: a taken address then fails
	// its batch at the batch's first statement, and the batch runs again
	// without it (runBatch).
	if e := v["email"]; e != "" && (s.DB.Dialect != store.Postgres || s.submissions.lookAhead.Add(-1) >= 0) {
		ix, err := s.Contacts.EmailIndex("email", e)
		if err != nil {
			return nil, err
		}
		var one int
		err = s.reads.queryRow(ctx, s.DB, `SELECT 1 FROM contacts WHERE workspace_id = $1 AND email_index = $2`, ws, ix).Scan(&one)
		if err == nil {
			return nil, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("find contact: %w", err)
		}
	}
	prep, err := s.Contacts.Prepare(ws, newContactInput(p.f.Definition, v), p.now)
	if err != nil {
		return nil, err
	}
	// All the values the contact is created with go into one sealed row
	// (contact.ValuesBundle), as a bulk import writes them: one row and
	// its index entries instead of one per field, for the same history
	// (each value reads as a row of its own with the form as its source).
	filled := false
	for _, val := range v {
		filled = filled || val != ""
	}
	if filled {
		b, err := contact.BundleValues(v)
		if err != nil {
			return nil, err
		}
		sealed, err := prep.Key.Seal(b)
		if err != nil {
			return nil, err
		}
		p.values = append(p.values, id.NewAt(p.now), prep.Contact.WorkspaceID, prep.Contact.ID, contact.ValuesBundle, sealed, p.source, p.now)
	}
	return &prep, nil
}

func newContactInput(d form.Definition, v map[string]string) contact.Input {
	aud := "b2c"
	if d.Audience != "" {
		aud = d.Audience
	}
	return contact.Input{FirstName: v["first_name"], LastName: v["last_name"], Organization: v["company"], Audience: aud,
		Relationship: "prospect", DataSource: "self_provided", Email: v["email"], Phone: v["phone"], Address: address(v)}
}

// writeNew writes a new contact's submission: a handful of INSERTs (in a
// batch, its rows for the batch's INSERTs) and the purpose count (once per
// batch); its ledger events, chain head and permission state are written
// by the batch's flush.
func (s *Service) writeNew(ctx context.Context, tx store.Querier, w *batchWrites, p *submission, res *Result) error {
	if w.rows != nil {
		return s.collectNew(ctx, tx, w, p, res)
	}
	if s.DB.Dialect != store.Postgres {
		return s.insertNew(ctx, tx, w.events, p, res)
	}
	// On PostgreSQL the INSERTs go out as one statement; the contact's
	// unique address is then refused by the statement that carries it.
	c := store.Combine(tx)
	err := s.insertNew(ctx, c, w.events, p, res)
	if err == nil {
		err = c.Flush(ctx)
	}
	if cerr := c.Err(); cerr != nil {
		err = store.MapError(cerr)
	}
	if errors.Is(err, store.ErrConflict) {
		// Nothing else a new contact's sign-up inserts can conflict: the
		// address was taken meanwhile. (If it was not, the enrichment's
		// own writes report the conflict.)
		return errRaced
	}
	return err
}

func (s *Service) insertNew(ctx context.Context, tx store.Querier, b *consent.Batch, p *submission, res *Result) error {
	ws := p.f.WorkspaceID
	cs := s.Contacts.WithTx(tx)
	// The ledger writes the new contact's first permission state below.
	cs.OnChange(nil)
	if err := cs.InsertPrepared(ctx, []contact.Prepared{*p.prep}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errRaced
		}
		return err
	}
	cid := p.prep.Contact.ID
	if len(p.values) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO contact_values (id, workspace_id, contact_id, name, sealed, source, recorded_at) VALUES `+
			store.Values(s.DB.Dialect, len(p.values)/7, 7), p.values...); err != nil {
			return fmt.Errorf("record values: %w", err)
		}
	}
	res.ContactID = cid
	// A new contact has made no request yet: the daily bound is not read.
	if err := s.requests(ctx, tx, nil, ws, cid, p, res, true); err != nil {
		return err
	}
	if err := b.AppendPrepared(ctx, tx, p.ledger, ws, p.newContact(), p.events, consent.Actor{}); err != nil {
		return fmt.Errorf("consents: %w", err)
	}
	return nil
}

// collectNew is insertNew inside a batch: the ledger's checks run here,
// in the piece, and the rows join the batch's (writeRows). A unique
// address taken meanwhile fails the batch's INSERT; the pieces then run
// alone and this one meets errRaced in insertNew.
func (s *Service) collectNew(ctx context.Context, tx store.Querier, w *batchWrites, p *submission, res *Result) error {
	ws := p.f.WorkspaceID
	cid := p.prep.Contact.ID
	if err := w.events.AppendPrepared(ctx, tx, p.ledger, ws, p.newContact(), p.events, consent.Actor{}); err != nil {
		return fmt.Errorf("consents: %w", err)
	}
	res.ContactID = cid
	if err := s.requests(ctx, tx, w.rows, ws, cid, p, res, true); err != nil {
		return err
	}
	w.rows.contacts = append(w.rows.contacts, *p.prep)
	w.rows.values = append(w.rows.values, p.values...)
	return nil
}

// writeFound writes a submission for an address the read pool knows (or
// that was taken meanwhile): the contact is read in the transaction and
// enriched.
func (s *Service) writeFound(ctx context.Context, tx store.Querier, p *submission, res *Result) error {
	ws := p.f.WorkspaceID
	cs := s.Contacts.WithTx(tx)
	if len(p.events) > 0 {
		// The consents appended below re-derive the state from the
		// enriched record: a change that only re-derives it need not.
		cs.OnChange(s.Ledger.HookBeforeAppend())
	}
	c, found, err := s.findOrCreate(ctx, tx, cs, ws, p.f.Definition, p.sub)
	if err != nil {
		return err
	}
	if c.Erased {
		// An erased person signing up again is a new sign-up in law, but
		// the old record keeps the address; the privacy workflow handles
		// it. Nothing is written, and the page says the usual.
		res.Ignored = true
		return nil
	}
	if found {
		if err := s.enrich(ctx, cs, ws, c, p.sub); err != nil {
			return err
		}
	}
	if err := s.recordValues(ctx, tx, ws, c.ID, p.sub.Values, p.source, p.now); err != nil {
		return err
	}
	res.ContactID = c.ID
	if err := s.requests(ctx, tx, nil, ws, c.ID, p, res, !found); err != nil {
		return err
	}
	for i, ev := range p.events {
		if _, err := s.Ledger.Append(ctx, tx, ws, c.ID, ev, consent.Actor{}); err != nil {
			return fmt.Errorf("consent %s: %w", p.eventKeys[i], err)
		}
	}
	if !found && len(p.events) == 0 {
		// findOrCreate left the re-derivation to the ledger's append,
		// and there was none.
		if err := s.Ledger.Refresh(ctx, tx, ws, c.ID); err != nil {
			return err
		}
	}
	return nil
}

// requests writes the double opt-in requests and their messages. They
// are written before the ledger events: the first append locks the
// workspace's chain head until the commit, and every other submission of
// the workspace waits for it, so as little as possible comes after it.
//
// With rows set (a new contact in a batch) the requests and jobs are
// added to the batch's rows instead.
func (s *Service) requests(ctx context.Context, tx store.Querier, rows *newRows, ws, cid string, p *submission, res *Result, fresh bool) error {
	var err error
	if len(p.byMail) > 0 {
		if res.EmailRequest, err = s.newRequest(ctx, tx, rows, ws, cid, "email", p.f, p.sub.Lang, p.byMail, p.now, time.Duration(p.set.DOIDays)*24*time.Hour, fresh); err != nil {
			return err
		}
	}
	if len(p.bySMS) > 0 {
		if res.SMSRequest, err = s.newRequest(ctx, tx, rows, ws, cid, "sms", p.f, p.sub.Lang, p.bySMS, p.now, time.Duration(p.set.SMSCodeMinutes)*time.Minute, fresh); err != nil {
			return err
		}
	}
	return nil
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// findOrCreate dedupes on the normalized e-mail address (its blind index).
func (s *Service) findOrCreate(ctx context.Context, tx store.Querier, cs *contact.Store, ws string, d form.Definition, sub form.Submission) (contact.Contact, bool, error) {
	v := sub.Values
	if e := v["email"]; e != "" {
		found, err := cs.List(ctx, ws, contact.ListParams{Email: e, Limit: 1})
		if err != nil {
			return contact.Contact{}, false, err
		}
		if len(found) == 1 {
			return found[0], true, nil
		}
	}
	in := newContactInput(d, v)
	// The permission state of a new contact is derived once, by the
	// ledger append of its first consent in this same transaction (or by
	// Submit when nothing was ticked), not twice.
	created := s.Contacts.WithTx(tx)
	created.OnChange(nil)
	c, err := created.Create(ctx, ws, in)
	var dup *contact.DuplicateError
	if errors.As(err, &dup) {
		// Another submission of the same person won the race: enrich that one.
		c, err = cs.Get(ctx, ws, dup.ContactID)
		return c, err == nil, err
	}
	return c, false, err
}

func address(v map[string]string) *contact.Address {
	a := &contact.Address{Street: v["street"], PostalCode: v["postal_code"], City: v["city"], Country: v["country"]}
	if *a == (contact.Address{}) {
		return nil
	}
	return a
}

// enrich updates the record with what a later submission adds or changes
// (progressive profiling); the old values stay in contact_values.
func (s *Service) enrich(ctx context.Context, cs *contact.Store, ws string, c contact.Contact, sub form.Submission) error {
	v := sub.Values
	var up contact.Update
	changed := false
	set := func(dst **string, cur, name string) {
		if nv, ok := v[name]; ok && nv != "" && nv != cur {
			val := nv
			*dst = &val
			changed = true
		}
	}
	set(&up.FirstName, c.FirstName, "first_name")
	set(&up.LastName, c.LastName, "last_name")
	set(&up.Organization, c.Organization, "company")
	set(&up.Phone, c.Phone, "phone")
	if a := address(v); a != nil && (c.Address == nil || *a != *c.Address) {
		up.Address = a
		changed = true
	}
	if !changed {
		return nil
	}
	_, err := cs.Update(ctx, ws, c.ID, up)
	return err
}

// Value is one value a person gave, with its provenance.
type Value struct {
	Name         string     `json:"name"`
	Value        string     `json:"value"`
	Source       string     `json:"source"`
	RecordedAt   time.Time  `json:"recorded_at"`
	SupersededAt *time.Time `json:"superseded_at,omitempty"`
}

// recordValues keeps each submitted value with its source; a changed value
// supersedes the previous one, an equal one is not stored again.
func (s *Service) recordValues(ctx context.Context, tx store.Querier, ws, contactID string, vals map[string]string, source string, now time.Time) error {
	keys := s.Keys.WithTx(tx)
	cur, err := s.values(ctx, tx, ws, contactID, true)
	if err != nil {
		return err
	}
	var sealer *keyring.Sealer
	for _, name := range slices.Sorted(maps.Keys(vals)) {
		val := vals[name]
		if val == "" {
			continue
		}
		if old, ok := cur[name]; ok && old.Value == val {
			continue
		}
		if _, ok := cur[name]; ok {
			if _, err := tx.ExecContext(ctx, `UPDATE contact_values SET superseded_at = $4 WHERE workspace_id = $1 AND contact_id = $2 AND name = $3 AND superseded_at IS NULL`,
				ws, contactID, name, now); err != nil {
				return fmt.Errorf("supersede value: %w", err)
			}
		}
		if sealer == nil {
			// One key read for all the values.
			if sealer, err = keys.Sealer(ctx, ws, contactID); err != nil {
				return err
			}
		}
		sealed, err := sealer.Seal([]byte(val))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO contact_values (id, workspace_id, contact_id, name, sealed, source, recorded_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
			id.NewAt(now), ws, contactID, name, sealed, source, now); err != nil {
			return fmt.Errorf("record value: %w", err)
		}
	}
	return nil
}

// values reads the contact's values; current=true returns only those in
// force, by name.
func (s *Service) values(ctx context.Context, q store.Querier, ws, contactID string, current bool) (map[string]Value, error) {
	all, err := s.valueList(ctx, q, ws, contactID, current)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Value, len(all))
	for _, v := range all {
		out[v.Name] = v
	}
	return out, nil
}

func (s *Service) valueList(ctx context.Context, q store.Querier, ws, contactID string, current bool) ([]Value, error) {
	cond := ""
	if current {
		cond = " AND superseded_at IS NULL"
	}
	rows, err := q.QueryContext(ctx, `SELECT name, sealed, source, recorded_at, superseded_at FROM contact_values WHERE workspace_id = $1 AND contact_id = $2`+cond+` ORDER BY name, recorded_at`, ws, contactID)
	if err != nil {
		return nil, fmt.Errorf("read values: %w", err)
	}
	defer rows.Close()
	type raw struct {
		v      Value
		sealed []byte
	}
	var rs []raw
	for rows.Next() {
		var r raw
		var sup *time.Time
		if err := rows.Scan(&r.v.Name, &r.sealed, &r.v.Source, &r.v.RecordedAt, &sup); err != nil {
			return nil, err
		}
		r.v.RecordedAt = r.v.RecordedAt.UTC()
		if sup != nil {
			t := sup.UTC()
			r.v.SupersededAt = &t
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(rs) == 0 {
		return nil, nil
	}
	op, err := s.Keys.WithTx(q).Opener(ctx, ws, contactID)
	if err != nil {
		return nil, err
	}
	out := make([]Value, 0, len(rs))
	var bundled []bundledValue
	for _, r := range rs {
		pt, err := op.Open(r.sealed)
		if err != nil {
			return nil, err
		}
		if r.v.Name == contact.ValuesBundle {
			if bundled, err = appendBundle(bundled, r.v, pt); err != nil {
				return nil, err
			}
			continue
		}
		r.v.Value = string(pt)
		out = append(out, r.v)
	}
	if bundled != nil {
		out = unbundled(out, bundled, current)
	}
	return out, nil
}

// bundledValue is a value read from a bundle row (contact.ValuesBundle).
type bundledValue struct {
	v       Value
	bundled bool
}

// appendBundle adds the values of a bundle row as rows of their own, with
// the bundle's source and time.
func appendBundle(out []bundledValue, b Value, pt []byte) ([]bundledValue, error) {
	vals, err := contact.UnbundleValues(pt)
	if err != nil {
		return nil, fmt.Errorf("read values: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(vals)) {
		v := b
		v.Name, v.Value = name, vals[name]
		out = append(out, bundledValue{v: v, bundled: true})
	}
	return out, nil
}

// unbundled merges the values of bundles into the rows and gives each the
// end a row of its own would have had: the first later row of the same
// name superseded it. With current only those in force are kept. The list
// is in name and time order, as the rows are read.
func unbundled(rows []Value, bundled []bundledValue, current bool) []Value {
	all := make([]bundledValue, 0, len(rows)+len(bundled))
	for _, v := range rows {
		all = append(all, bundledValue{v: v})
	}
	all = append(all, bundled...)
	slices.SortStableFunc(all, func(a, b bundledValue) int {
		if c := strings.Compare(a.v.Name, b.v.Name); c != 0 {
			return c
		}
		return a.v.RecordedAt.Compare(b.v.RecordedAt)
	})
	out := make([]Value, 0, len(all))
	for i, x := range all {
		v := x.v
		if x.bundled && i+1 < len(all) && all[i+1].v.Name == v.Name {
			t := all[i+1].v.RecordedAt
			v.SupersededAt = &t
		}
		if current && v.SupersededAt != nil {
			continue
		}
		out = append(out, v)
	}
	return out
}

// Values returns every value of a contact with its provenance and history.
func (s *Service) Values(ctx context.Context, ws, contactID string) ([]Value, error) {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return nil, store.ErrNotFound
	}
	if _, err := s.Contacts.Points(ctx, ws, contactID); err != nil {
		return nil, err
	}
	return s.valueList(ctx, s.DB.R, ws, contactID, false)
}

// newRequest stores a double opt-in request and enqueues its message.
// fresh: the contact was created in this transaction and has no requests.
func (s *Service) newRequest(ctx context.Context, tx store.Querier, rows *newRows, ws, contactID, channel string, f Form, lang string, rs []requested, now time.Time, ttl time.Duration, fresh bool) (string, error) {
	// Anyone can type anyone's address into a form: bound the confirmation
	// messages per contact and channel so a form cannot be used to flood a
	// mailbox or phone. The sign-up itself stays recorded as pending.
	var n int
	if !fresh {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM doi_requests WHERE workspace_id = $1 AND contact_id = $2 AND channel = $3 AND created_at > $4`,
			ws, contactID, channel, now.Add(-24*time.Hour)).Scan(&n); err != nil {
			return "", fmt.Errorf("double opt-in request: %w", err)
		}
	}
	if n >= maxRequestsPerDay {
		s.log().InfoContext(ctx, "double opt-in message not sent: daily limit for the contact", "workspace_id", ws, "contact_id", contactID, "channel", channel)
		return "", nil
	}
	reqID := id.NewAt(now)
	cj, _ := json.Marshal(rs)
	kind := JobSendDOIEmail
	if channel == "sms" {
		kind = JobSendDOISMS
	}
	job := jobs.EnqueueParams{WorkspaceID: ws, Kind: kind, Args: jobArgs{Request: reqID}, UniqueKey: reqID}
	if rows != nil && fresh {
		rows.requests = append(rows.requests, reqID, ws, contactID, channel, f.Key, f.Version, lang, string(cj), now, now.Add(ttl))
		rows.jobs = append(rows.jobs, job)
		return reqID, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO doi_requests (id, workspace_id, contact_id, channel, form_key, form_version, lang, consents, created_at, expires_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`, reqID, ws, contactID, channel, f.Key, f.Version, lang, string(cj), now, now.Add(ttl)); err != nil {
		return "", fmt.Errorf("double opt-in request: %w", err)
	}
	if _, err := s.Jobs.Enqueue(ctx, tx, job); err != nil {
		return "", fmt.Errorf("enqueue %s: %w", kind, err)
	}
	return reqID, nil
}

// smsCode is the 6-digit code of an SMS request: derived from the request
// ID under the MAC key, so it is never stored and every process knows it.
func (s *Service) smsCode(ws, reqID string) string {
	m := s.Keys.MAC("sms code", []byte(ws+"\x00"+reqID))
	n := (uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])) % 1_000_000
	c := strconv.Itoa(int(n))
	for len(c) < 6 {
		c = "0" + c
	}
	return c
}
