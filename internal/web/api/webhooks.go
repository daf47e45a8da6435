package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/web"
	"github.com/fairlead/fairlead/internal/webhook"
)

// Connected systems: admins manage endpoints and redeliver; the DPO reads
// them, since they are the recipients an access request must name.

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	eps, err := a.Webhooks.Endpoints(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"webhooks": eps})
	return nil
}

// endpointWithSecret is the answer of create and rotate: the one time the
// secret is shown.
type endpointWithSecret struct {
	webhook.Endpoint
	Secret string `json:"secret"`
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in webhook.NewEndpoint
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	ep, secret, err := a.Webhooks.Create(r.Context(), p.WorkspaceID, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/webhooks/"+ep.ID)
	web.WriteJSON(w, http.StatusCreated, endpointWithSecret{ep, secret})
	return nil
}

func (a *API) getWebhook(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ep, err := a.Webhooks.Endpoint(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, ep)
	return nil
}

func (a *API) updateWebhook(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	// Existence first: an unknown ID is 404 whatever the body says.
	if _, err := a.Webhooks.Endpoint(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in webhook.EndpointUpdate
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	ep, err := a.Webhooks.Update(r.Context(), p.WorkspaceID, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, ep)
	return nil
}

func (a *API) rotateWebhookSecret(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ep, secret, err := a.Webhooks.RotateSecret(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, endpointWithSecret{ep, secret})
	return nil
}

func (a *API) listWebhookDeliveries(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	f := webhook.DeliveryFilter{State: q.Get("state"), Before: q.Get("before"), Limit: 50}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			return validate.Invalid("limit", "limit must be a whole number from 1 to 500")
		}
		f.Limit = n
	}
	ds, err := a.Webhooks.Deliveries(r.Context(), p.WorkspaceID, r.PathValue("id"), f)
	if err != nil {
		return err
	}
	var next any
	if len(ds) == f.Limit {
		next = ds[len(ds)-1].ID
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"deliveries": ds, "next_before": next})
	return nil
}

func (a *API) redeliverWebhook(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	d, err := a.Webhooks.Redeliver(r.Context(), p.WorkspaceID, r.PathValue("id"))
	switch {
	case errors.Is(err, webhook.ErrDeliveryPending):
		return &web.Error{Status: http.StatusConflict, Code: "delivery_pending",
			Message: "the delivery is still queued; it can be redelivered once it was delivered or is dead"}
	case errors.Is(err, webhook.ErrEndpointDisabled):
		return &web.Error{Status: http.StatusConflict, Code: "endpoint_disabled",
			Message: "the endpoint is disabled; enable it first"}
	case err != nil:
		return err
	}
	web.WriteJSON(w, http.StatusAccepted, d)
	return nil
}
