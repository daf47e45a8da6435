package supplier

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// JobKind is the job that creates a scheduled letter batch.
const JobKind = "supplier.letter_batch"

// DefaultAssessment is the balancing test of Art. 6(1)(f) GDPR recorded
// for every contact person when a contract is concluded, unless the
// caller records its own.
const DefaultAssessment = "Interessenabwägung Backflow-Akquise (Art. 6 Abs. 1 lit. f DSGVO): " +
	"Berechtigtes Interesse: Direktwerbung für eigene Leistungen per Brief an ein Unternehmen, bei dem wir Kunde sind (Erwägungsgrund 47). " +
	"Erforderlichkeit: nur geschäftliche Kontaktdaten des Ansprechpartners, nur adressierte Briefpost, nur nach Vertragsschluss. " +
	"Interessen der betroffenen Person: geschäftliche Rolle (B2B), mit dem Erstkontakt über die Lieferanten-Datenschutzhinweise informiert (Art. 13, 21 Abs. 4 DSGVO), " +
	"Briefwerbung ist wenig eingreifend und nach UWG § 7 in der Regel zulässig; ein Widerspruch wirkt sofort und beendet die Werbung. " +
	"Ergebnis: Die Interessen der betroffenen Person überwiegen nicht."

// NewContract records a concluded contract.
type NewContract struct {
	// ConcludedOn is the date the contract was concluded (YYYY-MM-DD); "" = today.
	ConcludedOn string `json:"concluded_on"`
	Reference   string `json:"reference"`
	// Assessment replaces DefaultAssessment.
	Assessment string `json:"assessment"`
}

// Contract is a concluded contract with a supplier.
type Contract struct {
	ID          string    `json:"id"`
	SupplierID  string    `json:"supplier_id"`
	ConcludedAt time.Time `json:"concluded_at"`
	Reference   string    `json:"reference"`
	CreatedAt   time.Time `json:"created_at"`
	// Jobs are the scheduled batches queued with the contract.
	Jobs []string `json:"jobs"`
}

// batchArgs are the arguments of a scheduled batch job.
type batchArgs struct {
	ScheduleID string `json:"schedule_id"`
	ContractID string `json:"contract_id"`
	SupplierID string `json:"supplier_id"`
}

// RecordContract records the concluded contract and, for every contact
// person of the supplier, in one transaction: the supplier relationship
// (relationship_started), the running contract (contract_started) and the
// balancing test for the acquisition letters
// (legitimate_interest_assessment, purpose supplier_acquisition, post).
//
// The scheduled batches are queued in the same transaction, due the
// schedule's delay after the conclusion. We queue them here rather than
// sweep for due contracts periodically: the due time is known now, the
// job exists exactly when the contract does (a rolled-back contract queues
// nothing), and no poll has to find it. A schedule saved later applies to
// later contracts.
func (s *Backflow) RecordContract(ctx context.Context, ws, supplierID string, in NewContract, actor consent.Actor) (Contract, error) {
	x, err := s.Get(ctx, ws, supplierID)
	if err != nil {
		return Contract{}, err
	}
	now := s.now()
	at := now
	if in.ConcludedOn != "" {
		d, err := time.Parse(time.DateOnly, in.ConcludedOn)
		if err != nil {
			return Contract{}, validate.Invalid("concluded_on", "concluded_on must be a date YYYY-MM-DD")
		}
		if d.After(now) {
			return Contract{}, validate.Invalid("concluded_on", "concluded_on lies in the future")
		}
		if d.Format(time.DateOnly) != now.Format(time.DateOnly) {
			at = d.UTC()
		}
	}
	if err := checkText("reference", in.Reference, 200, false); err != nil {
		return Contract{}, err
	}
	assessment := in.Assessment
	if strings.TrimSpace(assessment) == "" {
		assessment = DefaultAssessment
	}
	if err := checkText("assessment", assessment, 20000, true); err != nil {
		return Contract{}, err
	}
	if len(x.Contacts) == 0 {
		return Contract{}, validate.Invalid("contacts", "the supplier has no contact person yet: add one before recording the contract")
	}
	c := Contract{ID: id.New(), SupplierID: x.ID, ConcludedAt: at, Reference: in.Reference, CreatedAt: now, Jobs: []string{}}
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO supplier_contracts (id, workspace_id, supplier_id, concluded_at, reference, created_at) VALUES ($1,$2,$3,$4,$5,$6)`,
			c.ID, ws, c.SupplierID, c.ConcludedAt, c.Reference, now); err != nil {
			return store.MapError(err)
		}
		src := consent.EvidenceInput{Source: "supplier_contract:" + c.ID}
		for _, p := range x.Contacts {
			for _, ev := range []consent.NewEvent{
				{Kind: consent.KindRelationshipStarted, OccurredAt: &at, Details: consent.Details{Relationship: "supplier"}, Evidence: src},
				{Kind: consent.KindContractStarted, OccurredAt: &at, Evidence: src},
				{Kind: consent.KindLegitimateInterest, Purpose: Purpose, Channels: []string{"post"}, OccurredAt: &at, Details: consent.Details{Assessment: assessment}, Evidence: src},
			} {
				if _, err := s.Ledger.Append(ctx, tx, ws, p.ContactID, ev, actor); err != nil {
					return err
				}
			}
		}
		if s.Jobs == nil {
			return nil
		}
		scheds, err := s.schedules(ctx, tx, ws, false)
		if err != nil {
			return err
		}
		for _, sc := range scheds {
			jid, err := s.Jobs.Enqueue(ctx, tx, jobs.EnqueueParams{WorkspaceID: ws, Kind: JobKind, RunAt: at.AddDate(0, 0, sc.DelayDays),
				Args:      batchArgs{ScheduleID: sc.ID, ContractID: c.ID, SupplierID: x.ID},
				UniqueKey: sc.ID + ":" + c.ID})
			if err != nil {
				return fmt.Errorf("queue scheduled batch: %w", err)
			}
			c.Jobs = append(c.Jobs, jid)
		}
		return nil
	})
	if err != nil {
		return Contract{}, renameField(err, "occurred_at", "concluded_on")
	}
	return c, nil
}

// Contracts lists a supplier's contracts, newest first.
func (s *Backflow) Contracts(ctx context.Context, ws, supplierID string) ([]Contract, error) {
	x, err := s.Get(ctx, ws, supplierID)
	if err != nil {
		return nil, err
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT id, supplier_id, concluded_at, reference, created_at FROM supplier_contracts WHERE workspace_id = $1 AND supplier_id = $2 ORDER BY concluded_at DESC, id`, ws, x.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Contract{}
	for rows.Next() {
		var c Contract
		if err := rows.Scan(&c.ID, &c.SupplierID, &c.ConcludedAt, &c.Reference, &c.CreatedAt); err != nil {
			return nil, err
		}
		c.ConcludedAt, c.CreatedAt, c.Jobs = c.ConcludedAt.UTC(), c.CreatedAt.UTC(), []string{}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Register registers the scheduled batch job on q.
func (s *Backflow) Register(q interface {
	Register(kind string, h jobs.Handler, o jobs.KindOptions)
}) {
	q.Register(JobKind, s.runScheduled, jobs.KindOptions{})
}

// runScheduled creates the batch of one schedule for one contract. The
// engine is asked again now, not when the contract was recorded: an
// objection in between keeps the letter from being printed. A batch that
// already exists for the pair (the job ran before a crash) is not made
// again.
func (s *Backflow) runScheduled(ctx context.Context, j *jobs.Job) error {
	var a batchArgs
	if err := j.DecodeArgs(&a); err != nil {
		return err
	}
	ws := j.WorkspaceID
	sc, err := scanSchedule(s.DB.R.QueryRowContext(ctx, `SELECT `+scheduleCols+` FROM letter_schedules WHERE workspace_id = $1 AND id = $2`, ws, a.ScheduleID))
	if err != nil {
		return jobs.Cancel(fmt.Errorf("schedule %s: %w", a.ScheduleID, err))
	}
	if !sc.Enabled {
		return nil
	}
	var n int
	if err := s.DB.R.QueryRowContext(ctx, `SELECT count(*) FROM letter_batches WHERE workspace_id = $1 AND schedule_id = $2 AND contract_id = $3`, ws, a.ScheduleID, a.ContractID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	b, err := s.CreateBatch(ctx, ws, NewBatch{TemplateID: sc.TemplateID, Purpose: sc.Purpose, Channel: "post", SupplierID: a.SupplierID,
		scheduleID: sc.ID, contractID: a.ContractID}, consent.Actor{})
	var ve *validate.Error
	if errors.As(err, &ve) {
		// The schedule's purpose or template no longer fits: retrying
		// cannot help, the job goes to the dead letters for a person.
		return jobs.Cancel(fmt.Errorf("scheduled batch %s: %s", sc.ID, ve.Code))
	}
	if err != nil {
		return err
	}
	s.log().InfoContext(ctx, "scheduled letter batch created", "workspace_id", ws, "batch_id", b.ID, "letters", b.Letters, "left_out", b.LeftOut)
	return nil
}
