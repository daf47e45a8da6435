package app

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/web/admin"
)

// TestAdminDashboardSnapshot: the dashboard never counts on a page view.
// Before the background refresher's first pass it says the figures are
// being computed (in both languages); the refresher started with the
// server computes them at once, and a contact created afterwards shows
// only after the next pass. The refresher stops with its context.
func TestAdminDashboardSnapshot(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			ada := h.contactByEmailCreate("ada@example.com")
			bo := h.contactByEmailCreate("bo@example.com")
			if r := h.do("POST", "/api/v1/contacts/"+bo+"/ledger", h.tokens[auth.RoleAdmin], map[string]any{"kind": "objection", "objection_type": "direct_marketing", "channels": []string{"any"}}); r.Status != http.StatusCreated {
				t.Fatalf("objection: %d %s", r.Status, r.Body)
			}
			if r := h.do("POST", "/api/v1/contacts/"+ada+"/stage", h.tokens[auth.RoleAdmin], map[string]any{"stage": "customer", "reason": "signed the contract"}); r.Status != http.StatusOK {
				t.Fatalf("move: %d %s", r.Status, r.Body)
			}
			c := h.ui()
			if st, loc := c.login(h.cfg.AdminEmail, h.cfg.AdminPassword); st != http.StatusSeeOther {
				t.Fatalf("login: %d %s", st, loc)
			}
			st, _, body := c.do("GET", "/admin/", nil)
			if st != http.StatusOK || !strings.Contains(body, `id="figures-pending"`) || !strings.Contains(body, "figures are being computed") || strings.Contains(body, `id="doi-rate"`) {
				t.Fatalf("dashboard before the first refresh: %d\n%s", st, body)
			}
			c.do("POST", "/admin/lang", url.Values{"lang": {"de"}})
			if _, _, body := c.do("GET", "/admin/", nil); !strings.Contains(body, "Kennzahlen werden berechnet") {
				t.Fatalf("German dashboard before the first refresh:\n%s", body)
			}
			c.do("POST", "/admin/lang", url.Values{"lang": {"en"}})

			ctx, cancel := context.WithCancel(context.Background())
			wait := h.srv.StartBackground(ctx)
			stopped := false
			defer func() {
				if !stopped {
					cancel()
					wait()
				}
			}()
			today := time.Now().UTC().Format(time.DateOnly)
			newToday := regexp.MustCompile(`<th scope="row">` + today + `</th><td>(\d+)</td>`)
			deadline := time.Now().Add(20 * time.Second)
			for {
				_, _, body = c.do("GET", "/admin/", nil)
				if strings.Contains(body, `id="figures-at"`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no figures 20 s after start:\n%s", body)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if m := newToday.FindStringSubmatch(body); m == nil || m[1] != "2" || !strings.Contains(body, "Figures as of") || strings.Contains(body, `id="figures-pending"`) {
				t.Fatalf("dashboard after the refresh: new today %v, want 2\n%s", m, body)
			}
			// The ledger events of the last 30 days by kind.
			if !strings.Contains(body, `<p class="big" id="withdrawals">0 / 1</p>`) || !strings.Contains(body, `<p class="big" id="doi-rate">–</p>`) {
				t.Fatalf("withdrawals / objections, want 0 / 1, and no confirmation rate:\n%s", body)
			}
			// The funnel: an SVG chart and the same numbers as a table.
			if !strings.Contains(body, `<svg class="chart funnel"`) || !strings.Contains(body, `id="funnel-table"`) {
				t.Fatalf("no funnel chart and table:\n%s", body)
			}
			for stage, n := range map[string]string{"visitor": "1", "lead": "0", "marketing_qualified": "0", "sales_qualified": "0", "customer": "1", "disqualified": "0"} {
				row := regexp.MustCompile(`<tr data-stage="` + stage + `"><th scope="row">[^<]+</th><td>(\d+)</td>`).FindStringSubmatch(body)
				if row == nil || row[1] != n {
					t.Fatalf("funnel row %s: %v, want %s\n%s", stage, row, n, body)
				}
			}
			// A page view reads the snapshot: the third contact is not counted
			// until the next pass.
			h.contactByEmailCreate("cy@example.com")
			if _, _, body := c.do("GET", "/admin/", nil); newToday.FindStringSubmatch(body)[1] != "2" {
				t.Fatalf("the page counted on the request path:\n%s", body)
			}
			cancel()
			done := make(chan struct{})
			go func() { wait(); close(done) }()
			select {
			case <-done:
				stopped = true
			case <-time.After(10 * time.Second):
				t.Fatal("the dashboard refresher did not stop with its context")
			}
		})
	}
}

// refreshDashboard recomputes the demo workspace's dashboard figures now,
// as the background refresher's next pass would.
func (h *harness) refreshDashboard() {
	h.t.Helper()
	d := &admin.Dashboards{DB: h.db, Leads: h.leads(), Jobs: h.queue, Webhooks: h.webhooks()}
	if _, err := d.Refresh(context.Background(), h.ws.ID); err != nil {
		h.t.Fatal(err)
	}
}

// TestDashboardsShareTheWork: with several serving processes each running
// the background pass, one that finds figures another stored less than
// half an interval ago leaves them; older ones it computes again.
func TestDashboardsShareTheWork(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			h.contactByEmailCreate("ada@example.com")
			t0 := time.Now().UTC().Truncate(time.Second)
			process := func(now time.Time) *admin.Dashboards {
				return &admin.Dashboards{DB: h.db, Leads: h.leads(), Jobs: h.queue, Webhooks: h.webhooks(), Now: func() time.Time { return now }}
			}
			ctx := context.Background()
			stored := func() admin.Figures {
				t.Helper()
				f, ok, err := process(t0).Snapshot(ctx, h.ws.ID)
				if err != nil || !ok {
					t.Fatalf("snapshot: %v %v", ok, err)
				}
				return f
			}
			if err := process(t0).RefreshStale(ctx, time.Minute); err != nil {
				t.Fatal(err)
			}
			first := stored()
			if !first.At.Equal(t0) || first.Stages["visitor"] != 1 {
				t.Fatalf("first pass: at %v, stages %v", first.At, first.Stages)
			}
			h.contactByEmailCreate("bo@example.com")
			// Another process, 20 s later: the figures are fresh, it leaves them.
			if err := process(t0.Add(20*time.Second)).RefreshStale(ctx, time.Minute); err != nil {
				t.Fatal(err)
			}
			if f := stored(); !f.At.Equal(t0) || f.Stages["visitor"] != 1 {
				t.Fatalf("fresh figures were counted again: at %v, stages %v", f.At, f.Stages)
			}
			// 40 s later they are older than half the interval: counted again.
			if err := process(t0.Add(40*time.Second)).RefreshStale(ctx, time.Minute); err != nil {
				t.Fatal(err)
			}
			if f := stored(); !f.At.Equal(t0.Add(40*time.Second)) || f.Stages["visitor"] != 2 {
				t.Fatalf("stale figures not refreshed: at %v, stages %v", f.At, f.Stages)
			}
		})
	}
}
