package track

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// FunnelPoint is one bucket of the lifecycle funnel. It has the fields of
// the lead package's type of the same name; the wiring adapts one to the
// other, so this package does not import lead (lead imports track).
type FunnelPoint struct {
	Start   time.Time      `json:"start"`
	InStage map[string]int `json:"in_stage"` // stage -> contacts in that stage at the end of the bucket
	Entered map[string]int `json:"entered"`  // stage -> transitions into it during the bucket
}

// Stages gives the funnel by lifecycle stage.
type Stages interface {
	Funnel(ctx context.Context, ws string, from, to time.Time, bucket string) ([]FunnelPoint, error)
}

// Buckets are the time buckets of the analytics report.
var Buckets = []string{"day", "week", "month"}

// MaxAnalyticsDays bounds the report's window.
const MaxAnalyticsDays = 732

// Rate is count of base, with the rate when the base is not zero.
type Rate struct {
	Count int      `json:"count"`
	Of    int      `json:"of"`
	Rate  *float64 `json:"rate"`
}

func rate(n, of int) Rate {
	r := Rate{Count: n, Of: of}
	if of > 0 {
		v := float64(n) / float64(of)
		r.Rate = &v
	}
	return r
}

// EventPoint is the number of events of one type in one bucket, by branch.
type EventPoint struct {
	Start        time.Time `json:"start"`
	Type         string    `json:"type"`
	Anonymous    int       `json:"anonymous"`
	Pseudonymous int       `json:"pseudonymous"`
	Identified   int       `json:"identified"`
}

// Sources breaks down the contacts created in the window.
type Sources struct {
	// ByDataSource: self_provided or third_party (contacts.data_source).
	ByDataSource map[string]int `json:"by_data_source"`
	// BySource: where the first values of a contact came from
	// (contact_values.source: form:KEY, api, import, …), distinct contacts.
	BySource map[string]int `json:"by_source"`
}

// Report is the analytics dashboard's data. Every figure is a count: of
// anonymous aggregates, of consented identified events, of pseudonymous
// events, or of records the consent hub keeps anyway (docs/tracking.md
// names the table of each).
type Report struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Bucket string    `json:"bucket"`
	// Funnel and LeadToCustomer are omitted while no funnel is wired.
	Funnel         []FunnelPoint `json:"funnel,omitempty"`
	LeadToCustomer *Rate         `json:"lead_to_customer,omitempty"`
	DoubleOptIn    Rate          `json:"double_opt_in"`
	Withdrawals    Rate          `json:"withdrawals"`
	Objections     Rate          `json:"objections"`
	Sources        Sources       `json:"sources"`
	Events         []EventPoint  `json:"events"`
}

// Analytics computes the report.
type Analytics struct {
	DB *store.DB
	// Stages may be nil: then the funnel is left out.
	Stages Stages
}

// BucketStart is the start of the bucket t falls in (UTC; weeks start on
// Monday).
func BucketStart(t time.Time, bucket string) time.Time {
	t = t.UTC()
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch bucket {
	case "week":
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	case "month":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return d
}

// Report computes the figures of [from, to) in buckets.
func (a *Analytics) Report(ctx context.Context, ws string, from, to time.Time, bucket string) (Report, error) {
	if !id.Valid(ws) {
		return Report{}, store.ErrNotFound
	}
	if bucket == "" {
		bucket = "day"
	}
	if !slices.Contains(Buckets, bucket) {
		return Report{}, validate.OneOf("bucket", bucket, Buckets)
	}
	if !from.Before(to) {
		return Report{}, validate.Invalid("from", "from must be before to")
	}
	if to.Sub(from) > MaxAnalyticsDays*24*time.Hour {
		return Report{}, validate.Invalid("to", fmt.Sprintf("the window may span at most %d days", MaxAnalyticsDays))
	}
	from, to = from.UTC(), to.UTC()
	rep := Report{From: from, To: to, Bucket: bucket, Events: []EventPoint{},
		Sources: Sources{ByDataSource: map[string]int{}, BySource: map[string]int{}}}
	if a.Stages != nil {
		f, err := a.Stages.Funnel(ctx, ws, from, to, bucket)
		if err != nil {
			return Report{}, err
		}
		rep.Funnel = f
		leads, customers := 0, 0
		for _, p := range f {
			leads += p.Entered["lead"]
			customers += p.Entered["customer"]
		}
		r := rate(customers, leads)
		rep.LeadToCustomer = &r
	}
	q := a.DB.R
	one := func(dst *int, sql string, args ...any) error {
		if err := q.QueryRowContext(ctx, sql, args...).Scan(dst); err != nil {
			return fmt.Errorf("track: analytics: %w", err)
		}
		return nil
	}
	var requested, confirmed, given, withdrawn, objectors, contacts int
	if err := one(&requested, `SELECT count(*) FROM doi_requests WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3`, ws, from, to); err != nil {
		return Report{}, err
	}
	if err := one(&confirmed, `SELECT count(*) FROM doi_requests WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3 AND confirmed_at IS NOT NULL`, ws, from, to); err != nil {
		return Report{}, err
	}
	rep.DoubleOptIn = rate(confirmed, requested)
	if err := one(&given, `SELECT count(*) FROM ledger_events WHERE workspace_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND kind = 'consent_requested'`, ws, from, to); err != nil {
		return Report{}, err
	}
	if err := one(&withdrawn, `SELECT count(*) FROM ledger_events WHERE workspace_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND kind = 'consent_withdrawn'`, ws, from, to); err != nil {
		return Report{}, err
	}
	rep.Withdrawals = rate(withdrawn, given)
	if err := one(&objectors, `SELECT count(DISTINCT contact_id) FROM ledger_events WHERE workspace_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND kind = 'objection'`, ws, from, to); err != nil {
		return Report{}, err
	}
	if err := one(&contacts, `SELECT count(*) FROM contacts WHERE workspace_id = $1 AND created_at < $2`, ws, to); err != nil {
		return Report{}, err
	}
	rep.Objections = rate(objectors, contacts)

	if err := a.groups(ctx, `SELECT data_source, count(*) FROM contacts WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY data_source`,
		[]any{ws, from, to}, func(k string, n int) { rep.Sources.ByDataSource[k] += n }); err != nil {
		return Report{}, err
	}
	// The first value of each contact created in the window says where the
	// contact came from.
	if err := a.groups(ctx, `SELECT v.source, count(DISTINCT v.contact_id) FROM contact_values v
		JOIN contacts c ON c.workspace_id = v.workspace_id AND c.id = v.contact_id
		WHERE v.workspace_id = $1 AND c.created_at >= $2 AND c.created_at < $3
		AND v.recorded_at = (SELECT min(recorded_at) FROM contact_values f WHERE f.workspace_id = v.workspace_id AND f.contact_id = v.contact_id)
		GROUP BY v.source`, []any{ws, from, to}, func(k string, n int) {
		if key, ok := strings.CutPrefix(k, "form:"); ok {
			key, _, _ = strings.Cut(key, "@")
			k = "form:" + key
		}
		rep.Sources.BySource[k] += n
	}); err != nil {
		return Report{}, err
	}

	points := map[[2]string]*EventPoint{}
	add := func(hour time.Time, typ string, n int, branch int) {
		st := BucketStart(hour, bucket)
		k := [2]string{st.Format(time.RFC3339), typ}
		p := points[k]
		if p == nil {
			p = &EventPoint{Start: st, Type: typ}
			points[k] = p
		}
		switch branch {
		case 0:
			p.Anonymous += n
		case 1:
			p.Pseudonymous += n
		default:
			p.Identified += n
		}
	}
	rows, err := q.QueryContext(ctx, `SELECT bucket, type, sum(count) FROM track_counts WHERE workspace_id = $1 AND bucket >= $2 AND bucket < $3 GROUP BY bucket, type`, ws, from, to)
	if err != nil {
		return Report{}, fmt.Errorf("track: analytics: %w", err)
	}
	for rows.Next() {
		var b time.Time
		var typ string
		var n int
		if err := rows.Scan(&b, &typ, &n); err != nil {
			rows.Close()
			return Report{}, err
		}
		add(b, typ, n, 0)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Report{}, err
	}
	hour := `substr(occurred_at, 1, 13)`
	if a.DB.Dialect == store.Postgres {
		hour = `to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')`
	}
	for branch, table := range []string{"", "track_pseudonymous", "track_events"} {
		if table == "" {
			continue
		}
		rows, err := q.QueryContext(ctx, `SELECT `+hour+`, type, count(*) FROM `+table+` WHERE workspace_id = $1 AND occurred_at >= $2 AND occurred_at < $3 GROUP BY 1, type`, ws, from, to)
		if err != nil {
			return Report{}, fmt.Errorf("track: analytics: %w", err)
		}
		for rows.Next() {
			var h, typ string
			var n int
			if err := rows.Scan(&h, &typ, &n); err != nil {
				rows.Close()
				return Report{}, err
			}
			t, err := time.Parse("2006-01-02 15", h)
			if err != nil {
				rows.Close()
				return Report{}, fmt.Errorf("track: analytics: hour %q: %w", h, err)
			}
			add(t, typ, n, branch)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return Report{}, err
		}
	}
	for _, p := range points {
		rep.Events = append(rep.Events, *p)
	}
	slices.SortFunc(rep.Events, func(a, b EventPoint) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.Type, b.Type)
	})
	return rep, nil
}

func (a *Analytics) groups(ctx context.Context, sql string, args []any, fn func(string, int)) error {
	rows, err := a.DB.R.QueryContext(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("track: analytics: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		fn(k, n)
	}
	return rows.Err()
}
