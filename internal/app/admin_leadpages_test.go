package app

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/auth"
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
