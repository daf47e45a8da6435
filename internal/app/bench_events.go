package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/workspace"
)

const benchEventsHelp = `Measure tracking event ingestion end to end on a scratch database: the real
server on a loopback port takes --events events as batches of --batch per
POST /api/v1/events from --concurrency clients, then --single events one per
POST /p/t (the script's endpoint, with visitor tokens). Half of each batch is
about --contacts contacts who consented to web tracking (identified), half has
no contact but a visitor signal (anonymous counts; pseudonymous with
--pseudonymous). Every event goes through the engine. At the end the stored
rows are counted and must match.

SQLite in a new temporary directory unless --database-url is given on this
command line (FAIRLEAD_DATABASE_URL is ignored).`

func runBenchEvents(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "bench events", benchEventsHelp, "database-url")
	n := fs.Int("events", 200_000, "events to post in batches")
	batch := fs.Int("batch", 100, "events per POST /api/v1/events")
	single := fs.Int("single", 20_000, "events to post one per POST /p/t")
	conc := fs.Int("concurrency", 8, "clients posting at once")
	contacts := fs.Int("contacts", 200, "consented contacts the identified events are about")
	pseudo := fs.Bool("pseudonymous", false, "enable pseudonymous analytics: the contactless half gets pseudonyms instead of counts")
	dir := fs.String("dir", "", "scratch data directory for SQLite (default: a new temporary one, removed afterwards)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the batched phase to this file")
	singleprofile := fs.String("singleprofile", "", "write a CPU profile of the single-event phase to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 1 || *batch < 1 || *batch > 1000 || *conc < 1 || *contacts < 1 || *single < 0 {
		return fmt.Errorf("--events, --concurrency and --contacts must be at least 1, --batch 1 to 1000, --single not negative")
	}
	cfg, cleanup, err := benchConfig(env, fs, "events", dir, false)
	if err != nil {
		return err
	}
	defer cleanup()
	cfg.AdminPassword = "bench password only"
	cfg.Workers = 0

	bs, err := startBenchServer(ctx, env, &cfg)
	if err != nil {
		return err
	}
	defer bs.db.Close()
	l, base, db, srv := bs.l, bs.base, bs.db, bs.srv
	ws, err := workspace.BySlug(ctx, db.R, workspace.DemoSlug)
	if err != nil {
		l.Close()
		return err
	}
	_, tok, err := auth.NewStore(db, nil).CreateToken(ctx, ws.ID, "bench events", string(auth.RoleMarketing))
	if err != nil {
		l.Close()
		return err
	}
	_, admin, err := auth.NewStore(db, nil).CreateToken(ctx, ws.ID, "bench admin", string(auth.RoleAdmin))
	if err != nil {
		l.Close()
		return err
	}
	sctx, stopServer := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, l, 5*time.Second) }()
	defer func() {
		stopServer()
		<-served
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: *conc, MaxIdleConnsPerHost: *conc}, Timeout: 60 * time.Second}
	defer client.CloseIdleConnections()
	call := func(method, path, token string, body any, want int) (map[string]any, error) {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != want {
			return nil, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, b)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m, nil
	}

	// Consented contacts and their visitor tokens.
	text := "Ja, meine Nutzung der Website darf mit meinem Kontakt verknüpft werden."
	notice, err := call("POST", "/api/v1/notices", tok, map[string]any{"kind": "consent_text", "language": "de", "title": "Website", "body": text}, 201)
	if err != nil {
		return err
	}
	if *pseudo {
		if _, err := call("PATCH", "/api/v1/tracking/settings", admin, map[string]any{"pseudonymous_analytics": true}, 200); err != nil {
			return err
		}
	}
	ids := make([]string, *contacts)
	tokens := make([]string, *contacts)
	for i := range ids {
		c, err := call("POST", "/api/v1/contacts", tok, map[string]any{"email": fmt.Sprintf("visitor%d@bench.invalid", i), "audience": "b2c", "relationship": "prospect"}, 201)
		if err != nil {
			return err
		}
		ids[i] = c["id"].(string)
		if _, err := call("POST", "/api/v1/contacts/"+ids[i]+"/ledger", tok, map[string]any{"kind": "consent_requested", "purpose": "web_tracking", "channels": []string{"web"},
			"evidence": map[string]any{"source": "cmp:bench", "notice_hash": notice["id"], "text_shown": text}}, 201); err != nil {
			return err
		}
		if _, err := call("POST", "/api/v1/contacts/"+ids[i]+"/ledger", tok, map[string]any{"kind": "consent_confirmed", "purpose": "web_tracking", "channels": []string{"web"},
			"evidence": map[string]any{"source": "cmp:bench", "confirmation_method": "banner_click"}}, 201); err != nil {
			return err
		}
		t, err := call("POST", "/api/v1/tracking/visitor-tokens", tok, map[string]any{"contact_id": ids[i]}, 201)
		if err != nil {
			return err
		}
		tokens[i] = t["token"].(string)
	}

	out := env.Stdout
	fmt.Fprintf(out, "tracking events on %s: %d events in batches of %d, %d single, %d clients, %d consented contacts, pseudonymous %v\n",
		cfg.Backend(), *n, *batch, *single, *conc, *contacts, *pseudo)

	// Phase 1: batches. A batch is about batch/20 contacts (10 events each
	// at batch 100, as a site's backend flushing a buffer sends them) plus
	// as many contactless events.
	bodies := (*n + *batch - 1) / *batch
	var next atomic.Int64
	var identified, other atomic.Int64
	mkBatch := func(k int) ([]byte, int, int) {
		size := min(*batch, *n-k**batch)
		evs := make([]map[string]any, 0, size)
		idn := 0
		for j := 0; j < size; j++ {
			e := map[string]any{"type": "page_view", "name": fmt.Sprintf("/page/%d", j%25)}
			if j%2 == 0 {
				e["contact_id"] = ids[(k*7+j/10)%len(ids)]
				idn++
			} else {
				e["visitor"] = map[string]any{"ip": fmt.Sprintf("198.51.%d.%d", (k/250)%250, k%250), "user_agent": "bench/1.0"}
			}
			evs = append(evs, e)
		}
		b, _ := json.Marshal(map[string]any{"events": evs})
		return b, idn, size - idn
	}
	if *cpuprofile != "" {
		stop, err := startCPUProfileAt(*cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	lat := make([]time.Duration, bodies)
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	t0 := time.Now()
	for c := 0; c < *conc; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= bodies {
					return
				}
				body, idn, rest := mkBatch(k)
				req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/events", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok)
				s := time.Now()
				res, err := client.Do(req)
				if err == nil {
					b, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						err = fmt.Errorf("POST /api/v1/events: %d %s", res.StatusCode, b)
					}
				}
				lat[k] = time.Since(s)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				identified.Add(int64(idn))
				other.Add(int64(rest))
			}
		}()
	}
	wg.Wait()
	took := time.Since(t0)
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if firstErr != nil {
		return firstErr
	}
	fmt.Fprintf(out, "batched: %d events in %d requests in %s: %.0f events/s, request p50 %s, p99 %s\n", *n, bodies, took.Round(time.Millisecond),
		float64(*n)/took.Seconds(), pct(lat, 50), pct(lat, 99))

	// Phase 2: single events to /p/t, as the script sends them.
	if *single > 0 {
		next.Store(0)
		lat = make([]time.Duration, *single)
		if *singleprofile != "" {
			stop, err := startCPUProfileAt(*singleprofile)
			if err != nil {
				return err
			}
			defer stop()
		}
		t0 = time.Now()
		for c := 0; c < *conc; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					k := int(next.Add(1) - 1)
					if k >= *single {
						return
					}
					body, _ := json.Marshal(map[string]any{"v": tokens[k%len(tokens)], "e": []map[string]any{{"type": "page_view", "name": "/p"}}})
					req, _ := http.NewRequestWithContext(ctx, "POST", base+"/p/t", bytes.NewReader(body))
					req.Header.Set("Content-Type", "text/plain")
					s := time.Now()
					res, err := client.Do(req)
					if err == nil {
						b, _ := io.ReadAll(res.Body)
						res.Body.Close()
						if res.StatusCode != 200 || !bytes.Contains(b, []byte(`"identified":true`)) {
							err = fmt.Errorf("POST /p/t: %d %s", res.StatusCode, b)
						}
					}
					lat[k] = time.Since(s)
					if err != nil {
						errOnce.Do(func() { firstErr = err })
						return
					}
					identified.Add(1)
				}
			}()
		}
		wg.Wait()
		took = time.Since(t0)
		if *singleprofile != "" {
			pprof.StopCPUProfile()
		}
		if firstErr != nil {
			return firstErr
		}
		fmt.Fprintf(out, "single /p/t: %d events in %s: %.0f events/s, p50 %s, p99 %s\n", *single, took.Round(time.Millisecond),
			float64(*single)/took.Seconds(), pct(lat, 50), pct(lat, 99))
	}

	var idRows, counted, pseudoRows int64
	q := func(dst *int64, sql string) error { return db.R.QueryRowContext(ctx, sql, ws.ID).Scan(dst) }
	if err := q(&idRows, `SELECT count(*) FROM track_events WHERE workspace_id = $1`); err != nil {
		return err
	}
	if err := q(&counted, `SELECT coalesce(sum(count), 0) FROM track_counts WHERE workspace_id = $1`); err != nil {
		return err
	}
	if err := q(&pseudoRows, `SELECT count(*) FROM track_pseudonymous WHERE workspace_id = $1`); err != nil {
		return err
	}
	ok := idRows == identified.Load() && counted+pseudoRows == other.Load()
	verdict := "OK"
	if !ok {
		verdict = "FAILED"
	}
	fmt.Fprintf(out, "check %s: %d identified rows (want %d), %d counted + %d pseudonymous (want %d)\n", verdict, idRows, identified.Load(), counted, pseudoRows, other.Load())
	if !ok {
		return fmt.Errorf("events benchmark: the stored rows do not match what was sent")
	}
	return nil
}
