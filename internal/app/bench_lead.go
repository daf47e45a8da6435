package app

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/track"
	"github.com/fairlead/fairlead/internal/workspace"
)

// benchLeadRules score page views (capped), downloads and e-mail clicks,
// with fit points for b2b and customers.
func benchLeadRules() lead.Rules {
	r := lead.DefaultRules()
	r.HalfLifeDays = 30
	r.Fit = []lead.FitRule{{ID: "b2b", Points: 10, When: []lead.Condition{{Attribute: "audience", Op: "eq", Value: "b2b"}}}}
	r.Engagement = []lead.EngagementRule{
		{ID: "pages", Type: "page_view", Points: 3, Cap: &lead.Cap{Points: 30, PeriodDays: 7}},
		{ID: "downloads", Type: "download", Points: 15},
		{ID: "clicks", Type: "email_click", Points: 5},
	}
	r.Thresholds = lead.Thresholds{Lead: 1, MarketingQualified: 30, SalesQualified: 60}
	return r
}

// benchLeadSetup generates n contacts (consent.Bulk, as bench audience
// does) and about perContact events each (track.Store.Record in batches,
// without the scoring hook, so the recompute is measured alone).
func benchLeadSetup(ctx context.Context, env Env, name string, args []string, more func(*flag.FlagSet)) (*store.DB, *lead.Service, string, int, func(), error) {
	fs := flags(env, "bench "+name, "Generate N contacts and their tracking events in a scratch SQLite database, then measure "+name+".")
	if more != nil {
		more(fs)
	}
	n := fs.Int("contacts", 100_000, "contacts to generate")
	per := fs.Int("events", 3, "events per contact on average")
	runs := fs.Int("runs", 3, "timed runs (the median is reported)")
	dir := fs.String("dir", "", "scratch data directory (default: a new temporary one, removed afterwards)")
	reuse := fs.Bool("reuse", false, "measure the contacts and events a previous run generated in --dir instead of generating new ones")
	if err := parse(fs, args); err != nil {
		return nil, nil, "", 0, nil, err
	}
	cfg, err := config.Load(func(string) string { return "" }, nil)
	if err != nil {
		return nil, nil, "", 0, nil, err
	}
	cleanup := func() {}
	if *reuse && *dir == "" {
		return nil, nil, "", 0, nil, fmt.Errorf("--reuse needs the --dir of an earlier run")
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "fairlead-bench-lead-")
		if err != nil {
			return nil, nil, "", 0, nil, err
		}
		cleanup = func() { os.RemoveAll(d) }
		*dir = d
	}
	cfg.DataDir = *dir
	// A scratch master key, kept beside the data so --reuse can open it.
	keyFile := filepath.Join(*dir, "bench-master.key")
	if *reuse {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, nil, "", 0, nil, fmt.Errorf("--reuse: %w", err)
		}
		cfg.MasterKey = strings.TrimSpace(string(b))
	} else {
		key := make([]byte, 32)
		crand.Read(key)
		cfg.MasterKey = base64.StdEncoding.EncodeToString(key)
		if err := os.WriteFile(keyFile, []byte(cfg.MasterKey), 0o600); err != nil {
			return nil, nil, "", 0, nil, err
		}
	}
	cfg.Workers = 0
	db, err := openDB(ctx, cfg)
	if err != nil {
		cleanup()
		return nil, nil, "", 0, nil, err
	}
	done := func() { db.Close(); cleanup() }
	if _, err := db.W.ExecContext(ctx, `PRAGMA cache_size = -524288`); err != nil {
		done()
		return nil, nil, "", 0, nil, err
	}
	contacts, purposes, notices, ledger := consentServices(db, cfg)
	svcFor := func(ws string) *lead.Service {
		return leadService(db, cfg, contacts, audience.New(db, ledger, purposes, nil), webhookService(db, cfg, contacts.Keys(), nil, nil), nil, track.NewStore(db, nil))
	}
	if *reuse {
		ws, ids, err := benchWorkspace(ctx, db)
		if err != nil {
			done()
			return nil, nil, "", 0, nil, err
		}
		fmt.Fprintf(env.Stdout, "reusing %d contacts of workspace %s\n", len(ids), ws.Slug)
		return db, svcFor(ws.ID), ws.ID, *runs, done, nil
	}
	ws, err := workspace.Create(ctx, db.W, fmt.Sprintf("bench-%d", time.Now().UnixNano()), "Bench", time.Now())
	if err != nil {
		done()
		return nil, nil, "", 0, nil, err
	}
	text, _, err := notices.Create(ctx, ws.ID, "bench", consent.NewNotice{Kind: "consent_text", Language: "de", Title: "Newsletter", Body: "Ja, ich möchte den Newsletter per E-Mail erhalten. Widerruf jederzeit."})
	if err != nil {
		done()
		return nil, nil, "", 0, nil, err
	}
	t0 := time.Now()
	ids, err := generateContacts(ctx, db, ledger, ws.ID, text, *n, func(k int) {
		if k%100_000 == 0 {
			fmt.Fprintf(env.Stderr, "generated %d of %d contacts (%.0f/s)\n", k, *n, float64(k)/time.Since(t0).Seconds())
		}
	})
	if err != nil {
		done()
		return nil, nil, "", 0, nil, err
	}
	fmt.Fprintf(env.Stdout, "generated %d contacts in %s\n", len(ids), time.Since(t0).Round(time.Millisecond))
	gen := track.NewStore(db, nil)
	r := rand.New(rand.NewPCG(7, 7))
	now := time.Now().UTC()
	types := []string{"page_view", "page_view", "page_view", "download", "email_click", "email_open"}
	var batch []track.Event
	events := 0
	t0 = time.Now()
	for _, cid := range ids {
		k := r.IntN(2**per + 1)
		for range k {
			batch = append(batch, track.Event{ContactID: cid, Type: types[r.IntN(len(types))], Name: "asset-" + fmt.Sprint(r.IntN(20)), At: now.Add(-time.Duration(r.IntN(90*24)) * time.Hour)})
		}
		if len(batch) >= 10_000 {
			if err := gen.Record(ctx, nil, ws.ID, batch); err != nil {
				done()
				return nil, nil, "", 0, nil, err
			}
			events += len(batch)
			batch = batch[:0]
		}
	}
	if err := gen.Record(ctx, nil, ws.ID, batch); err != nil {
		done()
		return nil, nil, "", 0, nil, err
	}
	events += len(batch)
	fmt.Fprintf(env.Stdout, "recorded %d events in %s\n", events, time.Since(t0).Round(time.Millisecond))
	svc := svcFor(ws.ID)
	if _, _, err := svc.SaveRules(ctx, ws.ID, "bench", benchLeadRules()); err != nil {
		done()
		return nil, nil, "", 0, nil, err
	}
	return db, svc, ws.ID, *runs, done, nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	return strings.TrimSpace(string(b))
}

func runBenchScoring(ctx context.Context, env Env, args []string) error {
	var clearScores bool
	db, svc, ws, runs, done, err := benchLeadSetup(ctx, env, "scoring", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&clearScores, "clear", false, "delete the stored scores before each run, so every run writes every contact as a first recompute does")
	})
	if err != nil {
		return err
	}
	defer done()
	var ds []time.Duration
	for i := range runs {
		if clearScores {
			for _, t := range []string{"lead_state", "lead_transitions"} {
				if _, err := db.W.ExecContext(ctx, `DELETE FROM `+t+` WHERE workspace_id = $1`, ws); err != nil {
					return err
				}
			}
		}
		stop, err := startProfile(env.Getenv("FAIRLEAD_BENCH_CPUPROFILE"), fmt.Sprintf("recompute-%d", i+1))
		if err != nil {
			return err
		}
		load := loadavg()
		cpu0 := cpuTime()
		st, err := svc.Recompute(ctx, ws)
		cpu := cpuTime() - cpu0
		stop()
		if err != nil {
			return err
		}
		ds = append(ds, st.Duration)
		fmt.Fprintf(env.Stdout, "recompute %d: %d contacts (%d written), %d events, %d transitions, %d hand-offs in %s, process CPU %s (load at start %s)\n", i+1, st.Contacts, st.Written, st.Events, st.Transitions, st.Handoffs, st.Duration.Round(time.Millisecond), cpu.Round(time.Millisecond), load)
	}
	fmt.Fprintf(env.Stdout, "recompute median: %s\n", median(ds).Round(time.Millisecond))
	return nil
}

func runBenchSegments(ctx context.Context, env Env, args []string) error {
	_, svc, ws, runs, done, err := benchLeadSetup(ctx, env, "segments", args, nil)
	if err != nil {
		return err
	}
	defer done()
	if _, err := svc.Recompute(ctx, ws); err != nil {
		return err
	}
	num := func(v float64) *float64 { return &v }
	for _, c := range []struct {
		name string
		f    lead.Filter
	}{
		{"stage = marketing_qualified", lead.Filter{Field: "stage", Op: "eq", Value: "marketing_qualified"}},
		{"score >= 30", lead.Filter{Field: "score", Op: "gte", Number: num(30)}},
		{"b2b and score >= 20", lead.Filter{And: []lead.Filter{{Field: "audience", Op: "eq", Value: "b2b"}, {Field: "score", Op: "gte", Number: num(20)}}}},
		{"download within 30 days and not customer", lead.Filter{And: []lead.Filter{{Event: &lead.EventLeaf{Type: "download", WithinDays: 30}, Op: "happened"}, {Not: &lead.Filter{Field: "relationship", Op: "eq", Value: "customer"}}}}},
	} {
		var ds, cpus []time.Duration
		n := 0
		load := loadavg()
		for range max(runs, 5) {
			t0, cpu0 := time.Now(), cpuTime()
			if n, err = svc.Preview(ctx, ws, c.f); err != nil {
				return err
			}
			ds = append(ds, time.Since(t0))
			cpus = append(cpus, cpuTime()-cpu0)
		}
		fmt.Fprintf(env.Stdout, "preview %-42s count %8d  median %s, process CPU median %s (load at start %s)\n", c.name, n, median(ds).Round(time.Millisecond), median(cpus).Round(time.Millisecond), load)
	}
	return nil
}
