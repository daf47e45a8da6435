package supplier

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// ResponseChannels are the channels a contact can answer on.
var ResponseChannels = []string{"phone", "email", "post"}

// NewResponse logs an inbound response.
type NewResponse struct {
	// Channel is how the contact answered.
	Channel string `json:"channel"`
	// ReplyChannels are further channels the contact asked to be answered
	// on (the channel used is always one).
	ReplyChannels []string `json:"reply_channels"`
	// Summary must not repeat personal data beyond what the sales team needs.
	Summary    string     `json:"summary"`
	ReceivedAt *time.Time `json:"received_at"`
}

// Response is a logged inbound response.
type Response struct {
	ID            string    `json:"id"`
	ContactID     string    `json:"contact_id"`
	SupplierID    string    `json:"supplier_id,omitempty"`
	Channel       string    `json:"channel"`
	ReplyChannels []string  `json:"reply_channels"`
	Summary       string    `json:"summary"`
	ReceivedAt    time.Time `json:"received_at"`
	LedgerEvent   string    `json:"ledger_event"`
	CreatedBy     string    `json:"created_by"`
	CreatedAt     time.Time `json:"created_at"`
}

// LogResponse records that a contact (a supplier's contact person or any
// other) answered: an inbound_request_received event whose channels are the
// channel used plus the ones designated for the answer, in the same
// transaction as the response. Replying on those channels is then
// inquiry_reply (rules §7.4), which objections do not block; unsolicited
// advertising afterwards is direct_marketing again.
func (s *Backflow) LogResponse(ctx context.Context, ws, contactID string, in NewResponse, actor consent.Actor) (Response, error) {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return Response{}, store.ErrNotFound
	}
	contactID = strings.ToLower(contactID)
	if _, err := s.Contacts.Points(ctx, ws, contactID); err != nil {
		return Response{}, err
	}
	if in.Channel == "" {
		return Response{}, &validate.Error{Field: "channel", Code: "required", Allowed: ResponseChannels, Message: "channel is required: one of " + strings.Join(ResponseChannels, ", ")}
	}
	if !slices.Contains(ResponseChannels, in.Channel) {
		return Response{}, validate.OneOf("channel", in.Channel, ResponseChannels)
	}
	chs := []string{in.Channel}
	for _, c := range in.ReplyChannels {
		if !slices.Contains([]string{"email", "sms", "phone", "post"}, c) {
			return Response{}, validate.OneOf("reply_channels", c, []string{"email", "sms", "phone", "post"})
		}
		if !slices.Contains(chs, c) {
			chs = append(chs, c)
		}
	}
	if err := checkText("summary", in.Summary, 5000, false); err != nil {
		return Response{}, err
	}
	now := s.now()
	at := now
	if in.ReceivedAt != nil {
		at = in.ReceivedAt.UTC().Truncate(time.Microsecond)
	}
	sup, err := s.supplierOf(ctx, ws, contactID)
	if err != nil {
		return Response{}, err
	}
	r := Response{ID: id.New(), ContactID: contactID, SupplierID: sup, Channel: in.Channel, ReplyChannels: chs, Summary: in.Summary, ReceivedAt: at, CreatedBy: actor.String(), CreatedAt: now}
	sealed, err := s.Contacts.Keys().SealText(ctx, ws, contactID, in.Summary)
	if err != nil {
		return Response{}, fmt.Errorf("seal response summary: %w", err)
	}
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		ev, err := s.Ledger.Append(ctx, tx, ws, contactID, consent.NewEvent{Kind: consent.KindInboundRequestReceived, Channels: chs, OccurredAt: &at,
			Evidence: consent.EvidenceInput{Source: "contact_response:" + r.ID}}, actor)
		if err != nil {
			return renameField(renameField(err, "occurred_at", "received_at"), "channels", "reply_channels")
		}
		r.LedgerEvent = ev.ID
		raw, _ := json.Marshal(chs)
		_, err = tx.ExecContext(ctx, `INSERT INTO contact_responses (id, workspace_id, contact_id, supplier_id, channel, reply_channels, summary, received_at, ledger_event, created_by, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`, r.ID, ws, contactID, nullID(sup), r.Channel, string(raw), sealed, r.ReceivedAt, r.LedgerEvent, r.CreatedBy, now)
		return store.MapError(err)
	})
	if err != nil {
		return Response{}, err
	}
	return r, nil
}

// Responses lists a contact's responses, newest first.
func (s *Backflow) Responses(ctx context.Context, ws, contactID string) ([]Response, error) {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return nil, store.ErrNotFound
	}
	if _, err := s.Contacts.Points(ctx, ws, strings.ToLower(contactID)); err != nil {
		return nil, err
	}
	return s.responses(ctx, ws, "contact_id", strings.ToLower(contactID))
}

func (s *Backflow) responses(ctx context.Context, ws, col, v string) ([]Response, error) {
	rows, err := s.DB.R.QueryContext(ctx, `SELECT id, contact_id, supplier_id, channel, reply_channels, summary, received_at, ledger_event, created_by, created_at
		FROM contact_responses WHERE workspace_id = $1 AND `+col+` = $2 ORDER BY received_at DESC, id`, ws, v)
	if err != nil {
		return nil, fmt.Errorf("list responses: %w", err)
	}
	defer rows.Close()
	out := []Response{}
	for rows.Next() {
		var r Response
		var sup *string
		var chs string
		if err := rows.Scan(&r.ID, &r.ContactID, &sup, &r.Channel, &chs, &r.Summary, &r.ReceivedAt, &r.LedgerEvent, &r.CreatedBy, &r.CreatedAt); err != nil {
			return nil, err
		}
		if sup != nil {
			r.SupplierID = *sup
		}
		r.ReceivedAt, r.CreatedAt = r.ReceivedAt.UTC(), r.CreatedAt.UTC()
		if err := json.Unmarshal([]byte(chs), &r.ReplyChannels); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, openSummaries(ctx, s.Contacts.Keys(), ws, out)
}

// openSummaries opens the sealed summaries with one key read for all the
// contacts; an erased contact's summary opens to "".
func openSummaries(ctx context.Context, k *keyring.Keyring, ws string, rs []Response) error {
	var ids []string
	for _, r := range rs {
		if strings.HasPrefix(r.Summary, keyring.TextPrefix) && !slices.Contains(ids, r.ContactID) {
			ids = append(ids, r.ContactID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	ops, err := k.Openers(ctx, ws, ids)
	if err != nil {
		return err
	}
	for i := range rs {
		if rs[i].Summary, err = ops[strings.ToLower(rs[i].ContactID)].OpenText(rs[i].Summary); err != nil {
			return fmt.Errorf("open response summary %s: %w", rs[i].ID, err)
		}
	}
	return nil
}

// ContactView is what sales sees of one contact: its responses and what
// the engine allows now, purpose by channel.
type ContactView struct {
	ContactID string          `json:"contact_id"`
	Position  string          `json:"position,omitempty"`
	Responses []Response      `json:"responses"`
	Matrix    []audience.Cell `json:"-"`
}

// SalesView is the sales view of a supplier: every contact person with
// responses and matrix.
type SalesView struct {
	Supplier Supplier      `json:"supplier"`
	Contacts []ContactView `json:"contacts"`
}

// ContactSalesView is the sales view of any contact.
func (s *Backflow) ContactSalesView(ctx context.Context, ws, contactID string) (ContactView, error) {
	rs, err := s.Responses(ctx, ws, contactID)
	if err != nil {
		return ContactView{}, err
	}
	v := ContactView{ContactID: strings.ToLower(contactID), Responses: rs}
	if s.Audience != nil {
		if v.Matrix, err = s.Audience.Matrix(ctx, ws, v.ContactID); err != nil {
			return ContactView{}, err
		}
	}
	return v, nil
}

// SupplierSalesView is the sales view of a supplier.
func (s *Backflow) SupplierSalesView(ctx context.Context, ws, supplierID string) (SalesView, error) {
	x, err := s.Get(ctx, ws, supplierID)
	if err != nil {
		return SalesView{}, err
	}
	out := SalesView{Supplier: x, Contacts: []ContactView{}}
	for _, p := range x.Contacts {
		v, err := s.ContactSalesView(ctx, ws, p.ContactID)
		if err != nil {
			return SalesView{}, err
		}
		v.Position = p.Position
		out.Contacts = append(out.Contacts, v)
	}
	return out, nil
}

// OnLedgerEvent runs in the transaction of every ledger append: when a
// contact's erasure is executed, EraseContact runs in it.
func (s *Backflow) OnLedgerEvent(ctx context.Context, q store.Querier, ws, contactID string, ev consent.Event) error {
	if ev.Kind != consent.KindErasureExecuted {
		return nil
	}
	_, err := EraseContact(ctx, q, ws, contactID)
	return err
}

// EraseContact discards the print files of every batch that holds a letter
// to the contact (a PDF cannot be edited letter by letter, and the print
// service has long had them) and blanks the summaries of their responses:
// both hold personal data outside the sealed contact record. The batch
// items stay, with IDs and reason codes only. It is a privacy eraser, so
// every erasure path runs it, and the ledger hook runs it again for an
// erasure appended directly; both are idempotent.
func EraseContact(ctx context.Context, q store.Querier, ws, contactID string) (map[string]int, error) {
	res, err := q.ExecContext(ctx, `UPDATE letter_batches SET pdf = NULL, manifest = '' WHERE workspace_id = $1 AND pdf IS NOT NULL AND id IN
		(SELECT batch_id FROM letter_batch_items WHERE workspace_id = $1 AND contact_id = $2 AND included = TRUE)`, ws, contactID)
	if err != nil {
		return nil, fmt.Errorf("discard letter files: %w", err)
	}
	batches, _ := res.RowsAffected()
	res, err = q.ExecContext(ctx, `UPDATE contact_responses SET summary = '' WHERE workspace_id = $1 AND contact_id = $2 AND summary <> ''`, ws, contactID)
	if err != nil {
		return nil, fmt.Errorf("blank response summaries: %w", err)
	}
	responses, _ := res.RowsAffected()
	return map[string]int{"letter_batch_files": int(batches), "response_summaries": int(responses)}, nil
}
