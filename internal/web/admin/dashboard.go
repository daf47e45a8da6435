package admin

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/webhook"
)

const dashDays = 14

// Figures are one workspace's dashboard counts as of At. They are kept in
// admin_dashboard and recomputed by Dashboards in the background: counting
// contacts and ledger events at a million contacts takes a second, far
// longer than a page may.
type Figures struct {
	At           time.Time      `json:"at"`
	Days         []time.Time    `json:"days"`      // the days of NewLeads, oldest first
	NewLeads     []int          `json:"new_leads"` // contacts created per day
	Requested    int            `json:"requested"` // ledger events of the last 30 days by kind
	Confirmed    int            `json:"confirmed"`
	Withdrawals  int            `json:"withdrawals"`
	Objections   int            `json:"objections"`
	Stages       map[string]int `json:"stages,omitempty"` // contacts per lifecycle stage now; nil without lead management
	FailedJobs   int            `json:"failed_jobs"`
	DeadWebhooks int            `json:"dead_webhooks"`
	// Feedback is each saved segment's personalization feedback, counts
	// and answer IDs only (the comments stay sealed and are opened when
	// the page is shown); nil without lead management.
	Feedback map[string]lead.FeedbackCounts `json:"feedback,omitempty"`
}

// Dashboards computes the dashboard figures of every workspace and keeps
// them in admin_dashboard, one row per workspace.
type Dashboards struct {
	DB       *store.DB
	Leads    *lead.Service // nil: no funnel
	Jobs     *jobs.Queue
	Webhooks *webhook.Service
	Now      func() time.Time
	Log      *slog.Logger
}

func (d *Dashboards) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

// Compute counts one workspace's figures now: one GROUP BY over the new
// contacts of the window, one over the ledger events by kind, the stage
// counts of lead management, and the dead jobs and webhook deliveries
// (bounded lists).
func (d *Dashboards) Compute(ctx context.Context, ws string) (Figures, error) {
	now := d.now()
	f := Figures{At: now, NewLeads: make([]int, dashDays)}
	day0 := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -(dashDays - 1))
	idx := map[string]int{}
	for i := range dashDays {
		t := day0.AddDate(0, 0, i)
		f.Days = append(f.Days, t)
		idx[t.Format(time.DateOnly)] = i
	}
	dayExpr := `substr(created_at, 1, 10)`
	if d.DB.Dialect == store.Postgres {
		dayExpr = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
	}
	if err := groupCounts(ctx, d.DB.R, `SELECT `+dayExpr+`, COUNT(*) FROM contacts WHERE workspace_id = $1 AND created_at >= $2 GROUP BY 1`,
		[]any{ws, day0}, func(k string, n int) {
			if i, ok := idx[k]; ok {
				f.NewLeads[i] += n
			}
		}); err != nil {
		return f, fmt.Errorf("count new contacts: %w", err)
	}
	kinds := map[string]*int{"consent_requested": &f.Requested, "consent_confirmed": &f.Confirmed, "consent_withdrawn": &f.Withdrawals, "objection": &f.Objections}
	if err := groupCounts(ctx, d.DB.R, `SELECT kind, COUNT(*) FROM ledger_events WHERE workspace_id = $1 AND kind IN ('consent_requested', 'consent_confirmed', 'consent_withdrawn', 'objection') AND recorded_at >= $2 GROUP BY kind`,
		[]any{ws, now.AddDate(0, 0, -30)}, func(k string, n int) {
			if dst, ok := kinds[k]; ok {
				*dst += n
			}
		}); err != nil {
		return f, fmt.Errorf("count ledger events: %w", err)
	}
	if d.Leads != nil {
		st, err := d.Leads.StageCounts(ctx, ws)
		if err != nil {
			return f, err
		}
		f.Stages = st
		sgs, err := d.Leads.Segments(ctx, ws)
		if err != nil {
			return f, err
		}
		f.Feedback = map[string]lead.FeedbackCounts{}
		for _, sg := range sgs {
			fc, err := d.Leads.SegmentFeedbackCounts(ctx, ws, sg.ID)
			if err != nil {
				return f, fmt.Errorf("count feedback of segment %s: %w", sg.ID, err)
			}
			f.Feedback[sg.ID] = fc
		}
	}
	if d.Jobs != nil {
		js, err := d.Jobs.List(ctx, ws, jobs.ListParams{State: jobs.StateDead, Limit: 500})
		if err != nil {
			return f, err
		}
		f.FailedJobs = len(js)
	}
	if d.Webhooks != nil {
		eps, err := d.Webhooks.Endpoints(ctx, ws)
		if err != nil {
			return f, err
		}
		for _, e := range eps {
			ds, err := d.Webhooks.Deliveries(ctx, ws, e.ID, webhook.DeliveryFilter{State: "dead", Limit: 500})
			if err != nil {
				return f, err
			}
			f.DeadWebhooks += len(ds)
		}
	}
	return f, nil
}

func groupCounts(ctx context.Context, q store.Querier, query string, args []any, add func(string, int)) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		add(k, n)
	}
	return rows.Err()
}

// Refresh computes one workspace's figures and stores them.
func (d *Dashboards) Refresh(ctx context.Context, ws string) (Figures, error) {
	f, err := d.Compute(ctx, ws)
	if err != nil {
		return f, err
	}
	raw, err := json.Marshal(f)
	if err != nil {
		return f, err
	}
	_, err = d.DB.W.ExecContext(ctx, `INSERT INTO admin_dashboard (workspace_id, figures, computed_at) VALUES ($1, $2, $3)
		ON CONFLICT (workspace_id) DO UPDATE SET figures = excluded.figures, computed_at = excluded.computed_at`, ws, string(raw), f.At)
	if err != nil {
		return f, fmt.Errorf("store dashboard figures: %w", store.MapError(err))
	}
	return f, nil
}

// RefreshAll refreshes every workspace, each bounded by perWorkspace; a
// workspace that fails is logged and the others still refreshed.
func (d *Dashboards) RefreshAll(ctx context.Context, perWorkspace time.Duration) error {
	wss, err := store.Strings(ctx, d.DB.R, `SELECT id FROM workspaces ORDER BY id`)
	if err != nil {
		return err
	}
	return d.refreshEach(ctx, wss, perWorkspace)
}

// refreshEach refreshes the given workspaces, each bounded by
// perWorkspace; one that fails is logged and the others still refreshed.
func (d *Dashboards) refreshEach(ctx context.Context, wss []string, perWorkspace time.Duration) error {
	var errs []error
	for _, ws := range wss {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wctx, cancel := context.WithTimeout(ctx, perWorkspace)
		_, err := d.Refresh(wctx, ws)
		cancel()
		if err != nil && ctx.Err() == nil {
			d.log().WarnContext(ctx, "dashboard figures not refreshed", "workspace_id", ws, "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RefreshStale refreshes the workspaces whose stored figures are older
// than half of every (or missing), each bounded by every. Every serving
// process runs the pass: one that finds figures another process stored a
// moment ago leaves them, so several processes share the counting instead
// of each repeating it for every workspace. Two passes that start at the
// same moment may both count a workspace; the later write wins and both
// are correct.
func (d *Dashboards) RefreshStale(ctx context.Context, every time.Duration) error {
	rows, err := d.DB.R.QueryContext(ctx, `SELECT w.id, a.computed_at FROM workspaces w
		LEFT JOIN admin_dashboard a ON a.workspace_id = w.id ORDER BY w.id`)
	if err != nil {
		return fmt.Errorf("dashboard figures: list workspaces: %w", err)
	}
	fresh := d.now().Add(-every / 2)
	var due []string
	for rows.Next() {
		var ws string
		var at sql.NullTime
		if err := rows.Scan(&ws, &at); err != nil {
			rows.Close()
			return fmt.Errorf("dashboard figures: list workspaces: %w", err)
		}
		if !at.Valid || !at.Time.After(fresh) {
			due = append(due, ws)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("dashboard figures: list workspaces: %w", err)
	}
	return d.refreshEach(ctx, due, every)
}

func (d *Dashboards) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

// DashboardEvery is how often Run recomputes the figures.
const DashboardEvery = time.Minute

// Run refreshes the workspaces' figures at once and then every interval
// until ctx ends, leaving those another process has just stored
// (RefreshStale). One pass at a time: a pass slower than the interval
// delays the next instead of piling up, and each workspace is bounded by
// the interval.
func (d *Dashboards) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DashboardEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		_ = d.RefreshStale(ctx, every)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Snapshot is the stored figures of a workspace; ok is false before the
// first refresh.
func (d *Dashboards) Snapshot(ctx context.Context, ws string) (f Figures, ok bool, err error) {
	var raw string
	err = d.DB.R.QueryRowContext(ctx, `SELECT figures FROM admin_dashboard WHERE workspace_id = $1`, ws).Scan(&raw)
	if errors.Is(store.MapError(err), store.ErrNotFound) {
		return f, false, nil
	}
	if err != nil {
		return f, false, err
	}
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return f, false, fmt.Errorf("stored dashboard figures: %w", err)
	}
	return f, true, nil
}

type dashData struct {
	Figures
	Ready       bool // false: the figures are still being computed
	Rate        int  // percent confirmed of requested, -1 = none requested
	OpenDSRs    []caseRow
	Chart       template.HTML
	Funnel      []funnelRow
	FunnelChart template.HTML
}

type funnelRow struct {
	Stage string
	N     int
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

// funnelChart draws the stages as horizontal bars, one row each with its
// label and count, widths relative to the largest stage.
func funnelChart(title string, labels []string, values []int) template.HTML {
	const w, label, row, gap = 420, 150, 22, 6
	maxV := 1
	for _, v := range values {
		maxV = max(maxV, v)
	}
	h := len(values) * (row + gap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart funnel" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, w, h, template.HTMLEscapeString(title))
	for i, v := range values {
		y := i * (row + gap)
		bw := float64(w-label-50) * float64(v) / float64(maxV)
		fmt.Fprintf(&b, `<text x="0" y="%d">%s</text>`, y+row-6, template.HTMLEscapeString(labels[i]))
		fmt.Fprintf(&b, `<rect class="bar" x="%d" y="%d" width="%.1f" height="%d"><title>%s: %d</title></rect>`, label, y, bw, row, template.HTMLEscapeString(labels[i]), v)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%d</text>`, float64(label)+bw+4, y+row-6, v)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// dashboard shows the stored figures; it never counts. Open data subject
// requests are read live: a short indexed list whose deadlines matter.
func (u *UI) dashboard(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	f, ok, err := u.Dashboards.Snapshot(ctx, s.WorkspaceID)
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "", "dashboard_title")
	d := dashData{Figures: f, Ready: ok, Rate: -1}
	if f.Requested > 0 {
		d.Rate = min(100, f.Confirmed*100/f.Requested)
	}
	cs, err := u.Privacy.Cases(ctx, s.WorkspaceID, privacy.ListCases{Status: "open", Limit: 10})
	if err != nil {
		return err
	}
	now := u.Now()
	for _, c := range cs {
		d.OpenDSRs = append(d.OpenDSRs, caseRow{c, daysLeft(c.DueAt, now)})
	}
	if ok {
		labels := make([]string, len(f.Days))
		for i, t := range f.Days {
			labels[i] = t.Format("02.01")
		}
		d.Chart = barChart(p.T("new_leads"), labels, f.NewLeads)
		if f.Stages != nil {
			var ls []string
			var vs []int
			for _, st := range lead.Stages {
				d.Funnel = append(d.Funnel, funnelRow{st, f.Stages[st]})
				ls = append(ls, p.T("stage_"+st))
				vs = append(vs, f.Stages[st])
			}
			d.FunnelChart = funnelChart(p.T("funnel_by_stage"), ls, vs)
		}
	}
	p.Data = d
	return u.render(w, http.StatusOK, "dashboard", "", p)
}
