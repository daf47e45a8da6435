package privacy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/capture/token"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/mail"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Request types (the rights of Art. 15–21 GDPR) and case statuses.
var (
	RequestTypes = []string{"access", "portability", "rectification", "erasure", "restriction", "objection"}
	Statuses     = []string{"received", "verifying", "in_progress", "extended", "completed", "rejected"}
	// Outcomes close a case.
	Outcomes = []string{"completed", "rejected"}
	// VerificationMethods record how the identity was checked.
	VerificationMethods = []string{"email_link", "in_person", "signed_letter", "other"}
)

// verifyLinkDays is how long an identity link works.
const verifyLinkDays = 7

// maxExtensionMonths is Art. 12(3) sentence 2: at most two further months.
const maxExtensionMonths = 2

// Case is one data subject request.
type Case struct {
	ID              string     `json:"id"`
	ContactID       string     `json:"contact_id"`
	RequestType     string     `json:"request_type"`
	Status          string     `json:"status"`
	ReceivedAt      time.Time  `json:"received_at"`
	DueAt           time.Time  `json:"due_at"`
	ExtendedMonths  int        `json:"extended_months"`
	ExtensionReason string     `json:"extension_reason"`
	VerifiedAt      *time.Time `json:"verified_at"`
	Verification    string     `json:"verification"`
	ClosedAt        *time.Time `json:"closed_at"`
	CreatedBy       string     `json:"created_by"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	// Overdue is true when the case is open after its due date.
	Overdue bool       `json:"overdue"`
	Log     []LogEntry `json:"log"`
}

// LogEntry is one step of a case.
type LogEntry struct {
	Step  string    `json:"step"`
	Actor string    `json:"actor"`
	Note  string    `json:"note"`
	At    time.Time `json:"at"`
}

// AddMonths adds calendar months the way Art. 12(3) GDPR counts them
// (Regulation 1182/71 Art. 3(2)(c)): the period ends on the same date of the
// later month, or on its last day when that month is shorter (31 January +
// 1 month = 28/29 February, not 3 March as time.AddDate would say).
func AddMonths(t time.Time, months int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(months), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	if d > last {
		d = last
	}
	return time.Date(first.Year(), first.Month(), d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}

// OpenCase is the input of Open.
type OpenCase struct {
	ContactID   string     `json:"contact_id"`
	RequestType string     `json:"request_type"`
	ReceivedAt  *time.Time `json:"received_at"`
	Note        string     `json:"note"`
}

func checkNote(field, s string) error {
	if len(s) > 2000 || !utf8.ValidString(s) {
		return validate.Invalid(field, field+" must be valid UTF-8 of at most 2000 bytes")
	}
	return nil
}

// Open records a request as a case due one calendar month after it was
// received, and appends rights_request_opened to the contact's ledger in
// the same transaction.
func (s *Service) Open(ctx context.Context, ws string, in OpenCase, actor consent.Actor) (Case, error) {
	if in.ContactID == "" {
		return Case{}, validate.Required("contact_id")
	}
	if !id.Valid(in.ContactID) {
		return Case{}, validate.Invalid("contact_id", "contact_id must be the ID (UUID) of a contact of this workspace")
	}
	if in.RequestType == "" {
		return Case{}, &validate.Error{Field: "request_type", Code: "required", Allowed: RequestTypes, Message: "request_type is required: one of " + strings.Join(RequestTypes, ", ")}
	}
	if !contains(RequestTypes, in.RequestType) {
		return Case{}, validate.OneOf("request_type", in.RequestType, RequestTypes)
	}
	if err := checkNote("note", in.Note); err != nil {
		return Case{}, err
	}
	now := s.now()
	received := now
	if in.ReceivedAt != nil {
		received = in.ReceivedAt.UTC().Truncate(time.Microsecond)
		if received.After(now.Add(5 * time.Minute)) {
			return Case{}, validate.Invalid("received_at", "received_at lies in the future")
		}
	}
	if !id.Valid(ws) {
		return Case{}, store.ErrNotFound
	}
	ws, cid := strings.ToLower(ws), strings.ToLower(in.ContactID)
	if _, err := s.Contacts.Points(ctx, ws, cid); errors.Is(err, store.ErrNotFound) {
		return Case{}, validate.Invalid("contact_id", "contact_id names no contact of this workspace")
	} else if err != nil {
		return Case{}, err
	}
	c := Case{ID: id.NewAt(now), ContactID: cid, RequestType: in.RequestType, Status: "received", ReceivedAt: received,
		DueAt: AddMonths(received, 1), CreatedBy: actorString(actor), CreatedAt: now, UpdatedAt: now}
	err := s.DB.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO dsr_cases (id, workspace_id, contact_id, request_type, status, received_at, due_at, created_by, created_at, updated_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`, c.ID, ws, c.ContactID, c.RequestType, c.Status, c.ReceivedAt, c.DueAt, c.CreatedBy, now, now); err != nil {
			return fmt.Errorf("open case: %w", err)
		}
		if _, err := s.Ledger.Append(ctx, tx, ws, cid, consent.NewEvent{Kind: consent.KindRightsRequestOpened, OccurredAt: &received,
			Details: consent.Details{RequestType: c.RequestType}, Evidence: consent.EvidenceInput{Source: "dsr:" + c.ID}}, actor); err != nil {
			return err
		}
		return s.logStep(ctx, tx, ws, c.ID, "opened", actor, in.Note, now)
	})
	if err != nil {
		return Case{}, err
	}
	return s.Case(ctx, ws, c.ID)
}

func (s *Service) logStep(ctx context.Context, q store.Querier, ws, caseID, step string, actor consent.Actor, note string, at time.Time) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO dsr_case_log (id, workspace_id, case_id, step, actor, note, at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		id.NewAt(at), ws, caseID, step, actorString(actor), note, at); err != nil {
		return fmt.Errorf("case log: %w", err)
	}
	return nil
}

const caseCols = `id, contact_id, request_type, status, received_at, due_at, extended_months, extension_reason, verified_at, verification, closed_at, created_by, created_at, updated_at`

func (s *Service) scanCase(sc interface{ Scan(...any) error }) (Case, error) {
	var c Case
	var va, ca *time.Time
	if err := sc.Scan(&c.ID, &c.ContactID, &c.RequestType, &c.Status, &c.ReceivedAt, &c.DueAt, &c.ExtendedMonths, &c.ExtensionReason, &va, &c.Verification, &ca,
		&c.CreatedBy, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return c, store.MapError(err)
	}
	c.ID, c.ContactID = strings.ToLower(c.ID), strings.ToLower(c.ContactID)
	c.ReceivedAt, c.DueAt, c.CreatedAt, c.UpdatedAt = c.ReceivedAt.UTC(), c.DueAt.UTC(), c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	c.VerifiedAt, c.ClosedAt = utcPtr(va), utcPtr(ca)
	c.Overdue = c.ClosedAt == nil && s.now().After(c.DueAt)
	c.Log = []LogEntry{}
	return c, nil
}

// Case returns one case with its log.
func (s *Service) Case(ctx context.Context, ws, caseID string) (Case, error) {
	if !id.Valid(ws) || !id.Valid(caseID) {
		return Case{}, store.ErrNotFound
	}
	return s.caseIn(ctx, s.DB.R, strings.ToLower(ws), strings.ToLower(caseID), true)
}

func (s *Service) caseIn(ctx context.Context, q store.Querier, ws, caseID string, withLog bool) (Case, error) {
	c, err := s.scanCase(q.QueryRowContext(ctx, `SELECT `+caseCols+` FROM dsr_cases WHERE workspace_id = $1 AND id = $2`, ws, caseID))
	if err != nil || !withLog {
		return c, err
	}
	rows, err := q.QueryContext(ctx, `SELECT step, actor, note, at FROM dsr_case_log WHERE workspace_id = $1 AND case_id = $2 ORDER BY at, id`, ws, caseID)
	if err != nil {
		return c, fmt.Errorf("read case log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e LogEntry
		if err := rows.Scan(&e.Step, &e.Actor, &e.Note, &e.At); err != nil {
			return c, err
		}
		e.At = e.At.UTC()
		c.Log = append(c.Log, e)
	}
	return c, rows.Err()
}

// ListCases selects cases.
type ListCases struct {
	// Status filters by status; "open" means every status but completed
	// and rejected.
	Status string
	// Overdue keeps only open cases past their due date.
	Overdue bool
	Limit   int
}

// Cases lists a workspace's cases, the most urgent first.
func (s *Service) Cases(ctx context.Context, ws string, p ListCases) ([]Case, error) {
	if p.Limit == 0 {
		p.Limit = 100
	}
	if p.Limit < 1 || p.Limit > 500 {
		return nil, validate.Invalid("limit", "limit must be a whole number from 1 to 500")
	}
	if p.Status != "" && p.Status != "open" && !contains(Statuses, p.Status) {
		return nil, validate.OneOf("status", p.Status, append([]string{"open"}, Statuses...))
	}
	out := []Case{}
	if !id.Valid(ws) {
		return out, nil
	}
	q := `SELECT ` + caseCols + ` FROM dsr_cases WHERE workspace_id = $1`
	args := []any{strings.ToLower(ws)}
	switch {
	case p.Status == "open" || p.Overdue:
		q += ` AND status NOT IN ('completed','rejected')`
	case p.Status != "":
		args = append(args, p.Status)
		q += ` AND status = $2`
	}
	if p.Overdue {
		args = append(args, s.now())
		q += fmt.Sprintf(` AND due_at < $%d`, len(args))
	}
	args = append(args, p.Limit)
	q += fmt.Sprintf(` ORDER BY due_at, id LIMIT $%d`, len(args))
	rows, err := s.DB.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list cases: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := s.scanCase(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Service) casesOf(ctx context.Context, ws, contactID string) ([]Case, error) {
	rows, err := s.DB.R.QueryContext(ctx, `SELECT `+caseCols+` FROM dsr_cases WHERE workspace_id = $1 AND contact_id = $2 ORDER BY received_at, id`, ws, contactID)
	if err != nil {
		return nil, fmt.Errorf("read cases: %w", err)
	}
	out := []Case{}
	for rows.Next() {
		c, err := s.scanCase(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		full, err := s.caseIn(ctx, s.DB.R, ws, out[i].ID, true)
		if err != nil {
			return nil, err
		}
		out[i] = full
	}
	return out, nil
}

// change runs fn on an open case in one transaction and returns the case
// afterwards. A closed case refuses every change.
func (s *Service) change(ctx context.Context, ws, caseID string, fn func(tx store.Tx, c Case, now time.Time) error) (Case, error) {
	if !id.Valid(ws) || !id.Valid(caseID) {
		return Case{}, store.ErrNotFound
	}
	ws, caseID = strings.ToLower(ws), strings.ToLower(caseID)
	err := s.DB.Tx(ctx, func(tx store.Tx) error {
		c, err := s.caseIn(ctx, tx, ws, caseID, false)
		if err != nil {
			return err
		}
		if c.ClosedAt != nil {
			return &consent.ConflictError{Field: "status", Code: "case_closed", Message: "the case is " + c.Status + " (closed); open a new case for a new request"}
		}
		return fn(tx, c, s.now())
	})
	if err != nil {
		return Case{}, err
	}
	return s.Case(ctx, ws, caseID)
}

// Extend moves the due date by one or two months (Art. 12(3) sentence 2:
// at most two further months in total, for complex or numerous requests),
// with the reason, which the person must be told within the first month.
func (s *Service) Extend(ctx context.Context, ws, caseID string, months int, reason string, actor consent.Actor) (Case, error) {
	if months < 1 || months > maxExtensionMonths {
		return Case{}, validate.Invalid("months", "months must be 1 or 2 (Art. 12(3) GDPR allows at most two further months)")
	}
	if strings.TrimSpace(reason) == "" {
		return Case{}, validate.Required("reason")
	}
	if err := checkNote("reason", reason); err != nil {
		return Case{}, err
	}
	return s.change(ctx, ws, caseID, func(tx store.Tx, c Case, now time.Time) error {
		total := c.ExtendedMonths + months
		if total > maxExtensionMonths {
			return validate.Invalid("months", fmt.Sprintf("the case was extended by %d month(s) already; at most %d in total (Art. 12(3) GDPR)", c.ExtendedMonths, maxExtensionMonths))
		}
		if now.After(c.DueAt) {
			return &consent.ConflictError{Field: "months", Code: "overdue", Message: "the due date has passed: an extension must be declared within the deadline"}
		}
		due := AddMonths(c.ReceivedAt, 1+total)
		r := strings.TrimSpace(reason)
		if c.ExtensionReason != "" {
			r = c.ExtensionReason + "\n" + r
		}
		if _, err := tx.ExecContext(ctx, `UPDATE dsr_cases SET status = 'extended', extended_months = $3, extension_reason = $4, due_at = $5, updated_at = $6 WHERE workspace_id = $1 AND id = $2`,
			ws, caseID, total, r, due, now); err != nil {
			return fmt.Errorf("extend case: %w", err)
		}
		return s.logStep(ctx, tx, strings.ToLower(ws), c.ID, fmt.Sprintf("extended:+%d", months), actor, strings.TrimSpace(reason), now)
	})
}

// SendVerification sends the person a link to the confirmed e-mail address
// on record; clicking it proves the request comes from them. A contact
// without a confirmed address is refused: verify their identity another
// way and record it with Verify.
func (s *Service) SendVerification(ctx context.Context, ws, caseID, lang string, actor consent.Actor) (Case, error) {
	if lang != "" && lang != "de" && lang != "en" {
		return Case{}, validate.OneOf("lang", lang, []string{"de", "en"})
	}
	return s.change(ctx, ws, caseID, func(tx store.Tx, c Case, now time.Time) error {
		if c.VerifiedAt != nil {
			return &consent.ConflictError{Field: "status", Code: "already_verified", Message: "the identity was verified already"}
		}
		ok, err := s.confirmedEmail(ctx, strings.ToLower(ws), c.ContactID)
		if err != nil {
			return err
		}
		if !ok {
			return &consent.ConflictError{Field: "method", Code: "no_confirmed_email", Message: "the contact has no confirmed e-mail address: verify the identity another way and record it (method in_person, signed_letter or other)"}
		}
		if s.Jobs == nil {
			return errors.New("privacy: no job queue to send the verification link")
		}
		if _, err := s.Jobs.Enqueue(ctx, tx, jobs.EnqueueParams{WorkspaceID: strings.ToLower(ws), Kind: JobSendVerification,
			Args: verifyArgs{CaseID: c.ID, Lang: lang}, UniqueKey: "verify:" + c.ID + ":" + now.Format(time.RFC3339Nano)}); err != nil {
			return fmt.Errorf("enqueue verification: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE dsr_cases SET status = 'verifying', updated_at = $3 WHERE workspace_id = $1 AND id = $2`, ws, c.ID, now); err != nil {
			return err
		}
		return s.logStep(ctx, tx, strings.ToLower(ws), c.ID, "verification_sent", actor, "", now)
	})
}

// confirmedEmail: the contact's current address was confirmed (a
// consent_confirmed event names its blind index).
func (s *Service) confirmedEmail(ctx context.Context, ws, contactID string) (bool, error) {
	pts, err := s.Contacts.Points(ctx, ws, contactID)
	if err != nil || pts.EmailIndex == "" {
		return false, err
	}
	evs, err := s.Ledger.Events(ctx, ws, contactID, false)
	if err != nil {
		return false, err
	}
	for _, e := range evs {
		if e.Kind == consent.KindConsentConfirmed && e.ContactPoint == pts.EmailIndex {
			return true, nil
		}
	}
	return false, nil
}

// Verify records an identity check done another way than the link.
func (s *Service) Verify(ctx context.Context, ws, caseID, method, note string, actor consent.Actor) (Case, error) {
	if method == "" {
		return Case{}, &validate.Error{Field: "method", Code: "required", Allowed: VerificationMethods[1:], Message: "method is required: one of " + strings.Join(VerificationMethods[1:], ", ")}
	}
	if !contains(VerificationMethods[1:], method) {
		return Case{}, validate.OneOf("method", method, VerificationMethods[1:])
	}
	if err := checkNote("note", note); err != nil {
		return Case{}, err
	}
	return s.change(ctx, ws, caseID, func(tx store.Tx, c Case, now time.Time) error {
		return s.markVerified(ctx, tx, strings.ToLower(ws), c, method, note, actor, now)
	})
}

func (s *Service) markVerified(ctx context.Context, tx store.Tx, ws string, c Case, method, note string, actor consent.Actor, now time.Time) error {
	if c.VerifiedAt != nil {
		return nil
	}
	status := "in_progress"
	if c.ExtendedMonths > 0 {
		status = "extended"
	}
	if _, err := tx.ExecContext(ctx, `UPDATE dsr_cases SET status = $3, verified_at = $4, verification = $5, updated_at = $4 WHERE workspace_id = $1 AND id = $2`,
		ws, c.ID, status, now, method); err != nil {
		return fmt.Errorf("verify case: %w", err)
	}
	return s.logStep(ctx, tx, ws, c.ID, "verified:"+method, actor, note, now)
}

// VerifyLink is the POST of the link sent by SendVerification. A second
// click changes nothing.
func (s *Service) VerifyLink(ctx context.Context, tok string) (Case, error) {
	t, err := token.Parse(s.keys(), token.Verify, tok, s.now())
	if err != nil {
		return Case{}, err
	}
	c, err := s.change(ctx, t.Workspace, t.Subject, func(tx store.Tx, c Case, now time.Time) error {
		return s.markVerified(ctx, tx, strings.ToLower(t.Workspace), c, "email_link", "", consent.Actor{}, now)
	})
	var ce *consent.ConflictError
	if errors.As(err, &ce) && ce.Code == "case_closed" {
		return s.Case(ctx, t.Workspace, t.Subject)
	}
	return c, err
}

// Complete closes a case as completed or rejected (with the reason) and
// appends rights_request_closed to the ledger in the same transaction.
func (s *Service) Complete(ctx context.Context, ws, caseID, outcome, note string, actor consent.Actor) (Case, error) {
	if outcome == "" {
		outcome = "completed"
	}
	if !contains(Outcomes, outcome) {
		return Case{}, validate.OneOf("outcome", outcome, Outcomes)
	}
	if outcome == "rejected" && strings.TrimSpace(note) == "" {
		return Case{}, validate.Invalid("note", "note is required for a rejection: the person must be told why (Art. 12(4) GDPR)")
	}
	if err := checkNote("note", note); err != nil {
		return Case{}, err
	}
	return s.change(ctx, ws, caseID, func(tx store.Tx, c Case, now time.Time) error {
		if outcome == "completed" && c.VerifiedAt == nil {
			return &consent.ConflictError{Field: "outcome", Code: "not_verified", Message: "the identity of the person was not verified: send the link or record another verification first, or reject the case"}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE dsr_cases SET status = $3, closed_at = $4, updated_at = $4 WHERE workspace_id = $1 AND id = $2`, ws, c.ID, outcome, now); err != nil {
			return fmt.Errorf("close case: %w", err)
		}
		if _, err := s.Ledger.Append(ctx, tx, strings.ToLower(ws), c.ContactID, consent.NewEvent{Kind: consent.KindRightsRequestClosed, OccurredAt: &now,
			Details: consent.Details{RequestType: c.RequestType}, Evidence: consent.EvidenceInput{Source: "dsr:" + c.ID}}, actor); err != nil {
			return err
		}
		return s.logStep(ctx, tx, strings.ToLower(ws), c.ID, outcome, actor, note, now)
	})
}

type verifyArgs struct {
	CaseID string `json:"case_id"`
	Lang   string `json:"lang,omitempty"`
}

var verifyTexts = map[string][2]string{
	"de": {"Bitte bestätigen Sie Ihren Antrag", "Guten Tag,\n\nwir haben einen Antrag nach der DSGVO (%s) erhalten, der Ihre Daten betrifft. Damit wir sicher sind, dass er von Ihnen kommt, bestätigen Sie ihn bitte mit einem Klick auf diesen Link:\n\n%s\n\nDer Link gilt %d Tage. Wenn Sie keinen Antrag gestellt haben, ignorieren Sie diese E-Mail.\n"},
	"en": {"Please confirm your request", "Hello,\n\nWe received a GDPR request (%s) about your data. So that we know it comes from you, please confirm it with one click on this link:\n\n%s\n\nThe link is valid for %d days. If you made no request, ignore this e-mail.\n"},
}

// runSendVerification mails the identity link to the contact's address.
func (s *Service) runSendVerification(ctx context.Context, j *jobs.Job) error {
	var a verifyArgs
	if err := j.DecodeArgs(&a); err != nil {
		return jobs.Cancel(err)
	}
	c, err := s.Case(ctx, j.WorkspaceID, a.CaseID)
	if errors.Is(err, store.ErrNotFound) {
		return jobs.Cancel(err)
	}
	if err != nil {
		return err
	}
	if c.VerifiedAt != nil || c.ClosedAt != nil {
		return nil
	}
	p, err := s.Contacts.Get(ctx, j.WorkspaceID, c.ContactID)
	if err != nil {
		return jobs.Cancel(fmt.Errorf("contact of case %s: %w", c.ID, err))
	}
	if p.Erased || p.Email == "" {
		return jobs.Cancel(fmt.Errorf("contact of case %s has no e-mail address", c.ID))
	}
	set, err := s.Capture.Settings.Effective(ctx, j.WorkspaceID)
	if err != nil {
		return err
	}
	l := a.Lang
	if l != "en" {
		l = "de"
	}
	tok, err := token.Sign(s.keys(), token.Token{Kind: token.Verify, Workspace: j.WorkspaceID, Subject: c.ID, Expires: s.now().Add(verifyLinkDays * 24 * time.Hour)})
	if err != nil {
		return err
	}
	t := verifyTexts[l]
	from := set.MailFrom
	if set.MailFromName != "" {
		from = set.MailFromName + " <" + set.MailFrom + ">"
	}
	imprint := set.Imprint[l]
	if imprint == "" {
		imprint = set.Imprint["de"]
	}
	raw, err := mail.Compose(mail.Message{From: from, To: p.Email, Subject: t[0], Text: fmt.Sprintf(t[1], c.RequestType, set.PublicURL+"/p/dsr/verify/"+tok, verifyLinkDays),
		Footer: &mail.Footer{Imprint: imprint, Lang: l}, Date: s.now()})
	if err != nil {
		return jobs.Cancel(err)
	}
	err = s.Capture.Delivery.Email(ctx, set, j.WorkspaceID, c.ContactID, set.MailFrom, p.Email, t[0], raw)
	if err != nil && mail.Permanent(err) {
		return jobs.Cancel(err)
	}
	return err
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
