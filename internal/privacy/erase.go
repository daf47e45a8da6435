package privacy

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Outcomes of Erase.
const (
	OutcomeErased            = "erased"
	OutcomeRestricted        = "restricted"
	OutcomeAlreadyErased     = "already_erased"
	OutcomeAlreadyRestricted = "already_restricted"
)

// Suppression reasons.
const (
	ReasonObjection    = "objection"
	ReasonDoNotContact = "do_not_contact"
	ReasonErased       = "erased"
)

// SuppressionReasons are the values of Suppression.Reason.
var SuppressionReasons = []string{ReasonObjection, ReasonDoNotContact, ReasonErased}

// retentionGround is the restriction ground recorded while a retention
// duty keeps data an erasure asked to delete. The ledger knows no
// "retention" ground; Art. 17(3)(b) and (e) data kept for a legal duty are
// kept for the establishment and defence of legal claims as well.
const retentionGround = "legal_claims"

// ErasureResult says what Erase did.
type ErasureResult struct {
	ContactID string `json:"contact_id"`
	// Outcome is erased, restricted (a retention duty runs; the rest was
	// deleted), already_erased or already_restricted (nothing changed).
	Outcome    string     `json:"outcome"`
	ExecutedAt *time.Time `json:"executed_at"`
	// RetentionBasis and RetainedUntil describe the duty that keeps the
	// restricted part ("" until = open end).
	RetentionBasis string `json:"retention_basis"`
	RetainedUntil  string `json:"retained_until"`
	// DeleteAfter is when the clean-up deletes the restricted part.
	DeleteAfter *time.Time `json:"delete_after"`
	// Deleted counts removed rows by table.
	Deleted map[string]int `json:"deleted"`
	// Retained names what stays: the ledger (append-only; personal evidence
	// shredded), the suppression entries, and for a restriction the record.
	Retained []string `json:"retained"`
	// Suppressed lists the contact point kinds put on the suppression list.
	Suppressed []string `json:"suppressed"`
}

// ErasureRecord is the stored record of an erasure or restriction.
type ErasureRecord struct {
	Status       string     `json:"status"`
	Actor        string     `json:"actor"`
	Retained     []string   `json:"retained"`
	RestrictedAt *time.Time `json:"restricted_at"`
	DeleteAfter  *time.Time `json:"delete_after"`
	ExecutedAt   *time.Time `json:"executed_at"`
}

// duty is the retention duty still running for a contact.
type duty struct {
	active bool
	basis  string
	until  string // YYYY-MM-DD, "" = open end
}

// activeDuty folds the contact's retention_duty_started events: any duty
// whose last day has not passed keeps the data; the latest end wins and an
// open end outlasts every date.
func activeDuty(evs []consent.Event, today string) duty {
	var d duty
	for _, e := range evs {
		if e.Kind != consent.KindRetentionDutyStarted {
			continue
		}
		u := e.Details.Until
		if u != "" && u < today {
			continue
		}
		if !d.active || u == "" || (d.until != "" && u > d.until) {
			d = duty{active: true, basis: e.Details.Basis, until: u}
		}
	}
	return d
}

func has(evs []consent.Event, kind string) bool {
	for _, e := range evs {
		if e.Kind == kind {
			return true
		}
	}
	return false
}

// restrictedNow reports whether the last restriction_started was not lifted.
func restrictedNow(evs []consent.Event) bool {
	on := false
	for _, e := range evs {
		switch e.Kind {
		case consent.KindRestrictionStarted:
			on = true
		case consent.KindRestrictionLifted:
			on = false
		}
	}
	return on
}

// Erase deletes the contact's personal data everywhere fairlead keeps
// them, in one transaction: profile values, outbox copies, double opt-in
// requests, the contact's personal fields and blind indexes (which move to
// the suppression list first), and — by appending erasure_executed — the
// data key, so sealed ledger evidence becomes unreadable while the chain
// stays intact. While a retention duty runs (retention_duty_started), the
// contact record the duty needs is kept restricted instead: everything else
// is deleted, restriction_started is recorded and the deletion is scheduled
// for the day after the duty ends.
//
// Erase is idempotent: a second call answers already_erased or
// already_restricted and changes nothing. A contact whose key was shredded
// through the ledger alone is finished (its rows deleted) by the next call.
func (s *Service) Erase(ctx context.Context, ws, contactID string, actor consent.Actor) (ErasureResult, error) {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return ErasureResult{}, store.ErrNotFound
	}
	ws, contactID = strings.ToLower(ws), strings.ToLower(contactID)
	var res ErasureResult
	err := s.DB.Tx(ctx, func(tx store.Tx) error {
		var err error
		res, err = s.eraseTx(ctx, tx, ws, contactID, actor)
		return err
	})
	if err != nil {
		return ErasureResult{}, err
	}
	return res, nil
}

func (s *Service) eraseTx(ctx context.Context, tx store.Tx, ws, contactID string, actor consent.Actor) (ErasureResult, error) {
	res := ErasureResult{ContactID: contactID, Deleted: map[string]int{}, Retained: []string{}, Suppressed: []string{}}
	var emailIx, phoneIx sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT email_index, phone_index FROM contacts WHERE workspace_id = $1 AND id = $2`, ws, contactID).Scan(&emailIx, &phoneIx)
	if err != nil {
		return res, store.MapError(err)
	}
	rec, err := s.erasureRecord(ctx, tx, ws, contactID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return res, err
	}
	if rec != nil && rec.Status == "executed" {
		res.Outcome, res.ExecutedAt = OutcomeAlreadyErased, rec.ExecutedAt
		res.Retained = []string{"ledger_events", "suppressions", "erasure_record"}
		return res, nil
	}
	evs, err := s.Ledger.Events(ctx, ws, contactID, false)
	if err != nil {
		return res, err
	}
	now := s.now()
	d := activeDuty(evs, now.Format(time.DateOnly))
	executed := has(evs, consent.KindErasureExecuted)
	if d.active && !executed {
		deleteAfter := deletionDay(d.until)
		if rec != nil && rec.Status == "restricted" && sameTime(rec.DeleteAfter, deleteAfter) {
			res.Outcome, res.RetentionBasis, res.RetainedUntil, res.DeleteAfter = OutcomeAlreadyRestricted, d.basis, d.until, rec.DeleteAfter
			res.Retained = rec.Retained
			return res, nil
		}
	}

	reason := ReasonErased
	if has(evs, consent.KindObjection) {
		reason = ReasonObjection
	}
	for _, p := range []struct {
		kind string
		ix   sql.NullString
	}{{contact.IndexEmail, emailIx}, {contact.IndexPhone, phoneIx}} {
		if !p.ix.Valid || p.ix.String == "" {
			continue
		}
		if err := s.suppress(ctx, tx, ws, p.kind, p.ix.String, reason, contactID, now); err != nil {
			return res, err
		}
		res.Suppressed = append(res.Suppressed, p.kind)
	}
	// What no retention duty needs goes in every case.
	for _, t := range []string{"contact_values", "outbox_messages", "doi_requests"} {
		r, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE workspace_id = $1 AND contact_id = $2`, ws, contactID)
		if err != nil {
			return res, fmt.Errorf("erase %s: %w", t, err)
		}
		n, _ := r.RowsAffected()
		res.Deleted[t] = int(n)
	}
	for _, e := range s.Erasers {
		counts, err := e(ctx, tx, ws, contactID)
		if err != nil {
			return res, err
		}
		for t, n := range counts {
			res.Deleted[t] += n
		}
	}
	ev := consent.EvidenceInput{Source: "privacy:erasure"}
	if !has(evs, consent.KindErasureRequested) {
		if _, err := s.Ledger.Append(ctx, tx, ws, contactID, consent.NewEvent{Kind: consent.KindErasureRequested, OccurredAt: &now, Evidence: ev}, actor); err != nil {
			return res, err
		}
	}

	if d.active && !executed {
		deleteAfter := deletionDay(d.until)
		if !restrictedNow(evs) {
			if _, err := s.Ledger.Append(ctx, tx, ws, contactID, consent.NewEvent{Kind: consent.KindRestrictionStarted, OccurredAt: &now,
				Details: consent.Details{Ground: retentionGround}, Evidence: ev}, actor); err != nil {
				return res, err
			}
		}
		retained := []string{"contact_record", "ledger_events", "suppressions"}
		rj, _ := json.Marshal(retained)
		if _, err := tx.ExecContext(ctx, `INSERT INTO erasures (workspace_id, contact_id, status, actor, retained, delete_after, restricted_at)
			VALUES ($1, $2, 'restricted', $3, $4, $5, $6)
			ON CONFLICT (workspace_id, contact_id) DO UPDATE SET status = 'restricted', actor = $3, retained = $4, delete_after = $5, restricted_at = $6`,
			ws, contactID, actorString(actor), string(rj), nullTime(deleteAfter), now); err != nil {
			return res, fmt.Errorf("record restriction: %w", err)
		}
		if deleteAfter != nil && s.Jobs != nil {
			if _, err := s.Jobs.Enqueue(ctx, tx, jobs.EnqueueParams{WorkspaceID: ws, Kind: JobErase, Args: eraseArgs{ContactID: contactID},
				RunAt: *deleteAfter, UniqueKey: "erase:" + contactID + ":" + deleteAfter.Format(time.DateOnly)}); err != nil {
				return res, fmt.Errorf("schedule deletion: %w", err)
			}
		}
		res.Outcome, res.RetentionBasis, res.RetainedUntil, res.DeleteAfter, res.Retained = OutcomeRestricted, d.basis, d.until, deleteAfter, retained
		return res, nil
	}

	// The sealed blob must stay non-empty (NOT NULL); without the key it
	// would be unreadable anyway, but nothing of it should remain.
	if _, err := tx.ExecContext(ctx, `UPDATE contacts SET sealed = $3, email_index = NULL, phone_index = NULL, updated_at = $4 WHERE workspace_id = $1 AND id = $2`,
		ws, contactID, []byte{0}, now); err != nil {
		return res, fmt.Errorf("erase contact: %w", err)
	}
	if !executed {
		if _, err := s.Ledger.Append(ctx, tx, ws, contactID, consent.NewEvent{Kind: consent.KindErasureExecuted, OccurredAt: &now, Evidence: ev}, actor); err != nil {
			return res, err
		}
	} else if err := s.keys().WithTx(tx).Shred(ctx, tx, ws, contactID); err != nil {
		return res, err
	}
	retained := []string{"ledger_events", "suppressions", "erasure_record"}
	rj, _ := json.Marshal(retained)
	if _, err := tx.ExecContext(ctx, `INSERT INTO erasures (workspace_id, contact_id, status, actor, retained, executed_at)
		VALUES ($1, $2, 'executed', $3, $4, $5)
		ON CONFLICT (workspace_id, contact_id) DO UPDATE SET status = 'executed', actor = $3, retained = $4, executed_at = $5, delete_after = NULL`,
		ws, contactID, actorString(actor), string(rj), now); err != nil {
		return res, fmt.Errorf("record erasure: %w", err)
	}
	res.Outcome, res.ExecutedAt, res.Retained = OutcomeErased, &now, retained
	return res, nil
}

// deletionDay is the first day after a duty's last day (UTC midnight);
// nil for an open end.
func deletionDay(until string) *time.Time {
	if until == "" {
		return nil
	}
	t, err := time.Parse(time.DateOnly, until)
	if err != nil {
		return nil
	}
	t = t.AddDate(0, 0, 1).UTC()
	return &t
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

func (s *Service) erasureRecord(ctx context.Context, q store.Querier, ws, contactID string) (*ErasureRecord, error) {
	var r ErasureRecord
	var retained string
	var ra, da, ea *time.Time
	err := q.QueryRowContext(ctx, `SELECT status, actor, retained, restricted_at, delete_after, executed_at FROM erasures WHERE workspace_id = $1 AND contact_id = $2`,
		ws, contactID).Scan(&r.Status, &r.Actor, &retained, &ra, &da, &ea)
	if err != nil {
		return nil, store.MapError(err)
	}
	_ = json.Unmarshal([]byte(retained), &r.Retained)
	r.RestrictedAt, r.DeleteAfter, r.ExecutedAt = utcPtr(ra), utcPtr(da), utcPtr(ea)
	return &r, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

type eraseArgs struct {
	ContactID string `json:"contact_id"`
}

// runErase is the scheduled deletion at the end of a retention duty. A
// duty that was extended meanwhile restricts again with the new end.
func (s *Service) runErase(ctx context.Context, j *jobs.Job) error {
	var a eraseArgs
	if err := j.DecodeArgs(&a); err != nil {
		return jobs.Cancel(err)
	}
	res, err := s.Erase(ctx, j.WorkspaceID, a.ContactID, consent.Actor{})
	if errors.Is(err, store.ErrNotFound) {
		return jobs.Cancel(err)
	}
	if err != nil {
		return err
	}
	s.log().InfoContext(ctx, "scheduled erasure", "workspace_id", j.WorkspaceID, "contact_id", a.ContactID, "job_id", j.ID, "outcome", res.Outcome)
	return nil
}

// Suppression is one entry of the suppression list.
type Suppression struct {
	Kind       string    `json:"kind"`
	BlindIndex string    `json:"blind_index"`
	Reason     string    `json:"reason"`
	ContactID  string    `json:"contact_id"`
	CreatedAt  time.Time `json:"created_at"`
}

func (s *Service) suppress(ctx context.Context, q store.Querier, ws, kind, ix, reason, contactID string, now time.Time) error {
	// An existing entry keeps its reason: an objection stays an objection
	// even when the person is erased later.
	_, err := q.ExecContext(ctx, `INSERT INTO suppressions (workspace_id, kind, blind_index, reason, contact_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (workspace_id, kind, blind_index) DO NOTHING`, ws, kind, ix, reason, contactID, now)
	if err != nil {
		return fmt.Errorf("suppress: %w", err)
	}
	return nil
}

// SuppressIn puts one contact point (kind email or phone, by its blind
// index) on the suppression list inside the caller's transaction: a hard
// bounce or a spam complaint blocks the address, not the person's phone.
func (s *Service) SuppressIn(ctx context.Context, q store.Querier, ws, kind, blindIndex, reason, contactID string) error {
	if reason != ReasonObjection && reason != ReasonDoNotContact {
		return validate.OneOf("reason", reason, []string{ReasonObjection, ReasonDoNotContact})
	}
	if kind != contact.IndexEmail && kind != contact.IndexPhone {
		return validate.OneOf("kind", kind, []string{contact.IndexEmail, contact.IndexPhone})
	}
	var one int
	if err := q.QueryRowContext(ctx, `SELECT 1 FROM contacts WHERE workspace_id = $1 AND id = $2`, strings.ToLower(ws), strings.ToLower(contactID)).Scan(&one); err != nil {
		return store.MapError(err)
	}
	return s.suppress(ctx, q, strings.ToLower(ws), kind, blindIndex, reason, strings.ToLower(contactID), s.now())
}

// Suppress puts a contact's current e-mail address and phone number on the
// suppression list with a reason (objection or do_not_contact), without
// erasing anything.
func (s *Service) Suppress(ctx context.Context, ws, contactID, reason string) ([]Suppression, error) {
	if reason != ReasonObjection && reason != ReasonDoNotContact {
		return nil, validate.OneOf("reason", reason, []string{ReasonObjection, ReasonDoNotContact})
	}
	pts, err := s.Contacts.Points(ctx, ws, contactID)
	if err != nil {
		return nil, err
	}
	ws, contactID = strings.ToLower(ws), strings.ToLower(contactID)
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		for _, p := range [][2]string{{contact.IndexEmail, pts.EmailIndex}, {contact.IndexPhone, pts.PhoneIndex}} {
			if p[1] != "" {
				if err := s.suppress(ctx, tx, ws, p[0], p[1], reason, contactID, s.now()); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Suppressed(ctx, ws, pts.EmailIndex, pts.PhoneIndex)
}

// Suppressed returns the suppression entries matching an e-mail or phone
// blind index ("" skips it), so imports and sign-ups can flag a person who
// was erased or objected before. An empty list means not suppressed.
func (s *Service) Suppressed(ctx context.Context, ws, emailIndex, phoneIndex string) ([]Suppression, error) {
	out := []Suppression{}
	if !id.Valid(ws) {
		return out, nil
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT kind, blind_index, reason, contact_id, created_at FROM suppressions
		WHERE workspace_id = $1 AND ((kind = 'email' AND blind_index = $2) OR (kind = 'phone' AND blind_index = $3)) ORDER BY kind`,
		strings.ToLower(ws), emailIndex, phoneIndex)
	if err != nil {
		return nil, fmt.Errorf("read suppressions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var x Suppression
		if err := rows.Scan(&x.Kind, &x.BlindIndex, &x.Reason, &x.ContactID, &x.CreatedAt); err != nil {
			return nil, err
		}
		x.CreatedAt = x.CreatedAt.UTC()
		out = append(out, x)
	}
	return out, rows.Err()
}
