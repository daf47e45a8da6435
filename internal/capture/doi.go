package capture

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fairlead/fairlead/internal/capture/token"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
)

// maxCodeAttempts bounds wrong SMS codes per request; a new request (and
// code) is needed after that.
const maxCodeAttempts = 5

// maxRequestsPerDay bounds double opt-in messages per contact and channel,
// so a resend button cannot be turned into a mail bomb.
const maxRequestsPerDay = 5

type doiRequest struct {
	ID, WorkspaceID, ContactID, Channel, FormKey, Lang string
	FormVersion                                        int
	Consents                                           []requested
	Attempts                                           int
	CreatedAt, ExpiresAt                               time.Time
	ConfirmedAt                                        *time.Time
}

func (s *Service) request(ctx context.Context, q store.Querier, ws, reqID string) (doiRequest, error) {
	var r doiRequest
	var cj string
	var conf *time.Time
	err := q.QueryRowContext(ctx, `SELECT id, workspace_id, contact_id, channel, form_key, form_version, lang, consents, attempts, created_at, expires_at, confirmed_at
		FROM doi_requests WHERE workspace_id = $1 AND id = $2`, ws, reqID).
		Scan(&r.ID, &r.WorkspaceID, &r.ContactID, &r.Channel, &r.FormKey, &r.FormVersion, &r.Lang, &cj, &r.Attempts, &r.CreatedAt, &r.ExpiresAt, &conf)
	if errors.Is(err, sql.ErrNoRows) {
		return r, store.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("read double opt-in request: %w", err)
	}
	if err := json.Unmarshal([]byte(cj), &r.Consents); err != nil {
		return r, err
	}
	r.CreatedAt, r.ExpiresAt = r.CreatedAt.UTC(), r.ExpiresAt.UTC()
	if conf != nil {
		t := conf.UTC()
		r.ConfirmedAt = &t
	}
	return r, nil
}

// Confirmation is what the confirmation page shows.
type Confirmation struct {
	Form             Form
	Lang             string
	AlreadyConfirmed bool
	// Token is the link's token, for the page's POST.
	Token string
}

// confirmLink resolves a confirmation link without changing anything.
func (s *Service) confirmLink(ctx context.Context, tok string) (doiRequest, error) {
	t, err := token.Parse(s.Keys, token.Confirm, tok, s.now())
	switch {
	case errors.Is(err, token.ErrExpired):
		return doiRequest{WorkspaceID: t.Workspace, ID: t.Subject}, ErrLinkExpired
	case err != nil:
		return doiRequest{}, ErrLinkInvalid
	}
	r, err := s.request(ctx, s.DB.R, t.Workspace, t.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return r, ErrLinkInvalid
	}
	return r, err
}

// CheckLink is the GET of a confirmation link: it never confirms (mail
// scanners open links), it only tells the page what to show.
func (s *Service) CheckLink(ctx context.Context, tok string) (Confirmation, error) {
	r, err := s.confirmLink(ctx, tok)
	if err != nil {
		return Confirmation{Lang: r.Lang}, err
	}
	f, err := s.formFor(ctx, r)
	if err != nil {
		return Confirmation{}, err
	}
	return Confirmation{Form: f, Lang: r.Lang, AlreadyConfirmed: r.ConfirmedAt != nil, Token: tok}, nil
}

func (s *Service) formFor(ctx context.Context, r doiRequest) (Form, error) {
	f, err := s.Form(ctx, r.WorkspaceID, r.FormKey)
	if err != nil {
		return Form{}, fmt.Errorf("form of request: %w", err)
	}
	if f.Version != r.FormVersion {
		if d, err := s.FormVersion(ctx, r.WorkspaceID, r.FormKey, r.FormVersion); err == nil {
			f.Definition, f.Version = d, r.FormVersion
		}
	}
	return f, nil
}

// Confirm is the POST of a confirmation link: every consent of the request
// is recorded as confirmed (time, method, user agent; IP as configured) in
// one transaction with the welcome message. A second confirmation is
// harmless and changes nothing.
func (s *Service) Confirm(ctx context.Context, tok string, m Meta) (Confirmation, error) {
	r, err := s.confirmLink(ctx, tok)
	if err != nil {
		return Confirmation{Lang: r.Lang}, err
	}
	if r.Channel != "email" {
		return Confirmation{Lang: r.Lang}, ErrLinkInvalid
	}
	return s.confirm(ctx, r, tok, "email_link", m)
}

func (s *Service) confirm(ctx context.Context, r doiRequest, tok, method string, m Meta) (Confirmation, error) {
	f, err := s.formFor(ctx, r)
	if err != nil {
		return Confirmation{}, err
	}
	set, err := s.Settings.Effective(ctx, r.WorkspaceID)
	if err != nil {
		return Confirmation{}, err
	}
	out := Confirmation{Form: f, Lang: r.Lang, Token: tok}
	now := s.now()
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		// Re-read inside the writing transaction: two clicks at once confirm once.
		cur, err := s.request(ctx, tx, r.WorkspaceID, r.ID)
		if err != nil {
			return err
		}
		if cur.ConfirmedAt != nil {
			out.AlreadyConfirmed = true
			return nil
		}
		if !now.Before(cur.ExpiresAt) {
			return ErrLinkExpired
		}
		source := fmt.Sprintf("form:%s@%d", cur.FormKey, cur.FormVersion)
		for _, c := range cur.Consents {
			ev := consent.NewEvent{Kind: consent.KindConsentConfirmed, Purpose: c.Purpose, Channels: c.Channels, OccurredAt: &now,
				Details:  consent.Details{Verification: verification(c.Channels[0]), CollectedBy: "self"},
				Evidence: consent.EvidenceInput{Source: source, ConfirmationMethod: method, ConfirmedAt: &now, UserAgent: trim(m.UserAgent, 500)}}
			if set.RecordIP {
				ev.Evidence.IPAddress = m.IP
			}
			if _, err := s.Ledger.Append(ctx, tx, cur.WorkspaceID, cur.ContactID, ev, consent.Actor{}); err != nil {
				if errors.Is(err, store.ErrConflict) {
					// The address changed since the sign-up: this link cannot
					// confirm the new one.
					return ErrLinkInvalid
				}
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE doi_requests SET confirmed_at = $3 WHERE workspace_id = $1 AND id = $2`, cur.WorkspaceID, cur.ID, now); err != nil {
			return err
		}
		_, err = s.Jobs.Enqueue(ctx, tx, jobs.EnqueueParams{WorkspaceID: cur.WorkspaceID, Kind: JobSendWelcome,
			Args: jobArgs{Request: cur.ID}, UniqueKey: "welcome:" + cur.ID})
		return err
	})
	if err != nil {
		return Confirmation{Form: f, Lang: r.Lang}, err
	}
	return out, nil
}

// ConfirmCode checks an SMS code for the request the code page's token
// names. Wrong codes count; after maxCodeAttempts the request is locked.
func (s *Service) ConfirmCode(ctx context.Context, tok, code string, m Meta) (Confirmation, error) {
	r, err := s.confirmLink(ctx, tok)
	if err != nil {
		return Confirmation{Lang: r.Lang}, err
	}
	if r.Channel != "sms" {
		return Confirmation{Lang: r.Lang}, ErrLinkInvalid
	}
	if r.ConfirmedAt != nil {
		return s.confirm(ctx, r, tok, "sms_code", m)
	}
	if r.Attempts >= maxCodeAttempts {
		return Confirmation{Lang: r.Lang}, ErrCodeLocked
	}
	if subtle.ConstantTimeCompare([]byte(code), []byte(s.smsCode(r.WorkspaceID, r.ID))) != 1 {
		var attempts int
		err := s.DB.Tx(ctx, func(tx store.Tx) error {
			return tx.QueryRowContext(ctx, `UPDATE doi_requests SET attempts = attempts + 1 WHERE workspace_id = $1 AND id = $2 RETURNING attempts`, r.WorkspaceID, r.ID).Scan(&attempts)
		})
		if err != nil {
			return Confirmation{Lang: r.Lang}, err
		}
		if attempts >= maxCodeAttempts {
			return Confirmation{Lang: r.Lang, Token: tok}, ErrCodeLocked
		}
		return Confirmation{Lang: r.Lang, Token: tok}, ErrCodeWrong
	}
	return s.confirm(ctx, r, tok, "sms_code", m)
}

// Resend makes a new request with the same consents for an expired (or
// still open) link and sends it. An invalid link, a confirmed request or
// too many requests send nothing; the page says the same in every case.
// For an SMS request it returns the token of the new code page (the new
// code belongs to the new request).
func (s *Service) Resend(ctx context.Context, tok string) (lang, codeToken string, err error) {
	r, err := s.confirmLink(ctx, tok)
	if errors.Is(err, ErrLinkInvalid) {
		return r.Lang, "", nil
	}
	if errors.Is(err, ErrLinkExpired) {
		if r, err = s.request(ctx, s.DB.R, r.WorkspaceID, r.ID); errors.Is(err, store.ErrNotFound) {
			return "", "", nil
		}
	}
	if err != nil {
		return r.Lang, "", err
	}
	if r.ConfirmedAt != nil {
		return r.Lang, "", nil
	}
	f, err := s.formFor(ctx, r)
	if err != nil {
		return r.Lang, "", err
	}
	set, err := s.Settings.Effective(ctx, r.WorkspaceID)
	if err != nil {
		return r.Lang, "", err
	}
	ttl := time.Duration(set.DOIDays) * 24 * time.Hour
	if r.Channel == "sms" {
		ttl = time.Duration(set.SMSCodeMinutes) * time.Minute
	}
	now := s.now()
	var reqID string
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		var err error
		reqID, err = s.newRequest(ctx, tx, nil, r.WorkspaceID, r.ContactID, r.Channel, f, r.Lang, r.Consents, now, ttl, false)
		return err
	})
	if err != nil || reqID == "" || r.Channel != "sms" {
		return r.Lang, "", err
	}
	codeToken, err = token.Sign(s.Keys, token.Token{Kind: token.Confirm, Workspace: r.WorkspaceID, Subject: reqID, Expires: now.Add(ttl)})
	return r.Lang, codeToken, err
}
