package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/campaign"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/validate"
)

// The campaign pages admit the roles of the campaign API: marketing builds
// and sends, the data protection officer reads what went to whom and why.
var (
	campaignEditors = []auth.Role{auth.RoleAdmin, auth.RoleMarketing}
	campaignReaders = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleDPO}
)

func (u *UI) campaignsPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	p := u.newPage(r, s, "campaigns", "campaigns_title")
	cs, err := u.Campaigns.List(r.Context(), s.WorkspaceID)
	if err != nil {
		return err
	}
	p.Data = cs
	return u.render(w, http.StatusOK, "campaigns", "", p)
}

// stepForm is one step of the campaign form, as typed.
type stepForm struct {
	N                                   int
	DelayDays, Condition, Subject, Text string
	HTML                                string
}

type campaignFormData struct {
	// ID is the draft being edited; "" for a new one.
	ID       string
	Form     map[string]string
	Steps    []stepForm
	Segments []lead.Segment
	Fields   []string
	Langs    []string
}

// stepSlots is how many step slots the form shows beyond the filled ones;
// empty slots are left out when the campaign is saved.
const stepSlots = 2

func (u *UI) campaignFormData(r *http.Request, s *Session) (*campaignFormData, error) {
	d := &campaignFormData{Form: map[string]string{}, Fields: campaign.MergeFields, Langs: []string{"de", "en"}}
	if u.Leads != nil {
		var err error
		if d.Segments, err = u.Leads.Segments(r.Context(), s.WorkspaceID); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// campaignNew shows the form for a new draft; from=<id> fills it with an
// existing campaign: a campaign that was scheduled keeps what it sent, its
// changed copy is a new draft.
func (u *UI) campaignNew(w http.ResponseWriter, r *http.Request, s *Session) error {
	p := u.newPage(r, s, "campaigns", "campaign_new")
	d, err := u.campaignFormData(r, s)
	if err != nil {
		return err
	}
	d.Form["lang"] = p.Lang
	if from := r.URL.Query().Get("from"); from != "" {
		c, err := u.Campaigns.Get(r.Context(), s.WorkspaceID, from)
		if err != nil {
			return err
		}
		d.fill(c)
	}
	d.slots()
	p.Data = d
	return u.render(w, http.StatusOK, "campaignform", "", p)
}

// campaignEdit shows a draft in the form; a campaign past its draft is
// offered as a copy instead.
func (u *UI) campaignEdit(w http.ResponseWriter, r *http.Request, s *Session) error {
	c, err := u.Campaigns.Get(r.Context(), s.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if c.Status != campaign.StatusDraft {
		http.Redirect(w, r, "/admin/campaigns/new?from="+c.ID, http.StatusSeeOther)
		return nil
	}
	p := u.newPage(r, s, "campaigns", "campaign_edit")
	d, err := u.campaignFormData(r, s)
	if err != nil {
		return err
	}
	d.ID = c.ID
	d.fill(c)
	d.slots()
	p.Data = d
	return u.render(w, http.StatusOK, "campaignform", "", p)
}

func (d *campaignFormData) fill(c campaign.Campaign) {
	d.Form = map[string]string{"name": c.Name, "purpose": c.Purpose, "segment_id": c.SegmentID, "lang": c.Lang,
		"rate_per_second": strconv.Itoa(c.RatePerSecond), "convert_type": c.ConvertType, "convert_name": c.ConvertName}
	if c.OwnSimilarOffer {
		d.Form["own_similar_offer"] = "1"
	}
	if c.NoticeInMessage {
		d.Form["notice_in_message"] = "1"
	}
	d.Steps = nil
	for i, st := range c.Steps {
		sf := stepForm{N: i, DelayDays: strconv.FormatFloat(float64(st.DelaySeconds)/86400, 'f', -1, 64), Subject: st.Subject, Text: st.Text, HTML: st.HTML}
		if b, _ := json.Marshal(st.Condition); string(b) != "{}" {
			sf.Condition = string(b)
		}
		d.Steps = append(d.Steps, sf)
	}
}

// slots adds the empty step slots after the filled ones.
func (d *campaignFormData) slots() {
	for n := len(d.Steps); len(d.Steps) < n+stepSlots; {
		d.Steps = append(d.Steps, stepForm{N: len(d.Steps), DelayDays: "0"})
	}
}

var stepField = regexp.MustCompile(`^steps\[(\d+)\]\.?([a-z_]*)`)

// campaignInput reads the form; slots maps the service's step index back
// onto the form's slot, so an error lands next to the slot that caused it.
func campaignInput(r *http.Request) (campaign.Input, []stepForm, []int, error) {
	f := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	in := campaign.Input{Name: f("name"), Purpose: f("purpose"), SegmentID: f("segment_id"), Lang: f("lang"), ConvertType: f("convert_type"), ConvertName: f("convert_name")}
	in.OwnSimilarOffer, in.NoticeInMessage = f("own_similar_offer") != "", f("notice_in_message") != ""
	if v := f("rate_per_second"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return in, nil, nil, validate.Invalid("rate_per_second", fmt.Sprintf("rate_per_second must be a whole number from 1 to %d", campaign.MaxRate))
		}
		in.RatePerSecond = n
	}
	var forms []stepForm
	var slots []int
	var firstErr error
	for i := 0; i < 50; i++ {
		k := func(n string) string { return "s" + strconv.Itoa(i) + "." + n }
		if _, ok := r.PostForm[k("subject")]; !ok {
			break
		}
		sf := stepForm{N: i, DelayDays: f(k("delay_days")), Condition: f(k("condition")), Subject: r.PostFormValue(k("subject")), Text: r.PostFormValue(k("text")), HTML: r.PostFormValue(k("html"))}
		forms = append(forms, sf)
		if strings.TrimSpace(sf.Subject) == "" && strings.TrimSpace(sf.Text) == "" && strings.TrimSpace(sf.HTML) == "" {
			continue
		}
		st := campaign.Step{Subject: sf.Subject, Text: sf.Text, HTML: sf.HTML}
		field := fmt.Sprintf("steps[%d].", len(slots))
		if sf.DelayDays != "" {
			days, err := strconv.ParseFloat(strings.ReplaceAll(sf.DelayDays, ",", "."), 64)
			if err != nil || days < 0 || days > 366 {
				firstErr = cmpErr(firstErr, validate.Invalid(field+"delay_seconds", "the delay must be a number of days from 0 to 366"))
			}
			st.DelaySeconds = int(days * 86400)
		}
		if sf.Condition != "" {
			dec := json.NewDecoder(strings.NewReader(sf.Condition))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&st.Condition); err != nil {
				firstErr = cmpErr(firstErr, validate.Invalid(field+"condition", `the condition must be JSON such as {"stage": ["lead"], "min_score": 10, "event": {"type": "email_click", "happened": false}}: `+err.Error()))
			}
		}
		in.Steps = append(in.Steps, st)
		slots = append(slots, i)
	}
	return in, forms, slots, firstErr
}

func cmpErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// campaignErrField maps the service's field onto the form's input:
// steps[1].delay_seconds -> s<slot>.delay_days.
func campaignErrField(field string, slots []int) string {
	m := stepField.FindStringSubmatch(field)
	if m == nil {
		switch field {
		case "name", "purpose", "segment_id", "lang", "rate_per_second", "convert_type", "convert_name", "own_similar_offer", "notice_in_message":
			return field
		case "steps":
			return "s0.subject"
		}
		return "form"
	}
	i, _ := strconv.Atoi(m[1])
	slot := 0
	if i < len(slots) {
		slot = slots[i]
	}
	part := m[2]
	switch part {
	case "delay_seconds":
		part = "delay_days"
	case "condition", "subject", "text", "html":
	default:
		part = "subject"
	}
	return "s" + strconv.Itoa(slot) + "." + part
}

func (u *UI) createCampaign(w http.ResponseWriter, r *http.Request, s *Session) error {
	return u.saveCampaign(w, r, s, "")
}

func (u *UI) updateCampaign(w http.ResponseWriter, r *http.Request, s *Session) error {
	if _, err := u.Campaigns.Get(r.Context(), s.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	return u.saveCampaign(w, r, s, r.PathValue("id"))
}

// saveCampaign creates a draft (id "") or replaces one; refused input
// comes back in the form next to its field, a campaign no longer a draft
// with status 409.
func (u *UI) saveCampaign(w http.ResponseWriter, r *http.Request, s *Session, cid string) error {
	_ = r.ParseForm()
	in, forms, slots, err := campaignInput(r)
	if err == nil {
		var c campaign.Campaign
		if cid == "" {
			c, err = u.Campaigns.Create(r.Context(), s.WorkspaceID, in)
		} else {
			c, err = u.Campaigns.UpdateDraft(r.Context(), s.WorkspaceID, cid, in)
		}
		if err == nil {
			http.Redirect(w, r, "/admin/campaigns/"+c.ID+"?done=campaign", http.StatusSeeOther)
			return nil
		}
	}
	status := http.StatusUnprocessableEntity
	ve, ok := fieldError(err)
	title := "campaign_new"
	if cid != "" {
		title = "campaign_edit"
	}
	p := u.newPage(r, s, "campaigns", title)
	if errors.Is(err, campaign.ErrState) {
		ve, ok, status = &validate.Error{Field: "form", Code: "campaign_state", Message: p.T("campaign_not_draft")}, true, http.StatusConflict
	}
	if !ok {
		return err
	}
	d, err := u.campaignFormData(r, s)
	if err != nil {
		return err
	}
	d.ID = cid
	d.Form, d.Steps = formOf(r), forms
	if len(d.Steps) == 0 {
		d.Steps = []stepForm{{N: 0, DelayDays: "0"}}
	}
	p.Errors[campaignErrField(ve.Field, slots)] = ve.Message
	p.Data = d
	return u.render(w, status, "campaignform", "", p)
}

type campaignData struct {
	C       campaign.Campaign
	Segment string
	Form    map[string]string
	// Preview is the step rendered for a contact; its HTML part is shown as
	// source, never rendered into the admin page.
	Preview *campaign.Rendered
	// Steps are the step numbers to choose from (0-based).
	Steps []int
	Today string
}

var campaignForms = map[string][]string{
	"pv": {"step", "contact_id"},
	"ts": {"step", "to", "contact_id"},
	"sc": {"starts_at"},
}

func (u *UI) campaignPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	return u.renderCampaign(w, r, s, http.StatusOK, nil, nil)
}

// renderCampaign shows a campaign with its steps and actions; ve goes next
// to its field of the action's form (fields are prefixed pv., ts., sc.).
func (u *UI) renderCampaign(w http.ResponseWriter, r *http.Request, s *Session, status int, ve *validate.Error, pv *campaign.Rendered, form ...string) error {
	c, err := u.Campaigns.Get(r.Context(), s.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "campaigns", "campaign_title")
	p.Title = c.Name
	d := campaignData{C: c, Form: map[string]string{}, Preview: pv, Today: u.Now().UTC().Format("2006-01-02T15:04")}
	for i := range c.Steps {
		d.Steps = append(d.Steps, i)
	}
	if c.SegmentID != "" && u.Leads != nil {
		if sg, err := u.Leads.Segment(r.Context(), s.WorkspaceID, c.SegmentID); err == nil {
			d.Segment = sg.Name
		}
	}
	if r.Method == http.MethodPost {
		d.Form = formOf(r)
	}
	if ve != nil && len(form) > 0 {
		p.Errors[form[0]+"."+fieldFor(ve.Field, campaignForms[form[0]], "form")] = ve.Message
	}
	if done := r.URL.Query().Get("done"); done != "" {
		p.Flash = p.T("saved_" + done)
	}
	p.Data = d
	return u.render(w, status, "campaign", "", p)
}

func stepOf(r *http.Request) (int, error) {
	v := strings.TrimSpace(r.PostFormValue("step"))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, validate.Invalid("step", "step must be the number of a step")
	}
	return n, nil
}

func (u *UI) previewCampaign(w http.ResponseWriter, r *http.Request, s *Session) error {
	if _, err := u.Campaigns.Get(r.Context(), s.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	_ = r.ParseForm()
	step, err := stepOf(r)
	var out campaign.Rendered
	if err == nil {
		out, err = u.Campaigns.Preview(r.Context(), s.WorkspaceID, r.PathValue("id"), step, strings.TrimSpace(r.PostFormValue("contact_id")))
	}
	if ve, ok := fieldError(err); ok {
		return u.renderCampaign(w, r, s, http.StatusUnprocessableEntity, ve, nil, "pv")
	}
	if err != nil {
		return err
	}
	return u.renderCampaign(w, r, s, http.StatusOK, nil, &out)
}

func (u *UI) testCampaign(w http.ResponseWriter, r *http.Request, s *Session) error {
	if _, err := u.Campaigns.Get(r.Context(), s.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	_ = r.ParseForm()
	step, err := stepOf(r)
	if err == nil {
		err = u.Campaigns.TestSend(r.Context(), s.WorkspaceID, r.PathValue("id"), step, r.PostFormValue("to"), strings.TrimSpace(r.PostFormValue("contact_id")))
	}
	if ve, ok := fieldError(err); ok {
		return u.renderCampaign(w, r, s, http.StatusUnprocessableEntity, ve, nil, "ts")
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/campaigns/"+r.PathValue("id")+"?done=test", http.StatusSeeOther)
	return nil
}

func (u *UI) scheduleCampaign(w http.ResponseWriter, r *http.Request, s *Session) error {
	if _, err := u.Campaigns.Get(r.Context(), s.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	_ = r.ParseForm()
	var at time.Time
	if v := strings.TrimSpace(r.PostFormValue("starts_at")); v != "" {
		t, err := time.Parse("2006-01-02T15:04", v)
		if err != nil {
			return u.renderCampaign(w, r, s, http.StatusUnprocessableEntity, validate.Invalid("starts_at", "the start must be a date and time such as 2026-03-01T09:00 (UTC), or empty for now"), nil, "sc")
		}
		at = t.UTC()
	}
	_, _, err := u.Campaigns.Schedule(r.Context(), s.WorkspaceID, r.PathValue("id"), at)
	return u.afterStatus(w, r, s, err, "scheduled")
}

func (u *UI) pauseCampaign(w http.ResponseWriter, r *http.Request, s *Session) error {
	return u.afterStatus(w, r, s, u.Campaigns.Pause(r.Context(), s.WorkspaceID, r.PathValue("id")), "paused")
}

func (u *UI) resumeCampaign(w http.ResponseWriter, r *http.Request, s *Session) error {
	return u.afterStatus(w, r, s, u.Campaigns.Resume(r.Context(), s.WorkspaceID, r.PathValue("id")), "resumed")
}

// afterStatus answers a status change: a refusal by the campaign's status
// is a 409 with the rule in words on the campaign page.
func (u *UI) afterStatus(w http.ResponseWriter, r *http.Request, s *Session, err error, done string) error {
	if errors.Is(err, campaign.ErrState) {
		p := u.newPage(r, s, "campaigns", "campaign_title")
		return u.renderCampaign(w, r, s, http.StatusConflict, &validate.Error{Field: "form", Code: "campaign_state", Message: p.T("campaign_state")}, nil, "sc")
	}
	if ve, ok := fieldError(err); ok {
		return u.renderCampaign(w, r, s, http.StatusUnprocessableEntity, ve, nil, "sc")
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/campaigns/"+r.PathValue("id")+"?done="+done, http.StatusSeeOther)
	return nil
}

type reasonCount struct {
	Code, Text string
	N          int
}

type reportData struct {
	C       campaign.Campaign
	R       campaign.Report
	Skipped []reasonCount
	Failed  []reasonCount
	Chart   template.HTML
}

func (u *UI) campaignReportPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	c, err := u.Campaigns.Get(r.Context(), s.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	rep, err := u.Campaigns.Report(r.Context(), s.WorkspaceID, c.ID)
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "campaigns", "report_title")
	p.Title = p.T("report_title") + ": " + c.Name
	d := reportData{C: c, R: rep, Skipped: reasonCounts(rep.SkippedBy, p.Lang), Failed: reasonCounts(rep.FailedBy, p.Lang)}
	keys := []string{"rp_sent", "rp_skipped", "rp_delivered", "rp_bounced", "rp_opened", "rp_clicked", "rp_unsubscribed", "rp_converted"}
	vals := []int{rep.Sent, rep.Skipped, rep.Delivered, rep.Bounced, rep.Opened, rep.Clicked, rep.Unsubscribed, rep.Converted}
	labels := make([]string, len(keys))
	for i, k := range keys {
		labels[i] = p.T(k)
	}
	d.Chart = hbarChart(p.T("report_chart"), labels, vals)
	p.Data = d
	return u.render(w, http.StatusOK, "campaignreport", "", p)
}

// reasonCounts puts a report's reason codes into words, most frequent
// first: the campaign's own codes from its texts, the engine's from the
// reason catalogue.
func reasonCounts(m map[string]int, lang string) []reasonCount {
	out := make([]reasonCount, 0, len(m))
	for code, n := range m {
		t := tr(lang, "rs_"+code)
		if t == "rs_"+code {
			t = reasonText(policy.Reason(code), lang)
		} else {
			t += " (" + code + ")"
		}
		out = append(out, reasonCount{Code: code, Text: t, N: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Code < out[j].Code
	})
	return out
}

// hbarChart draws labelled horizontal bars, one per count; every label is
// written out, which the dashboard's day chart cannot afford.
func hbarChart(title string, labels []string, values []int) template.HTML {
	const w, row, lw = 460, 22, 150
	maxV := 1
	for _, v := range values {
		maxV = max(maxV, v)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="report-chart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, w, row*len(values)+4, template.HTMLEscapeString(title))
	for i, v := range values {
		y := i*row + 2
		bw := float64(w-lw-50) * float64(v) / float64(maxV)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, lw-6, y+15, template.HTMLEscapeString(labels[i]))
		fmt.Fprintf(&b, `<rect class="bar" x="%d" y="%d" width="%.1f" height="%d"><title>%s: %d</title></rect>`, lw, y+3, bw, row-6, template.HTMLEscapeString(labels[i]), v)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%d</text>`, float64(lw)+bw+4, y+15, v)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
