package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/web/admin"
	"github.com/fairlead/fairlead/internal/workspace"
)

// runBenchAdmin renders admin pages on a database with N generated
// contacts and reports the server time of each (the handler, in process,
// without the network): the contact list's first page and a deep page
// (keyset), a search by e-mail, a name search, a contact page with its
// matrix and timeline, the dashboard (its first render right after start,
// while the background refresher makes its first pass, and the stored
// figures after it), the contact list filtered by stage and by segment,
// and a segment's members and feedback.
func runBenchAdmin(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "bench admin", "Generate N contacts (as bench audience does) in a scratch database, then render admin UI\npages in process and report their server time (p50, p95, max over --runs renders each).", "database-url")
	n := fs.Int("contacts", 100_000, "contacts to generate")
	dir := fs.String("dir", "", "scratch data directory for SQLite (default: a new temporary one, removed afterwards)")
	reuse := fs.Bool("reuse", false, "measure the contacts an earlier bench audience/admin run generated in --dir (or --database-url)")
	runs := fs.Int("runs", 50, "renders per page")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 100 || *runs < 1 {
		return fmt.Errorf("--contacts must be at least 100 and --runs at least 1")
	}
	cfg, cleanup, err := benchConfig(env, fs, "admin", dir, *reuse)
	if err != nil {
		return err
	}
	defer cleanup()
	// The scratch master key is kept beside the data, so --reuse can open
	// the contacts of an earlier run.
	keyFile := ""
	if cfg.DatabaseURL == "" {
		keyFile = *dir + "/bench-admin.key"
	}
	if *reuse && keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return fmt.Errorf("--reuse: no key of an earlier bench admin run in %s: %w", *dir, err)
		}
		cfg.MasterKey = strings.TrimSpace(string(b))
	} else {
		if keyFile != "" {
			if err := os.WriteFile(keyFile, []byte(cfg.MasterKey), 0o600); err != nil {
				return err
			}
		}
	}
	cfg.Workers = 0
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	out := env.Stdout
	var ws workspace.Workspace
	var ids []string
	if *reuse {
		if ws, ids, err = benchWorkspace(ctx, db); err != nil {
			return err
		}
	} else {
		if db.Dialect == store.SQLite {
			if _, err := db.W.ExecContext(ctx, `PRAGMA cache_size = -524288`); err != nil {
				return err
			}
		}
		_, _, notices, ledger := consentServices(db, cfg)
		ws, err = workspace.Create(ctx, db.W, fmt.Sprintf("bench-%d", time.Now().UnixNano()), "Bench", time.Now())
		if err != nil {
			return err
		}
		text, _, err := notices.Create(ctx, ws.ID, "bench", consent.NewNotice{Kind: "consent_text", Language: "de", Title: "Newsletter", Body: "Ja, ich möchte den Newsletter per E-Mail erhalten. Widerruf jederzeit."})
		if err != nil {
			return err
		}
		t0 := time.Now()
		ids, err = generateContacts(ctx, db, ledger, ws.ID, text, *n, func(done int) {
			if done%50_000 == 0 {
				fmt.Fprintf(env.Stderr, "generated %d of %d contacts\n", done, *n)
			}
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "generated %d contacts in %s\n", len(ids), time.Since(t0).Round(time.Millisecond))
		if db.Dialect == store.Postgres {
			if _, err := db.W.ExecContext(ctx, `VACUUM (ANALYZE)`); err != nil {
				return err
			}
		}
	}
	broad, rare, err := benchLeadStates(ctx, db, ws.ID, ids)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, _ := newInstance(db, cfg, log, "bench")
	h := srv.Handler()
	u, err := auth.NewStore(db, nil).CreateUser(ctx, ws.ID, auth.NewUser{Email: fmt.Sprintf("bench-%d@example.com", time.Now().UnixNano()), Role: "admin", Password: "bench admin password"})
	if err != nil {
		return err
	}
	tok, err := admin.NewSessions(db, 0, 0, nil).Create(ctx, ws.ID, u.ID, "en", false)
	if err != nil {
		return err
	}
	// ids are in creation order, which is ID order (UUIDv7): the page
	// after ids[len-60] is one of the last.
	deep := ids[len(ids)-60]
	probe := ids[len(ids)/2]
	var email string
	contacts, _, _, _ := consentServices(db, cfg)
	c, err := contacts.Get(ctx, ws.ID, probe)
	if err != nil {
		return err
	}
	email = c.Email
	render := func(path string) (time.Duration, string, error) {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(&http.Cookie{Name: "fairlead_session", Value: tok})
		rec := httptest.NewRecorder()
		s := time.Now()
		h.ServeHTTP(rec, req)
		d := time.Since(s)
		if rec.Code != 200 {
			return d, "", fmt.Errorf("%s: status %d", path, rec.Code)
		}
		return d, rec.Body.String(), nil
	}
	fmt.Fprintf(out, "admin pages on %s with %d contacts, %d renders each (server time in process; cpu = user+sys of this process per render)\n", cfg.Backend(), len(ids), *runs)
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(out, "load average at start: %s", b)
	}
	// A fresh start: the dashboard's refresher begins its first pass as the
	// server starts, and the first page view must not wait for it.
	var stored int
	if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM admin_dashboard WHERE workspace_id = $1`, ws.ID).Scan(&stored); err != nil {
		return err
	}
	bgCtx, bgStop := context.WithCancel(ctx)
	t0, cpu0 := time.Now(), cpuTime()
	waitBackground := srv.StartBackground(bgCtx)
	defer func() { bgStop(); waitBackground() }()
	d, body, err := render("/admin/")
	if err != nil {
		return err
	}
	state := "figures from the previous run's pass shown"
	if strings.Contains(body, `id="figures-pending"`) {
		state = "\"figures are being computed\" shown"
	}
	if stored == 0 && !strings.Contains(body, `id="figures-pending"`) {
		state = "figures of the first pass shown"
	}
	fmt.Fprintf(out, "  %-48s %8s  (%s)\n", "dashboard, first render right after start", d.Round(10*time.Microsecond), state)
	for {
		var at *time.Time
		err := db.R.QueryRowContext(ctx, `SELECT computed_at FROM admin_dashboard WHERE workspace_id = $1`, ws.ID).Scan(&at)
		if err == nil && at != nil && !at.Before(t0.Add(-time.Second)) {
			break
		}
		if time.Since(t0) > 10*time.Minute {
			return fmt.Errorf("the dashboard refresher did not finish a pass in 10 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Fprintf(out, "  %-48s %8s  (cpu of the process meanwhile %s)\n", "background refresh pass (all workspaces)", time.Since(t0).Round(time.Millisecond), (cpuTime() - cpu0).Round(time.Millisecond))
	pages := []struct {
		name string
		path string
		runs int
	}{
		{"contact list, first page", "/admin/contacts", *runs},
		{"contact list, deep page (keyset)", "/admin/contacts?after=" + deep, *runs},
		{"search by e-mail (blind index)", "/admin/contacts?q=" + url.QueryEscape(email), *runs},
		{"search by name (bounded scan, 200 contacts)", "/admin/contacts?q=nobody", *runs},
		{"contact page (matrix, values, timeline)", "/admin/contacts/" + probe, *runs},
		{"dashboard (stored figures)", "/admin/", *runs},
		{"contacts by stage lead (20 %)", "/admin/contacts?stage=lead", *runs},
		{"contacts by stage customer (3 %)", "/admin/contacts?stage=customer", *runs},
		{"contacts by stage visitor (60 %, no state row)", "/admin/contacts?stage=visitor", *runs},
		{"contacts by stage lead, deep page", "/admin/contacts?stage=lead&after=" + deep, *runs},
		{"contacts by segment (15 %)", "/admin/contacts?segment=" + broad, *runs},
		{"segment members (15 %)", "/admin/leads/segments/" + broad + "/members", *runs},
		{"segment members (3 %)", "/admin/leads/segments/" + rare + "/members", *runs},
		{"segment members (15 %), deep page", "/admin/leads/segments/" + broad + "/members?after=" + deep, *runs},
		// The feedback summary reads the answers (1 % of the contacts
		// answered) and asks which of their authors are members.
		{"segment feedback (answers of 1 %, members 15 %)", "/admin/leads/segments/" + broad + "/feedback", *runs},
	}
	for _, p := range pages {
		var lat []time.Duration
		cpu := cpuTime()
		for i := 0; i < p.runs; i++ {
			d, _, err := render(p.path)
			if err != nil {
				return err
			}
			lat = append(lat, d)
		}
		per := (cpuTime() - cpu) / time.Duration(p.runs)
		first := lat[0]
		fmt.Fprintf(out, "  %-48s first %8s  p50 %8s  p95 %8s  max %8s  cpu %8s\n", p.name, first.Round(10*time.Microsecond), pct(lat, 50).Round(10*time.Microsecond), pct(lat, 95).Round(10*time.Microsecond), pct(lat, 100).Round(10*time.Microsecond), per.Round(10*time.Microsecond))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(out, "load average at the end: %s", b)
	}
	return nil
}
