package api

import (
	"net/http"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/web"
)

// The catalogue is read by everyone; it is extended by those who design
// processing (marketing) and those who answer for it (admin, dpo).
var catalogEditors = []auth.Role{auth.RoleAdmin, auth.RoleDPO, auth.RoleMarketing}

func (a *API) listPurposes(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	list, err := a.Purposes.List(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"purposes": list})
	return nil
}

func (a *API) createPurpose(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		Key            string   `json:"key"`
		Kind           string   `json:"kind"`
		DescriptionDE  string   `json:"description_de"`
		DescriptionEN  string   `json:"description_en"`
		DataCategories []string `json:"data_categories"`
		Channels       []string `json:"channels"`
	}
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	x, err := a.Purposes.Create(r.Context(), p.WorkspaceID, consent.NewPurpose{Key: in.Key, Kind: in.Kind, DescriptionDE: in.DescriptionDE,
		DescriptionEN: in.DescriptionEN, DataCategories: in.DataCategories, Channels: in.Channels})
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusCreated, x)
	return nil
}
