package api

import (
	"net/http"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/web"
)

// parseWhen reads a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time.
func parseWhen(field, s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, validate.Invalid(field, field+" must be a date (2026-12-01) or an RFC 3339 time")
}

// analytics is the dashboard's data: counts only, never a person.
func (a *API) analytics(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	now := a.Now().UTC()
	to, err := parseWhen("to", q.Get("to"), now)
	if err != nil {
		return err
	}
	from, err := parseWhen("from", q.Get("from"), to.AddDate(0, 0, -30))
	if err != nil {
		return err
	}
	rep, err := a.Analytics.Report(r.Context(), p.WorkspaceID, from, to, q.Get("bucket"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, rep)
	return nil
}
