package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// The lead pages admit the roles of the lead API: everyone who works with
// people reads; marketing and sales define segments and scoring rules
// together; only sales (and admin) see the handed-off leads.
var (
	leadReaders    = people
	leadEditors    = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleSales}
	salesViewRoles = []auth.Role{auth.RoleAdmin, auth.RoleSales}
)

func leadActor(s *Session) string { return "user:" + s.UserID }

// channelRef is a purpose and channel of the sales view.
type channelRef struct{ Purpose, Channel string }

type salesRow struct {
	lead.State
	Display  string
	Owner    string
	Channels []channelRef
	Blocked  int
}

type salesLeadsData struct {
	Rows []salesRow
	Mine bool
}

func (u *UI) salesLeadsPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	p := u.newPage(r, s, "leads", "sales_leads_title")
	d := salesLeadsData{Mine: r.URL.Query().Get("mine") == "1"}
	f := lead.SalesFilter{}
	if d.Mine {
		f.Owner = s.UserID
	}
	leads, err := u.Leads.SalesLeads(ctx, s.WorkspaceID, f)
	if err != nil {
		return err
	}
	owners := map[string]string{}
	if users, err := u.Auth.Users(ctx, s.WorkspaceID); err == nil {
		for _, x := range users {
			owners[x.ID] = x.Name
			if x.Name == "" {
				owners[x.ID] = x.Email
			}
		}
	} else {
		return err
	}
	for _, l := range leads {
		row := salesRow{State: l.State, Owner: owners[l.Owner]}
		c, err := u.Contacts.Get(ctx, s.WorkspaceID, l.ContactID)
		switch {
		case errors.Is(err, store.ErrNotFound) || errors.Is(err, keyring.ErrShredded):
			continue
		case err != nil:
			return err
		}
		row.Display = display(c)
		for _, cell := range l.Cells {
			if cell.Decision.Allowed {
				row.Channels = append(row.Channels, channelRef{cell.Purpose, cell.Channel})
			} else {
				row.Blocked++
			}
		}
		d.Rows = append(d.Rows, row)
	}
	p.Data = d
	return u.render(w, http.StatusOK, "salesleads", "", p)
}

type scoreData struct {
	C       contact.Contact
	Display string
	H       lead.History
	T       []lead.Transition
	// Targets are the stages the user's role may move the contact to by
	// hand; Move is what a refused move form held.
	Targets []string
	Move    map[string]string
}

func (u *UI) scoreData(r *http.Request, s *Session, lang string) (*scoreData, error) {
	ctx := r.Context()
	c, err := u.Contacts.Get(ctx, s.WorkspaceID, r.PathValue("id"))
	if errors.Is(err, keyring.ErrShredded) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	d := &scoreData{C: c, Display: display(c), Targets: lead.MoveTargets[s.Role], Move: map[string]string{}}
	if d.H, err = u.Leads.ScoreHistory(ctx, s.WorkspaceID, c.ID, lang, 0); err != nil {
		return nil, err
	}
	if d.T, err = u.Leads.Transitions(ctx, s.WorkspaceID, c.ID); err != nil {
		return nil, err
	}
	return d, nil
}

func (u *UI) scorePage(w http.ResponseWriter, r *http.Request, s *Session) error {
	p := u.newPage(r, s, "contacts", "score_title")
	d, err := u.scoreData(r, s, p.Lang)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("done") == "stage" {
		p.Flash = p.T("saved_stage")
	}
	p.Data = d
	return u.render(w, http.StatusOK, "score", "", p)
}

// Segments.

func (u *UI) segmentsPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	p := u.newPage(r, s, "leads", "segments_title")
	sgs, err := u.Leads.Segments(r.Context(), s.WorkspaceID)
	if err != nil {
		return err
	}
	if done := r.URL.Query().Get("done"); done != "" {
		p.Flash = p.T("saved_" + done)
	}
	p.Data = sgs
	return u.render(w, http.StatusOK, "segments", "", p)
}

type segmentData struct {
	ID     string
	Name   string
	Filter string
	// Count is the preview's answer; -1 before it was asked.
	Count int
}

// segmentExample is the filter a new segment starts with.
const segmentExample = `{
  "and": [
    {"field": "stage", "op": "in", "values": ["marketing_qualified", "sales_qualified"]},
    {"field": "score", "op": "gte", "number": 20}
  ]
}`

func (u *UI) segmentPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	p := u.newPage(r, s, "leads", "segment_new")
	d := segmentData{Filter: segmentExample, Count: -1}
	if sid := r.PathValue("id"); sid != "" {
		sg, err := u.Leads.Segment(r.Context(), s.WorkspaceID, sid)
		if err != nil {
			return err
		}
		b, _ := json.MarshalIndent(sg.Filter, "", "  ")
		d = segmentData{ID: sg.ID, Name: sg.Name, Filter: string(b), Count: -1}
		p.Title = sg.Name
	}
	if done := r.URL.Query().Get("done"); done != "" {
		p.Flash = p.T("saved_" + done)
	}
	p.Data = d
	return u.render(w, http.StatusOK, "segment", "", p)
}

// parseFilter reads the filter textarea strictly: a misspelt key is an
// error, not a silently wider segment.
func parseFilter(raw string) (lead.Filter, error) {
	var f lead.Filter
	if strings.TrimSpace(raw) == "" {
		return f, validate.Required("filter")
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, validate.Invalid("filter", "filter must be a JSON filter (docs/leads.md): "+err.Error())
	}
	return f, nil
}

// filterField puts the errors of the filter tree ("filter.and[0].op", or
// the service's field names of a leaf) next to the textarea, and the name's
// next to the name.
func filterField(ve *validate.Error) string {
	if ve.Field == "name" {
		return "name"
	}
	return "filter"
}

func (u *UI) saveSegment(w http.ResponseWriter, r *http.Request, s *Session) error {
	_ = r.ParseForm()
	sid := r.PathValue("id")
	if sid != "" {
		if _, err := u.Leads.Segment(r.Context(), s.WorkspaceID, sid); err != nil {
			return err
		}
	}
	d := segmentData{ID: sid, Name: r.PostFormValue("name"), Filter: r.PostFormValue("filter"), Count: -1}
	f, err := parseFilter(d.Filter)
	if err == nil {
		var sg lead.Segment
		sg, err = u.Leads.SaveSegment(r.Context(), s.WorkspaceID, sid, leadActor(s), d.Name, f)
		if err == nil {
			http.Redirect(w, r, "/admin/leads/segments/"+sg.ID+"?done=segment", http.StatusSeeOther)
			return nil
		}
	}
	ve, ok := fieldError(err)
	if !ok {
		return err
	}
	p := u.newPage(r, s, "leads", "segment_new")
	p.Errors[filterField(ve)] = ve.Message
	p.Data = d
	return u.render(w, http.StatusUnprocessableEntity, "segment", "", p)
}

// previewSegment counts the filter's contacts now without saving it. htmx
// gets the count fragment; without JavaScript the editor comes back whole
// with the count under the textarea.
func (u *UI) previewSegment(w http.ResponseWriter, r *http.Request, s *Session) error {
	_ = r.ParseForm()
	d := segmentData{ID: r.PostFormValue("id"), Name: r.PostFormValue("name"), Filter: r.PostFormValue("filter"), Count: -1}
	p := u.newPage(r, s, "leads", "segment_new")
	status := http.StatusOK
	f, err := parseFilter(d.Filter)
	if err == nil {
		d.Count, err = u.Leads.Preview(r.Context(), s.WorkspaceID, f)
	}
	if err != nil {
		ve, ok := fieldError(err)
		if !ok {
			return err
		}
		p.Errors["filter"] = ve.Message
		status = http.StatusUnprocessableEntity
	}
	p.Data = d
	if p.Partial {
		return u.render(w, status, "segment", "segcount", p)
	}
	return u.render(w, status, "segment", "", p)
}

// Scoring rules.

type scoringData struct {
	Rules    string
	Version  int
	Versions []lead.RuleSet
}

func (u *UI) scoringPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	p := u.newPage(r, s, "leads", "scoring_title")
	rs, err := u.Leads.ActiveRules(r.Context(), s.WorkspaceID)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(rs.Rules, "", "  ")
	d := scoringData{Rules: string(b), Version: rs.Version}
	if d.Versions, err = u.Leads.RuleSetVersions(r.Context(), s.WorkspaceID); err != nil {
		return err
	}
	switch r.URL.Query().Get("done") {
	case "":
	case "same":
		p.Flash = p.T("rules_unchanged")
	case "recompute":
		p.Flash = p.T("recompute_queued")
	default:
		p.Flash = p.Tf("rules_saved", rs.Version)
	}
	p.Data = d
	return u.render(w, http.StatusOK, "scoring", "", p)
}

func (u *UI) saveScoring(w http.ResponseWriter, r *http.Request, s *Session) error {
	_ = r.ParseForm()
	raw := r.PostFormValue("rules")
	var rules lead.Rules
	err := error(validate.Required("rules"))
	if strings.TrimSpace(raw) != "" {
		rules, err = lead.ParseRules([]byte(raw))
	}
	if err == nil {
		rs, created, err2 := u.Leads.SaveRules(r.Context(), s.WorkspaceID, leadActor(s), rules)
		if err2 == nil {
			done := "same"
			if created {
				// Scores follow the new version once recomputed, as after a
				// save through the API.
				if _, err := u.Leads.EnqueueRecompute(r.Context(), s.WorkspaceID, rs.Version); err != nil {
					return err
				}
				done = strconv.Itoa(rs.Version)
			}
			http.Redirect(w, r, "/admin/leads/scoring?done="+done, http.StatusSeeOther)
			return nil
		}
		err = err2
	}
	ve, ok := fieldError(err)
	if !ok {
		return err
	}
	p := u.newPage(r, s, "leads", "scoring_title")
	d := scoringData{Rules: raw, Version: -1}
	if d.Versions, err = u.Leads.RuleSetVersions(r.Context(), s.WorkspaceID); err != nil {
		return err
	}
	p.Errors["rules"] = ve.Message
	p.Data = d
	return u.render(w, http.StatusUnprocessableEntity, "scoring", "", p)
}
