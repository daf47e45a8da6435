package admin

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/supplier"
	"github.com/fairlead/fairlead/internal/validate"
)

// The backflow pages admit the roles of the backflow API: marketing and
// sales work with suppliers, letters and responses, the data protection
// officer reads.
var (
	supplierEditors = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleSales}
	supplierReaders = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleSales, auth.RoleDPO}
)

// fieldError turns the errors a service names a field with into a
// validate.Error, so the page can show it next to that field.
func fieldError(err error) (*validate.Error, bool) {
	var ve *validate.Error
	if errors.As(err, &ve) {
		return ve, true
	}
	var ce *consent.ConflictError
	if errors.As(err, &ce) {
		return &validate.Error{Field: ce.Field, Code: ce.Code, Message: ce.Message}, true
	}
	var de *contact.DuplicateError
	if errors.As(err, &de) {
		return &validate.Error{Field: de.Field, Code: "duplicate", Message: "another contact in this workspace has this " + de.Field}, true
	}
	return nil, false
}

// fieldFor maps a service's field name onto one of the form's inputs: the
// input itself, the input it is nested in ("sender.address[1]" ->
// "sender.address"), or the form as a whole.
func fieldFor(field string, inputs []string, form string) string {
	best := ""
	for _, in := range inputs {
		if field == in {
			return in
		}
		if strings.HasPrefix(field, in) && len(in) > len(best) {
			best = in
		}
	}
	if best != "" {
		return best
	}
	return form
}

// formOf copies what was typed, so a refused form comes back filled in.
func formOf(r *http.Request) map[string]string {
	m := map[string]string{}
	for k := range r.PostForm {
		m[k] = r.PostForm.Get(k)
	}
	return m
}

type suppliersData struct {
	Dream bool
	List  []supplier.Supplier
	Form  map[string]string
}

func (u *UI) suppliersPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	return u.renderSuppliers(w, r, s, http.StatusOK, nil)
}

func (u *UI) renderSuppliers(w http.ResponseWriter, r *http.Request, s *Session, status int, ve *validate.Error) error {
	p := u.newPage(r, s, "suppliers", "suppliers_title")
	d := suppliersData{Dream: r.URL.Query().Get("dream") == "1", Form: map[string]string{}}
	var err error
	if d.List, err = u.Suppliers.List(r.Context(), s.WorkspaceID, d.Dream); err != nil {
		return err
	}
	if ve != nil {
		d.Form = formOf(r)
		p.Errors["s."+fieldFor(ve.Field, []string{"name", "language", "notes"}, "form")] = ve.Message
	}
	p.Data = d
	return u.render(w, status, "suppliers", "", p)
}

func (u *UI) createSupplier(w http.ResponseWriter, r *http.Request, s *Session) error {
	_ = r.ParseForm()
	x, err := u.Suppliers.Create(r.Context(), s.WorkspaceID, supplier.NewSupplier{Name: r.PostFormValue("name"), Language: r.PostFormValue("language"),
		DreamClient: r.PostFormValue("dream_client") != "", Notes: r.PostFormValue("notes")})
	if ve, ok := fieldError(err); ok {
		return u.renderSuppliers(w, r, s, http.StatusUnprocessableEntity, ve)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/suppliers/"+x.ID+"?done=supplier", http.StatusSeeOther)
	return nil
}

type personRow struct {
	supplier.Person
	Display string
	Erased  bool
}

type supplierData struct {
	X         supplier.Supplier
	People    []personRow
	Inquiries []supplier.Inquiry
	Contracts []supplier.Contract
	// Fresh is the inquiry just generated: its text is shown to copy.
	Fresh      *supplier.Inquiry
	Channels   []string
	Languages  []string
	Form       map[string]string
	Open       string
	Assessment string
	Today      string
}

func (u *UI) supplierData(r *http.Request, s *Session) (*supplierData, error) {
	ctx := r.Context()
	x, err := u.Suppliers.Get(ctx, s.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	d := &supplierData{X: x, Channels: supplier.InquiryChannels, Languages: supplier.Languages, Form: map[string]string{},
		Assessment: supplier.DefaultAssessment, Today: u.Now().UTC().Format(time.DateOnly)}
	for _, pr := range x.Contacts {
		c, err := u.Contacts.Get(ctx, s.WorkspaceID, pr.ContactID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		d.People = append(d.People, personRow{Person: pr, Display: display(c), Erased: c.Erased})
	}
	if d.Inquiries, err = u.Suppliers.Inquiries(ctx, s.WorkspaceID, x.ID); err != nil {
		return nil, err
	}
	if d.Contracts, err = u.Suppliers.Contracts(ctx, s.WorkspaceID, x.ID); err != nil {
		return nil, err
	}
	if q := r.URL.Query().Get("inquiry"); q != "" {
		for i := range d.Inquiries {
			if d.Inquiries[i].ID == q {
				d.Fresh = &d.Inquiries[i]
			}
		}
	}
	return d, nil
}

func (u *UI) supplierPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	return u.renderSupplier(w, r, s, http.StatusOK, "", nil)
}

var supplierForms = map[string][]string{
	"person":   {"contact_id", "position", "contact.first_name", "contact.last_name", "contact.email", "contact.phone", "contact.address"},
	"inquiry":  {"contact_id", "channel", "language", "request"},
	"contract": {"concluded_on", "reference", "assessment", "contacts"},
	"edit":     {"name", "language", "notes"},
	"sent":     {"sent_at"},
}

// renderSupplier shows the supplier page, with the error of the form named
// by form next to its field (status 422: nothing was saved).
func (u *UI) renderSupplier(w http.ResponseWriter, r *http.Request, s *Session, status int, form string, ve *validate.Error) error {
	p := u.newPage(r, s, "suppliers", "supplier_title")
	d, err := u.supplierData(r, s)
	if err != nil {
		return err
	}
	if ve != nil {
		d.Form, d.Open = formOf(r), form
		p.Errors[form+"."+fieldFor(ve.Field, supplierForms[form], "form")] = ve.Message
	}
	if done := r.URL.Query().Get("done"); done != "" {
		p.Flash = p.T("saved_" + done)
	}
	p.Title = d.X.Name
	p.Data = d
	return u.render(w, status, "supplier", "", p)
}

func (u *UI) updateSupplier(w http.ResponseWriter, r *http.Request, s *Session) error {
	_ = r.ParseForm()
	name, lang, notes := r.PostFormValue("name"), r.PostFormValue("language"), r.PostFormValue("notes")
	dream := r.PostFormValue("dream_client") != ""
	x, err := u.Suppliers.Update(r.Context(), s.WorkspaceID, r.PathValue("id"), supplier.SupplierUpdate{Name: &name, Language: &lang, Notes: &notes, DreamClient: &dream})
	if ve, ok := fieldError(err); ok {
		return u.renderSupplier(w, r, s, http.StatusUnprocessableEntity, "edit", ve)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/suppliers/"+x.ID+"?done=supplier", http.StatusSeeOther)
	return nil
}

func (u *UI) addSupplierContact(w http.ResponseWriter, r *http.Request, s *Session) error {
	if _, err := u.Suppliers.Get(r.Context(), s.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	_ = r.ParseForm()
	f := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	in := supplier.NewPerson{ContactID: f("contact_id"), Position: f("position")}
	if f("first_name") != "" || f("last_name") != "" || f("email") != "" || f("phone") != "" || f("street") != "" || f("city") != "" {
		pi := &supplier.PersonInput{FirstName: f("first_name"), LastName: f("last_name"), Email: f("email"), Phone: f("phone")}
		if f("street") != "" || f("postal_code") != "" || f("city") != "" || f("country") != "" {
			pi.Address = &contact.Address{Street: f("street"), PostalCode: f("postal_code"), City: f("city"), Country: strings.ToUpper(f("country"))}
		}
		in.Contact = pi
	}
	x, err := u.Suppliers.AddContact(r.Context(), s.WorkspaceID, r.PathValue("id"), in)
	if ve, ok := fieldError(err); ok {
		if strings.HasPrefix(ve.Field, "email") || strings.HasPrefix(ve.Field, "phone") {
			c := *ve
			c.Field = "contact." + ve.Field
			ve = &c
		}
		return u.renderSupplier(w, r, s, http.StatusUnprocessableEntity, "person", ve)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/suppliers/"+x.ID+"?done=person#people", http.StatusSeeOther)
	return nil
}

func (u *UI) createInquiry(w http.ResponseWriter, r *http.Request, s *Session) error {
	if _, err := u.Suppliers.Get(r.Context(), s.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	_ = r.ParseForm()
	q, err := u.Suppliers.GenerateInquiry(r.Context(), s.WorkspaceID, r.PathValue("id"), supplier.NewInquiry{ContactID: r.PostFormValue("contact_id"),
		Channel: r.PostFormValue("channel"), Language: r.PostFormValue("language"), Request: r.PostFormValue("request")})
	if ve, ok := fieldError(err); ok {
		return u.renderSupplier(w, r, s, http.StatusUnprocessableEntity, "inquiry", ve)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/suppliers/"+q.SupplierID+"?inquiry="+q.ID+"#inquiry-"+q.ID, http.StatusSeeOther)
	return nil
}

func (u *UI) markInquirySent(w http.ResponseWriter, r *http.Request, s *Session) error {
	_ = r.ParseForm()
	var at *time.Time
	if v := strings.TrimSpace(r.PostFormValue("sent_at")); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return u.inquiryAgain(w, r, s, validate.Invalid("sent_at", "the sending date must be a date such as 2026-03-01"))
		}
		at = &t
	}
	q, err := u.Suppliers.MarkSent(r.Context(), s.WorkspaceID, r.PathValue("id"), at, consent.Actor{UserID: s.UserID})
	if ve, ok := fieldError(err); ok {
		return u.inquiryAgain(w, r, s, ve)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/suppliers/"+q.SupplierID+"?done=sent#inquiry-"+q.ID, http.StatusSeeOther)
	return nil
}

// inquiryAgain shows the supplier of a refused "mark sent" with the error
// next to the inquiry's date field.
func (u *UI) inquiryAgain(w http.ResponseWriter, r *http.Request, s *Session, ve *validate.Error) error {
	sid := r.PostFormValue("supplier_id")
	if sid == "" {
		return ve
	}
	r.SetPathValue("id", sid)
	ve2 := *ve
	if ve2.Field == "id" {
		ve2.Field = "sent_at"
	}
	return u.renderSupplier(w, r, s, http.StatusUnprocessableEntity, "sent", &ve2)
}

func (u *UI) recordContract(w http.ResponseWriter, r *http.Request, s *Session) error {
	if _, err := u.Suppliers.Get(r.Context(), s.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	_ = r.ParseForm()
	c, err := u.Suppliers.RecordContract(r.Context(), s.WorkspaceID, r.PathValue("id"), supplier.NewContract{ConcludedOn: strings.TrimSpace(r.PostFormValue("concluded_on")),
		Reference: strings.TrimSpace(r.PostFormValue("reference")), Assessment: r.PostFormValue("assessment")}, consent.Actor{UserID: s.UserID})
	if ve, ok := fieldError(err); ok {
		return u.renderSupplier(w, r, s, http.StatusUnprocessableEntity, "contract", ve)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/suppliers/"+c.SupplierID+"?done=contract#contracts", http.StatusSeeOther)
	return nil
}

// Letters: templates, schedules, batches.

type lettersData struct {
	Templates []supplier.Template
	Schedules map[string]supplier.Schedule // by template ID
	Batches   []supplier.Batch
	Suppliers []supplier.Supplier
	Names     map[string]string // supplier ID -> name
	Form      map[string]string
	Open      string
}

var letterForms = map[string][]string{
	"batch":    {"template_id", "supplier_id", "purpose"},
	"schedule": {"delay_days", "purpose", "enabled"},
}

func (u *UI) lettersPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	return u.renderLetters(w, r, s, http.StatusOK, "", nil)
}

func (u *UI) renderLetters(w http.ResponseWriter, r *http.Request, s *Session, status int, form string, ve *validate.Error) error {
	ctx := r.Context()
	p := u.newPage(r, s, "suppliers", "letters_title")
	d := lettersData{Schedules: map[string]supplier.Schedule{}, Names: map[string]string{}, Form: map[string]string{}}
	var err error
	if d.Templates, err = u.Suppliers.Templates(ctx, s.WorkspaceID); err != nil {
		return err
	}
	scheds, err := u.Suppliers.Schedules(ctx, s.WorkspaceID)
	if err != nil {
		return err
	}
	for _, sc := range scheds {
		d.Schedules[sc.TemplateID] = sc
	}
	if d.Batches, err = u.Suppliers.Batches(ctx, s.WorkspaceID, 50); err != nil {
		return err
	}
	if d.Suppliers, err = u.Suppliers.List(ctx, s.WorkspaceID, false); err != nil {
		return err
	}
	for _, x := range d.Suppliers {
		d.Names[x.ID] = x.Name
	}
	if ve != nil {
		d.Form, d.Open = formOf(r), form
		key := form + "." + fieldFor(ve.Field, letterForms[form], "form")
		if form == "schedule" {
			key = "schedule." + r.PathValue("id") + "." + fieldFor(ve.Field, letterForms[form], "form")
		}
		p.Errors[key] = ve.Message
	}
	if done := r.URL.Query().Get("done"); done != "" {
		p.Flash = p.T("saved_" + done)
	}
	p.Data = d
	return u.render(w, status, "letters", "", p)
}

type templateData struct {
	T        supplier.Template
	New      bool
	Versions []supplier.Template
	Fields   []string
	Form     map[string]string
}

var templateInputs = []string{"name", "language", "subject", "salutation", "body", "closing", "signature", "sender.name", "sender.address", "sender.return_line", "sender.footer"}

func (u *UI) letterTemplatePage(w http.ResponseWriter, r *http.Request, s *Session) error {
	return u.renderTemplate(w, r, s, http.StatusOK, nil)
}

func (u *UI) renderTemplate(w http.ResponseWriter, r *http.Request, s *Session, status int, ve *validate.Error) error {
	p := u.newPage(r, s, "suppliers", "template_title")
	d := templateData{Fields: supplier.MergeFields, New: true, Form: map[string]string{}}
	if tid := r.PathValue("id"); tid != "" {
		vs, err := u.Suppliers.TemplateVersions(r.Context(), s.WorkspaceID, tid)
		if err != nil {
			return err
		}
		d.T, d.Versions, d.New = vs[0], vs, false
	} else {
		d.T.Content.Language = "de"
	}
	c := d.T.Content
	d.Form = map[string]string{"name": d.T.Name, "language": c.Language, "subject": c.Subject, "salutation": c.Salutation, "body": c.Body, "closing": c.Closing,
		"signature": c.Signature, "sender.name": c.Sender.Name, "sender.address": strings.Join(c.Sender.Address, "\n"),
		"sender.return_line": c.Sender.ReturnLine, "sender.footer": strings.Join(c.Sender.Footer, "\n")}
	if ve != nil {
		d.Form = formOf(r)
		p.Errors[fieldFor(ve.Field, templateInputs, "form")] = ve.Message
	}
	if r.URL.Query().Get("done") != "" {
		p.Flash = p.T("saved_" + r.URL.Query().Get("done"))
	}
	p.Data = d
	return u.render(w, status, "lettertemplate", "", p)
}

func lines(s string) []string {
	out := []string{}
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (u *UI) saveLetterTemplate(w http.ResponseWriter, r *http.Request, s *Session) error {
	_ = r.ParseForm()
	f := r.PostFormValue
	in := supplier.NewTemplate{Name: f("name"), TemplateContent: supplier.TemplateContent{Language: f("language"), Subject: f("subject"),
		Salutation: f("salutation"), Body: strings.ReplaceAll(f("body"), "\r\n", "\n"), Closing: f("closing"), Signature: f("signature"),
		Sender: supplier.Sender{Name: f("sender.name"), Address: lines(f("sender.address")), ReturnLine: f("sender.return_line"), Footer: lines(f("sender.footer"))}}}
	t, _, err := u.Suppliers.SaveTemplate(r.Context(), s.WorkspaceID, consent.Actor{UserID: s.UserID}.String(), in)
	if ve, ok := fieldError(err); ok {
		return u.renderTemplate(w, r, s, http.StatusUnprocessableEntity, ve)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/letters/templates/"+t.ID+"?done=template", http.StatusSeeOther)
	return nil
}

func (u *UI) setLetterSchedule(w http.ResponseWriter, r *http.Request, s *Session) error {
	if _, err := u.Suppliers.Template(r.Context(), s.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	_ = r.ParseForm()
	in := supplier.ScheduleInput{Purpose: strings.TrimSpace(r.PostFormValue("purpose"))}
	if v := strings.TrimSpace(r.PostFormValue("delay_days")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return u.renderLetters(w, r, s, http.StatusUnprocessableEntity, "schedule", validate.Invalid("delay_days", "delay_days must be a whole number of days, 0 to 365"))
		}
		in.DelayDays = &n
	}
	enabled := r.PostFormValue("enabled") != ""
	in.Enabled = &enabled
	_, err := u.Suppliers.SetSchedule(r.Context(), s.WorkspaceID, r.PathValue("id"), in)
	if ve, ok := fieldError(err); ok {
		return u.renderLetters(w, r, s, http.StatusUnprocessableEntity, "schedule", ve)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/letters?done=schedule#schedules", http.StatusSeeOther)
	return nil
}

func (u *UI) createLetterBatch(w http.ResponseWriter, r *http.Request, s *Session) error {
	_ = r.ParseForm()
	b, err := u.Suppliers.CreateBatch(r.Context(), s.WorkspaceID, supplier.NewBatch{TemplateID: r.PostFormValue("template_id"), SupplierID: r.PostFormValue("supplier_id"),
		Purpose: strings.TrimSpace(r.PostFormValue("purpose")), Channel: "post"}, consent.Actor{UserID: s.UserID})
	if ve, ok := fieldError(err); ok {
		return u.renderLetters(w, r, s, http.StatusUnprocessableEntity, "batch", ve)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/letters/batches/"+b.ID, http.StatusSeeOther)
	return nil
}

type batchItem struct {
	supplier.Item
	Display string
	Words   []string
}

type batchData struct {
	B        supplier.Batch
	Template string
	Supplier string
	Included []batchItem
	LeftOut  []batchItem
	HasPDF   bool
}

// leftOutText says in words why a contact got no letter: the engine's
// reasons, or the batch's own (no address, address does not fit, erased).
func leftOutText(code, lang string) string {
	if t, ok := texts["lo_"+code]; ok {
		if lang == "de" {
			return t[1] + " (" + code + ")"
		}
		return t[0] + " (" + code + ")"
	}
	return reasonText(policy.Reason(code), lang)
}

func (u *UI) batchPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	b, err := u.Suppliers.Batch(ctx, s.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "suppliers", "batch_title")
	d := batchData{B: b}
	if t, err := u.Suppliers.Template(ctx, s.WorkspaceID, b.TemplateID); err == nil {
		d.Template = t.Name
	}
	if b.SupplierID != "" {
		if x, err := u.Suppliers.Get(ctx, s.WorkspaceID, b.SupplierID); err == nil {
			d.Supplier = x.Name
		}
	}
	for _, it := range b.Items {
		bi := batchItem{Item: it}
		if c, err := u.Contacts.Get(ctx, s.WorkspaceID, it.ContactID); err == nil {
			bi.Display = display(c)
		}
		if it.Included {
			d.Included = append(d.Included, bi)
			continue
		}
		for _, rc := range it.Reasons {
			bi.Words = append(bi.Words, leftOutText(rc, p.Lang))
		}
		d.LeftOut = append(d.LeftOut, bi)
	}
	if b.Letters > 0 {
		_, err := u.Suppliers.BatchManifest(ctx, s.WorkspaceID, b.ID)
		d.HasPDF = err == nil
	}
	p.Data = d
	// The page frames its own PDF for the preview; nothing else changes.
	w.Header().Set("Content-Security-Policy", strings.Replace(csp, "default-src 'none';", "default-src 'none'; frame-src 'self';", 1))
	return u.render(w, http.StatusOK, "batch", "", p)
}

func (u *UI) noLetters(w http.ResponseWriter, r *http.Request, s *Session, err error) error {
	if errors.Is(err, supplier.ErrNoLetters) {
		u.errorPage(w, r, s, http.StatusConflict, "err_no_letters")
		return nil
	}
	return err
}

func (u *UI) batchPDF(w http.ResponseWriter, r *http.Request, s *Session) error {
	pdf, err := u.Suppliers.BatchPDF(r.Context(), s.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return u.noLetters(w, r, s, err)
	}
	disp := "attachment"
	if r.URL.Query().Get("inline") == "1" {
		// Shown in the batch page's frame: same origin only.
		disp = "inline"
		w.Header().Set("X-Frame-Options", "SAMEORIGIN")
		w.Header().Set("Content-Security-Policy", "frame-ancestors 'self'")
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", disp+`; filename="letters-`+strings.ToLower(r.PathValue("id"))+`.pdf"`)
	w.Header().Set("Cache-Control", "private, no-store")
	_, err = w.Write(pdf)
	return err
}

func (u *UI) batchManifest(w http.ResponseWriter, r *http.Request, s *Session) error {
	m, err := u.Suppliers.BatchManifest(r.Context(), s.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return u.noLetters(w, r, s, err)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="letters-`+strings.ToLower(r.PathValue("id"))+`.csv"`)
	w.Header().Set("Cache-Control", "private, no-store")
	_, err = w.Write([]byte(m))
	return err
}

// The contact's sales view: responses and what the engine allows now.

type salesData struct {
	C        contact.Contact
	Display  string
	View     supplier.ContactView
	Matrix   []matrixRow
	Channels []string
	Resp     []string // response channels
	Reply    []string
	Form     map[string]string
	Today    string
}

func (u *UI) salesPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	return u.renderSales(w, r, s, http.StatusOK, nil)
}

func (u *UI) renderSales(w http.ResponseWriter, r *http.Request, s *Session, status int, ve *validate.Error) error {
	ctx := r.Context()
	p := u.newPage(r, s, "suppliers", "sales_title")
	c, err := u.Contacts.Get(ctx, s.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := u.Suppliers.ContactSalesView(ctx, s.WorkspaceID, c.ID)
	if err != nil {
		return err
	}
	ps, err := u.Purposes.List(ctx, s.WorkspaceID)
	if err != nil {
		return err
	}
	d := salesData{C: c, Display: display(c), View: v, Resp: supplier.ResponseChannels, Reply: []string{"email", "sms", "phone", "post"}, Form: map[string]string{},
		Today: u.Now().UTC().Format(time.DateOnly)}
	d.Matrix, d.Channels = matrixView(v.Matrix, ps, p.Lang)
	if ve != nil {
		d.Form = formOf(r)
		p.Errors["r."+fieldFor(ve.Field, []string{"channel", "reply_channels", "summary", "received_at"}, "form")] = ve.Message
	}
	if r.URL.Query().Get("done") != "" {
		p.Flash = p.T("saved_response")
	}
	p.Data = d
	return u.render(w, status, "sales", "", p)
}

func (u *UI) logResponse(w http.ResponseWriter, r *http.Request, s *Session) error {
	if _, err := u.Contacts.Points(r.Context(), s.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	_ = r.ParseForm()
	in := supplier.NewResponse{Channel: r.PostFormValue("channel"), ReplyChannels: r.PostForm["reply_channels"], Summary: r.PostFormValue("summary")}
	if v := strings.TrimSpace(r.PostFormValue("received_at")); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return u.renderSales(w, r, s, http.StatusUnprocessableEntity, validate.Invalid("received_at", "the date of receipt must be a date such as 2026-03-01"))
		}
		in.ReceivedAt = &t
	}
	_, err := u.Suppliers.LogResponse(r.Context(), s.WorkspaceID, r.PathValue("id"), in, consent.Actor{UserID: s.UserID})
	if ve, ok := fieldError(err); ok {
		return u.renderSales(w, r, s, http.StatusUnprocessableEntity, ve)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/contacts/"+strings.ToLower(r.PathValue("id"))+"/sales?done=1#responses", http.StatusSeeOther)
	return nil
}
