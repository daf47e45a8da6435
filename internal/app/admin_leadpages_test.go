package app

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
)

// uiPage fetches an admin page and fails unless it answers want.
func (c *uiClient) page(path string, status int, want ...string) string {
	c.t.Helper()
	st, _, body := c.do("GET", path, nil)
	if st != status {
		c.t.Fatalf("GET %s: %d, want %d\n%.3000s", path, st, status, body)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			c.t.Fatalf("GET %s does not show %q\n%s", path, w, body)
		}
	}
	return body
}

var listedContact = regexp.MustCompile(`<tr data-contact="([0-9a-f-]+)">`)

// TestAdminContactFilters: the contact list filters by stage (keyset
// paged, the filter kept in the next-page link) and by saved segment;
// an unknown stage or segment, both at once, or a filter with a search is
// refused next to the field.
func TestAdminContactFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	adm := h.tokens[auth.RoleAdmin]
	var leads []string
	for i := range 52 {
		r := h.do("POST", "/api/v1/contacts", adm, map[string]any{"email": fmt.Sprintf("p%d@example.com", i), "first_name": fmt.Sprintf("P%d", i), "audience": "b2b", "relationship": "prospect"})
		if r.Status != http.StatusCreated {
			t.Fatalf("contact: %d %s", r.Status, r.Body)
		}
		cid := r.json(t)["id"].(string)
		if i < 51 {
			if r := h.do("POST", "/api/v1/contacts/"+cid+"/stage", adm, map[string]any{"stage": "lead", "reason": "met at the fair"}); r.Status != http.StatusOK {
				t.Fatalf("move: %d %s", r.Status, r.Body)
			}
			leads = append(leads, cid)
		}
	}
	cust := h.contactByEmailCreate("kim@example.com")
	r := h.do("POST", "/api/v1/segments", adm, map[string]any{"name": "Not yet leads", "filter": map[string]any{"field": "stage", "op": "eq", "value": "visitor"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("segment: %d %s", r.Status, r.Body)
	}
	sg := r.json(t)["id"].(string)

	c := h.ui()
	if st, loc := c.login(h.roleUser(auth.RoleSales), rolePassword); st != http.StatusSeeOther {
		t.Fatalf("login: %d %s", st, loc)
	}
	body := c.page("/admin/contacts", 200, `<select id="stage" name="stage"`, `<option value="`+sg+`">Not yet leads</option>`)
	body = c.page("/admin/contacts?stage=lead", 200, `<option value="lead" selected>`)
	first := listedContact.FindAllStringSubmatch(body, -1)
	if len(first) != 50 || first[0][1] != leads[0] || first[49][1] != leads[49] {
		t.Fatalf("first page of stage lead: %d rows", len(first))
	}
	next := regexp.MustCompile(`href="(/admin/contacts\?stage=lead&amp;after=[0-9a-f-]+)" rel="next"`).FindStringSubmatch(body)
	if next == nil {
		t.Fatalf("no next-page link keeping the stage:\n%s", body)
	}
	body = c.page(strings.ReplaceAll(next[1], "&amp;", "&"), 200)
	if rest := listedContact.FindAllStringSubmatch(body, -1); len(rest) != 1 || rest[0][1] != leads[50] {
		t.Fatalf("second page of stage lead: %v, want %s", rest, leads[50])
	}
	body = c.page("/admin/contacts?segment="+sg, 200, `selected>Not yet leads</option>`)
	if rows := listedContact.FindAllStringSubmatch(body, -1); len(rows) != 2 || !strings.Contains(body, cust) {
		t.Fatalf("segment members: %v, want the two visitors", rows)
	}
	for _, bad := range []struct{ query, errID, says string }{
		{"stage=qualified", "stage-err", "marketing_qualified"},
		{"segment=" + leads[0], "segment-err", "saved segments"},
		{"stage=lead&segment=" + sg, "segment-err", "not both"},
		{"q=kim&stage=lead", "q-err", "one at a time"},
	} {
		st, _, body := c.do("GET", "/admin/contacts?"+bad.query, nil)
		if st != http.StatusUnprocessableEntity || !strings.Contains(body, `id="`+bad.errID+`"`) || !strings.Contains(body, bad.says) {
			t.Fatalf("GET /admin/contacts?%s: %d, want 422 with %s saying %q\n%.3000s", bad.query, st, bad.errID, bad.says, body)
		}
	}
}

// TestAdminLeadPages: a segment's members page lists who matches now and
// its feedback page the members' answers only; on the score page a
// marketing user moves a contact only to the stages marketing may, a
// refused move (a stage out of reach, no reason) is shown next to its
// field and records nothing; the scoring page queues one recompute job.
func TestAdminLeadPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	adm := h.tokens[auth.RoleAdmin]
	mk := func(email, rel string) string {
		r := h.do("POST", "/api/v1/contacts", adm, map[string]any{"email": email, "first_name": strings.Split(email, "@")[0], "audience": "b2b", "relationship": rel})
		if r.Status != http.StatusCreated {
			t.Fatalf("contact: %d %s", r.Status, r.Body)
		}
		return r.json(t)["id"].(string)
	}
	ann, ben, cat := mk("ann@example.com", "prospect"), mk("ben@example.com", "prospect"), mk("cat@example.com", "customer")
	r := h.do("POST", "/api/v1/segments", adm, map[string]any{"name": "Prospects", "filter": map[string]any{"field": "relationship", "op": "eq", "value": "prospect"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("segment: %d %s", r.Status, r.Body)
	}
	sg := r.json(t)["id"].(string)
	leads := h.leads()
	for _, fb := range []struct {
		cid, rating, comment string
	}{{ann, "2", "zu viele Mails"}, {ben, "5", ""}, {cat, "1", "not a member"}} {
		link, err := leads.FeedbackURL(h.ws.ID, fb.cid, "campaign:x:1")
		if err != nil {
			t.Fatal(err)
		}
		if p := h.page("POST", link, url.Values{"rating": {fb.rating}, "comment": {fb.comment}}); p.Status != 200 {
			t.Fatalf("feedback: %d %s", p.Status, p.Body)
		}
	}

	c := h.ui()
	if st, loc := c.login(h.roleUser(auth.RoleMarketing), rolePassword); st != http.StatusSeeOther {
		t.Fatalf("login: %d %s", st, loc)
	}
	c.page("/admin/leads", 200, `href="/admin/leads/segments/`+sg+`/members"`)
	c.page("/admin/leads/segments/"+sg, 200, `id="members-link"`, `id="feedback-link"`)
	body := c.page("/admin/leads/segments/"+sg+"/members", 200, `id="members"`)
	if rows := listedContact.FindAllStringSubmatch(body, -1); len(rows) != 2 || !strings.Contains(body, ann) || !strings.Contains(body, ben) || strings.Contains(body, cat) {
		t.Fatalf("members: %v, want ann and ben\n%s", rows, body)
	}
	c.page("/admin/leads/segments/"+sg+"/members?after=nonsense", http.StatusUnprocessableEntity, `id="after-err"`)
	c.page("/admin/leads/segments/"+id.New()+"/members", http.StatusNotFound)
	// Until the background pass has counted the segment, the page says so.
	c.page("/admin/leads/segments/"+sg+"/feedback", 200, `id="feedback-pending"`)
	h.refreshDashboard()
	body = c.page("/admin/leads/segments/"+sg+"/feedback", 200, `id="feedback-at"`, "2 answers", `<strong id="feedback-average">3.5</strong>`, "zu viele Mails")
	if strings.Contains(body, "not a member") {
		t.Fatal("the feedback of a non-member is shown")
	}
	for rating, n := range map[string]string{"5": "1", "2": "1", "1": "0"} {
		if !regexp.MustCompile(`<tr data-rating="` + rating + `"><th scope="row">[^<]+</th><td>` + n + `</td>`).MatchString(body) {
			t.Fatalf("rating %s: want %s answers\n%s", rating, n, body)
		}
	}

	body = c.page("/admin/contacts/"+ann+"/score", 200, `id="move-form"`, `<option value="marketing_qualified">`)
	if strings.Contains(body, `<option value="sales_qualified">`) {
		t.Fatal("marketing is offered a stage only sales may set")
	}
	for _, bad := range []struct {
		form       url.Values
		errID, say string
	}{
		{url.Values{"stage": {"customer"}, "reason": {"signed"}}, "mv-stage-err", "marketing_qualified"},
		{url.Values{"stage": {""}, "reason": {"signed"}}, "mv-stage-err", "disqualified"},
		{url.Values{"stage": {"lead"}, "reason": {"  "}}, "mv-reason-err", "reason"},
	} {
		st, _, body := c.do("POST", "/admin/contacts/"+ann+"/stage", bad.form)
		if st != http.StatusUnprocessableEntity || !strings.Contains(body, `id="`+bad.errID+`"`) || !strings.Contains(body, bad.say) {
			t.Fatalf("refused move %v: %d, want 422 with %s saying %q\n%.3000s", bad.form, st, bad.errID, bad.say, body)
		}
	}
	var moves int
	if err := h.db.R.QueryRow(`SELECT COUNT(*) FROM lead_transitions WHERE workspace_id = $1`, h.ws.ID).Scan(&moves); err != nil || moves != 0 {
		t.Fatalf("refused moves recorded %d transitions (%v)", moves, err)
	}
	st, hd, _ := c.do("POST", "/admin/contacts/"+ann+"/stage", url.Values{"stage": {"marketing_qualified"}, "reason": {"asked for a demo"}})
	if st != http.StatusSeeOther || !strings.Contains(hd.Get("Location"), "/score?done=stage") {
		t.Fatalf("move: %d %s", st, hd.Get("Location"))
	}
	c.page("/admin/contacts/"+ann+"/score?done=stage", 200, "The stage was changed.", "asked for a demo", "Marketing qualified")

	c.page("/admin/leads/scoring", 200, `id="recompute"`)
	for range 2 {
		st, hd, _ := c.do("POST", "/admin/leads/scoring/recompute", url.Values{})
		if st != http.StatusSeeOther || !strings.HasSuffix(hd.Get("Location"), "?done=recompute") {
			t.Fatalf("recompute: %d %s", st, hd.Get("Location"))
		}
	}
	c.page("/admin/leads/scoring?done=recompute", 200, "The recompute is queued")
	var jobsQueued int
	if err := h.db.R.QueryRow(`SELECT COUNT(*) FROM jobs WHERE workspace_id = $1 AND kind = 'lead.recompute'`, h.ws.ID).Scan(&jobsQueued); err != nil || jobsQueued != 1 {
		t.Fatalf("recompute jobs: %d (%v), want 1 for two clicks", jobsQueued, err)
	}

	// The DPO reads the score page but is offered no move.
	d := h.ui()
	if st, loc := d.login(h.roleUser(auth.RoleDPO), rolePassword); st != http.StatusSeeOther {
		t.Fatalf("login: %d %s", st, loc)
	}
	if body := d.page("/admin/contacts/"+ann+"/score", 200); strings.Contains(body, `id="move-form"`) {
		t.Fatal("the DPO is offered a stage move")
	}
}
