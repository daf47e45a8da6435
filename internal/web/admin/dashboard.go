package admin

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/webhook"
)

const dashDays = 14

type dashData struct {
	NewLeads     []int // per day, oldest first
	Days         []time.Time
	Requested    int
	Confirmed    int
	Rate         int // percent confirmed of requested, -1 = none requested
	Withdrawals  int
	Objections   int
	OpenDSRs     []caseRow
	FailedJobs   int
	DeadWebhooks int
	Chart        template.HTML
	At           time.Time
}

// dashCache keeps each workspace's figures for a minute: they are counts
// over weeks, and a busy team reloading the dashboard should not recount
// them every time.
type dashCache struct {
	mu sync.Mutex
	m  map[string]dashData
}

var dashTTL = time.Minute

func (u *UI) dashFigures(ctx context.Context, ws string) (dashData, error) {
	now := u.Now()
	u.dash.mu.Lock()
	if d, ok := u.dash.m[ws]; ok && now.Sub(d.At) < dashTTL {
		u.dash.mu.Unlock()
		return d, nil
	}
	u.dash.mu.Unlock()
	d := dashData{At: now, NewLeads: make([]int, dashDays)}
	day0 := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -(dashDays - 1))
	for i := range dashDays {
		d.Days = append(d.Days, day0.AddDate(0, 0, i))
	}
	for i, from := range d.Days {
		if err := u.DB.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM contacts WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3`,
			ws, from, from.AddDate(0, 0, 1)).Scan(&d.NewLeads[i]); err != nil {
			return d, fmt.Errorf("count new contacts: %w", err)
		}
	}
	since := now.AddDate(0, 0, -30)
	for kind, dst := range map[string]*int{"consent_requested": &d.Requested, "consent_confirmed": &d.Confirmed, "consent_withdrawn": &d.Withdrawals, "objection": &d.Objections} {
		if err := u.DB.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_events WHERE workspace_id = $1 AND kind = $2 AND recorded_at >= $3`, ws, kind, since).Scan(dst); err != nil {
			return d, fmt.Errorf("count ledger events: %w", err)
		}
	}
	d.Rate = -1
	if d.Requested > 0 {
		d.Rate = min(100, d.Confirmed*100/d.Requested)
	}
	cs, err := u.Privacy.Cases(ctx, ws, privacy.ListCases{Status: "open", Limit: 10})
	if err != nil {
		return d, err
	}
	for _, c := range cs {
		d.OpenDSRs = append(d.OpenDSRs, caseRow{c, daysLeft(c.DueAt, now)})
	}
	if u.Jobs != nil {
		js, err := u.Jobs.List(ctx, ws, jobs.ListParams{State: jobs.StateDead, Limit: 500})
		if err != nil {
			return d, err
		}
		d.FailedJobs = len(js)
	}
	if u.Webhooks != nil {
		eps, err := u.Webhooks.Endpoints(ctx, ws)
		if err != nil {
			return d, err
		}
		for _, e := range eps {
			ds, err := u.Webhooks.Deliveries(ctx, ws, e.ID, webhook.DeliveryFilter{State: "dead", Limit: 500})
			if err != nil {
				return d, err
			}
			d.DeadWebhooks += len(ds)
		}
	}
	u.dash.mu.Lock()
	if u.dash.m == nil {
		u.dash.m = map[string]dashData{}
	}
	u.dash.m[ws] = d
	u.dash.mu.Unlock()
	return d, nil
}

// barChart draws counts as an SVG bar chart with a text alternative; the
// numbers are also in the table next to it for screen readers.
func barChart(title string, labels []string, values []int) template.HTML {
	const w, h, pad = 420, 140, 20
	maxV := 1
	for _, v := range values {
		maxV = max(maxV, v)
	}
	bw := float64(w-2*pad) / float64(len(values))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, w, h+20, template.HTMLEscapeString(title))
	for i, v := range values {
		bh := float64(h-pad) * float64(v) / float64(maxV)
		x := float64(pad) + float64(i)*bw
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`, x+1, float64(h)-bh, bw-2, bh, template.HTMLEscapeString(labels[i]), v)
		if i%2 == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`, x, h+14, template.HTMLEscapeString(labels[i]))
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="12">max %d</text></svg>`, pad, maxV)
	return template.HTML(b.String())
}

func (u *UI) dashboard(w http.ResponseWriter, r *http.Request, s *Session) error {
	d, err := u.dashFigures(r.Context(), s.WorkspaceID)
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "", "dashboard_title")
	labels := make([]string, len(d.Days))
	for i, t := range d.Days {
		labels[i] = t.Format("02.01")
	}
	d.Chart = barChart(p.T("new_leads"), labels, d.NewLeads)
	p.Data = d
	return u.render(w, http.StatusOK, "dashboard", "", p)
}
