package admin

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/validate"
)

// Paging of the contact list: keyset on the ID, never OFFSET, so the
// thousandth page costs what the first does.
const (
	pageSize = 50
	// nameScan bounds one name search: names are sealed with each
	// contact's key and have no index, so a search opens at most this many
	// contacts per request and offers to continue after the last one.
	nameScan = 200
)

type contactRow struct {
	contact.Contact
	Display string
}

type contactsData struct {
	Q        string
	Rows     []contactRow
	Next     string // after= of the next page, "" at the end
	After    string
	Scanned  int    // name search: contacts opened
	Continue string // name search: after= to search on
	ByEmail  bool
	// Stage and Segment filter the list (one of them, without a search).
	Stage    string
	Segment  string
	Stages   []string
	Segments []lead.Segment
	// Filter is the query string of the filter for the paging links.
	Filter template.URL
}

func display(c contact.Contact) string {
	n := strings.TrimSpace(c.FirstName + " " + c.LastName)
	if n == "" {
		n = c.Organization
	}
	return n
}

func (u *UI) contacts(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	after := r.URL.Query().Get("after")
	p := u.newPage(r, s, "contacts", "contacts_title")
	d := contactsData{Q: q, After: after, Stage: r.URL.Query().Get("stage"), Segment: r.URL.Query().Get("segment")}
	if after != "" && !id.Valid(after) {
		p.Errors["after"] = p.T("err_after")
		after = ""
	}
	if u.Leads != nil {
		d.Stages = lead.Stages
		var err error
		if d.Segments, err = u.Leads.Segments(ctx, s.WorkspaceID); err != nil {
			return err
		}
	}
	status := http.StatusOK
	if err := u.checkContactFilter(p, &d); err != nil {
		status = http.StatusUnprocessableEntity
		d.Stage, d.Segment = "", ""
	}
	switch {
	case d.Stage != "" || d.Segment != "":
		var ids []string
		var err error
		if d.Stage != "" {
			ids, err = u.Leads.StagePage(ctx, s.WorkspaceID, d.Stage, after, pageSize)
			d.Filter = template.URL("stage=" + url.QueryEscape(d.Stage))
		} else {
			ids, err = u.Leads.MemberPage(ctx, s.WorkspaceID, d.Segment, after, pageSize)
			d.Filter = template.URL("segment=" + url.QueryEscape(d.Segment))
		}
		if err != nil {
			return err
		}
		if d.Rows, d.Next, err = u.contactRowsOf(ctx, s.WorkspaceID, ids); err != nil {
			return err
		}
	case q == "":
		list, err := u.Contacts.List(ctx, s.WorkspaceID, contact.ListParams{After: after, Limit: pageSize})
		if err != nil {
			return err
		}
		for _, c := range list {
			d.Rows = append(d.Rows, contactRow{c, display(c)})
		}
		if len(list) == pageSize {
			d.Next = list[len(list)-1].ID
		}
	case strings.Contains(q, "@"):
		d.ByEmail = true
		list, err := u.Contacts.List(ctx, s.WorkspaceID, contact.ListParams{Email: q, Limit: 1})
		var ve *validate.Error
		if errors.As(err, &ve) {
			p.Errors["q"] = ve.Message
		} else if err != nil {
			return err
		}
		for _, c := range list {
			d.Rows = append(d.Rows, contactRow{c, display(c)})
		}
	default:
		needle := strings.ToLower(q)
		cur := after
		for d.Scanned < nameScan && len(d.Rows) < pageSize {
			batch := min(500, nameScan-d.Scanned)
			list, err := u.Contacts.List(ctx, s.WorkspaceID, contact.ListParams{After: cur, Limit: batch})
			if err != nil {
				return err
			}
			for _, c := range list {
				d.Scanned++
				cur = c.ID
				hay := strings.ToLower(c.FirstName + " " + c.LastName + " " + c.Organization)
				if strings.Contains(hay, needle) {
					d.Rows = append(d.Rows, contactRow{c, display(c)})
					if len(d.Rows) == pageSize {
						break
					}
				}
			}
			if len(list) < batch {
				cur = ""
				break
			}
		}
		d.Continue = cur
	}
	p.Data = d
	block := ""
	if p.Partial && r.Header.Get("HX-Target") == "results" {
		block = "results"
	}
	return u.render(w, status, "contacts", block, p)
}

// checkContactFilter refuses a stage or segment that does not exist, and
// a filter combined with a search or with the other filter: each reads
// its own index, and a silently ignored filter would show the wrong
// people.
func (u *UI) checkContactFilter(p *Page, d *contactsData) error {
	var ve *validate.Error
	switch {
	case d.Stage == "" && d.Segment == "":
		return nil
	case u.Leads == nil:
		ve = validate.Invalid("stage", "lead management is not installed")
	case d.Q != "":
		ve = validate.Invalid("q", "search by e-mail or name, or filter by stage or segment: one at a time")
	case d.Stage != "" && d.Segment != "":
		ve = validate.Invalid("segment", "filter by a stage or by a segment, not both")
	case d.Stage != "" && !slices.Contains(lead.Stages, d.Stage):
		ve = validate.OneOf("stage", d.Stage, lead.Stages)
	case d.Segment != "":
		known := false
		for _, sg := range d.Segments {
			known = known || sg.ID == strings.ToLower(d.Segment)
		}
		if !known {
			ve = validate.Invalid("segment", "choose one of the saved segments")
		}
	}
	if ve == nil {
		d.Segment = strings.ToLower(d.Segment)
		return nil
	}
	p.Errors[ve.Field] = ve.Message
	return ve
}

// cellView is one purpose × channel answer in plain words.
type cellView struct {
	Channel string
	Allowed bool
	Reasons []string
	Refs    []string
}

type matrixRow struct {
	Purpose string
	Name    string
	Kind    string
	Cells   []*cellView // by channel column; nil = the purpose does not use it
}

type contactData struct {
	C            contact.Contact
	Display      string
	Values       []capture.Value
	Events       []consent.Event
	Channels     []string
	Matrix       []matrixRow
	Purposes     []consent.Purpose
	Consentish   []consent.Purpose // purposes a consent can be recorded for
	Notices      []consent.Notice
	Cases        []privacy.Case
	Form         map[string]string
	RequestTypes []string
}

var requestTypes = []string{"access", "portability", "rectification", "erasure", "restriction", "objection"}

func (u *UI) contactData(r *http.Request, s *Session, cid string, lang string) (*contactData, error) {
	ctx := r.Context()
	c, err := u.Contacts.Get(ctx, s.WorkspaceID, cid)
	if err != nil {
		return nil, err
	}
	d := &contactData{C: c, Display: display(c), Form: map[string]string{}, RequestTypes: requestTypes}
	if d.Values, err = u.Capture.Values(ctx, s.WorkspaceID, cid); err != nil {
		return nil, err
	}
	personal := s.Role == "admin" || s.Role == "dpo"
	if d.Events, err = u.Ledger.Events(ctx, s.WorkspaceID, cid, personal); err != nil {
		return nil, err
	}
	// Newest first: the timeline is read from the top.
	slices.Reverse(d.Events)
	if d.Purposes, err = u.Purposes.List(ctx, s.WorkspaceID); err != nil {
		return nil, err
	}
	for _, pu := range d.Purposes {
		if pu.Kind == "direct_marketing" || pu.Kind == "analytics" || pu.Kind == "personalization" {
			d.Consentish = append(d.Consentish, pu)
		}
	}
	cells, err := u.Audience.Matrix(ctx, s.WorkspaceID, cid)
	if err != nil {
		return nil, err
	}
	d.Matrix, d.Channels = matrixView(cells, d.Purposes, lang)
	if d.Notices, err = u.Notices.List(ctx, s.WorkspaceID, "consent_text"); err != nil {
		return nil, err
	}
	return d, nil
}

func matrixView(cells []audience.Cell, ps []consent.Purpose, lang string) ([]matrixRow, []string) {
	var chans []string
	for _, ch := range consent.Channels {
		for _, c := range cells {
			if c.Channel == ch {
				chans = append(chans, ch)
				break
			}
		}
	}
	names := map[string]string{}
	for _, p := range ps {
		names[p.Key] = p.DescriptionEN
		if lang == "de" {
			names[p.Key] = p.DescriptionDE
		}
	}
	var rows []matrixRow
	idx := map[string]int{}
	for _, c := range cells {
		i, ok := idx[c.Purpose]
		if !ok {
			i = len(rows)
			idx[c.Purpose] = i
			rows = append(rows, matrixRow{Purpose: c.Purpose, Name: names[c.Purpose], Kind: c.Kind, Cells: make([]*cellView, len(chans))})
		}
		cv := &cellView{Channel: c.Channel, Allowed: c.Decision.Allowed, Refs: c.Decision.LegalRefs}
		for _, rc := range c.Decision.Reasons {
			cv.Reasons = append(cv.Reasons, reasonText(rc, lang))
		}
		rows[i].Cells[slices.Index(chans, c.Channel)] = cv
	}
	return rows, chans
}

func (u *UI) contactPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	p := u.newPage(r, s, "contacts", "contact_title")
	d, err := u.contactData(r, s, r.PathValue("id"), p.Lang)
	if err != nil {
		return err
	}
	p.Data = d
	if r.URL.Query().Get("done") != "" {
		p.Flash = p.T("saved_" + r.URL.Query().Get("done"))
	}
	return u.render(w, http.StatusOK, "contact", "", p)
}

// contactAgain shows the contact page with the errors of an action's form
// and what was typed, and status 422: nothing was saved.
func (u *UI) contactAgain(w http.ResponseWriter, r *http.Request, s *Session, ve *validate.Error, formKey string) error {
	p := u.newPage(r, s, "contacts", "contact_title")
	d, err := u.contactData(r, s, r.PathValue("id"), p.Lang)
	if err != nil {
		return err
	}
	for k := range r.PostForm {
		d.Form[k] = r.PostForm.Get(k)
	}
	d.Form["open"] = formKey
	field := ve.Field
	switch field {
	case "channels":
		field = "channel"
	case "evidence.notice_hash":
		field = "notice"
	case "", "contact_id":
		field = formKey
	}
	p.Errors[formKey+"."+field] = ve.Message
	p.Data = d
	return u.render(w, http.StatusUnprocessableEntity, "contact", "", p)
}

func (u *UI) recordPhoneConsent(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	cid := r.PathValue("id")
	if _, err := u.Contacts.Points(ctx, s.WorkspaceID, cid); err != nil {
		return err
	}
	_ = r.ParseForm()
	purpose, channel, hash := r.PostFormValue("purpose"), r.PostFormValue("channel"), r.PostFormValue("notice")
	note := strings.TrimSpace(r.PostFormValue("recording"))
	fail := func(ve *validate.Error) error { return u.contactAgain(w, r, s, ve, "consent") }
	if purpose == "" {
		return fail(validate.Required("purpose"))
	}
	if channel == "" {
		return fail(validate.Required("channel"))
	}
	if hash == "" {
		return fail(&validate.Error{Field: "notice", Code: "required", Message: "choose the consent text that was read out"})
	}
	if note == "" {
		return fail(&validate.Error{Field: "recording", Code: "required", Message: "name the call recording (file or reference) that proves the consent"})
	}
	if len(note) > 200 {
		return fail(validate.Invalid("recording", "the recording reference must have at most 200 characters"))
	}
	n, err := u.Notices.Get(ctx, s.WorkspaceID, hash)
	if err != nil {
		return fail(&validate.Error{Field: "notice", Code: "unknown", Message: "choose one of the listed consent texts"})
	}
	now := u.Now()
	ev := consent.NewEvent{Kind: consent.KindConsentConfirmed, Purpose: purpose, Channels: []string{channel}, OccurredAt: &now,
		Details:  consent.Details{Verification: "voice_recording", CollectedBy: "self"},
		Evidence: consent.EvidenceInput{Source: "phone:" + note, NoticeHash: n.Hash, TextShown: n.Body, ConfirmationMethod: "voice_recording", ConfirmedAt: &now}}
	_, err = u.Ledger.Append(ctx, nil, s.WorkspaceID, cid, ev, consent.Actor{UserID: s.UserID})
	var ve *validate.Error
	if errors.As(err, &ve) {
		return fail(ve)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/contacts/"+cid+"?done=consent#timeline", http.StatusSeeOther)
	return nil
}

func (u *UI) recordObjection(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	cid := r.PathValue("id")
	if _, err := u.Contacts.Points(ctx, s.WorkspaceID, cid); err != nil {
		return err
	}
	_ = r.ParseForm()
	typ := r.PostFormValue("objection_type")
	if typ == "" {
		typ = "direct_marketing"
	}
	channel := r.PostFormValue("channel")
	if channel == "" {
		channel = "any"
	}
	now := u.Now()
	_, err := u.Ledger.Append(ctx, nil, s.WorkspaceID, cid, consent.NewEvent{Kind: consent.KindObjection, Channels: []string{channel}, OccurredAt: &now,
		Details: consent.Details{ObjectionType: typ}, Evidence: consent.EvidenceInput{Source: "admin-ui"}}, consent.Actor{UserID: s.UserID})
	var ve *validate.Error
	if errors.As(err, &ve) {
		return u.contactAgain(w, r, s, ve, "objection")
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/contacts/"+cid+"?done=objection#matrix", http.StatusSeeOther)
	return nil
}

func (u *UI) openDSR(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	cid := r.PathValue("id")
	if _, err := u.Contacts.Points(ctx, s.WorkspaceID, cid); err != nil {
		return err
	}
	_ = r.ParseForm()
	in := privacy.OpenCase{ContactID: cid, RequestType: r.PostFormValue("request_type"), Note: r.PostFormValue("note")}
	if v := r.PostFormValue("received_at"); v != "" {
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			return u.contactAgain(w, r, s, validate.Invalid("received_at", "the date of receipt must be a date such as 2026-03-01"), "dsr")
		}
		in.ReceivedAt = &t
	}
	c, err := u.Privacy.Open(ctx, s.WorkspaceID, in, consent.Actor{UserID: s.UserID})
	var ve *validate.Error
	if errors.As(err, &ve) {
		return u.contactAgain(w, r, s, ve, "dsr")
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/privacy/dsr/"+c.ID, http.StatusSeeOther)
	return nil
}

func (u *UI) verifyLedger(w http.ResponseWriter, r *http.Request, s *Session) error {
	rep, err := u.Ledger.Verify(r.Context(), s.WorkspaceID)
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "contacts", "chain_title")
	p.Data = rep
	block := ""
	if p.Partial {
		block = "chain"
	}
	return u.render(w, http.StatusOK, "chain", block, p)
}

// contactRowsOf opens a page of contacts listed by ID (a stage's or a
// segment's, in ID order) in one read, and names where the next page
// starts ("" on the last).
func (u *UI) contactRowsOf(ctx context.Context, ws string, ids []string) ([]contactRow, string, error) {
	cs, err := u.Contacts.GetMany(ctx, ws, ids)
	if err != nil {
		return nil, "", err
	}
	var rows []contactRow
	for _, cid := range ids {
		if c, ok := cs[cid]; ok {
			rows = append(rows, contactRow{c, display(c)})
		}
	}
	next := ""
	if len(ids) == pageSize {
		next = ids[len(ids)-1]
	}
	return rows, next, nil
}
