// Package importer imports contacts from CSV and JSON files and exports
// them again, with where each contact came from. An import declares its
// source; contacts from a third party are marked data_source third_party
// (the engine treats them per the rules), and the duty to inform them under
// Art. 14 GDPR becomes a task. Lines are checked one by one: a bad line is
// reported with its number and field and never half-written, and an import
// can never revive a suppressed address, override a withdrawal or an
// objection, or record a consent without its evidence.
package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/contact/contactpoint"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/importer/csvmap"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Line outcome codes besides those of csvmap.
const (
	CodeSuppressed = "suppressed"
	CodeWithdrawn  = "consent_withdrawn"
	CodeObjection  = "objection"
	CodeErased     = "erased"
)

// Service imports and exports the contacts of a workspace.
type Service struct {
	DB       *store.DB
	Contacts *contact.Store
	Ledger   *consent.Ledger
	Notices  *consent.Notices
	Now      func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

// Options describe one import.
type Options struct {
	// Format is csv (default) or json.
	Format string `json:"format"`
	// Mapping maps file columns to import fields (csvmap.Fields); empty
	// means the columns are named like the fields.
	Mapping csvmap.Mapping `json:"mapping"`
	// Source names where the data come from (a list broker, a trade fair,
	// the old CRM); it is stored with every contact.
	Source string `json:"source"`
	// DataSource is self_provided or third_party (contact.DataSources).
	DataSource string `json:"data_source"`
	// Audience and Relationship apply to lines that do not set them.
	Audience     string `json:"audience"`
	Relationship string `json:"relationship"`
	// Atomic imports all lines or none: one bad line rejects the file.
	Atomic bool `json:"atomic"`
	// DryRun reports what the import would do and writes nothing.
	DryRun bool `json:"dry_run"`
	// Actor is recorded with the ledger events.
	Actor consent.Actor `json:"-"`
	// Progress, when set, hears the number of lines done so far.
	Progress func(lines int) `json:"-"`
	// Chunk is the number of lines per transaction (default 1000) when the
	// import is neither atomic nor a dry run.
	Chunk int `json:"-"`
}

// Report says what an import did (or, for a dry run, would do).
type Report struct {
	ImportID   string `json:"import_id,omitempty"`
	DryRun     bool   `json:"dry_run"`
	Atomic     bool   `json:"atomic"`
	Committed  bool   `json:"committed"`
	Lines      int    `json:"lines"`
	Created    int    `json:"created"`
	Enriched   int    `json:"enriched"`
	Unchanged  int    `json:"unchanged"`
	Rejected   int    `json:"rejected"`
	Suppressed int    `json:"suppressed"`
	Consents   int    `json:"consents"`
	// Art14Tasks is the number of notice duties opened.
	Art14Tasks int                 `json:"art14_tasks"`
	Ignored    []string            `json:"ignored_columns"`
	Errors     []*csvmap.LineError `json:"errors"`
	Fields     []string            `json:"fields"`
}

func (o *Options) check() error {
	o.Source = strings.TrimSpace(o.Source)
	if o.Source == "" {
		return validate.Required("source")
	}
	if len(o.Source) > 200 {
		return validate.Invalid("source", "source must have at most 200 characters")
	}
	if o.DataSource == "" {
		return &validate.Error{Field: "data_source", Code: "required", Allowed: contact.DataSources,
			Message: "data_source is required: self_provided (the people gave the data to you) or third_party (bought, rented or enriched data)"}
	}
	if !slices.Contains(contact.DataSources, o.DataSource) {
		return validate.OneOf("data_source", o.DataSource, contact.DataSources)
	}
	if o.Format == "" {
		o.Format = "csv"
	}
	if !slices.Contains(csvmap.Formats, o.Format) {
		return validate.OneOf("format", o.Format, csvmap.Formats)
	}
	if o.Audience == "" {
		o.Audience = "b2c"
	}
	if !slices.Contains(contact.Audiences, o.Audience) {
		return validate.OneOf("audience", o.Audience, contact.Audiences)
	}
	if o.Relationship == "" {
		o.Relationship = "prospect"
	}
	if !slices.Contains(contact.Relationships, o.Relationship) {
		return validate.OneOf("relationship", o.Relationship, contact.Relationships)
	}
	if o.Chunk <= 0 {
		o.Chunk = 1000
	}
	return nil
}

// Import reads the file and imports its lines. Errors of single lines are
// in the report; the error returned is about the import as a whole (bad
// options, an unreadable header, the database).
func (s *Service) Import(ctx context.Context, ws string, r io.Reader, o Options) (Report, error) {
	if err := o.check(); err != nil {
		return Report{}, err
	}
	if !id.Valid(ws) {
		return Report{}, store.ErrNotFound
	}
	ws = strings.ToLower(ws)
	src, err := csvmap.NewSource(o.Format, r)
	if err != nil {
		return Report{}, err
	}
	mp, err := csvmap.New(src.Header(), o.Mapping)
	if err != nil {
		return Report{}, err
	}
	rep := Report{DryRun: o.DryRun, Atomic: o.Atomic, Ignored: mp.Ignored, Fields: mp.FieldsMapped(), Errors: []*csvmap.LineError{}}
	if rep.Ignored == nil {
		rep.Ignored = []string{}
	}
	run := &run{s: s, ws: ws, o: o, id: id.New(), started: s.now(), notices: map[string]string{}}
	// Atomic imports and dry runs are one transaction; the others commit
	// chunk by chunk, so memory stays bounded whatever the file's size.
	whole := o.Atomic || o.DryRun
	if !whole {
		if err := s.DB.Tx(ctx, func(tx store.Tx) error { return run.insertImport(ctx, tx) }); err != nil {
			return rep, err
		}
		rep.ImportID = run.id
	}
	var pending []csvmap.Record
	flush := func() error {
		if len(pending) == 0 && !whole {
			return nil
		}
		res, err := run.segment(ctx, pending, whole, func(anyErr bool) bool {
			return !o.DryRun && !(o.Atomic && (anyErr || len(rep.Errors) > 0))
		})
		if err != nil {
			return err
		}
		rep.add(res)
		pending = pending[:0]
		if o.Progress != nil {
			o.Progress(rep.Lines)
		}
		return nil
	}
	for {
		vals, line, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *csvmap.LineError
		if errors.As(err, &le) {
			rep.Lines++
			rep.Rejected++
			rep.Errors = append(rep.Errors, le)
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("read import file: %w", err)
		}
		rep.Lines++
		rec, le := mp.Map(line, vals)
		if le != nil {
			rep.Rejected++
			rep.Errors = append(rep.Errors, le)
			continue
		}
		pending = append(pending, rec)
		if !whole && len(pending) >= o.Chunk {
			if err := flush(); err != nil {
				return rep, err
			}
		}
	}
	if err := flush(); err != nil {
		return rep, err
	}
	slices.SortStableFunc(rep.Errors, func(a, b *csvmap.LineError) int { return a.Line - b.Line })
	rep.Committed = !o.DryRun && !(o.Atomic && len(rep.Errors) > 0)
	if o.Atomic && rep.Committed {
		rep.ImportID = run.id
	}
	if !rep.Committed && o.Atomic && !o.DryRun {
		// Nothing was stored: the report says what would have been.
		rep.ImportID = ""
	}
	if rep.ImportID != "" {
		if err := run.finishImport(ctx, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func (r *Report) add(x segResult) {
	r.Created += x.created
	r.Enriched += x.enriched
	r.Unchanged += x.unchanged
	r.Suppressed += x.suppressed
	r.Consents += x.consents
	r.Art14Tasks += x.tasks
	r.Rejected += len(x.errors)
	r.Errors = append(r.Errors, x.errors...)
}

// run is one import in progress.
type run struct {
	s       *Service
	ws      string
	o       Options
	id      string
	started time.Time
	// notices caches the consent texts by version hash ("" = no such
	// notice in the workspace).
	notices map[string]string
}

// noticeText returns the text of a notice version of the workspace.
func (r *run) noticeText(ctx context.Context, hash string) (string, bool, error) {
	if t, ok := r.notices[hash]; ok {
		return t, t != "", nil
	}
	if !consent.ValidHash(hash) {
		return "", false, nil
	}
	n, err := r.s.Notices.Get(ctx, r.ws, hash)
	if errors.Is(err, store.ErrNotFound) {
		r.notices[hash] = ""
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	r.notices[hash] = n.Body
	return n.Body, true, nil
}

func (r *run) insertImport(ctx context.Context, q store.Querier) error {
	_, err := q.ExecContext(ctx, `INSERT INTO imports (id, workspace_id, source_name, data_source, format, actor, started_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		r.id, r.ws, r.o.Source, r.o.DataSource, r.o.Format, r.o.Actor.String(), r.started)
	if err != nil {
		return fmt.Errorf("record import: %w", err)
	}
	return nil
}

func (r *run) finishImport(ctx context.Context, rep Report) error {
	_, err := r.s.DB.W.ExecContext(ctx, `UPDATE imports SET lines = $3, created = $4, enriched = $5, unchanged = $6, rejected = $7, suppressed = $8, finished_at = $9
		WHERE workspace_id = $1 AND id = $2`, r.ws, r.id, rep.Lines, rep.Created, rep.Enriched, rep.Unchanged, rep.Rejected, rep.Suppressed, r.s.now())
	if err != nil {
		return fmt.Errorf("record import: %w", err)
	}
	return nil
}

type segResult struct {
	created, enriched, unchanged, suppressed, consents, tasks int
	errors                                                    []*csvmap.LineError
}

// warm lets the ledger read, before the transaction, the notices and
// texts of the records' consents, once per distinct pair.
func (r *run) warm(ctx context.Context, recs []csvmap.Record) {
	seen := map[[2]string]bool{}
	for _, rec := range recs {
		if !rec.Consent() {
			continue
		}
		k := [2]string{rec.Values[csvmap.ConsentNotice], rec.Values[csvmap.ConsentText]}
		if seen[k] {
			continue
		}
		seen[k] = true
		// The notice's text is known from the first segment that has it.
		r.s.Ledger.Warm(ctx, r.ws, consentEvents(rec, "", or(k[1], r.notices[k[0]]), r.o.DataSource))
	}
}

// errRollback ends a segment's transaction without committing it.
var errRollback = errors.New("roll back")

// retryLine says that a line failed after some of its writes: the
// segment's transaction is rolled back and run again without it, so the
// bad line leaves nothing behind and the ledger chain stays whole.
type retryLine struct{ le *csvmap.LineError }

func (e *retryLine) Error() string { return e.le.Error() }

// segment writes records in one transaction; commit decides, once all are
// done, whether it is kept.
func (r *run) segment(ctx context.Context, recs []csvmap.Record, whole bool, commit func(anyErr bool) bool) (segResult, error) {
	bad := map[int]*csvmap.LineError{}
	noFast := false
	r.warm(ctx, recs)
	for {
		var res segResult
		err := r.s.DB.Tx(ctx, func(tx store.Tx) error {
			res = segResult{}
			// An atomic import or a dry run records the import in its one
			// transaction, so a rollback leaves no trace of it.
			if whole {
				if err := r.insertImport(ctx, tx); err != nil {
					return err
				}
			}
			b, err := r.s.Ledger.Bulk(ctx, tx, r.ws)
			if err != nil {
				return err
			}
			w := &writer{run: r, tx: tx, q: r.s.DB.StmtCache(tx), b: b, batch: r.s.Ledger.NewBatch()}
			defer w.q.Close()
			var done map[int]bool
			if !noFast {
				f, err := w.fast(ctx, recs, bad)
				if err != nil {
					return err
				}
				done = f.done
				res.created += len(f.done)
				res.tasks += f.tasks
				res.consents += f.consents
				// The batch takes the chain head and then the permission
				// slots' locks, the order every ledger writer keeps; the
				// bulk's appends below chain on from the head it wrote.
				if err := w.batch.Flush(ctx, tx); err != nil {
					return err
				}
			}
			for _, rec := range recs {
				if done[rec.Line] {
					continue
				}
				if le, ok := bad[rec.Line]; ok {
					res.errors = append(res.errors, le)
					continue
				}
				out, le, err := w.line(ctx, rec)
				if err != nil {
					var rl *retryLine
					if errors.As(err, &rl) {
						bad[rec.Line] = rl.le
						return err
					}
					return fmt.Errorf("import line %d: %w", rec.Line, err)
				}
				if le != nil {
					if le.Code == CodeSuppressed {
						res.suppressed++
					}
					res.errors = append(res.errors, le)
					continue
				}
				switch out.action {
				case "created":
					res.created++
				case "enriched":
					res.enriched++
				default:
					res.unchanged++
				}
				res.consents += out.consents
				res.tasks += out.tasks
			}
			if err := b.Flush(ctx); err != nil {
				return err
			}
			if !commit(len(res.errors) > 0) {
				return errRollback
			}
			return nil
		})
		var rl *retryLine
		if errors.As(err, &rl) {
			continue
		}
		if errors.Is(err, errNoFast) {
			noFast = true
			continue
		}
		if err != nil && !errors.Is(err, errRollback) {
			return res, err
		}
		return res, nil
	}
}

// writer writes the lines of one segment.
type writer struct {
	run *run
	tx  store.Tx
	q   *store.StmtCache
	b   *consent.Bulk
	// batch holds the consents of the fast path's new contacts.
	batch *consent.Batch
}

type outcome struct {
	action          string
	consents, tasks int
}

// line imports one record. A *csvmap.LineError means the line was refused
// before anything of it was written; a *retryLine error that it failed
// after.
func (w *writer) line(ctx context.Context, rec csvmap.Record) (outcome, *csvmap.LineError, error) {
	r := w.run
	ws := r.ws
	v := rec.Values
	cs := w.b.Contacts()
	keys := cs.Keys()
	var emailIx, phoneIx, phone string
	if e := v[csvmap.Email]; e != "" {
		ix, err := cs.EmailIndex(csvmap.Email, e)
		if err != nil {
			return outcome{}, csvmap.AsLineError(rec.Line, err), nil
		}
		emailIx = ix
	}
	if p := v[csvmap.Phone]; p != "" {
		np, err := contactpoint.Phone(p)
		if err != nil {
			return outcome{}, csvmap.AsLineError(rec.Line, validate.Invalid(csvmap.Phone, "phone "+err.Error())), nil
		}
		phone, phoneIx = np, keys.Index(contact.IndexPhone, np)
	}
	// A suppressed address or number is never imported again (rules §11):
	// the person objected or was erased.
	if emailIx != "" || phoneIx != "" {
		var kind string
		err := w.q.QueryRowContext(ctx, `SELECT kind FROM suppressions WHERE workspace_id = $1 AND ((kind = 'email' AND blind_index = $2) OR (kind = 'phone' AND blind_index = $3)) ORDER BY kind LIMIT 1`,
			ws, emailIx, phoneIx).Scan(&kind)
		if err == nil {
			return outcome{}, &csvmap.LineError{Line: rec.Line, Field: kind, Code: CodeSuppressed,
				Message: fmt.Sprintf("this %s is on the suppression list (objection, do not contact or erasure): the line was not imported", pointWord(kind))}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return outcome{}, nil, fmt.Errorf("read suppressions: %w", err)
		}
	}
	var existing *contact.Contact
	if emailIx != "" {
		found, err := cs.List(ctx, ws, contact.ListParams{Email: v[csvmap.Email], Limit: 1})
		if err != nil {
			return outcome{}, nil, err
		}
		if len(found) == 1 {
			existing = &found[0]
		}
	}
	if existing != nil && existing.Erased {
		return outcome{}, &csvmap.LineError{Line: rec.Line, Field: csvmap.Email, Code: CodeErased, Message: "the contact with this e-mail address was erased: the line was not imported"}, nil
	}
	text := ""
	if rec.Consent() {
		t, ok, err := r.noticeText(ctx, v[csvmap.ConsentNotice])
		if err != nil {
			return outcome{}, nil, err
		}
		if !ok {
			return outcome{}, &csvmap.LineError{Line: rec.Line, Field: csvmap.ConsentNotice, Code: "invalid_value",
				Message: "consent_notice must be the version hash (id) of a notice of this workspace: store the consent text as a notice first"}, nil
		}
		text = or(v[csvmap.ConsentText], t)
	}
	if existing != nil && rec.Consent() {
		if le, err := w.guardConsent(ctx, existing.ID, rec); le != nil || err != nil {
			return outcome{}, le, err
		}
	}
	now := r.s.now()
	source := "import:" + r.id
	out := outcome{}
	var c contact.Contact
	var before *contact.Contact
	if existing == nil {
		in := contact.Input{FirstName: v[csvmap.FirstName], LastName: v[csvmap.LastName], Organization: v[csvmap.Organization],
			Audience: or(v[csvmap.Audience], r.o.Audience), Relationship: or(v[csvmap.Relationship], r.o.Relationship), DataSource: r.o.DataSource,
			Email: v[csvmap.Email], Phone: phone, Address: address(v)}
		created, err := cs.Create(ctx, ws, in)
		if err != nil {
			var ve *validate.Error
			if errors.As(err, &ve) {
				return outcome{}, csvmap.AsLineError(rec.Line, err), nil
			}
			return outcome{}, nil, err
		}
		c, out.action = created, "created"
	} else {
		old := *existing
		before = &old
		up, changed := enrichment(*existing, v, phone)
		c, out.action = *existing, "unchanged"
		if changed {
			updated, err := cs.Update(ctx, ws, existing.ID, up)
			if err != nil {
				var ve *validate.Error
				if errors.As(err, &ve) {
					return outcome{}, csvmap.AsLineError(rec.Line, err), nil
				}
				return outcome{}, nil, err
			}
			c, out.action = updated, "enriched"
		}
	}
	// From here on the line has written: a refusal now rolls the segment
	// back and runs it again without this line.
	if err := w.values(ctx, c, before, source, now); err != nil {
		return outcome{}, nil, err
	}
	if rec.Consent() {
		if err := w.consent(ctx, c, rec, source, text); err != nil {
			var ve *validate.Error
			var ce *consent.ConflictError
			switch {
			case errors.As(err, &ce):
				return outcome{}, nil, &retryLine{le: &csvmap.LineError{Line: rec.Line, Field: consentField(ce.Field), Code: ce.Code, Message: ce.Message}}
			case errors.As(err, &ve):
				return outcome{}, nil, &retryLine{le: &csvmap.LineError{Line: rec.Line, Field: consentField(ve.Field), Code: ve.Code, Message: ve.Message, Allowed: ve.Allowed}}
			}
			return outcome{}, nil, err
		}
		out.consents++
		if out.action == "unchanged" {
			out.action = "enriched"
		}
	}
	if _, err := w.q.ExecContext(ctx, `INSERT INTO contact_provenance (workspace_id, contact_id, import_id, line, action, data_source, source_name, recorded_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (workspace_id, contact_id, import_id) DO NOTHING`,
		ws, c.ID, r.id, rec.Line, out.action, r.o.DataSource, r.o.Source, now); err != nil {
		return outcome{}, nil, fmt.Errorf("record provenance: %w", err)
	}
	// Art. 14(3) GDPR: a person whose data came from a third party is
	// informed within a month, or at the first communication if earlier.
	if r.o.DataSource == "third_party" && c.DataSource == "third_party" {
		res, err := w.q.ExecContext(ctx, `INSERT INTO art14_tasks (id, workspace_id, contact_id, import_id, source_name, obtained_at, due_at, status)
			VALUES ($1,$2,$3,$4,$5,$6,$7,'open') ON CONFLICT (workspace_id, contact_id) DO NOTHING`,
			id.NewAt(now), ws, c.ID, r.id, r.o.Source, now, DueAt(now))
		if err != nil {
			return outcome{}, nil, fmt.Errorf("open art. 14 task: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			out.tasks++
		}
	}
	return out, nil, nil
}

// DueAt is the latest day to inform a person of data obtained at t
// (Art. 14(3)(a) GDPR: within one month). The first communication, if
// earlier, comes first (Art. 14(3)(b)); the engine reminds of it with the
// obligation provide_art14_information on every decision it allows.
func DueAt(t time.Time) time.Time { return t.AddDate(0, 1, 0) }

// consentField names the import field behind a ledger field.
func consentField(f string) string {
	switch f {
	case "channels":
		return csvmap.ConsentChannels
	case "evidence.notice_hash":
		return csvmap.ConsentNotice
	case "evidence.text_shown":
		return csvmap.ConsentText
	case "evidence.confirmation_method":
		return csvmap.ConsentMethod
	case "verification":
		return csvmap.ConsentVerification
	case "occurred_at", "evidence.confirmed_at":
		return csvmap.ConsentAt
	}
	return csvmap.ConsentPurpose
}

func pointWord(kind string) string {
	if kind == contact.IndexPhone {
		return "phone number"
	}
	return "e-mail address"
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func address(v map[string]string) *contact.Address {
	a := &contact.Address{Street: v[csvmap.Street], PostalCode: v[csvmap.PostalCode], City: v[csvmap.City], Country: v[csvmap.Country]}
	if *a == (contact.Address{}) {
		return nil
	}
	return a
}

// enrichment is what a line adds to or changes in an existing contact.
// Empty values change nothing; the data source stays as it is (a person
// who gave their data themselves stays self_provided).
func enrichment(c contact.Contact, v map[string]string, phone string) (contact.Update, bool) {
	var up contact.Update
	changed := false
	set := func(dst **string, cur, nv string) {
		if nv != "" && nv != cur {
			val := nv
			*dst = &val
			changed = true
		}
	}
	set(&up.FirstName, c.FirstName, v[csvmap.FirstName])
	set(&up.LastName, c.LastName, v[csvmap.LastName])
	set(&up.Organization, c.Organization, v[csvmap.Organization])
	set(&up.Phone, c.Phone, phone)
	set(&up.Audience, c.Audience, v[csvmap.Audience])
	set(&up.Relationship, c.Relationship, v[csvmap.Relationship])
	if a := address(v); a != nil {
		a.Country = strings.ToUpper(a.Country)
		if c.Address == nil || *a != *c.Address {
			up.Address = a
			changed = true
		}
	}
	return up, changed
}

// valueNames are the contact_values names of the personal fields, the
// same as lead capture uses.
func valuesOf(c contact.Contact) map[string]string {
	m := map[string]string{"email": c.Email, "first_name": c.FirstName, "last_name": c.LastName, "company": c.Organization, "phone": c.Phone}
	if c.Address != nil {
		m["street"], m["postal_code"], m["city"], m["country"] = c.Address.Street, c.Address.PostalCode, c.Address.City, c.Address.Country
	}
	return m
}

var valueNames = []string{"email", "first_name", "last_name", "company", "phone", "street", "postal_code", "city", "country"}

// values keeps each value with its source. A changed value supersedes the
// previous one; when the previous one has no row yet (it was entered
// before values were kept), it is kept first, already superseded, so the
// history shows it.
func (w *writer) values(ctx context.Context, c contact.Contact, before *contact.Contact, source string, now time.Time) error {
	cur := valuesOf(c)
	var old map[string]string
	if before != nil {
		old = valuesOf(*before)
	}
	// A contact created by an import's fast path has its first values in
	// one bundle row: a value in it needs no row of its own before it is
	// superseded (the history reads it from the bundle).
	var bundle map[string]string
	if before != nil {
		var err error
		if bundle, err = w.bundle(ctx, c.ID); err != nil {
			return err
		}
	}
	var sealer *keyring.Sealer
	seal := func(v string) ([]byte, error) {
		if sealer == nil {
			var err error
			if sealer, err = w.b.Contacts().Keys().Sealer(ctx, w.run.ws, c.ID); err != nil {
				return nil, err
			}
		}
		return sealer.Seal([]byte(v))
	}
	// One multi-row INSERT per contact; the statement text depends only on
	// the number of rows, so the statement cache keeps a handful.
	var args []any
	add := func(name, val, src string, at time.Time, superseded any) error {
		sealed, err := seal(val)
		if err != nil {
			return err
		}
		args = append(args, id.NewAt(at), w.run.ws, c.ID, name, sealed, src, at, superseded)
		return nil
	}
	for _, name := range valueNames {
		val := cur[name]
		if val == "" || (old != nil && old[name] == val) {
			continue
		}
		if old != nil {
			res, err := w.q.ExecContext(ctx, `UPDATE contact_values SET superseded_at = $4 WHERE workspace_id = $1 AND contact_id = $2 AND name = $3 AND superseded_at IS NULL`,
				w.run.ws, c.ID, name, now)
			if err != nil {
				return fmt.Errorf("supersede value: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 && old[name] != "" && bundle[name] != old[name] {
				if err := add(name, old[name], "contact", before.UpdatedAt, now); err != nil {
					return err
				}
			}
		}
		if err := add(name, val, source, now, nil); err != nil {
			return err
		}
	}
	if len(args) == 0 {
		return nil
	}
	if _, err := w.q.ExecContext(ctx, valuesInsert(len(args)/8), args...); err != nil {
		return fmt.Errorf("record values: %w", err)
	}
	return nil
}

// bundle reads the values of a contact's bundle row (nil: none).
func (w *writer) bundle(ctx context.Context, contactID string) (map[string]string, error) {
	var sealed []byte
	err := w.q.QueryRowContext(ctx, `SELECT sealed FROM contact_values WHERE workspace_id = $1 AND contact_id = $2 AND name = $3 ORDER BY recorded_at LIMIT 1`,
		w.run.ws, contactID, contact.ValuesBundle).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read values: %w", err)
	}
	op, err := w.b.Contacts().Keys().Opener(ctx, w.run.ws, contactID)
	if err != nil {
		return nil, err
	}
	pt, err := op.Open(sealed)
	if err != nil {
		return nil, err
	}
	return contact.UnbundleValues(pt)
}

// valuesInserts holds the statement texts for 1..2×len(valueNames) rows
// (a changed value can add the old one too), built once.
var valuesInserts = func() []string {
	out := make([]string, 2*len(valueNames)+1)
	for i := 1; i < len(out); i++ {
		out[i] = buildValuesInsert(i)
	}
	return out
}()

func valuesInsert(rows int) string {
	if rows < len(valuesInserts) {
		return valuesInserts[rows]
	}
	return buildValuesInsert(rows)
}

func buildValuesInsert(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO contact_values (id, workspace_id, contact_id, name, sealed, source, recorded_at, superseded_at) VALUES `)
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d)", i*8+1, i*8+2, i*8+3, i*8+4, i*8+5, i*8+6, i*8+7, i*8+8)
	}
	return b.String()
}

// guardConsent refuses a consent line for a contact who withdrew that
// consent or objected to direct marketing: an import must not be what
// lifts either (rules §5, §7.1).
func (w *writer) guardConsent(ctx context.Context, contactID string, rec csvmap.Record) (*csvmap.LineError, error) {
	rows, err := w.q.QueryContext(ctx, `SELECT kind, purpose, details FROM ledger_events WHERE workspace_id = $1 AND contact_id = $2 AND kind IN ('consent_withdrawn', 'objection')`,
		w.run.ws, contactID)
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	defer rows.Close()
	purpose := rec.Values[csvmap.ConsentPurpose]
	for rows.Next() {
		var kind, p, details string
		if err := rows.Scan(&kind, &p, &details); err != nil {
			return nil, err
		}
		if kind == consent.KindConsentWithdrawn && p == purpose {
			return &csvmap.LineError{Line: rec.Line, Field: csvmap.ConsentPurpose, Code: CodeWithdrawn,
				Message: "the contact withdrew this consent: an import cannot renew it (only the person can, by a new sign-up)"}, nil
		}
		if kind == consent.KindObjection && strings.Contains(details, `"direct_marketing"`) {
			return &csvmap.LineError{Line: rec.Line, Field: csvmap.ConsentPurpose, Code: CodeObjection,
				Message: "the contact objected to direct marketing: an import cannot lift the objection"}, nil
		}
	}
	return nil, rows.Err()
}

// consent records the imported consent as requested and confirmed at the
// time the file gives, with its evidence.
func (w *writer) consent(ctx context.Context, c contact.Contact, rec csvmap.Record, source, text string) error {
	for _, ev := range consentEvents(rec, source, text, w.run.o.DataSource) {
		if _, err := w.b.Append(ctx, c.ID, ev, w.run.o.Actor); err != nil {
			return err
		}
	}
	return nil
}

// consentEvents are the two events of an imported consent: requested and
// confirmed at the time the file gives, with its evidence. A consent from
// a third-party file is marked collected_by third_party, which the engine
// does not rely on unless the workspace's policy accepts such consents.
func consentEvents(rec csvmap.Record, source, text, dataSource string) []consent.NewEvent {
	v := rec.Values
	at := rec.ConsentAt
	collected := "self"
	if dataSource == "third_party" {
		collected = "third_party"
	}
	d := consent.Details{Verification: v[csvmap.ConsentVerification], CollectedBy: collected}
	ev := consent.EvidenceInput{Source: source, NoticeHash: v[csvmap.ConsentNotice], TextShown: text}
	conf := consent.EvidenceInput{Source: source, NoticeHash: v[csvmap.ConsentNotice], ConfirmationMethod: v[csvmap.ConsentMethod], ConfirmedAt: &at}
	return []consent.NewEvent{
		{Kind: consent.KindConsentRequested, Purpose: v[csvmap.ConsentPurpose], Channels: rec.Channels, OccurredAt: &at, Details: d, Evidence: ev},
		{Kind: consent.KindConsentConfirmed, Purpose: v[csvmap.ConsentPurpose], Channels: rec.Channels, OccurredAt: &at, Details: d, Evidence: conf},
	}
}
