package importer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/contact/contactpoint"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/importer/csvmap"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// The fast path creates the lines of a segment that are plainly new
// contacts — an address no other line of the segment and no contact of
// the workspace has, not suppressed, a consent (if any) with a notice of
// the workspace — together: they are checked and sealed by parallel
// workers, then written by multi-row INSERTs; the consents of these new
// contacts go into a consent.Batch (the ledger's group commit: the chain
// head taken once, the events in one INSERT, their states derived from
// the events in memory). Every other line, and every line the workers or
// the ledger's checks find wrong, goes through line() one by one, which
// reports it. Both paths write the same rows.

// errNoFast asks for the segment again without the fast path (a
// concurrent writer created one of its addresses meanwhile).
var errNoFast = errors.New("run the segment without the fast path")

type prepared struct {
	rec    csvmap.Record
	p      contact.Prepared
	values []any // contact_values rows, 8 parameters each
	text   string
	ok     bool
}

// fastResult is what the fast path did: the lines it wrote, the Art. 14
// tasks it opened and the consents it recorded.
type fastResult struct {
	done            map[int]bool
	tasks, consents int
}

// fast creates the new contacts among recs and returns the lines it did.
// Their consents are in w.batch, which the caller flushes.
func (w *writer) fast(ctx context.Context, recs []csvmap.Record, bad map[int]*csvmap.LineError) (fastResult, error) {
	r := w.run
	cs := w.b.Contacts()
	now := r.s.now()
	source := "import:" + r.id
	// Lines sharing an e-mail address keep their order on the slow path.
	seen := map[string]int{}
	for _, rec := range recs {
		if e := rec.Values[csvmap.Email]; e != "" {
			if n, err := contactpoint.Email(e); err == nil {
				seen[n]++
			}
		}
	}
	var cand []*prepared
	for _, rec := range recs {
		if bad[rec.Line] != nil {
			continue
		}
		if e := rec.Values[csvmap.Email]; e != "" {
			if n, err := contactpoint.Email(e); err != nil || seen[n] > 1 {
				continue
			}
		}
		c := &prepared{rec: rec}
		if rec.Consent() {
			// A consent without a notice of the workspace is line()'s to
			// report.
			t, ok, err := r.noticeText(ctx, rec.Values[csvmap.ConsentNotice])
			if err != nil {
				return fastResult{}, err
			}
			if !ok {
				continue
			}
			c.text = or(rec.Values[csvmap.ConsentText], t)
		}
		cand = append(cand, c)
	}
	if len(cand) == 0 {
		return fastResult{}, nil
	}
	workers := min(runtime.GOMAXPROCS(0), 1+len(cand)/64)
	var wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			for i := k; i < len(cand); i += workers {
				c := cand[i]
				v := c.rec.Values
				phone := v[csvmap.Phone]
				if phone != "" {
					np, err := contactpoint.Phone(phone)
					if err != nil {
						continue
					}
					phone = np
				}
				in := contact.Input{FirstName: v[csvmap.FirstName], LastName: v[csvmap.LastName], Organization: v[csvmap.Organization],
					Audience: or(v[csvmap.Audience], r.o.Audience), Relationship: or(v[csvmap.Relationship], r.o.Relationship), DataSource: r.o.DataSource,
					Email: v[csvmap.Email], Phone: phone, Address: address(v)}
				p, err := cs.Prepare(r.ws, in, now)
				if err != nil {
					continue // line() reports it
				}
				// One row holds all the values the contact is created with
				// (contact.ValuesBundle): a row and its two index entries
				// instead of one per value, for the same history.
				b, err := contact.BundleValues(valuesOf(p.Contact))
				if err != nil {
					continue
				}
				sealed, err := p.Key.Seal(b)
				if err != nil {
					continue
				}
				c.values = []any{id.NewAt(now), r.ws, p.Contact.ID, contact.ValuesBundle, sealed, source, now, nil}
				c.p, c.ok = p, true
			}
		}(k)
	}
	wg.Wait()

	var ready []*prepared
	var emails, phones []string
	for _, c := range cand {
		if !c.ok {
			continue
		}
		ready = append(ready, c)
		if ix := c.p.EmailIndex(); ix != "" {
			emails = append(emails, ix)
		}
		if c.p.Contact.Phone != "" {
			phones = append(phones, cs.Keys().Index(contact.IndexPhone, c.p.Contact.Phone))
		}
	}
	// An address already in the workspace, or on the suppression list,
	// takes the slow path: enrichment, or the report "suppressed".
	taken, err := w.lookup(ctx, `SELECT email_index FROM contacts WHERE workspace_id = $1 AND email_index IN `, emails)
	if err != nil {
		return fastResult{}, err
	}
	supE, err := w.lookup(ctx, `SELECT blind_index FROM suppressions WHERE workspace_id = $1 AND kind = 'email' AND blind_index IN `, emails)
	if err != nil {
		return fastResult{}, err
	}
	supP, err := w.lookup(ctx, `SELECT blind_index FROM suppressions WHERE workspace_id = $1 AND kind = 'phone' AND blind_index IN `, phones)
	if err != nil {
		return fastResult{}, err
	}
	var ps []contact.Prepared
	var pts []contact.Points
	var vals []any
	res := fastResult{done: map[int]bool{}}
	for _, c := range ready {
		if ix := c.p.EmailIndex(); ix != "" && (taken[ix] || supE[ix]) {
			continue
		}
		if c.p.Contact.Phone != "" && supP[cs.Keys().Index(contact.IndexPhone, c.p.Contact.Phone)] {
			continue
		}
		if c.rec.Consent() {
			// The ledger checks the events now and writes them at the
			// batch's Flush; a line it refuses is line()'s to report.
			err := w.batch.AppendNew(ctx, w.tx, r.ws, consent.NewContact{Points: c.p.Points(), Sealer: c.p.Key.Sealer},
				consentEvents(c.rec, source, c.text, r.o.DataSource), r.o.Actor)
			// Refused before anything of the line was written: reported
			// as line() would, without running the segment again.
			var ve *validate.Error
			var ce *consent.ConflictError
			switch {
			case errors.As(err, &ce):
				bad[c.rec.Line] = &csvmap.LineError{Line: c.rec.Line, Field: consentField(ce.Field), Code: ce.Code, Message: ce.Message}
				continue
			case errors.As(err, &ve):
				bad[c.rec.Line] = &csvmap.LineError{Line: c.rec.Line, Field: consentField(ve.Field), Code: ve.Code, Message: ve.Message, Allowed: ve.Allowed}
				continue
			}
			if err != nil {
				return fastResult{}, err
			}
			res.consents++
		} else {
			// Contacts without events get their state from the bulk;
			// those with events from the batch.
			pts = append(pts, c.p.Points())
		}
		ps = append(ps, c.p)
		vals = append(vals, c.values...)
		res.done[c.rec.Line] = true
	}
	if len(ps) == 0 {
		return fastResult{}, nil
	}
	// Without the change hook: the bulk hears of the contacts without
	// events below, and the batch derives the others' states.
	plain := cs.WithTx(w.q)
	plain.OnChange(nil)
	if err := plain.InsertPrepared(ctx, ps); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fastResult{}, errNoFast
		}
		return fastResult{}, err
	}
	w.b.Created(pts)
	if err := w.multiInsert(ctx, `INSERT INTO contact_values (id, workspace_id, contact_id, name, sealed, source, recorded_at, superseded_at) VALUES `, 8, vals); err != nil {
		return fastResult{}, fmt.Errorf("record values: %w", err)
	}
	var prov, tasks []any
	for _, c := range ready {
		if !res.done[c.rec.Line] {
			continue
		}
		prov = append(prov, r.ws, c.p.Contact.ID, r.id, c.rec.Line, "created", r.o.DataSource, r.o.Source, now)
		if r.o.DataSource == "third_party" {
			tasks = append(tasks, id.NewAt(now), r.ws, c.p.Contact.ID, r.id, r.o.Source, now, DueAt(now), "open")
		}
	}
	if err := w.multiInsert(ctx, `INSERT INTO contact_provenance (workspace_id, contact_id, import_id, line, action, data_source, source_name, recorded_at) VALUES `, 8, prov); err != nil {
		return fastResult{}, fmt.Errorf("record provenance: %w", err)
	}
	if err := w.multiInsert(ctx, `INSERT INTO art14_tasks (id, workspace_id, contact_id, import_id, source_name, obtained_at, due_at, status) VALUES `, 8, tasks); err != nil {
		return fastResult{}, fmt.Errorf("open art. 14 tasks: %w", err)
	}
	res.tasks = len(tasks) / 8
	return res, nil
}

// lookup returns which of the values a query finds; the query ends with
// "IN " and gets the list.
func (w *writer) lookup(ctx context.Context, query string, values []string) (map[string]bool, error) {
	out := map[string]bool{}
	const per = 500
	for len(values) > 0 {
		part := values[:min(per, len(values))]
		values = values[len(part):]
		args := []any{w.run.ws}
		var b strings.Builder
		b.WriteString(query)
		b.WriteByte('(')
		for i, v := range part {
			if i > 0 {
				b.WriteByte(',')
			}
			args = append(args, v)
			fmt.Fprintf(&b, "$%d", len(args))
		}
		b.WriteByte(')')
		// Full parts share one cached statement, as in multiInsert.
		q := w.tx.QueryContext
		if len(part) == per {
			q = w.q.QueryContext
		}
		rows, err := q(ctx, b.String(), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return nil, err
			}
			out[s] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// multiInsert runs an INSERT … VALUES of n columns over args in parts of
// at most 400 rows; full parts share one cached statement.
func (w *writer) multiInsert(ctx context.Context, head string, n int, args []any) error {
	const per = 400
	for len(args) > 0 {
		rows := min(per, len(args)/n)
		part := args[:rows*n]
		args = args[rows*n:]
		q := w.tx.ExecContext
		if rows == per {
			q = w.q.ExecContext
		}
		if _, err := q(ctx, head+store.Values(w.run.s.DB.Dialect, rows, n), part...); err != nil {
			return err
		}
	}
	return nil
}
