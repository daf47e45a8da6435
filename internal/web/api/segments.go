package api

import (
	"net/http"
	"strconv"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/web"
)

var segmentEditors = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleSales}

type segmentInput struct {
	Name   string       `json:"name"`
	Filter *lead.Filter `json:"filter"`
}

func (in segmentInput) filter() (lead.Filter, error) {
	if in.Filter == nil {
		return lead.Filter{}, validate.Required("filter")
	}
	return *in.Filter, nil
}

func (a *API) listSegments(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	sgs, err := a.Leads.Segments(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"segments": sgs})
	return nil
}

func (a *API) createSegment(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in segmentInput
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	f, err := in.filter()
	if err != nil {
		return err
	}
	sg, err := a.Leads.SaveSegment(r.Context(), p.WorkspaceID, "", leadActor(p), in.Name, f)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusCreated, sg)
	return nil
}

func (a *API) getSegment(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	sg, err := a.Leads.Segment(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, sg)
	return nil
}

func (a *API) updateSegment(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if _, err := a.Leads.Segment(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in segmentInput
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	f, err := in.filter()
	if err != nil {
		return err
	}
	sg, err := a.Leads.SaveSegment(r.Context(), p.WorkspaceID, r.PathValue("id"), leadActor(p), in.Name, f)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, sg)
	return nil
}

func (a *API) previewSegment(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		Filter *lead.Filter `json:"filter"`
	}
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	if in.Filter == nil {
		return validate.Required("filter")
	}
	n, err := a.Leads.Preview(r.Context(), p.WorkspaceID, *in.Filter)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"count": n})
	return nil
}

func (a *API) segmentMembers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	limit := 0
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return validate.Invalid("limit", "limit must be a number")
		}
		limit = n
	}
	ids, err := a.Leads.MemberPage(r.Context(), p.WorkspaceID, r.PathValue("id"), q.Get("after"), limit)
	if err != nil {
		return err
	}
	out := map[string]any{"contact_ids": ids}
	if limit == 0 {
		limit = 100
	}
	if len(ids) == limit {
		out["next_after"] = ids[len(ids)-1]
	}
	web.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) segmentFeedback(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	fb, err := a.Leads.SegmentFeedback(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, fb)
	return nil
}
