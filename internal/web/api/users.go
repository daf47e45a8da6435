package api

import (
	"net/http"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/web"
	"github.com/fairlead/fairlead/internal/workspace"
)

func (a *API) me(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ws, err := workspace.ByID(r.Context(), a.DB.R, p.WorkspaceID)
	if err != nil {
		return err
	}
	tok, err := a.Auth.Token(r.Context(), p.WorkspaceID, p.TokenID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"workspace": ws, "role": p.Role, "token": tok})
	return nil
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	us, err := a.Auth.Users(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"users": us})
	return nil
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		Email    string `json:"email"`
		Name     string `json:"name"`
		Role     string `json:"role"`
		Password string `json:"password"`
	}
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	u, err := a.Auth.CreateUser(r.Context(), p.WorkspaceID, auth.NewUser{Email: in.Email, Name: in.Name, Role: in.Role, Password: in.Password})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/users/"+u.ID)
	web.WriteJSON(w, http.StatusCreated, u)
	return nil
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	u, err := a.Auth.User(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, u)
	return nil
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		Role     *string `json:"role"`
		Name     *string `json:"name"`
		Disabled *bool   `json:"disabled"`
	}
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	u, err := a.Auth.UpdateUser(r.Context(), p.WorkspaceID, r.PathValue("id"), auth.UserUpdate{Role: in.Role, Name: in.Name, Disabled: in.Disabled})
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, u)
	return nil
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ts, err := a.Auth.Tokens(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"tokens": ts})
	return nil
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	t, secret, err := a.Auth.CreateToken(r.Context(), p.WorkspaceID, in.Name, in.Role)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/tokens/"+t.ID)
	web.WriteJSON(w, http.StatusCreated, struct {
		auth.Token
		Secret string `json:"secret"`
	}{t, secret})
	return nil
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := a.Auth.RevokeToken(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
