package campaign

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/mail"
	"github.com/fairlead/fairlead/internal/merge"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/store"
)

// Pass is what one run of a campaign did.
type Pass struct {
	Sent, Skipped, Failed int
	// Paused: the SMTP server was unreachable; nothing that failed was
	// marked sent, and the campaign continues with the next run.
	Paused bool
	// NextDue is when the next queued message is due; nil when none is.
	NextDue *time.Time
}

// ErrSMTPUnavailable pauses a campaign: the SMTP server did not accept the
// message (could not connect, or a 4xx reply), so it can be sent later.
var ErrSMTPUnavailable = errors.New("the SMTP server is unavailable")

// staleSending is how long a claimed message may stay unanswered before a
// run gives it up as delivery_unknown: it may have left, so it is never
// sent again.
const staleSending = 10 * time.Minute

func (s *Service) runJob(ctx context.Context, j *jobs.Job) error {
	var a runArgs
	if err := j.DecodeArgs(&a); err != nil {
		return err
	}
	p, err := s.Run(ctx, j.WorkspaceID, a.CampaignID)
	if errors.Is(err, store.ErrNotFound) {
		return jobs.Cancel(err)
	}
	if err != nil {
		return err
	}
	if p.Paused {
		return jobs.Snooze(s.pauseFor())
	}
	if p.NextDue != nil {
		return jobs.Snooze(max(time.Until(*p.NextDue), 0))
	}
	return nil
}

func (s *Service) pauseFor() time.Duration {
	if s.PauseFor > 0 {
		return s.PauseFor
	}
	return 30 * time.Second
}

type compiled struct {
	step                 Step
	subject, text, htmlT *merge.Template
	// headers are the step's extra headers, the same for every message
	// (Compose only reads them).
	headers map[string]string
}

// Run sends the campaign's due messages and returns when none is due, the
// SMTP server is gone (Paused) or ctx ends.
func (s *Service) Run(ctx context.Context, ws, campaignID string) (Pass, error) {
	var p Pass
	c, err := s.Get(ctx, ws, campaignID)
	if err != nil {
		return p, err
	}
	switch {
	case c.Status == StatusDraft || c.Status == StatusCompleted:
		return p, nil
	case c.Status == StatusPaused && c.PausedReason != ErrSMTPUnavailable.Error():
		return p, nil
	}
	set, err := s.Capture.Settings.Effective(ctx, ws)
	if err != nil {
		return p, err
	}
	steps := make([]compiled, len(c.Steps))
	for i, st := range c.Steps {
		steps[i].step = st
		for j, t := range []struct {
			dst *(*merge.Template)
			v   string
		}{{&steps[i].subject, st.Subject}, {&steps[i].text, st.Text}, {&steps[i].htmlT, st.HTML}} {
			if *t.dst, err = merge.Parse(fmt.Sprintf("steps[%d].%d", i, j), t.v, MergeFields); err != nil {
				return p, err
			}
		}
	}
	now := s.now()
	if _, err := s.DB.W.ExecContext(ctx, `UPDATE campaign_messages SET status = 'unknown', reason = $1 WHERE workspace_id = $2 AND campaign_id = $3 AND status = 'sending' AND due_at < $4`,
		ReasonDeliveryUnknown, ws, c.ID, now.Add(-staleSending)); err != nil {
		return p, fmt.Errorf("give up stale messages: %w", err)
	}
	if c.Status != StatusRunning {
		if _, err := s.DB.W.ExecContext(ctx, `UPDATE campaigns SET status = $1, paused_reason = '', updated_at = $2 WHERE workspace_id = $3 AND id = $4 AND status IN ('scheduled','paused')`,
			StatusRunning, now, ws, c.ID); err != nil {
			return p, err
		}
	}
	for i := range steps {
		steps[i].headers = map[string]string{"Feedback-ID": fmt.Sprintf("%d:%s:campaign", i, c.ID)}
	}
	r := &run{s: s, ws: ws, c: c, set: set, steps: steps, lim: newLimiter(c.RatePerSecond), from: s.Capture.FromHeader(set)}
	if s.Permissions != nil && s.Capture.Purposes != nil {
		// A purpose that is gone is left to the live decision, which
		// reports it.
		if pur, err := s.Capture.Purposes.Get(ctx, ws, c.Purpose); err == nil {
			r.fromState = pur.Kind == string(policy.PurposeDirectMarketing)
		}
	}
	if err := r.pipeline(ctx, &p); err != nil {
		if errors.Is(err, ErrSMTPUnavailable) {
			p.Paused = true
			_, uerr := s.DB.W.ExecContext(ctx, `UPDATE campaigns SET status = $1, paused_reason = $2, updated_at = $3 WHERE workspace_id = $4 AND id = $5 AND status = $6`,
				StatusPaused, ErrSMTPUnavailable.Error(), s.now(), ws, c.ID, StatusRunning)
			s.log().WarnContext(ctx, "campaign paused: the SMTP server is unavailable", "workspace_id", ws, "campaign_id", c.ID, "err", err)
			return p, uerr
		}
		return p, err
	}
	if err := ctx.Err(); err != nil {
		return p, err
	}
	return p, r.finish(ctx, &p)
}

// finish completes the campaign when nothing is queued or in flight, or
// says when the next message is due.
func (r *run) finish(ctx context.Context, p *Pass) error {
	var open int
	var next *time.Time
	rows, err := r.s.DB.R.QueryContext(ctx, `SELECT due_at FROM campaign_messages WHERE workspace_id = $1 AND campaign_id = $2 AND status = 'queued' ORDER BY due_at LIMIT 1`, r.ws, r.c.ID)
	if err != nil {
		return err
	}
	for rows.Next() {
		var t time.Time
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		t = t.UTC()
		next = &t
	}
	rows.Close()
	if next != nil {
		p.NextDue = next
		return nil
	}
	if err := r.s.DB.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM campaign_messages WHERE workspace_id = $1 AND campaign_id = $2 AND status = 'sending'`, r.ws, r.c.ID).Scan(&open); err != nil {
		return err
	}
	if open > 0 {
		t := r.s.now().Add(staleSending)
		p.NextDue = &t
		return nil
	}
	_, err = r.s.DB.W.ExecContext(ctx, `UPDATE campaigns SET status = $1, updated_at = $2 WHERE workspace_id = $3 AND id = $4 AND status = $5`,
		StatusCompleted, r.s.now(), r.ws, r.c.ID, StatusRunning)
	return err
}

type run struct {
	s     *Service
	ws    string
	c     Campaign
	set   capture.Effective
	steps []compiled
	lim   *limiter
	from  string // the From header of every message
	// fromState: the purpose is direct marketing, so the stored permission
	// state answers the recipients it grants (decide).
	fromState bool
}

// pipeline overlaps the two halves of a chunk: while one chunk is on the
// wire, the next is decided, claimed and its contacts opened. The stages
// meet on an unbuffered channel, so at most one prepared chunk waits: its
// decision is at most one chunk's sending time old when it leaves (a chunk
// is at most half a second of the campaign's rate). Every row of a
// prepared chunk is either settled (skipped) or claimed before the
// producer looks for more due rows, so no row is taken twice.
func (r *run) pipeline(ctx context.Context, p *Pass) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	chunk := max(1, min(200, r.c.RatePerSecond/2))
	ready := make(chan *prepared)
	var prodErr error
	var skipped int
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ready)
		prodErr = r.produce(ctx, chunk, &skipped, ready)
	}()
	// A sent chunk is settled while the next one is on the wire. The
	// hand-over is unbuffered: at most one sent chunk waits for its
	// settling, and every one is settled before the run returns. Its rows
	// stay "sending" until then, so no run takes them again.
	type sentChunk struct {
		step int
		outs []outcome
	}
	toSettle := make(chan sentChunk)
	var settleErr error
	settled := make(chan struct{})
	go func() {
		defer close(settled)
		for x := range toSettle {
			if settleErr != nil {
				continue // stopping; the rows are given up as delivery_unknown later
			}
			// The rows are settled even when ctx ended: they were claimed.
			if err := r.settle(context.WithoutCancel(ctx), x.step, x.outs); err != nil {
				settleErr = err
				stop()
			}
		}
	}()
	var sendErr error
	for pc := range ready {
		if sendErr != nil || ctx.Err() != nil {
			// Stopping: what was claimed but not sent goes back.
			if err := r.release(pc); err != nil && sendErr == nil {
				sendErr = err
			}
			continue
		}
		outs, unavailable := r.deliver(ctx, pc, p)
		toSettle <- sentChunk{pc.step, outs}
		if unavailable {
			sendErr = ErrSMTPUnavailable
			stop()
		}
	}
	close(toSettle)
	<-settled
	<-done
	p.Skipped += skipped
	if settleErr != nil {
		return settleErr
	}
	if sendErr != nil {
		return sendErr
	}
	return prodErr
}

// produce prepares the due chunks until none is due, the campaign is no
// longer running (a pause by a user takes effect within one batch) or ctx
// ends.
func (r *run) produce(ctx context.Context, chunk int, skipped *int, ready chan<- *prepared) error {
	s := r.s
	for ctx.Err() == nil {
		var status string
		if err := s.DB.R.QueryRowContext(ctx, `SELECT status FROM campaigns WHERE workspace_id = $1 AND id = $2`, r.ws, r.c.ID).Scan(&status); err != nil {
			return store.MapError(err)
		}
		if status != StatusRunning {
			return nil
		}
		due, err := r.due(ctx, s.now(), 1000)
		if err != nil {
			return err
		}
		if len(due) == 0 {
			return nil
		}
		for i := 0; i < len(due); {
			j := i
			for j < len(due) && j-i < chunk && due[j].step == due[i].step {
				j++
			}
			pc, err := r.prepare(ctx, due[i].step, due[i:j])
			if err != nil {
				return err
			}
			*skipped += pc.skipped
			if len(pc.claimed) > 0 {
				select {
				case ready <- pc:
				case <-ctx.Done():
					if err := r.release(pc); err != nil {
						return err
					}
					return ctx.Err()
				}
			}
			i = j
		}
	}
	return ctx.Err()
}

// dueSQL reads due messages in the order of the due index, so a batch is
// the first rows of the index, not a sort of every queued row.
const dueSQL = `SELECT step, contact_id FROM campaign_messages WHERE workspace_id = $1 AND campaign_id = $2 AND status = 'queued' AND due_at <= $3
	ORDER BY due_at, step, contact_id LIMIT `

type dueMsg struct {
	step      int
	contactID string
}

func (r *run) due(ctx context.Context, now time.Time, limit int) ([]dueMsg, error) {
	rows, err := r.s.DB.R.QueryContext(ctx, dueSQL+fmt.Sprint(limit), r.ws, r.c.ID, now)
	if err != nil {
		return nil, fmt.Errorf("due campaign messages: %w", err)
	}
	defer rows.Close()
	var out []dueMsg
	for rows.Next() {
		var d dueMsg
		if err := rows.Scan(&d.step, &d.contactID); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// outcome of one recipient in a chunk.
type outcome struct {
	contactID string
	status    string // sent, skipped, failed, queued (back: not accepted), unknown
	reason    string
	messageID string
	tracked   bool
	at        time.Time
	next      bool // queue the next step
	// consentUse: the engine allowed the message on a valid consent and
	// asked for its use to be logged (rules §9 log_consent_usage).
	consentUse bool
}

// prepared is a chunk decided and claimed, ready to be sent.
type prepared struct {
	step    int
	claimed []string
	cts     map[string]contact.Contact
	tracked map[string]bool
	// consent: the claimed contacts whose decision asks for the use of
	// their consent to be logged.
	consent map[string]bool
	skipped int
}

// verdict is what a sender needs of the engine's decision on one
// recipient.
type verdict struct {
	allowed bool
	reason  string // the decisive reason code of a denial
	// consentUse: allowed on a valid consent, whose use is to be logged
	// (rules §9 log_consent_usage).
	consentUse bool
}

func verdictOf(d policy.Decision) verdict {
	v := verdict{allowed: d.Allowed, consentUse: d.Allowed && slices.Contains(d.Obligations, policy.ObligationLogConsentUsage)}
	if !d.Allowed {
		v.reason = reasonOf(d)
	}
	return v
}

// decide is the engine's verdict on each recipient of a chunk, right
// before the chunk is claimed, and the chunk's stored grants of the
// campaign's purpose (bit 0) and of e-mail tracking (bit 1).
//
// For a direct-marketing purpose on e-mail the stored permission state
// answers every recipient it grants: the state holds the engine's own
// answer without campaign facts, and with a grant that answer can only
// have been a valid consent (the existing-customer exemption needs
// own_similar_offer, which the state never assumes). The campaign facts
// (own_similar_offer, notice_in_message) only enter the engine after the
// consent step, so the decision with them is the same: allowed on
// consent_valid, with its use to be logged. Everyone else is decided live
// by the engine: recipients the state does not grant (a denial needs its
// reason code, and the exemption may allow a customer), those it cannot
// vouch for (no mark, a stale catalogue, due for a recheck) and contacts
// that are gone.
func (r *run) decide(ctx context.Context, ids []string, pts map[string]contact.Points) (map[string]verdict, map[string]consent.Granted, error) {
	out := make(map[string]verdict, len(ids))
	var grants map[string]consent.Granted
	live := ids
	if r.s.Permissions != nil {
		var err error
		if grants, err = r.s.Permissions.StoredGrants(ctx, r.ws, ids, "email", []string{r.c.Purpose, TrackingPurpose}, r.s.now()); err != nil {
			return nil, nil, err
		}
		if r.fromState {
			live = make([]string, 0, len(ids)/4)
			for _, cid := range ids {
				if _, ok := pts[cid]; ok && grants[cid].Has(0) {
					out[cid] = verdict{allowed: true, consentUse: true}
					continue
				}
				live = append(live, cid)
			}
		}
	}
	if len(live) > 0 {
		ds, err := r.s.Engine.DecideContacts(ctx, r.ws, live, r.c.Purpose, "email", r.c.engine())
		if err != nil {
			return nil, nil, err
		}
		for cid, d := range ds {
			out[cid] = verdictOf(d)
		}
	}
	return out, grants, nil
}

// tracking says which claimed recipients may have opens and clicks
// tracked: the e-mail tracking purpose has no campaign facts, so the
// stored state's answer is the engine's for every recipient it vouches
// for; the rest are decided live.
func (r *run) tracking(ctx context.Context, claimed []string, grants map[string]consent.Granted) (map[string]bool, error) {
	out := make(map[string]bool, len(claimed))
	var live []string
	for _, cid := range claimed {
		if g, ok := grants[cid]; ok {
			out[cid] = g.Has(1)
		} else {
			live = append(live, cid)
		}
	}
	if len(live) == 0 {
		return out, nil
	}
	tds, err := r.s.Engine.DecideContacts(ctx, r.ws, live, TrackingPurpose, "email", audience.Campaign{})
	if err != nil {
		return nil, err
	}
	for cid, d := range tds {
		out[cid] = d.Allowed
	}
	return out, nil
}

// prepare decides and claims one chunk of one step. The engine is asked
// for the chunk right before it is sent; a withdrawal stops every message
// that had not been decided yet. The recipients it skips are settled in
// the claim's transaction.
func (r *run) prepare(ctx context.Context, step int, due []dueMsg) (*prepared, error) {
	ids := make([]string, len(due))
	for i, d := range due {
		ids[i] = d.contactID
	}
	// The recipients are opened first, in one read with their points: the
	// decision, the suppression check and the message then all see the
	// same address.
	rcp, err := r.s.Contacts.Recipients(ctx, r.ws, ids)
	if err != nil {
		return nil, err
	}
	pts := make(map[string]contact.Points, len(rcp))
	for cid, c := range rcp {
		pts[cid] = c.Points
	}
	vs, grants, err := r.decide(ctx, ids, pts)
	if err != nil {
		return nil, err
	}
	suppressed, err := r.s.suppressed(ctx, r.ws, ids, pts)
	if err != nil {
		return nil, err
	}
	cond := r.steps[step].step.Condition
	var since map[string]time.Time
	if !cond.empty() && step > 0 {
		if since, err = r.sentAt(ctx, step-1, ids); err != nil {
			return nil, err
		}
	}
	var outs []outcome
	send := make([]string, 0, len(ids))
	for _, cid := range ids {
		v, ok := vs[cid]
		switch {
		case !ok:
			outs = append(outs, outcome{contactID: cid, status: "skipped", reason: ReasonContactGone})
		case !v.allowed:
			outs = append(outs, outcome{contactID: cid, status: "skipped", reason: v.reason})
		case suppressed[cid] != "":
			outs = append(outs, outcome{contactID: cid, status: "skipped", reason: suppressed[cid]})
		default:
			if !cond.empty() {
				ok, err := r.s.holds(ctx, r.ws, cid, cond, since[cid])
				if err != nil {
					return nil, err
				}
				if !ok {
					outs = append(outs, outcome{contactID: cid, status: "skipped", reason: ReasonConditionNotMet, next: true, at: r.s.now()})
					continue
				}
			}
			send = append(send, cid)
		}
	}
	pc := &prepared{step: step, skipped: len(outs), consent: map[string]bool{}}
	if pc.claimed, err = r.claim(ctx, step, send, outs); err != nil {
		return nil, err
	}
	for _, cid := range pc.claimed {
		if vs[cid].consentUse {
			pc.consent[cid] = true
		}
	}
	pc.tracked = map[string]bool{}
	if r.s.Track != nil && r.steps[step].step.HTML != "" && len(pc.claimed) > 0 {
		// Opens and clicks only where the engine allows e-mail tracking.
		if pc.tracked, err = r.tracking(ctx, pc.claimed, grants); err != nil {
			return nil, errors.Join(err, r.release(pc))
		}
	}
	pc.cts = make(map[string]contact.Contact, len(pc.claimed))
	for _, cid := range pc.claimed {
		if c, ok := rcp[cid]; ok {
			pc.cts[cid] = c.Contact
		}
	}
	return pc, nil
}

// release puts the claimed rows of a chunk that was not sent back in the
// queue. It runs when the run stops, so it does not use its context.
func (r *run) release(pc *prepared) error {
	outs := make([]outcome, len(pc.claimed))
	for i, cid := range pc.claimed {
		outs[i] = outcome{contactID: cid, status: "queued"}
	}
	return r.settle(context.WithoutCancel(context.Background()), pc.step, outs)
}

// deliver sends a prepared chunk through the workers at the campaign's
// rate and returns the outcomes to settle; unavailable: the SMTP server
// did not take a message (it goes back to the queue).
func (r *run) deliver(ctx context.Context, pc *prepared, p *Pass) (outs []outcome, unavailable bool) {
	claimed := pc.claimed
	results := make([]outcome, len(claimed))
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < min(r.s.workers(), len(claimed)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each worker composes (and signs) into its own buffers: a
			// message is on the wire before the next one is composed.
			bufs := new(buffers)
			for i := range work {
				ct, ok := pc.cts[claimed[i]]
				results[i] = r.send(ctx, pc.step, claimed[i], ct, ok, pc.tracked[claimed[i]], bufs)
			}
		}()
	}
	for i := range claimed {
		if err := r.lim.wait(ctx); err != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	unavailable = false
	for i, o := range results {
		if o.status == "" { // not started: ctx ended
			results[i] = outcome{contactID: claimed[i], status: "queued"}
		}
		switch results[i].status {
		case "sent":
			results[i].consentUse = pc.consent[o.contactID]
			p.Sent++
		case "skipped":
			p.Skipped++
		case "failed", "unknown":
			p.Failed++
		case "queued":
			unavailable = true
		}
	}
	return results, unavailable
}

func (s *Service) workers() int {
	if s.Workers > 0 {
		return s.Workers
	}
	return 8
}

func reasonOf(d policy.Decision) string {
	if len(d.Reasons) == 0 {
		return "denied"
	}
	return string(d.Reasons[0])
}

// claim marks the messages as being sent; only the rows this run moved
// from queued are returned, so two runs never send the same message.
func (r *run) claim(ctx context.Context, step int, ids []string, skipped []outcome) ([]string, error) {
	if len(ids) == 0 {
		if len(skipped) == 0 {
			return nil, nil
		}
		return nil, r.settle(ctx, step, skipped)
	}
	args := []any{r.s.now(), r.ws, r.c.ID, step}
	for _, x := range ids {
		args = append(args, x)
	}
	var out []string
	err := r.s.DB.TxCached(ctx, func(tx store.Querier) error {
		if err := r.settleIn(ctx, tx, step, skipped); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, claimSQL(len(ids), r.s.DB.Dialect == store.Postgres), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var cid string
			if err := rows.Scan(&cid); err != nil {
				return err
			}
			out = append(out, cid)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim campaign messages: %w", err)
	}
	return out, nil
}

// claimSQL claims n messages: $1 the time, $2-$4 workspace, campaign and
// step, then the contacts. On SQLite the planner must not pick the order
// itself: with an IN list or a plain join of a long VALUES list it walks
// the due index or the primary key prefix, scanning every queued row of
// the campaign for each chunk. A CROSS JOIN (which SQLite never reorders)
// of the materialized list finds each row by primary key, and the update
// then goes by rowid (TestChunkStatementsFindRowsByKey).
func claimSQL(n int, pg bool) string {
	var b strings.Builder
	if pg {
		b.WriteString(`UPDATE campaign_messages SET status = 'sending', due_at = $1 WHERE workspace_id = $2 AND campaign_id = $3 AND step = $4
		AND status = 'queued' AND contact_id IN (`)
	} else {
		b.WriteString(`WITH v(cid) AS MATERIALIZED (VALUES `)
	}
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if pg {
			fmt.Fprintf(&b, "$%d", i+5)
		} else {
			fmt.Fprintf(&b, "($%d)", i+5)
		}
	}
	if pg {
		b.WriteString(`) RETURNING contact_id`)
	} else {
		b.WriteString(`), j AS MATERIALIZED (SELECT m.rowid AS rid FROM v CROSS JOIN campaign_messages AS m
		WHERE m.workspace_id = $2 AND m.campaign_id = $3 AND m.step = $4 AND m.status = 'queued' AND m.contact_id = v.cid)
		UPDATE campaign_messages SET status = 'sending', due_at = $1 FROM j WHERE campaign_messages.rowid = j.rid RETURNING campaign_messages.contact_id`)
	}
	return b.String()
}

// send composes and delivers one message. It never returns an error: the
// outcome says what became of the message.
func (r *run) send(ctx context.Context, step int, cid string, ct contact.Contact, found, tracked bool, buf *buffers) outcome {
	o := outcome{contactID: cid}
	if !found || ct.Erased {
		o.status, o.reason = "skipped", ReasonContactGone
		return o
	}
	if ct.Email == "" {
		o.status, o.reason = "skipped", ReasonNoEmail
		return o
	}
	raw, msgID, subject, err := r.compose(ct, step, tracked, buf)
	if err != nil {
		o.status, o.reason = "failed", "compose_failed"
		r.s.log().ErrorContext(ctx, "campaign message not composed", "workspace_id", r.ws, "campaign_id", r.c.ID, "contact_id", cid, "err", err)
		return o
	}
	err = r.s.Capture.Delivery.Email(ctx, r.set, r.ws, cid, r.set.MailFrom, ct.Email, subject, raw)
	o.at = r.s.now()
	switch {
	case err == nil:
		o.status, o.messageID, o.tracked, o.next = "sent", msgID, tracked, true
	case notAccepted(err):
		o.status = "queued"
	case mail.Permanent(err):
		o.status, o.reason = "failed", ReasonRejected
	default:
		o.status, o.reason = "unknown", ReasonDeliveryUnknown
	}
	return o
}

// notAccepted reports whether the server certainly did not take the
// message: no connection, or a temporary refusal (4xx).
func notAccepted(err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	var se *mail.SMTPError
	if errors.As(err, &se) {
		return se.Code >= 400 && se.Code < 500
	}
	return errors.Is(err, context.Canceled)
}

// Values are the merge values of a contact.
func Values(c contact.Contact) map[string]string {
	return map[string]string{"first_name": c.FirstName, "last_name": c.LastName, "organization": c.Organization, "email": c.Email}
}

// buffers are a worker's compose and signing buffers.
type buffers struct{ msg, signed bytes.Buffer }

func (r *run) compose(ct contact.Contact, step int, tracked bool, buf *buffers) (raw []byte, msgID, subject string, err error) {
	st := r.steps[step]
	vals := Values(ct)
	subject = st.subject.Execute(vals, nil)
	text := st.text.Execute(vals, nil)
	var htmlBody string
	if st.step.HTML != "" {
		htmlBody = st.htmlT.Execute(vals, html.EscapeString)
		if tracked {
			htmlBody = r.s.trackHTML(htmlBody, r.set.PublicURL, r.ws, ct.ID, r.c.ID, step)
		}
	}
	foot, err := r.s.Capture.MarketingFooter(r.set, r.ws, ct.ID, r.c.Lang, r.c.PrivacyHash, r.c.Purpose)
	if err != nil {
		return nil, "", "", err
	}
	foot.ObjectionNotice = r.c.NoticeInMessage
	msgID = capture.MessageID(r.set)
	err = mail.ComposeTo(&buf.msg, mail.Message{From: r.from, To: ct.Email, Subject: subject, Text: text, HTML: htmlBody, Footer: foot,
		MessageID: msgID, Date: r.s.now(), Headers: st.headers})
	if err != nil {
		return nil, "", "", err
	}
	raw = buf.msg.Bytes()
	if r.s.Signer != nil {
		buf.signed.Reset()
		if err := r.s.Signer.Sign(&buf.signed, raw); err != nil {
			return nil, "", "", err
		}
		raw = buf.signed.Bytes()
	}
	return raw, msgID, subject, nil
}

// settle writes the outcomes of a chunk in one transaction and queues the
// next step of the sequence for each contact that got (or passed over on
// its condition) this one.
func (r *run) settle(ctx context.Context, step int, outs []outcome) error {
	return r.s.DB.TxCached(ctx, func(tx store.Querier) error { return r.settleIn(ctx, tx, step, outs) })
}

func (r *run) settleIn(ctx context.Context, tx store.Querier, step int, outs []outcome) error {
	{
		next := map[time.Time][]string{}
		var sent []outcome
		for _, o := range outs {
			if o.status == "sent" {
				sent = append(sent, o)
			} else if _, err := tx.ExecContext(ctx, `UPDATE campaign_messages SET status = $1, reason = $2, sent_at = NULL
					WHERE workspace_id = $3 AND campaign_id = $4 AND step = $5 AND contact_id = $6`, o.status, o.reason, r.ws, r.c.ID, step, o.contactID); err != nil {
				return fmt.Errorf("settle campaign message: %w", err)
			}
			if o.next && step+1 < len(r.steps) {
				due := o.at.Add(time.Duration(r.steps[step+1].step.DelaySeconds) * time.Second)
				next[due] = append(next[due], o.contactID)
			}
		}
		if err := r.settleSent(ctx, tx, step, sent); err != nil {
			return err
		}
		if err := r.logConsentUse(ctx, tx, step, sent); err != nil {
			return err
		}
		for due, ids := range next {
			for len(ids) > 0 {
				n := min(len(ids), insertBatch)
				if err := insertQueued(ctx, tx, r.ws, r.c.ID, step+1, ids[:n], due); err != nil {
					return err
				}
				ids = ids[n:]
			}
		}
		return nil
	}
}

// settleSent marks the sent messages, one statement per 300. On
// PostgreSQL the VALUES list is joined directly (a hash join). SQLite's
// planner would scan the campaign's rows once per value of such a join, so
// there the list is materialized and CROSS JOINed (which SQLite never
// reorders) with the primary key, and the update goes by rowid, as the
// claim does (TestChunkStatementsFindRowsByKey checks the plan).
func (r *run) settleSent(ctx context.Context, tx store.Querier, step int, sent []outcome) error {
	pg := r.s.DB.Dialect == store.Postgres
	for len(sent) > 0 {
		part := sent[:min(len(sent), 300)]
		sent = sent[len(part):]
		args := make([]any, 0, 3+4*len(part))
		args = append(args, r.ws, r.c.ID, step)
		for _, o := range part {
			args = append(args, o.contactID, o.messageID, o.tracked, o.at)
		}
		if _, err := tx.ExecContext(ctx, settleSentSQL(len(part), pg), args...); err != nil {
			return fmt.Errorf("settle sent campaign messages: %w", err)
		}
	}
	return nil
}

// settleSentSQL settles n sent messages: $1-$3 workspace, campaign and
// step, then contact, message ID, tracked and time of each.
func settleSentSQL(n int, pg bool) string {
	var b strings.Builder
	b.Grow(400 + n*40)
	if pg {
		b.WriteString(`WITH v(cid, mid, tracked, at) AS (VALUES `)
	} else {
		b.WriteString(`WITH v(cid, mid, tracked, at) AS MATERIALIZED (VALUES `)
	}
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		k := 4 + 4*i
		if pg {
			fmt.Fprintf(&b, "($%d::uuid, $%d, $%d::boolean, $%d::timestamptz)", k, k+1, k+2, k+3)
		} else {
			fmt.Fprintf(&b, "($%d, $%d, $%d, $%d)", k, k+1, k+2, k+3)
		}
	}
	if pg {
		b.WriteString(`) UPDATE campaign_messages SET status = 'sent', reason = '', message_id = v.mid, tracked = v.tracked, sent_at = v.at FROM v
			WHERE campaign_messages.workspace_id = $1 AND campaign_messages.campaign_id = $2 AND campaign_messages.step = $3 AND campaign_messages.contact_id = v.cid`)
	} else {
		b.WriteString(`), j AS MATERIALIZED (SELECT m.rowid AS rid, v.mid AS mid, v.tracked AS tracked, v.at AS at FROM v CROSS JOIN campaign_messages AS m
			WHERE m.workspace_id = $1 AND m.campaign_id = $2 AND m.step = $3 AND m.contact_id = v.cid)
			UPDATE campaign_messages SET status = 'sent', reason = '', message_id = j.mid, tracked = j.tracked, sent_at = j.at FROM j WHERE campaign_messages.rowid = j.rid`)
	}
	return b.String()
}

// logConsentUse records, for the sent messages that relied on a consent,
// when it was last used: one statement per chunk (an upsert keyed by
// contact, purpose and channel), since a ledger event per message would
// cost more than sending it. Sends on any other basis (the
// existing-customer exemption, letters on legitimate interest, the
// double opt-in confirmation) are not uses of a consent.
func (r *run) logConsentUse(ctx context.Context, tx store.Querier, step int, sent []outcome) error {
	var b strings.Builder
	args := []any{r.ws, r.c.Purpose, "email", fmt.Sprintf("campaign:%s:%d", r.c.ID, step)}
	for _, o := range sent {
		if !o.consentUse {
			continue
		}
		if len(args) == 4 {
			b.WriteString(`INSERT INTO consent_uses (workspace_id, contact_id, purpose, channel, last_used_at, source) VALUES `)
		} else {
			b.WriteByte(',')
		}
		args = append(args, o.contactID, o.at)
		fmt.Fprintf(&b, "($1,$%d,$2,$3,$%d,$4)", len(args)-1, len(args))
	}
	if len(args) == 4 {
		return nil
	}
	b.WriteString(` ON CONFLICT (workspace_id, contact_id, purpose, channel) DO UPDATE SET last_used_at = excluded.last_used_at, source = excluded.source
		WHERE consent_uses.last_used_at < excluded.last_used_at`)
	if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("log consent use: %w", err)
	}
	return nil
}

// sentAt is when each contact's message of step went out (or was passed
// over on its condition).
func (r *run) sentAt(ctx context.Context, step int, ids []string) (map[string]time.Time, error) {
	args := []any{r.ws, r.c.ID, step}
	ph := make([]string, len(ids))
	for i, x := range ids {
		args = append(args, x)
		ph[i] = fmt.Sprintf("$%d", len(args))
	}
	rows, err := r.s.DB.R.QueryContext(ctx, `SELECT contact_id, sent_at, due_at FROM campaign_messages WHERE workspace_id = $1 AND campaign_id = $2 AND step = $3
		AND contact_id IN (`+strings.Join(ph, ",")+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var cid string
		var sent sql.NullTime
		var due time.Time
		if err := rows.Scan(&cid, &sent, &due); err != nil {
			return nil, err
		}
		if sent.Valid {
			due = sent.Time
		}
		out[cid] = due.UTC()
	}
	return out, rows.Err()
}

// holds evaluates a step condition for one contact.
func (s *Service) holds(ctx context.Context, ws, cid string, c Condition, since time.Time) (bool, error) {
	if len(c.Stage) > 0 {
		st, err := s.Conditions.Stage(ctx, ws, cid)
		if err != nil {
			return false, err
		}
		found := false
		for _, x := range c.Stage {
			found = found || x == st
		}
		if !found {
			return false, nil
		}
	}
	if c.MinScore != nil {
		sc, err := s.Conditions.Score(ctx, ws, cid)
		if err != nil {
			return false, err
		}
		if sc < *c.MinScore {
			return false, nil
		}
	}
	if e := c.Event; e != nil {
		ok, err := s.Events.Happened(ctx, ws, cid, e.Type, e.Name, since)
		if err != nil {
			return false, err
		}
		if ok != e.Happened {
			return false, nil
		}
	}
	return true, nil
}

// suppressed returns, for the contacts whose e-mail address is on the
// suppression list or has bounced hard or complained, the reason code.
func (s *Service) suppressed(ctx context.Context, ws string, ids []string, pts map[string]contact.Points) (map[string]string, error) {
	out := map[string]string{}
	byIndex := map[string]string{}
	args := []any{ws}
	var ph []string
	for cid, p := range pts {
		if p.EmailIndex != "" {
			byIndex[p.EmailIndex] = cid
			args = append(args, p.EmailIndex)
			ph = append(ph, fmt.Sprintf("$%d", len(args)))
		}
	}
	if len(ph) > 0 {
		ixs, err := store.Strings(ctx, s.DB.R, `SELECT blind_index FROM suppressions WHERE workspace_id = $1 AND kind = 'email' AND blind_index IN (`+strings.Join(ph, ",")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read suppressions: %w", err)
		}
		for _, ix := range ixs {
			out[byIndex[ix]] = ReasonSuppressed
		}
	}
	args = []any{ws}
	ph = ph[:0]
	for _, cid := range ids {
		args = append(args, cid)
		ph = append(ph, fmt.Sprintf("$%d", len(args)))
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT contact_id, hard_at IS NOT NULL, complained_at IS NOT NULL FROM campaign_bounces WHERE workspace_id = $1 AND contact_id IN (`+strings.Join(ph, ",")+`)
		AND (hard_at IS NOT NULL OR complained_at IS NOT NULL)`, args...)
	if err != nil {
		return nil, fmt.Errorf("read bounces: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cid string
		var hard, complained bool
		if err := rows.Scan(&cid, &hard, &complained); err != nil {
			return nil, err
		}
		if complained {
			out[cid] = "complained"
		} else {
			out[cid] = "bounced"
		}
	}
	return out, rows.Err()
}

// limiter spaces messages at a rate per second, shared by the workers.
type limiter struct {
	mu    sync.Mutex
	every time.Duration
	next  time.Time
}

func newLimiter(perSecond int) *limiter {
	return &limiter{every: time.Second / time.Duration(max(perSecond, 1))}
}

func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		// No credit for idle time beyond one tick: a paused campaign does
		// not burst when it resumes.
		l.next = now
	}
	at := l.next
	l.next = l.next.Add(l.every)
	l.mu.Unlock()
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}
