package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/web"
)

// Data subject requests, exports, erasure and retention belong to the
// data protection officer (and the admin).
var privacyRoles = adminOrDPO

func actorOf(p auth.Principal) consent.Actor {
	return consent.Actor{TokenID: p.TokenID, UserID: p.UserID}
}

func (a *API) listCases(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	lp := privacy.ListCases{Status: q.Get("status")}
	if s := q.Get("overdue"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return validate.Invalid("overdue", "overdue must be true or false")
		}
		lp.Overdue = b
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return validate.Invalid("limit", "limit must be a whole number from 1 to 500")
		}
		lp.Limit = n
	}
	cs, err := a.Privacy.Cases(r.Context(), p.WorkspaceID, lp)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"cases": cs})
	return nil
}

func (a *API) openCase(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in privacy.OpenCase
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	c, err := a.Privacy.Open(r.Context(), p.WorkspaceID, in, actorOf(p))
	if err != nil {
		return conflict(err)
	}
	w.Header().Set("Location", "/api/v1/dsr/"+c.ID)
	web.WriteJSON(w, http.StatusCreated, c)
	return nil
}

func (a *API) getCase(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, err := a.Privacy.Case(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) verifyCase(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	// An unknown case is 404 before the body is read.
	if _, err := a.Privacy.Case(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in struct {
		Method string `json:"method"`
		Lang   string `json:"lang"`
		Note   string `json:"note"`
	}
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	var c privacy.Case
	var err error
	if in.Method == "email_link" {
		c, err = a.Privacy.SendVerification(r.Context(), p.WorkspaceID, r.PathValue("id"), in.Lang, actorOf(p))
	} else {
		if in.Method == "" {
			return &validate.Error{Field: "method", Code: "required", Allowed: privacy.VerificationMethods,
				Message: "method is required: email_link sends a link to the confirmed address; in_person, signed_letter or other record a check done another way"}
		}
		c, err = a.Privacy.Verify(r.Context(), p.WorkspaceID, r.PathValue("id"), in.Method, in.Note, actorOf(p))
	}
	if err != nil {
		return conflict(err)
	}
	web.WriteJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) extendCase(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	// An unknown case is 404 before the body is read.
	if _, err := a.Privacy.Case(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in struct {
		Months int    `json:"months"`
		Reason string `json:"reason"`
	}
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	c, err := a.Privacy.Extend(r.Context(), p.WorkspaceID, r.PathValue("id"), in.Months, in.Reason, actorOf(p))
	if err != nil {
		return conflict(err)
	}
	web.WriteJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) completeCase(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	// An unknown case is 404 before the body is read.
	if _, err := a.Privacy.Case(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in struct {
		Outcome string `json:"outcome"`
		Note    string `json:"note"`
	}
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	c, err := a.Privacy.Complete(r.Context(), p.WorkspaceID, r.PathValue("id"), in.Outcome, in.Note, actorOf(p))
	if err != nil {
		return conflict(err)
	}
	web.WriteJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) exportContact(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	format, lang := q.Get("format"), q.Get("lang")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "html" {
		return validate.OneOf("format", format, []string{"json", "html"})
	}
	if lang != "" && lang != "de" && lang != "en" {
		return validate.OneOf("lang", lang, []string{"de", "en"})
	}
	x, err := a.Privacy.AccessExport(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	name := "fairlead-export-" + x.ContactID + "-" + x.GeneratedAt.Format(time.DateOnly)
	if format == "html" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Disposition", `inline; filename="`+name+`.html"`)
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		return x.WriteHTML(w, lang)
	}
	b, err := x.JSON()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.json"`)
	_, err = w.Write(b)
	return err
}

func (a *API) eraseContact(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	res, err := a.Privacy.Erase(r.Context(), p.WorkspaceID, r.PathValue("id"), actorOf(p))
	if err != nil {
		return conflict(err)
	}
	web.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) listRetentionPolicies(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ps, err := a.Privacy.Policies(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"policies": ps})
	return nil
}

func (a *API) setRetentionPolicy(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in privacy.PolicyUpdate
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	pol, err := a.Privacy.SetPolicy(r.Context(), p.WorkspaceID, r.PathValue("rule"), in, actorOf(p))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, pol)
	return nil
}

// maxPlanIDs bounds the contact IDs per rule in an API answer; the counts
// are always complete, and the CLI lists every ID.
const maxPlanIDs = 1000

func (a *API) retentionPlan(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	pl, err := a.Privacy.Plan(r.Context(), p.WorkspaceID, a.Now())
	if err != nil {
		return err
	}
	for i := range pl.Rules {
		if len(pl.Rules[i].ContactIDs) > maxPlanIDs {
			pl.Rules[i].ContactIDs = pl.Rules[i].ContactIDs[:maxPlanIDs]
		}
	}
	web.WriteJSON(w, http.StatusOK, pl)
	return nil
}
