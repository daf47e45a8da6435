package api

import (
	"net/http"
	"strconv"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/policy/policyjson"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/web"
)

var (
	// Scoring rules are defined jointly by marketing and sales.
	scoringEditors = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleSales}
	leadReaders    = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleSales, auth.RoleDPO}
	salesRoles     = []auth.Role{auth.RoleAdmin, auth.RoleSales}
	sensitiveRoles = []auth.Role{auth.RoleAdmin, auth.RoleDPO}
)

func leadActor(p auth.Principal) string {
	if p.UserID != "" {
		return "user:" + p.UserID
	}
	return "token:" + p.TokenID
}

func (a *API) getScoringRules(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	rs, err := a.Leads.ActiveRules(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, rs)
	return nil
}

func (a *API) putScoringRules(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	b, err := web.ReadBody(r)
	if err != nil {
		return err
	}
	rules, err := lead.ParseRules(b)
	if err != nil {
		return err
	}
	rs, created, err := a.Leads.SaveRules(r.Context(), p.WorkspaceID, leadActor(p), rules)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		// Scores follow the new version once recomputed: queue it, so an
		// operator does not have to remember.
		if _, err := a.Leads.EnqueueRecompute(r.Context(), p.WorkspaceID, rs.Version); err != nil {
			return err
		}
	}
	web.WriteJSON(w, status, rs)
	return nil
}

func (a *API) listScoringVersions(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	vs, err := a.Leads.RuleSetVersions(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"versions": vs})
	return nil
}

func (a *API) getScoringVersion(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	v, err := strconv.Atoi(r.PathValue("version"))
	if err != nil {
		return validate.Invalid("version", "version must be a number")
	}
	rs, err := a.Leads.RuleSetVersion(r.Context(), p.WorkspaceID, v)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, rs)
	return nil
}

func (a *API) recomputeScores(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	st, err := a.Leads.Recompute(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, st)
	return nil
}

func (a *API) contactScore(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	lang := r.URL.Query().Get("lang")
	if lang != "" && lang != "de" && lang != "en" {
		return validate.OneOf("lang", lang, []string{"de", "en"})
	}
	h, err := a.Leads.ScoreHistory(r.Context(), p.WorkspaceID, r.PathValue("id"), lang, 0)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, h)
	return nil
}

func (a *API) contactLead(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	st, err := a.Leads.LeadState(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	ts, err := a.Leads.Transitions(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"state": st, "transitions": ts})
	return nil
}

func (a *API) moveStage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	// An unknown contact is a 404 before the body is read.
	if _, err := a.Leads.LeadState(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in struct {
		Stage  string `json:"stage"`
		Reason string `json:"reason"`
	}
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	st, err := a.Leads.Move(r.Context(), p.WorkspaceID, r.PathValue("id"), p.Role, leadActor(p), in.Stage, in.Reason)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, st)
	return nil
}

type salesChannel struct {
	Purpose string `json:"purpose"`
	Kind    string `json:"kind"`
	Channel string `json:"channel"`
	policyjson.Output
}

func (a *API) salesLeads(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	f := lead.SalesFilter{Owner: q.Get("owner")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return validate.Invalid("limit", "limit must be a number")
		}
		f.Limit = n
	}
	if q.Get("mine") == "true" && p.UserID != "" {
		f.Owner = p.UserID
	}
	leads, err := a.Leads.SalesLeads(r.Context(), p.WorkspaceID, f)
	if err != nil {
		return err
	}
	type item struct {
		lead.State
		// Channels are the purposes and channels the engine allows now;
		// Blocked the others, each with its reasons and legal references.
		Channels []salesChannel `json:"channels"`
		Blocked  []salesChannel `json:"blocked"`
	}
	out := make([]item, 0, len(leads))
	for _, l := range leads {
		it := item{State: l.State, Channels: []salesChannel{}, Blocked: []salesChannel{}}
		for _, c := range l.Cells {
			sc := salesChannel{Purpose: c.Purpose, Kind: c.Kind, Channel: c.Channel, Output: policyjson.NewOutput(c.Decision)}
			if c.Decision.Allowed {
				it.Channels = append(it.Channels, sc)
			} else {
				it.Blocked = append(it.Blocked, sc)
			}
		}
		out = append(out, it)
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"leads": out})
	return nil
}

func (a *API) getSensitive(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	fl, err := a.Leads.Flags(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"flags": fl})
	return nil
}

func (a *API) putSensitive(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		Flags []lead.Flag `json:"flags"`
	}
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	if in.Flags == nil {
		return validate.Required("flags")
	}
	fl, err := a.Leads.SetFlags(r.Context(), p.WorkspaceID, in.Flags)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"flags": fl})
	return nil
}

func (a *API) sensitiveReport(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	rep, err := a.Leads.Report(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"touches": rep})
	return nil
}
