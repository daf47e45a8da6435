package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/web"
)

// Who may see and change contacts: viewers see configuration and figures,
// not people. DPOs may rectify (Art. 16) but do not capture leads.
var (
	contactReaders  = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleSales, auth.RoleDPO}
	contactCreators = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleSales}
	contactEditors  = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleSales, auth.RoleDPO}
)

// conflict turns the domain's conflict errors into 409 answers that say
// what collided.
func conflict(err error) error {
	var ce *consent.ConflictError
	if errors.As(err, &ce) {
		return &web.Error{Status: http.StatusConflict, Code: ce.Code, Message: ce.Message, Field: ce.Field}
	}
	var de *contact.DuplicateError
	if errors.As(err, &de) {
		return &web.Error{Status: http.StatusConflict, Code: "duplicate", Field: de.Field,
			Message: "another contact (" + de.ContactID + ") in this workspace has this " + de.Field}
	}
	return err
}

type contactBody struct {
	FirstName    *string          `json:"first_name"`
	LastName     *string          `json:"last_name"`
	Organization *string          `json:"organization"`
	Audience     *string          `json:"audience"`
	Relationship *string          `json:"relationship"`
	DataSource   *string          `json:"data_source"`
	Email        *string          `json:"email"`
	Phone        *string          `json:"phone"`
	Address      *contact.Address `json:"address"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (a *API) createContact(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in contactBody
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	if in.Audience == nil {
		return &validate.Error{Field: "audience", Code: "required", Allowed: contact.Audiences, Message: "audience is required: b2c or b2b"}
	}
	if in.Relationship == nil {
		return &validate.Error{Field: "relationship", Code: "required", Allowed: contact.Relationships, Message: "relationship is required: prospect, customer or supplier"}
	}
	c, err := a.Contacts.Create(r.Context(), p.WorkspaceID, contact.Input{FirstName: str(in.FirstName), LastName: str(in.LastName), Organization: str(in.Organization),
		Audience: str(in.Audience), Relationship: str(in.Relationship), DataSource: str(in.DataSource), Email: str(in.Email), Phone: str(in.Phone), Address: in.Address})
	if err != nil {
		return conflict(err)
	}
	w.Header().Set("Location", "/api/v1/contacts/"+c.ID)
	web.WriteJSON(w, http.StatusCreated, c)
	return nil
}

func (a *API) getContact(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, err := a.Contacts.Get(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) listContacts(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	lp := contact.ListParams{Email: q.Get("email"), After: q.Get("after")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			return validate.Invalid("limit", "limit must be a whole number from 1 to 500")
		}
		lp.Limit = n
	}
	list, err := a.Contacts.List(r.Context(), p.WorkspaceID, lp)
	if err != nil {
		return err
	}
	var next any
	if lp.Limit == 0 {
		lp.Limit = 50
	}
	if len(list) == lp.Limit {
		next = list[len(list)-1].ID
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"contacts": list, "next_after": next})
	return nil
}

func (a *API) updateContact(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	// Existence first: an unknown ID is 404 whatever the body says.
	if _, err := a.Contacts.Points(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in contactBody
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	c, err := a.Contacts.Update(r.Context(), p.WorkspaceID, r.PathValue("id"), contact.Update{FirstName: in.FirstName, LastName: in.LastName, Organization: in.Organization,
		Audience: in.Audience, Relationship: in.Relationship, DataSource: in.DataSource, Email: in.Email, Phone: in.Phone, Address: in.Address})
	if err != nil {
		return conflict(err)
	}
	web.WriteJSON(w, http.StatusOK, c)
	return nil
}
