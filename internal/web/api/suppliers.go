package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/policy/policyjson"
	"github.com/fairlead/fairlead/internal/supplier"
	"github.com/fairlead/fairlead/internal/web"
)

// Backflow roles: marketing and sales work with suppliers, their letters
// and responses; the data protection officer reads.
var (
	supplierEditors = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleSales}
	supplierReaders = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleSales, auth.RoleDPO}
)

func (a *API) listSuppliers(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	list, err := a.Suppliers.List(r.Context(), p.WorkspaceID, r.URL.Query().Get("dream_client") == "true")
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"suppliers": list})
	return nil
}

func (a *API) createSupplier(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in supplier.NewSupplier
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	x, err := a.Suppliers.Create(r.Context(), p.WorkspaceID, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/suppliers/"+x.ID)
	web.WriteJSON(w, http.StatusCreated, x)
	return nil
}

func (a *API) getSupplier(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	x, err := a.Suppliers.Get(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, x)
	return nil
}

func (a *API) updateSupplier(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if _, err := a.Suppliers.Get(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in supplier.SupplierUpdate
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	x, err := a.Suppliers.Update(r.Context(), p.WorkspaceID, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, x)
	return nil
}

func (a *API) addSupplierContact(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if _, err := a.Suppliers.Get(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in supplier.NewPerson
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	x, err := a.Suppliers.AddContact(r.Context(), p.WorkspaceID, r.PathValue("id"), in)
	if err != nil {
		return conflict(err)
	}
	web.WriteJSON(w, http.StatusCreated, x)
	return nil
}

func (a *API) listInquiries(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	list, err := a.Suppliers.Inquiries(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"inquiries": list})
	return nil
}

func (a *API) createInquiry(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if _, err := a.Suppliers.Get(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in supplier.NewInquiry
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	q, err := a.Suppliers.GenerateInquiry(r.Context(), p.WorkspaceID, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusCreated, q)
	return nil
}

func (a *API) markInquirySent(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		SentAt *time.Time `json:"sent_at"`
	}
	if r.ContentLength != 0 {
		if err := web.DecodeJSON(r, &in); err != nil {
			return err
		}
	}
	q, err := a.Suppliers.MarkSent(r.Context(), p.WorkspaceID, r.PathValue("id"), in.SentAt, actorOf(p))
	if err != nil {
		return conflict(err)
	}
	web.WriteJSON(w, http.StatusOK, q)
	return nil
}

func (a *API) listContracts(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	list, err := a.Suppliers.Contracts(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"contracts": list})
	return nil
}

func (a *API) recordContract(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if _, err := a.Suppliers.Get(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in supplier.NewContract
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	c, err := a.Suppliers.RecordContract(r.Context(), p.WorkspaceID, r.PathValue("id"), in, actorOf(p))
	if err != nil {
		return conflict(err)
	}
	web.WriteJSON(w, http.StatusCreated, c)
	return nil
}

// contactView is a supplier.ContactView with its matrix in the wire format.
type contactView struct {
	ContactID string              `json:"contact_id"`
	Position  string              `json:"position,omitempty"`
	Responses []supplier.Response `json:"responses"`
	Matrix    []matrixCell        `json:"matrix"`
}

func viewOf(v supplier.ContactView) contactView {
	out := contactView{ContactID: v.ContactID, Position: v.Position, Responses: v.Responses, Matrix: make([]matrixCell, len(v.Matrix))}
	for i, c := range v.Matrix {
		out.Matrix[i] = matrixCell{Purpose: c.Purpose, Kind: c.Kind, Channel: c.Channel, Output: policyjson.NewOutput(c.Decision)}
	}
	return out
}

func (a *API) supplierSalesView(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	v, err := a.Suppliers.SupplierSalesView(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	cs := make([]contactView, len(v.Contacts))
	for i, c := range v.Contacts {
		cs[i] = viewOf(c)
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"supplier": v.Supplier, "contacts": cs})
	return nil
}

func (a *API) contactResponses(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	v, err := a.Suppliers.ContactSalesView(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, viewOf(v))
	return nil
}

func (a *API) logResponse(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if _, err := a.Contacts.Points(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in supplier.NewResponse
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	resp, err := a.Suppliers.LogResponse(r.Context(), p.WorkspaceID, r.PathValue("id"), in, actorOf(p))
	if err != nil {
		return conflict(err)
	}
	web.WriteJSON(w, http.StatusCreated, resp)
	return nil
}

func (a *API) listLetterTemplates(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	list, err := a.Suppliers.Templates(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"templates": list})
	return nil
}

func (a *API) saveLetterTemplate(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in supplier.NewTemplate
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	t, created, err := a.Suppliers.SaveTemplate(r.Context(), p.WorkspaceID, actorOf(p).String(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/letter-templates/"+t.ID)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	web.WriteJSON(w, status, t)
	return nil
}

func (a *API) getLetterTemplate(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	vs, err := a.Suppliers.TemplateVersions(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"template": vs[0], "versions": vs})
	return nil
}

func (a *API) setLetterSchedule(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if _, err := a.Suppliers.Template(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	var in supplier.ScheduleInput
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	sc, err := a.Suppliers.SetSchedule(r.Context(), p.WorkspaceID, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, sc)
	return nil
}

func (a *API) listLetterSchedules(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	list, err := a.Suppliers.Schedules(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"schedules": list})
	return nil
}

func (a *API) listLetterBatches(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return web.Errorf(http.StatusBadRequest, "invalid_value", "limit must be 1 to 500")
		}
		limit = n
	}
	list, err := a.Suppliers.Batches(r.Context(), p.WorkspaceID, limit)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"batches": list})
	return nil
}

func (a *API) createLetterBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in supplier.NewBatch
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	b, err := a.Suppliers.CreateBatch(r.Context(), p.WorkspaceID, in, actorOf(p))
	if err != nil {
		return conflict(err)
	}
	w.Header().Set("Location", "/api/v1/letter-batches/"+b.ID)
	web.WriteJSON(w, http.StatusCreated, b)
	return nil
}

func (a *API) getLetterBatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	b, err := a.Suppliers.Batch(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, b)
	return nil
}

func noLetters(err error) error {
	if errors.Is(err, supplier.ErrNoLetters) {
		return web.Errorf(http.StatusConflict, "no_letters", "every contact was left out of this batch: there is nothing to print")
	}
	return err
}

func (a *API) getLetterBatchPDF(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	pdf, err := a.Suppliers.BatchPDF(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return noLetters(err)
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `attachment; filename="letters-`+r.PathValue("id")+`.pdf"`)
	_, err = w.Write(pdf)
	return err
}

func (a *API) getLetterBatchManifest(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	m, err := a.Suppliers.BatchManifest(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return noLetters(err)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="letters-`+r.PathValue("id")+`.csv"`)
	_, err = w.Write([]byte(m))
	return err
}
