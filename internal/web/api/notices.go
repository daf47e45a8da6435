package api

import (
	"net/http"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/web"
)

func (a *API) listNotices(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	list, err := a.Notices.List(r.Context(), p.WorkspaceID, r.URL.Query().Get("kind"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"notices": list})
	return nil
}

func (a *API) createNotice(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		Kind     string `json:"kind"`
		Language string `json:"language"`
		Title    string `json:"title"`
		Body     string `json:"body"`
	}
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	actor := consent.Actor{TokenID: p.TokenID, UserID: p.UserID}.String()
	n, created, err := a.Notices.Create(r.Context(), p.WorkspaceID, actor, consent.NewNotice{Kind: in.Kind, Language: in.Language, Title: in.Title, Body: in.Body})
	if err != nil {
		return conflict(err)
	}
	w.Header().Set("Location", "/api/v1/notices/"+n.Hash)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	web.WriteJSON(w, status, n)
	return nil
}

func (a *API) getNotice(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	n, err := a.Notices.Get(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, n)
	return nil
}
