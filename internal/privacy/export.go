package privacy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
)

// ExportVersion is the version of the export's schema (docs/privacy.md).
const ExportVersion = 1

// Export is everything fairlead holds about one person (Art. 15, 20 GDPR).
// The JSON document and the HTML page are both rendered from it.
type Export struct {
	SchemaVersion int       `json:"schema_version"`
	GeneratedAt   time.Time `json:"generated_at"`
	WorkspaceID   string    `json:"workspace_id"`
	ContactID     string    `json:"contact_id"`
	// Status is active, restricted (kept for a retention duty only) or
	// erased (the personal data are gone; Remaining says what is left).
	Status string `json:"status"`
	// Contact is the record; null once erased.
	Contact *contact.Contact `json:"contact"`
	// Values are the profile values with provenance and history.
	Values []capture.Value `json:"values"`
	// Ledger is the consent ledger with its evidence.
	Ledger []consent.Event `json:"ledger"`
	// ConsentUses say when each consent was last relied on to send a
	// message (per purpose and channel).
	ConsentUses []ConsentUse `json:"consent_uses"`
	// DOIRequests are the double opt-in requests sent.
	DOIRequests []DOIRequest `json:"doi_requests"`
	// Messages are the copies kept in the outbox.
	Messages []Message `json:"messages"`
	// Jobs are the background jobs about the person (IDs only).
	Jobs []JobRef `json:"jobs"`
	// Recipients are the connected systems the data went to.
	Recipients []Recipient `json:"recipients"`
	// Cases are the person's data subject requests.
	Cases []Case `json:"cases"`
	// Suppressions are the entries that keep an objection or erasure in
	// force (keyed hashes, no address).
	Suppressions []Suppression `json:"suppressions"`
	// Erasure is the erasure or restriction record, if any.
	Erasure *ErasureRecord `json:"erasure"`
	// Remaining names what is still kept after an erasure, and why.
	Remaining []string `json:"remaining"`
	// More holds what the other parts of fairlead keep about the person,
	// one key per part (Service.Exporters): tracking events, lead score
	// and stage, supplier relations, imports, campaign messages.
	More map[string]any `json:"more"`
}

// ConsentUse is the last use of a consent (rules §9 log_consent_usage).
type ConsentUse struct {
	Purpose    string    `json:"purpose"`
	Channel    string    `json:"channel"`
	LastUsedAt time.Time `json:"last_used_at"`
	Source     string    `json:"source"`
}

// DOIRequest is a double opt-in request as exported.
type DOIRequest struct {
	ID          string     `json:"id"`
	Channel     string     `json:"channel"`
	Form        string     `json:"form"`
	FormVersion int        `json:"form_version"`
	Lang        string     `json:"lang"`
	Consents    string     `json:"consents"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	ConfirmedAt *time.Time `json:"confirmed_at"`
}

// Message is a kept copy of a message to the person.
type Message struct {
	ID        string    `json:"id"`
	Channel   string    `json:"channel"`
	To        string    `json:"to"`
	Subject   string    `json:"subject"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// JobRef is a background job about the person.
type JobRef struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
}

// Remaining items after an erasure.
const (
	RemainingLedger      = "ledger_events"
	RemainingSuppression = "suppressions"
	RemainingErasure     = "erasure_record"
	RemainingCases       = "cases"
	RemainingRecord      = "contact_record"
)

// AccessExport collects what fairlead holds about a contact. An unknown
// contact is store.ErrNotFound; an erased one is a valid export with status
// erased that lists what remains.
func (s *Service) AccessExport(ctx context.Context, ws, contactID string) (*Export, error) {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return nil, store.ErrNotFound
	}
	ws, contactID = strings.ToLower(ws), strings.ToLower(contactID)
	c, err := s.Contacts.Get(ctx, ws, contactID)
	if err != nil {
		return nil, err
	}
	x := &Export{SchemaVersion: ExportVersion, GeneratedAt: s.now(), WorkspaceID: ws, ContactID: contactID, Status: "active",
		Values: []capture.Value{}, ConsentUses: []ConsentUse{}, DOIRequests: []DOIRequest{}, Messages: []Message{}, Jobs: []JobRef{}, Cases: []Case{}, Remaining: []string{}}
	if !c.Erased {
		x.Contact = &c
	}
	if x.Erasure, err = s.erasureRecord(ctx, s.DB.R, ws, contactID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	switch {
	case c.Erased:
		x.Status = "erased"
		x.Remaining = []string{RemainingLedger, RemainingSuppression, RemainingErasure, RemainingCases}
	case x.Erasure != nil && x.Erasure.Status == "restricted":
		x.Status = "restricted"
		x.Remaining = []string{RemainingRecord, RemainingLedger, RemainingSuppression, RemainingErasure, RemainingCases}
	}
	if !c.Erased {
		if x.Values, err = s.Capture.Values(ctx, ws, contactID); err != nil && !errors.Is(err, keyring.ErrShredded) {
			return nil, err
		}
		if x.Values == nil {
			x.Values = []capture.Value{}
		}
	}
	if x.Ledger, err = s.Ledger.Events(ctx, ws, contactID, true); err != nil {
		return nil, err
	}
	if err := s.consentUses(ctx, x); err != nil {
		return nil, err
	}
	reqIDs, err := s.doiRequests(ctx, x)
	if err != nil {
		return nil, err
	}
	if !c.Erased {
		if err := s.messages(ctx, x); err != nil {
			return nil, err
		}
	}
	if x.Jobs, err = s.jobsAbout(ctx, ws, contactID, reqIDs); err != nil {
		return nil, err
	}
	if x.Recipients, err = s.recipients(ctx, ws, contactID); err != nil {
		return nil, fmt.Errorf("recipients: %w", err)
	}
	if x.Cases, err = s.casesOf(ctx, ws, contactID); err != nil {
		return nil, err
	}
	var sup []Suppression
	if sup, err = s.suppressionsOf(ctx, ws, contactID); err != nil {
		return nil, err
	}
	x.Suppressions = sup
	x.More = map[string]any{}
	for _, e := range s.Exporters {
		v, err := e.Export(ctx, s.DB.R, ws, contactID)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", e.Key, err)
		}
		x.More[e.Key] = v
	}
	return x, nil
}

func (s *Service) doiRequests(ctx context.Context, x *Export) ([]string, error) {
	rows, err := s.DB.R.QueryContext(ctx, `SELECT id, channel, form_key, form_version, lang, consents, created_at, expires_at, confirmed_at
		FROM doi_requests WHERE workspace_id = $1 AND contact_id = $2 ORDER BY created_at, id`, x.WorkspaceID, x.ContactID)
	if err != nil {
		return nil, fmt.Errorf("read double opt-in requests: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var r DOIRequest
		var conf *time.Time
		if err := rows.Scan(&r.ID, &r.Channel, &r.Form, &r.FormVersion, &r.Lang, &r.Consents, &r.CreatedAt, &r.ExpiresAt, &conf); err != nil {
			return nil, err
		}
		r.ID = strings.ToLower(r.ID)
		r.CreatedAt, r.ExpiresAt, r.ConfirmedAt = r.CreatedAt.UTC(), r.ExpiresAt.UTC(), utcPtr(conf)
		x.DOIRequests = append(x.DOIRequests, r)
		ids = append(ids, r.ID)
	}
	return ids, rows.Err()
}

func (s *Service) messages(ctx context.Context, x *Export) error {
	rows, err := s.DB.R.QueryContext(ctx, `SELECT id, channel, recipient, subject, body, created_at FROM outbox_messages
		WHERE workspace_id = $1 AND contact_id = $2 ORDER BY created_at, id`, x.WorkspaceID, x.ContactID)
	if err != nil {
		return fmt.Errorf("read outbox: %w", err)
	}
	type raw struct {
		m          Message
		to, su, bo []byte
	}
	var rs []raw
	for rows.Next() {
		var r raw
		if err := rows.Scan(&r.m.ID, &r.m.Channel, &r.to, &r.su, &r.bo, &r.m.CreatedAt); err != nil {
			rows.Close()
			return err
		}
		r.m.ID, r.m.CreatedAt = strings.ToLower(r.m.ID), r.m.CreatedAt.UTC()
		rs = append(rs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(rs) == 0 {
		return err
	}
	op, err := s.keys().Opener(ctx, x.WorkspaceID, x.ContactID)
	if errors.Is(err, keyring.ErrShredded) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, r := range rs {
		for _, f := range []struct {
			dst *string
			b   []byte
		}{{&r.m.To, r.to}, {&r.m.Subject, r.su}, {&r.m.Body, r.bo}} {
			pt, err := op.Open(f.b)
			if err != nil {
				return fmt.Errorf("open outbox message %s: %w", r.m.ID, err)
			}
			*f.dst = string(pt)
		}
		x.Messages = append(x.Messages, r.m)
	}
	return nil
}

// jobsAbout finds jobs whose arguments name the contact or one of its
// double opt-in requests. Job arguments hold IDs only.
func (s *Service) jobsAbout(ctx context.Context, ws, contactID string, reqIDs []string) ([]JobRef, error) {
	out := []JobRef{}
	needles := append([]string{contactID}, reqIDs...)
	seen := map[string]bool{}
	for _, n := range needles {
		rows, err := s.DB.R.QueryContext(ctx, `SELECT id, kind, state, created_at FROM jobs WHERE workspace_id = $1 AND args LIKE $2 ORDER BY created_at, id`,
			ws, `%"`+n+`"%`)
		if err != nil {
			return nil, fmt.Errorf("read jobs: %w", err)
		}
		for rows.Next() {
			var j JobRef
			if err := rows.Scan(&j.ID, &j.Kind, &j.State, &j.CreatedAt); err != nil {
				rows.Close()
				return nil, err
			}
			j.ID, j.CreatedAt = strings.ToLower(j.ID), j.CreatedAt.UTC()
			if !seen[j.ID] {
				seen[j.ID] = true
				out = append(out, j)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Service) suppressionsOf(ctx context.Context, ws, contactID string) ([]Suppression, error) {
	out := []Suppression{}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT kind, blind_index, reason, contact_id, created_at FROM suppressions WHERE workspace_id = $1 AND contact_id = $2 ORDER BY kind`, ws, contactID)
	if err != nil {
		return nil, fmt.Errorf("read suppressions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var x Suppression
		if err := rows.Scan(&x.Kind, &x.BlindIndex, &x.Reason, &x.ContactID, &x.CreatedAt); err != nil {
			return nil, err
		}
		x.ContactID, x.CreatedAt = strings.ToLower(x.ContactID), x.CreatedAt.UTC()
		out = append(out, x)
	}
	return out, rows.Err()
}

// JSON renders the export as an indented JSON document.
func (x *Export) JSON() ([]byte, error) {
	return json.MarshalIndent(x, "", "  ")
}

func (s *Service) consentUses(ctx context.Context, x *Export) error {
	rows, err := s.DB.R.QueryContext(ctx, `SELECT purpose, channel, last_used_at, source FROM consent_uses WHERE workspace_id = $1 AND contact_id = $2
		ORDER BY purpose, channel`, x.WorkspaceID, x.ContactID)
	if err != nil {
		return fmt.Errorf("consent uses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u ConsentUse
		if err := rows.Scan(&u.Purpose, &u.Channel, &u.LastUsedAt, &u.Source); err != nil {
			return err
		}
		u.LastUsedAt = u.LastUsedAt.UTC()
		x.ConsentUses = append(x.ConsentUses, u)
	}
	return rows.Err()
}
