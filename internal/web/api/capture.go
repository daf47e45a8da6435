package api

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/capture/form"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/web"
)

var (
	formEditors   = []auth.Role{auth.RoleAdmin, auth.RoleMarketing}
	outboxReaders = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleDPO}
)

// readForm decodes a form definition strictly (unknown fields are errors
// naming their path).
func readForm(r *http.Request) (form.Definition, error) {
	b, err := web.ReadBody(r)
	if err != nil {
		return form.Definition{}, err
	}
	return form.Decode(bytes.NewReader(b))
}

// lintError answers a form the lint refused: 422 with every finding.
func lintError(w http.ResponseWriter, le *capture.LintError) {
	type finding struct {
		Code    string `json:"code"`
		Field   string `json:"field"`
		Message string `json:"message"`
		Ref     string `json:"ref"`
	}
	fs := make([]finding, 0, len(le.Findings))
	for _, f := range le.Findings {
		fs = append(fs, finding{f.Code, f.Field, f.Message, f.Ref})
	}
	web.WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": map[string]any{
		"code": "form_lint", "message": le.Error(), "field": fs[0].Field, "findings": fs}})
}

func (a *API) listForms(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	fs, err := a.Capture.Forms(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"forms": fs})
	return nil
}

func (a *API) saveForm(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	d, err := readForm(r)
	if err != nil {
		return err
	}
	if k := r.PathValue("key"); k != "" && k != d.Key {
		return web.Errorf(http.StatusBadRequest, "invalid", "key in the body ("+d.Key+") differs from the key in the path ("+k+")")
	}
	actor := consent.Actor{TokenID: p.TokenID, UserID: p.UserID}.String()
	f, created, err := a.Capture.SaveForm(r.Context(), p.WorkspaceID, actor, d)
	var le *capture.LintError
	if errors.As(err, &le) {
		lintError(w, le)
		return nil
	}
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/forms/"+f.Key)
	status := http.StatusOK
	if created && f.Version == 1 {
		status = http.StatusCreated
	}
	web.WriteJSON(w, status, f)
	return nil
}

func (a *API) lintForm(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	d, err := readForm(r)
	if err != nil {
		return err
	}
	fs, err := a.Capture.CheckForm(r.Context(), p.WorkspaceID, d)
	if err != nil {
		return err
	}
	if fs == nil {
		fs = []form.Finding{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"findings": fs})
	return nil
}

func (a *API) getForm(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, err := a.Capture.Form(r.Context(), p.WorkspaceID, r.PathValue("key"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, f)
	return nil
}

func (a *API) getFormVersion(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	v, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || v < 1 {
		return web.Errorf(http.StatusBadRequest, "invalid", "version must be a positive whole number")
	}
	d, err := a.Capture.FormVersion(r.Context(), p.WorkspaceID, r.PathValue("key"), v)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"key": d.Key, "version": v, "definition": d})
	return nil
}

func (a *API) listOutbox(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	limit := 50
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return web.Errorf(http.StatusBadRequest, "invalid", "limit must be 1 to 500")
		}
		limit = n
	}
	items, err := a.Outbox.List(r.Context(), p.WorkspaceID, limit, r.URL.Query().Get("before"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"messages": items})
	return nil
}

func (a *API) getOutbox(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	it, err := a.Outbox.Get(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, it)
	return nil
}

func (a *API) getSettings(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	s, err := a.Settings.Get(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, s)
	return nil
}

func (a *API) updateSettings(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var up capture.SettingsUpdate
	if err := web.DecodeJSON(r, &up); err != nil {
		return err
	}
	s, err := a.Settings.Update(r.Context(), p.WorkspaceID, up, a.CheckGatewayURL)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, s)
	return nil
}

func (a *API) contactValues(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	vs, err := a.Capture.Values(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil {
		return err
	}
	if vs == nil {
		if _, err := a.Contacts.Get(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
			return err
		}
		vs = []capture.Value{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"values": vs})
	return nil
}

// formSnippet is the embed snippet of a form: its HTML with the script
// that posts it to the hosted endpoint. The embedding page's origin must be
// in the form's allowed_origins for the browser to read the answer.
func (a *API) formSnippet(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, err := a.Capture.Form(r.Context(), p.WorkspaceID, r.PathValue("key"))
	if err != nil {
		return err
	}
	lang := r.URL.Query().Get("lang")
	html, err := a.Capture.Snippet(r.Context(), f, lang)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"key": f.Key, "html": html, "allowed_origins": f.Definition.AllowedOrigins})
	return nil
}
