package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/workspace"
)

// runBenchAudience generates contacts with a realistic mix of ledger
// histories and measures decisions and audience resolution.
func runBenchAudience(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "bench audience", "Generate N contacts with a realistic mix of ledger histories in a scratch database,\nthen report single-decision latency in-process (p50/p99), decisions/s over HTTP on\nloopback, audience resolution time for newsletter × email, and storage per contact.", "database-url")
	n := fs.Int("contacts", 1_000_000, "contacts to generate")
	dir := fs.String("dir", "", "scratch data directory for SQLite, and where the run keeps its master key for --reuse (default: a new temporary one, removed afterwards)")
	seconds := fs.Duration("http-for", 5*time.Second, "how long to load the HTTP endpoint")
	reuse := fs.Bool("reuse", false, "measure the contacts a previous run generated in --dir (or --database-url) instead of generating new ones")
	profile := fs.String("cpuprofile", "", "write CPU profiles of generation and of warm resolution to `PREFIX`-generate.pprof and PREFIX-resolve.pprof")
	mix := fs.String("mix", "realistic", "ledger histories to generate: realistic (half a newsletter consent, 5 % withdrawn, 5 % objections) or confirmed (every contact exactly one confirmed consent with its evidence)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 1 {
		return fmt.Errorf("--contacts must be at least 1")
	}
	if *mix != "realistic" && *mix != "confirmed" {
		return fmt.Errorf("--mix must be realistic or confirmed, not %q", *mix)
	}
	// Only a --database-url given on this command line leads to PostgreSQL:
	// the environment of a production host must never make the benchmark
	// write a million contacts into the real database.
	cfg, cleanup, err := benchConfig(env, fs, "audience", dir, *reuse)
	if err != nil {
		return err
	}
	defer cleanup()
	// The scratch master key is kept in --dir, so --reuse can open the
	// contacts of an earlier run (on PostgreSQL too, when --dir is given).
	keyFile := ""
	if *dir != "" {
		keyFile = filepath.Join(*dir, "bench-audience.key")
	}
	if *reuse {
		if keyFile == "" {
			return fmt.Errorf("--reuse on PostgreSQL needs the --dir in which the generating run kept its key")
		}
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return fmt.Errorf("--reuse: no key of an earlier bench audience run in %s: %w", *dir, err)
		}
		cfg.MasterKey = strings.TrimSpace(string(b))
	} else if keyFile != "" {
		if err := os.MkdirAll(*dir, 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(keyFile, []byte(cfg.MasterKey), 0o600); err != nil {
			return err
		}
	}
	cfg.Workers = 0
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if db.Dialect == store.SQLite {
		// Generation inserts into random places of the blind-index
		// B-tree; with SQLite's default 2 MiB page cache, every such insert
		// reads its page back from the file once the tree outgrows it.
		if _, err := db.W.ExecContext(ctx, `PRAGMA cache_size = -524288`); err != nil {
			return err
		}
	}
	_, purposes, notices, ledger := consentServices(db, cfg)
	out := env.Stdout
	var ws workspace.Workspace
	var ids []string
	stopProfile := func() {}
	if *reuse {
		if ws, ids, err = benchWorkspace(ctx, db); err != nil {
			return err
		}
		*n = len(ids)
		fmt.Fprintf(out, "reusing %d contacts of workspace %s\n", *n, ws.Slug)
	} else {
		ws, err = workspace.Create(ctx, db.W, fmt.Sprintf("bench-%d", time.Now().UnixNano()), "Bench", time.Now())
		if err != nil {
			return err
		}
		text, _, err := notices.Create(ctx, ws.ID, "bench", consent.NewNotice{Kind: "consent_text", Language: "de", Title: "Newsletter", Body: "Ja, ich möchte den Newsletter per E-Mail erhalten. Widerruf jederzeit."})
		if err != nil {
			return err
		}
		if stopProfile, err = startProfile(*profile, "generate"); err != nil {
			return err
		}
		t0 := time.Now()
		ids, err = generateContactsMix(ctx, db, ledger, ws.ID, text, *n, *mix == "confirmed", func(done int) {
			if done%50_000 == 0 {
				fmt.Fprintf(env.Stderr, "generated %d of %d contacts (%.0f/s)\n", done, *n, float64(done)/time.Since(t0).Seconds())
			}
		})
		if err != nil {
			return err
		}
		gen := time.Since(t0)
		stopProfile()
		fmt.Fprintf(out, "generated %d contacts in %s (%.0f contacts/s)\n", *n, gen.Round(time.Millisecond), float64(*n)/gen.Seconds())
		if db.Dialect == store.Postgres {
			// What autovacuum does some time after a mass import: without
			// the visibility map, index-only scans visit every heap row.
			s := time.Now()
			if _, err := db.W.ExecContext(ctx, `VACUUM (ANALYZE)`); err != nil {
				return err
			}
			fmt.Fprintf(out, "VACUUM (ANALYZE) in %s\n", time.Since(s).Round(time.Millisecond))
		}
	}
	if len(ids) > 5000 {
		// Decisions and HTTP load pick from a sample; the full list is let
		// go, or every garbage collection during the resolutions would scan
		// millions of strings no server holds (after generation as after
		// --reuse).
		rand.New(rand.NewPCG(3, 4)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		ids = slices.Clone(ids[:5000])
	}
	if db.Dialect == store.SQLite {
		_ = db.Checkpoint(ctx)
		fi, err := os.Stat(filepath.Join(cfg.DataDir, "fairlead.db"))
		if err == nil {
			fmt.Fprintf(out, "database %.1f MiB: %.0f bytes per contact (all tables and indexes)\n", float64(fi.Size())/(1<<20), float64(fi.Size())/float64(*n))
		}
	} else {
		var size int64
		if err := db.R.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&size); err == nil {
			fmt.Fprintf(out, "database %.1f MiB: %.0f bytes per contact (all tables and indexes)\n", float64(size)/(1<<20), float64(size)/float64(*n))
		}
	}

	res := audience.New(db, ledger, purposes, nil)
	// Single decisions in-process: facts from the database, then the engine.
	r := rand.New(rand.NewPCG(1, 2))
	var lat []time.Duration
	var pure []time.Duration
	for i := 0; i < 2000; i++ {
		cid := ids[r.IntN(len(ids))]
		s := time.Now()
		f, req, err := ledger.Facts(ctx, ws.ID, cid, "newsletter", "email", time.Now())
		if err != nil {
			return err
		}
		mid := time.Now()
		if _, err := policy.Decide(f, req); err != nil {
			return err
		}
		end := time.Now()
		lat = append(lat, end.Sub(s))
		pure = append(pure, end.Sub(mid))
	}
	fmt.Fprintf(out, "single decision with facts from the database: p50 %s, p99 %s\n", pct(lat, 50), pct(lat, 99))
	fmt.Fprintf(out, "engine alone (policy.Decide): p50 %s, p99 %s\n", pct(pure, 50), pct(pure, 99))

	// Audience resolution, cold then warm.
	for i, label := range []string{"cold", "warm", "warm", "warm"} {
		if i == 1 {
			if stopProfile, err = startProfile(*profile, "resolve"); err != nil {
				return err
			}
		}
		s, cpu := time.Now(), cpuTime()
		count, err := res.Resolve(ctx, ws.ID, audience.Query{Purpose: "newsletter", Channel: "email"}, func(string) error { return nil })
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "audience newsletter × email (%s): %d of %d contacts in %s (CPU of this process %s)\n", label, count, *n,
			time.Since(s).Round(time.Millisecond), (cpuTime() - cpu).Round(time.Millisecond))
	}
	stopProfile()
	for range 2 {
		s := time.Now()
		count, err := res.Resolve(ctx, ws.ID, audience.Query{Purpose: "newsletter", Channel: "email", Filter: audience.Filter{Audience: "b2b"}}, func(string) error { return nil })
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "audience newsletter × email, b2b only: %d in %s\n", count, time.Since(s).Round(time.Millisecond))
	}
	for range 3 {
		s, cpu := time.Now(), cpuTime()
		count, err := res.Count(ctx, ws.ID, audience.Query{Purpose: "newsletter", Channel: "email"})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "audience newsletter × email counted: %d in %s (CPU %s)\n", count, time.Since(s).Round(100*time.Microsecond), (cpuTime() - cpu).Round(100*time.Microsecond))
	}

	// Decisions over HTTP on loopback.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, _ := newInstance(db, cfg, log, "bench")
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	_, secret, err := auth.NewStore(db, nil).CreateToken(ctx, ws.ID, "bench", "sales")
	if err != nil {
		return err
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(*seconds)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rr := rand.New(rand.NewPCG(uint64(g), 9))
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest("GET", ts.URL+"/api/v1/contacts/"+ids[rr.IntN(len(ids))]+"/contactability?purpose=newsletter&channel=email", nil)
				req.Header.Set("Authorization", "Bearer "+secret)
				resp, err := client.Do(req)
				if err != nil {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					done.Add(1)
				}
			}
		}(g)
	}
	wg.Wait()
	fmt.Fprintf(out, "decisions over HTTP on loopback (8 clients, %s): %.0f/s\n", *seconds, float64(done.Load())/seconds.Seconds())

	// The whole audience as NDJSON over loopback HTTP, read to the end.
	for range 3 {
		s := time.Now()
		req, _ := http.NewRequest("POST", ts.URL+"/api/v1/audiences/resolve", strings.NewReader(`{"purpose":"newsletter","channel":"email"}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		nb, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return fmt.Errorf("audience over HTTP: status %d, %v", resp.StatusCode, err)
		}
		fmt.Fprintf(out, "audience newsletter × email as NDJSON over loopback HTTP: %.1f MiB in %s\n", float64(nb)/(1<<20), time.Since(s).Round(time.Millisecond))
	}
	return nil
}

// cpuTime is the CPU time (user and system) this process has used. On a
// machine shared with other work it tells what a step costs when the wall
// clock also counts the wait for a core. (On PostgreSQL the server's share
// is not in it.)
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startProfile starts a CPU profile to prefix-phase.pprof; the function it
// returns stops it. An empty prefix profiles nothing.
func startProfile(prefix, phase string) (func(), error) {
	if prefix == "" {
		return func() {}, nil
	}
	f, err := os.Create(prefix + "-" + phase + ".pprof")
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// benchWorkspace finds the newest workspace an earlier run generated and
// lists its contact IDs.
func benchWorkspace(ctx context.Context, db *store.DB) (workspace.Workspace, []string, error) {
	var slug string
	if err := db.R.QueryRowContext(ctx, `SELECT slug FROM workspaces WHERE slug LIKE 'bench-%' ORDER BY created_at DESC LIMIT 1`).Scan(&slug); err != nil {
		return workspace.Workspace{}, nil, fmt.Errorf("--reuse: no workspace of an earlier run here: %w", err)
	}
	ws, err := workspace.BySlug(ctx, db.R, slug)
	if err != nil {
		return workspace.Workspace{}, nil, err
	}
	ids, err := store.Strings(ctx, db.R, `SELECT id FROM contacts WHERE workspace_id = $1`, ws.ID)
	if err != nil || len(ids) == 0 {
		return workspace.Workspace{}, nil, fmt.Errorf("--reuse: workspace %s has no contacts (%v)", slug, err)
	}
	return ws, ids, nil
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100].Round(100 * time.Nanosecond)
}

// generateContacts makes n contacts, 1,000 per transaction, through a
// consent.Bulk (the real contact store and ledger, prepared statements, one
// permission-state derivation per contact): about half give a newsletter
// consent by e-mail double opt-in (some of them withdraw it later), some
// object to direct marketing.
func generateContacts(ctx context.Context, db *store.DB, ledger *consent.Ledger, ws string, text consent.Notice, n int, progress func(int)) ([]string, error) {
	return generateContactsMix(ctx, db, ledger, ws, text, n, false, progress)
}

// generateContactsMix is generateContacts; with allConfirmed every contact
// gets exactly one confirmed newsletter consent by e-mail double opt-in
// (request and confirmation with their evidence) and nothing else, the
// contact whose storage the < 1 KB target is about.
func generateContactsMix(ctx context.Context, db *store.DB, ledger *consent.Ledger, ws string, text consent.Notice, n int, allConfirmed bool, progress func(int)) ([]string, error) {
	r := rand.New(rand.NewPCG(42, 42))
	ids := make([]string, 0, n)
	requested := consent.EvidenceInput{Source: "form:newsletter", NoticeHash: text.Hash, TextShown: text.Body, IPAddress: "198.51.100.23"}
	confirmed := consent.EvidenceInput{Source: "form:newsletter", ConfirmationMethod: "email_link"}
	actor := consent.Actor{TokenID: "bench"}
	base := time.Now().UTC()
	at := func(days int) *time.Time { t := base.AddDate(0, 0, -days); return &t }
	for len(ids) < n {
		err := db.Tx(ctx, func(tx store.Tx) error {
			b, err := ledger.Bulk(ctx, tx, ws)
			if err != nil {
				return err
			}
			cs := b.Contacts()
			for k := 0; k < 1000 && len(ids) < n; k++ {
				i := len(ids)
				in := contact.Input{FirstName: "Erika", LastName: "Mustermann", Email: fmt.Sprintf("person%d@example.com", i),
					Audience: []string{"b2c", "b2c", "b2c", "b2b"}[r.IntN(4)], Relationship: []string{"prospect", "prospect", "customer"}[r.IntN(3)]}
				c, err := cs.Create(ctx, ws, in)
				if err != nil {
					return err
				}
				x := r.IntN(100)
				if x < 50 || allConfirmed {
					if _, err := b.Append(ctx, c.ID, consent.NewEvent{Kind: consent.KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at(400), Details: consent.Details{Verification: "email_doi"}, Evidence: requested}, actor); err != nil {
						return err
					}
					if _, err := b.Append(ctx, c.ID, consent.NewEvent{Kind: consent.KindConsentConfirmed, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at(399), Details: consent.Details{Verification: "email_doi"}, Evidence: confirmed}, actor); err != nil {
						return err
					}
					if x < 5 && !allConfirmed {
						if _, err := b.Append(ctx, c.ID, consent.NewEvent{Kind: consent.KindConsentWithdrawn, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at(30)}, actor); err != nil {
							return err
						}
					}
				} else if x < 55 {
					if _, err := b.Append(ctx, c.ID, consent.NewEvent{Kind: consent.KindObjection, OccurredAt: at(60), Details: consent.Details{ObjectionType: "direct_marketing"}}, actor); err != nil {
						return err
					}
				}
				ids = append(ids, c.ID)
			}
			return b.Flush(ctx)
		})
		if err != nil {
			return nil, fmt.Errorf("generate contacts: %w", err)
		}
		if progress != nil {
			progress(len(ids))
		}
	}
	return ids, nil
}
