package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/campaign"
	"github.com/fairlead/fairlead/internal/web"
)

// E-mail campaigns: marketing builds and sends them; the DPO reads them
// (what went to whom on which purpose) and the reports.
var (
	campaignEditors = []auth.Role{auth.RoleAdmin, auth.RoleMarketing}
	campaignReaders = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleDPO}
)

func (a *API) listCampaigns(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	cs, err := a.Campaigns.List(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"campaigns": cs})
	return nil
}

func (a *API) createCampaign(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in campaign.Input
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	c, err := a.Campaigns.Create(r.Context(), p.WorkspaceID, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/campaigns/"+c.ID)
	web.WriteJSON(w, http.StatusCreated, c)
	return nil
}

func (a *API) getCampaign(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, err := a.Campaigns.Get(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, c)
	return nil
}

// updateCampaign replaces a draft. Once scheduled, the audience was
// resolved against these settings and steps, so the answer says that only
// a draft changes and what the campaign is now.
func (a *API) updateCampaign(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	cur, err := a.Campaigns.Get(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	var in campaign.Input
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	c, err := a.Campaigns.UpdateDraft(r.Context(), p.WorkspaceID, cur.ID, in)
	if errors.Is(err, campaign.ErrState) {
		if now, gerr := a.Campaigns.Get(r.Context(), p.WorkspaceID, cur.ID); gerr == nil {
			cur = now
		}
		return web.Errorf(http.StatusConflict, "campaign_state", "only a draft campaign can be changed; this one is "+cur.Status)
	}
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) scheduleCampaign(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if _, err := a.Campaigns.Get(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in struct {
		StartsAt *time.Time `json:"starts_at"`
	}
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	var at time.Time
	if in.StartsAt != nil {
		at = *in.StartsAt
	}
	c, n, err := a.Campaigns.Schedule(r.Context(), p.WorkspaceID, r.PathValue("id"), at)
	if err != nil {
		return stateErr(err)
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"campaign": c, "recipients": n})
	return nil
}

// stateErr says which change the campaign's status refused.
func stateErr(err error) error {
	if errors.Is(err, campaign.ErrState) {
		return web.Errorf(http.StatusConflict, "campaign_state", "the campaign's status does not allow this (schedule: draft only; pause: scheduled or running; resume: paused)")
	}
	return err
}

func (a *API) pauseCampaign(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return a.campaignStatus(w, r, p, a.Campaigns.Pause)
}

func (a *API) resumeCampaign(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return a.campaignStatus(w, r, p, a.Campaigns.Resume)
}

func (a *API) campaignStatus(w http.ResponseWriter, r *http.Request, p auth.Principal, change func(ctx context.Context, ws, id string) error) error {
	if err := change(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return stateErr(err)
	}
	c, err := a.Campaigns.Get(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, c)
	return nil
}

type stepTarget struct {
	Step      int    `json:"step"`
	ContactID string `json:"contact_id"`
	To        string `json:"to"`
}

func (a *API) previewCampaign(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if _, err := a.Campaigns.Get(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in stepTarget
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	out, err := a.Campaigns.Preview(r.Context(), p.WorkspaceID, r.PathValue("id"), in.Step, in.ContactID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) testCampaign(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if _, err := a.Campaigns.Get(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in stepTarget
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	if err := a.Campaigns.TestSend(r.Context(), p.WorkspaceID, r.PathValue("id"), in.Step, in.To, in.ContactID); err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusAccepted, map[string]any{"sent": true, "test": true})
	return nil
}

func (a *API) campaignReport(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	rep, err := a.Campaigns.Report(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, rep)
	return nil
}

func (a *API) campaignNotificationSecret(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	web.WriteJSON(w, http.StatusOK, map[string]any{
		"secret":    a.Campaigns.WebhookSecret(p.WorkspaceID),
		"path":      "/p/mail/notifications/" + p.WorkspaceID,
		"signature": "X-Fairlead-Signature: sha256=<hex HMAC-SHA256 of the body under the secret>",
	})
	return nil
}
