// Package campaign sends e-mail campaigns: nurture sequences of steps with
// delays and conditions, to an audience the contactability engine allows
// for the campaign's purpose on e-mail (optionally narrowed to a saved
// segment). Every message is decided again by the engine immediately
// before it leaves, carries the capture footer (imprint, privacy notice,
// preference center, RFC 8058 one-click unsubscribe) and is claimed as one
// row per (campaign, step, contact) before it is sent, so an SMTP outage
// or a restart never sends a message twice.
package campaign

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/merge"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/track"
	"github.com/fairlead/fairlead/internal/validate"
)

// Segments emits the contact IDs of a saved segment; the campaign still
// asks the engine for each.
type Segments interface {
	Members(ctx context.Context, ws, segmentID string, emit func(contactID string) error) error
}

// Conditions are what step conditions ask of a contact's lead record.
type Conditions interface {
	Stage(ctx context.Context, ws, contactID string) (string, error) // visitor|lead|marketing_qualified|sales_qualified|customer|disqualified
	Score(ctx context.Context, ws, contactID string) (float64, error)
}

// Events answers "did this contact do that since then?" (*track.Store).
type Events interface {
	Happened(ctx context.Context, ws, contactID, typ, name string, since time.Time) (bool, error)
}

// Engine is the contactability engine (audience.Resolver): the audience of
// a purpose and channel, and the decision for a batch of recipients.
type Engine interface {
	Resolve(ctx context.Context, ws string, q audience.Query, emit func(contactID string) error) (int, error)
	DecideContacts(ctx context.Context, ws string, ids []string, purposeKey, channel string, c audience.Campaign) (map[string]policy.Decision, error)
}

// Permissions is what a campaign reads of the stored permission state
// (consent.Ledger).
type Permissions interface {
	StoredGrants(ctx context.Context, ws string, ids []string, channel string, purposeKeys []string, asOf time.Time) (map[string]consent.Granted, error)
}

// Stages are the lifecycle stages a condition may name.
var Stages = []string{"visitor", "lead", "marketing_qualified", "sales_qualified", "customer", "disqualified"}

// EventTypes are the event types a condition or conversion may name.
var EventTypes = []string{"page_view", "download", "form_submit", "email_open", "email_click", "custom"}

// MergeFields are the merge fields templates may use.
var MergeFields = []string{"first_name", "last_name", "organization", "email"}

// Statuses of a campaign.
const (
	StatusDraft     = "draft"
	StatusScheduled = "scheduled"
	StatusRunning   = "running"
	StatusPaused    = "paused"
	StatusCompleted = "completed"
)

// Reason codes of skipped messages that are not the engine's.
const (
	ReasonConditionNotMet = "condition_not_met"
	ReasonSuppressed      = "suppressed"
	ReasonNoEmail         = "no_email"
	ReasonContactGone     = "contact_gone"
	ReasonDeliveryUnknown = "delivery_unknown"
	ReasonRejected        = "smtp_rejected"
)

// Condition must hold for a step to be sent; the zero value always holds.
// All set parts must hold.
type Condition struct {
	// Stage: the contact's lifecycle stage is one of these.
	Stage []string `json:"stage,omitempty"`
	// MinScore: the contact's score is at least this.
	MinScore *float64 `json:"min_score,omitempty"`
	// Event: an event of this type (and name) happened — or, with
	// Happened false, did not happen — since the previous step was sent.
	Event *EventCondition `json:"event,omitempty"`
}

// EventCondition is the event part of a Condition.
type EventCondition struct {
	Type     string `json:"type"`
	Name     string `json:"name,omitempty"`
	Happened bool   `json:"happened"`
}

func (c Condition) empty() bool { return len(c.Stage) == 0 && c.MinScore == nil && c.Event == nil }

// Step is one message of a sequence.
type Step struct {
	// Delay after the previous step was sent (the first step: after the
	// start), in seconds.
	DelaySeconds int       `json:"delay_seconds"`
	Condition    Condition `json:"condition"`
	Subject      string    `json:"subject"`
	Text         string    `json:"text"`
	HTML         string    `json:"html,omitempty"`
}

// Campaign is an e-mail campaign.
type Campaign struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Purpose string `json:"purpose"`
	Channel string `json:"channel"`
	// SegmentID narrows the engine's audience to a saved segment.
	SegmentID   string `json:"segment_id,omitempty"`
	Lang        string `json:"lang"`
	PrivacyHash string `json:"privacy_hash,omitempty"`
	// RatePerSecond throttles the campaign's messages.
	RatePerSecond int `json:"rate_per_second"`
	// ConvertType and ConvertName name the event that counts as a
	// conversion in the report (e.g. form_submit); "" = none.
	ConvertType string `json:"convert_type,omitempty"`
	ConvertName string `json:"convert_name,omitempty"`
	Facts
	Status       string     `json:"status"`
	PausedReason string     `json:"paused_reason,omitempty"`
	StartsAt     *time.Time `json:"starts_at,omitempty"`
	Steps        []Step     `json:"steps"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

// Input creates a campaign.
type Input struct {
	Name          string `json:"name"`
	Purpose       string `json:"purpose"`
	Channel       string `json:"channel"`
	SegmentID     string `json:"segment_id"`
	Lang          string `json:"lang"`
	PrivacyHash   string `json:"privacy_hash"`
	RatePerSecond int    `json:"rate_per_second"`
	ConvertType   string `json:"convert_type"`
	ConvertName   string `json:"convert_name"`
	Facts
	Steps []Step `json:"steps"`
}

// Facts are what the sender declares about every message of a campaign;
// the engine needs them for the existing-customer exemption (UWG §7(3)),
// which allows advertising e-mail to a customer without consent only when
// all four conditions hold.
type Facts struct {
	// OwnSimilarOffer: the messages advertise the sender's own goods or
	// services similar to those the customer bought (Nr. 2).
	OwnSimilarOffer bool `json:"own_similar_offer"`
	// NoticeInMessage: every message carries the notice that the recipient
	// may object at any time at no cost beyond basic transmission rates
	// (Nr. 4); the footer then prints it next to the unsubscribe link.
	NoticeInMessage bool `json:"notice_in_message"`
}

func (f Facts) engine() audience.Campaign {
	return audience.Campaign{OwnSimilarOffer: f.OwnSimilarOffer, NoticeInMessage: f.NoticeInMessage}
}

// MaxRate bounds RatePerSecond.
const MaxRate = 100000

// Service holds what campaigns need.
type Service struct {
	DB       *store.DB
	Engine   Engine
	Contacts *contact.Store
	Capture  *capture.Service
	Privacy  *privacy.Service
	Jobs     *jobs.Queue
	// Segments, Conditions and Events are optional: without them a
	// campaign that needs them is refused when saved.
	Segments   Segments
	Conditions Conditions
	Events     Events
	// Track records opens and clicks; without it messages carry no pixel
	// and no tracked links.
	Track *track.Store
	// Signer signs outgoing messages with DKIM when set.
	Signer *DKIMSigner
	// Permissions reads the stored permission state; with it, the
	// recipients whose state grants the campaign's purpose are decided from
	// one read of their marks per chunk, the others live. Without it every
	// recipient is decided live.
	Permissions Permissions
	// Workers is how many messages are in flight at once (default 8).
	Workers int
	// PauseFor is how long a campaign waits after an SMTP outage before it
	// tries again (default 30s).
	PauseFor time.Duration
	Log      *slog.Logger
	Now      func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// ErrState means the campaign's status does not allow the change.
var ErrState = fmt.Errorf("the campaign's status does not allow this: %w", store.ErrConflict)

func (s *Service) check(in *Input) ([][3]*merge.Template, error) {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		return nil, validate.Required("name")
	}
	if len(in.Name) > 200 {
		return nil, validate.Invalid("name", "name must be at most 200 characters")
	}
	if in.Channel == "" {
		in.Channel = "email"
	}
	if in.Channel != "email" {
		return nil, validate.OneOf("channel", in.Channel, []string{"email"})
	}
	if in.Purpose == "" {
		return nil, validate.Required("purpose")
	}
	if in.Lang == "" {
		in.Lang = "de"
	}
	if !slices.Contains([]string{"de", "en"}, in.Lang) {
		return nil, validate.OneOf("lang", in.Lang, []string{"de", "en"})
	}
	if in.SegmentID != "" {
		if !id.Valid(in.SegmentID) {
			return nil, validate.Invalid("segment_id", "segment_id must be the id of a saved segment")
		}
		if s.Segments == nil {
			return nil, validate.Invalid("segment_id", "segments are not available on this server")
		}
	}
	if in.RatePerSecond == 0 {
		in.RatePerSecond = 50
	}
	if in.RatePerSecond < 1 || in.RatePerSecond > MaxRate {
		return nil, validate.Invalid("rate_per_second", fmt.Sprintf("rate_per_second must be a whole number from 1 to %d", MaxRate))
	}
	if in.ConvertType != "" && !slices.Contains(EventTypes, in.ConvertType) {
		return nil, validate.OneOf("convert_type", in.ConvertType, EventTypes)
	}
	if len(in.Steps) == 0 {
		return nil, validate.Required("steps")
	}
	if len(in.Steps) > 50 {
		return nil, validate.Invalid("steps", "a campaign has at most 50 steps")
	}
	var tpls [][3]*merge.Template
	for i, st := range in.Steps {
		f := fmt.Sprintf("steps[%d].", i)
		if st.DelaySeconds < 0 || st.DelaySeconds > 366*24*3600 {
			return nil, validate.Invalid(f+"delay_seconds", f+"delay_seconds must be from 0 to 31622400 (one year)")
		}
		c := st.Condition
		for _, sg := range c.Stage {
			if !slices.Contains(Stages, sg) {
				return nil, validate.OneOf(f+"condition.stage", sg, Stages)
			}
		}
		if (len(c.Stage) > 0 || c.MinScore != nil) && s.Conditions == nil {
			return nil, validate.Invalid(f+"condition", "stage and score conditions are not available on this server")
		}
		if e := c.Event; e != nil {
			if !slices.Contains(EventTypes, e.Type) {
				return nil, validate.OneOf(f+"condition.event.type", e.Type, EventTypes)
			}
			if s.Events == nil {
				return nil, validate.Invalid(f+"condition.event", "event conditions are not available on this server")
			}
		}
		if strings.TrimSpace(st.Subject) == "" {
			return nil, validate.Required(f + "subject")
		}
		if strings.TrimSpace(st.Text) == "" {
			return nil, validate.Required(f + "text")
		}
		var t [3]*merge.Template
		var err error
		for j, p := range []struct{ field, v string }{{"subject", st.Subject}, {"text", st.Text}, {"html", st.HTML}} {
			if t[j], err = merge.Parse(f+p.field, p.v, MergeFields); err != nil {
				return nil, err
			}
		}
		tpls = append(tpls, t)
	}
	return tpls, nil
}

// Create saves a draft campaign. Bad input (an unknown merge field, an
// unknown purpose) saves nothing and names the field.
func (s *Service) Create(ctx context.Context, ws string, in Input) (Campaign, error) {
	if !id.Valid(ws) {
		return Campaign{}, store.ErrNotFound
	}
	if _, err := s.check(&in); err != nil {
		return Campaign{}, err
	}
	if err := s.checkPurpose(ctx, ws, in.Purpose, in.Facts); err != nil {
		return Campaign{}, err
	}
	now := s.now()
	c := Campaign{ID: id.New(), Name: in.Name, Purpose: in.Purpose, Channel: in.Channel, SegmentID: in.SegmentID, Lang: in.Lang,
		PrivacyHash: in.PrivacyHash, RatePerSecond: in.RatePerSecond, ConvertType: in.ConvertType, ConvertName: in.ConvertName, Facts: in.Facts,
		Status: StatusDraft, Steps: in.Steps, CreatedAt: now, UpdatedAt: now}
	err := s.DB.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaigns (id, workspace_id, name, purpose, channel, segment_id, lang, privacy_hash, rate_per_second,
			convert_type, convert_name, status, created_at, updated_at, own_similar_offer, notice_in_message) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)`,
			c.ID, ws, c.Name, c.Purpose, c.Channel, c.SegmentID, c.Lang, c.PrivacyHash, c.RatePerSecond, c.ConvertType, c.ConvertName, c.Status, now, now,
			c.OwnSimilarOffer, c.NoticeInMessage); err != nil {
			return fmt.Errorf("create campaign: %w", err)
		}
		for i, st := range c.Steps {
			cond, _ := json.Marshal(st.Condition)
			if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_steps (workspace_id, campaign_id, step, delay_seconds, condition, subject, text_body, html_body)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, ws, c.ID, i, st.DelaySeconds, string(cond), st.Subject, st.Text, st.HTML); err != nil {
				return fmt.Errorf("create campaign step: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return Campaign{}, err
	}
	return c, nil
}

// UpdateDraft replaces a draft's settings and steps. Only a draft changes: once
// scheduled, the audience was resolved against these steps and what was
// sent must stay what the campaign says (ErrState). Bad input saves
// nothing and names the field, as in Create.
func (s *Service) UpdateDraft(ctx context.Context, ws, campaignID string, in Input) (Campaign, error) {
	if _, err := s.Get(ctx, ws, campaignID); err != nil {
		return Campaign{}, err
	}
	if _, err := s.check(&in); err != nil {
		return Campaign{}, err
	}
	if err := s.checkPurpose(ctx, ws, in.Purpose, in.Facts); err != nil {
		return Campaign{}, err
	}
	now := s.now()
	err := s.DB.Tx(ctx, func(tx store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE campaigns SET name = $1, purpose = $2, channel = $3, segment_id = $4, lang = $5, privacy_hash = $6,
			rate_per_second = $7, convert_type = $8, convert_name = $9, updated_at = $10, own_similar_offer = $14, notice_in_message = $15
			WHERE workspace_id = $11 AND id = $12 AND status = $13`,
			in.Name, in.Purpose, in.Channel, in.SegmentID, in.Lang, in.PrivacyHash, in.RatePerSecond, in.ConvertType, in.ConvertName, now, ws, campaignID, StatusDraft,
			in.OwnSimilarOffer, in.NoticeInMessage)
		if err != nil {
			return fmt.Errorf("update campaign: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrState
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM campaign_steps WHERE workspace_id = $1 AND campaign_id = $2`, ws, campaignID); err != nil {
			return fmt.Errorf("replace campaign steps: %w", err)
		}
		for i, st := range in.Steps {
			cond, _ := json.Marshal(st.Condition)
			if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_steps (workspace_id, campaign_id, step, delay_seconds, condition, subject, text_body, html_body)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, ws, campaignID, i, st.DelaySeconds, string(cond), st.Subject, st.Text, st.HTML); err != nil {
				return fmt.Errorf("replace campaign step: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return Campaign{}, err
	}
	return s.Get(ctx, ws, campaignID)
}

// checkPurpose refuses a purpose the workspace does not have or one that
// cannot use e-mail; the engine names the allowed values. The facts of the
// existing-customer exemption only mean something for advertising: on any
// other purpose they would be a declaration nobody relies on, so they are
// refused rather than stored.
func (s *Service) checkPurpose(ctx context.Context, ws, purpose string, f Facts) error {
	_, err := s.Engine.DecideContacts(ctx, ws, nil, purpose, "email", f.engine())
	var ve *validate.Error
	if errors.As(err, &ve) {
		return validate.Invalid("purpose", ve.Error())
	}
	if err != nil || f == (Facts{}) || s.Capture == nil || s.Capture.Purposes == nil {
		return err
	}
	p, err := s.Capture.Purposes.Get(ctx, ws, purpose)
	if err != nil {
		return err
	}
	if p.Kind != "direct_marketing" {
		field := "own_similar_offer"
		if !f.OwnSimilarOffer {
			field = "notice_in_message"
		}
		return validate.Invalid(field, fmt.Sprintf("%s applies only to a purpose of kind direct_marketing (UWG §7(3)); purpose %q is of kind %s", field, purpose, p.Kind))
	}
	return nil
}

// Get returns one campaign with its steps.
func (s *Service) Get(ctx context.Context, ws, campaignID string) (Campaign, error) {
	return s.get(ctx, s.DB.R, ws, campaignID)
}

const campaignCols = `id, name, purpose, channel, segment_id, lang, privacy_hash, rate_per_second, convert_type, convert_name, status, paused_reason, starts_at, created_at, updated_at, own_similar_offer, notice_in_message`

func scanCampaign(sc interface{ Scan(...any) error }) (Campaign, error) {
	var c Campaign
	var starts sql.NullTime
	if err := sc.Scan(&c.ID, &c.Name, &c.Purpose, &c.Channel, &c.SegmentID, &c.Lang, &c.PrivacyHash, &c.RatePerSecond, &c.ConvertType, &c.ConvertName,
		&c.Status, &c.PausedReason, &starts, &c.CreatedAt, &c.UpdatedAt, &c.OwnSimilarOffer, &c.NoticeInMessage); err != nil {
		return c, store.MapError(err)
	}
	if starts.Valid {
		t := starts.Time.UTC()
		c.StartsAt = &t
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, nil
}

func (s *Service) get(ctx context.Context, q store.Querier, ws, campaignID string) (Campaign, error) {
	if !id.Valid(ws) || !id.Valid(campaignID) {
		return Campaign{}, store.ErrNotFound
	}
	c, err := scanCampaign(q.QueryRowContext(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE workspace_id = $1 AND id = $2`, ws, campaignID))
	if err != nil {
		return c, err
	}
	rows, err := q.QueryContext(ctx, `SELECT delay_seconds, condition, subject, text_body, html_body FROM campaign_steps
		WHERE workspace_id = $1 AND campaign_id = $2 ORDER BY step`, ws, campaignID)
	if err != nil {
		return c, fmt.Errorf("read campaign steps: %w", err)
	}
	defer rows.Close()
	c.Steps = []Step{}
	for rows.Next() {
		var st Step
		var cond string
		if err := rows.Scan(&st.DelaySeconds, &cond, &st.Subject, &st.Text, &st.HTML); err != nil {
			return c, err
		}
		if err := json.Unmarshal([]byte(cond), &st.Condition); err != nil {
			return c, fmt.Errorf("campaign %s step condition: %w", campaignID, err)
		}
		c.Steps = append(c.Steps, st)
	}
	return c, rows.Err()
}

// List returns the workspace's campaigns, newest first, without steps.
func (s *Service) List(ctx context.Context, ws string) ([]Campaign, error) {
	out := []Campaign{}
	if !id.Valid(ws) {
		return out, nil
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC LIMIT 500`, ws)
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// JobRun is the job that sends a campaign's due messages.
const JobRun = "campaign.run"

type runArgs struct {
	CampaignID string `json:"campaign_id"`
}

// Register registers the campaign job on the queue.
func (s *Service) Register(q *jobs.Queue) {
	q.Register(JobRun, s.runJob, jobs.KindOptions{MaxAttempts: 1000, Timeout: -1})
}

// Schedule resolves the audience now and queues the first step for every
// recipient at at (zero = now). The engine decides each message again
// right before it is sent: whoever withdraws after scheduling is skipped.
func (s *Service) Schedule(ctx context.Context, ws, campaignID string, at time.Time) (Campaign, int, error) {
	c, err := s.Get(ctx, ws, campaignID)
	if err != nil {
		return c, 0, err
	}
	if c.Status != StatusDraft {
		return c, 0, ErrState
	}
	now := s.now()
	if at.IsZero() || at.Before(now) {
		at = now
	}
	at = at.UTC().Truncate(time.Microsecond)
	due := at.Add(time.Duration(c.Steps[0].DelaySeconds) * time.Second)
	// The audience is written in batches of their own: the engine reads
	// (and on first use writes) beside them, and a transaction around all
	// of it would hold SQLite's one writer for the whole resolution. Rows
	// of a draft are never sent, and a second Schedule only adds what is
	// missing.
	n := 0
	batch := make([]string, 0, insertBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.DB.TxCached(ctx, func(tx store.Querier) error { return insertQueued(ctx, tx, ws, c.ID, 0, batch, due) })
		n += len(batch)
		batch = batch[:0]
		return err
	}
	err = s.audience(ctx, ws, c, func(cid string) error {
		batch = append(batch, cid)
		if len(batch) >= insertBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return c, 0, err
	}
	err = s.DB.TxCached(ctx, func(tx store.Querier) error {
		res, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = $1, starts_at = $2, updated_at = $3 WHERE workspace_id = $4 AND id = $5 AND status = $6`,
			StatusScheduled, at, now, ws, c.ID, StatusDraft)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return ErrState
		}
		_, err = s.Jobs.Enqueue(ctx, tx, jobs.EnqueueParams{WorkspaceID: ws, Kind: JobRun, Args: runArgs{CampaignID: c.ID}, RunAt: due, UniqueKey: "run:" + c.ID + ":" + strconv.FormatInt(due.UnixMicro(), 10)})
		return err
	})
	if err != nil {
		return c, 0, err
	}
	c.Status, c.StartsAt = StatusScheduled, &at
	return c, n, nil
}

// audience emits the campaign's recipients: the engine's audience for the
// purpose on e-mail, narrowed to the segment when one is set.
func (s *Service) audience(ctx context.Context, ws string, c Campaign, emit func(string) error) error {
	q := audience.Query{Purpose: c.Purpose, Channel: "email", Campaign: c.engine()}
	if c.SegmentID == "" {
		_, err := s.Engine.Resolve(ctx, ws, q, emit)
		return err
	}
	members := map[string]bool{}
	if err := s.Segments.Members(ctx, ws, c.SegmentID, func(cid string) error { members[strings.ToLower(cid)] = true; return nil }); err != nil {
		return err
	}
	_, err := s.Engine.Resolve(ctx, ws, q, func(cid string) error {
		if members[cid] {
			return emit(cid)
		}
		return nil
	})
	return err
}

const insertBatch = 500

func insertQueued(ctx context.Context, tx store.Querier, ws, campaignID string, step int, ids []string, due time.Time) error {
	var b strings.Builder
	b.WriteString(`INSERT INTO campaign_messages (workspace_id, campaign_id, step, contact_id, status, due_at) VALUES `)
	args := []any{ws, campaignID, step, due}
	for i, cid := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		args = append(args, cid)
		fmt.Fprintf(&b, "($1,$2,$3,$%d,'queued',$4)", len(args))
	}
	b.WriteString(` ON CONFLICT (workspace_id, campaign_id, step, contact_id) DO NOTHING`)
	if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("queue campaign messages: %w", err)
	}
	return nil
}

// Pause stops sending until Resume; queued messages stay queued.
func (s *Service) Pause(ctx context.Context, ws, campaignID string) error {
	return s.setStatus(ctx, ws, campaignID, StatusPaused, "paused_by_user", StatusScheduled, StatusRunning)
}

// Resume continues a paused campaign now.
func (s *Service) Resume(ctx context.Context, ws, campaignID string) error {
	if !id.Valid(ws) || !id.Valid(campaignID) {
		return store.ErrNotFound
	}
	return s.DB.Tx(ctx, func(tx store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = $1, paused_reason = '', updated_at = $2 WHERE workspace_id = $3 AND id = $4 AND status = $5`,
			StatusRunning, s.now(), ws, campaignID, StatusPaused)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k != 1 {
			if _, err := s.get(ctx, tx, ws, campaignID); err != nil {
				return err
			}
			return ErrState
		}
		_, err = s.Jobs.Enqueue(ctx, tx, jobs.EnqueueParams{WorkspaceID: ws, Kind: JobRun, Args: runArgs{CampaignID: campaignID}, UniqueKey: "resume:" + campaignID + ":" + id.New()})
		return err
	})
}

func (s *Service) setStatus(ctx context.Context, ws, campaignID, to, reason string, from ...string) error {
	if !id.Valid(ws) || !id.Valid(campaignID) {
		return store.ErrNotFound
	}
	args := []any{to, reason, s.now(), ws, campaignID}
	ph := make([]string, len(from))
	for i, f := range from {
		args = append(args, f)
		ph[i] = fmt.Sprintf("$%d", len(args))
	}
	res, err := s.DB.W.ExecContext(ctx, `UPDATE campaigns SET status = $1, paused_reason = $2, updated_at = $3 WHERE workspace_id = $4 AND id = $5 AND status IN (`+strings.Join(ph, ",")+`)`, args...)
	if err != nil {
		return fmt.Errorf("campaign status: %w", err)
	}
	if k, _ := res.RowsAffected(); k != 1 {
		if _, err := s.Get(ctx, ws, campaignID); err != nil {
			return err
		}
		return ErrState
	}
	return nil
}
