package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/audit"
	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/importer"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/track"
	"github.com/fairlead/fairlead/internal/web"
	"github.com/fairlead/fairlead/internal/web/admin"
	"github.com/fairlead/fairlead/internal/web/api"
	"github.com/fairlead/fairlead/internal/web/public"
)

func runServe(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "serve", "Run the HTTP server and the background workers.\nWith no configuration: embedded SQLite in ./fairlead-data, HTTP on 127.0.0.1:8080,\nand on first start a workspace \"demo\" with an admin user.")
	config.RegisterFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv, fs)
	if err != nil {
		return err
	}
	log := newLogger(cfg, env.Stderr)
	slog.SetDefault(log)

	// Listen before touching the database so a port in use fails fast and
	// with a message about the port, not about something else.
	l, err := web.Listen(cfg.Addr)
	if err != nil {
		return err
	}
	defer l.Close()

	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := bootstrap(ctx, db, cfg, env.Stdout); err != nil {
		return err
	}
	// A large recompute drops the score index until its end; a process
	// killed meanwhile left it missing.
	if err := lead.RepairIndexes(ctx, db); err != nil {
		return err
	}

	host, _ := os.Hostname()
	node := fmt.Sprintf("%s-%d-%s", host, os.Getpid(), id.New()[24:])
	// The master key is resolved before wiring: a missing key is a start-up
	// error naming FAIRLEAD_MASTER_KEY, and a created master.key is reused.
	if cfg, err = resolveKeys(ctx, db, cfg); err != nil {
		return err
	}
	if cfg.MasterKeyPrevious != "" {
		// Step 3 of a rotation is easy to forget; the old key protects
		// nothing once everything is rewrapped, and its copies are a risk.
		log.Warn("a previous master key is configured: once fairlead keys rotate reports nothing left to rewrap, remove FAIRLEAD_MASTER_KEY_PREVIOUS or master.key.previous (docs/keys.md)")
	}
	if _, err := dkimSigner(cfg); err != nil {
		return err
	}
	srv, queue := newInstance(db, cfg, log, node)
	if err := seedDemoWith(ctx, db, cfg, log); err != nil {
		return fmt.Errorf("demo workspace: %w", err)
	}

	if cfg.Workers > 0 {
		// Today's retention clean-up of every workspace; each run schedules
		// the next day's, and the unique key per day keeps restarts harmless.
		if err := (&privacy.Service{DB: db, Jobs: queue}).ScheduleRetention(ctx); err != nil {
			return fmt.Errorf("schedule retention clean-up: %w", err)
		}
		if err := queue.Start(ctx); err != nil {
			return fmt.Errorf("start workers: %w", err)
		}
	}
	bgCtx, bgStop := context.WithCancel(ctx)
	waitBackground := srv.StartBackground(bgCtx)
	defer func() { bgStop(); waitBackground() }()
	log.Info("fairlead serving", "addr", "http://"+l.Addr().String(), "backend", cfg.Backend(), "node", node, "workers", cfg.Workers, "version", Version)
	fmt.Fprintf(env.Stdout, "fairlead is listening on http://%s (%s)\n", l.Addr(), cfg.Backend())

	// One deadline for the whole stop: HTTP drain and job release share
	// FAIRLEAD_SHUTDOWN_TIMEOUT, so a process manager's kill after it finds
	// every job already released. The workers stop at the same time as the
	// listener, not after it.
	stopped := make(chan struct{})
	go func() {
		<-ctx.Done()
		log.Info("stopping: waiting for requests and jobs in flight", "timeout", cfg.ShutdownTimeout.String())
		if cfg.Workers > 0 {
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			if err := queue.Stop(sctx); err != nil {
				log.Warn("workers stopped with error", "err", err)
			}
		}
		close(stopped)
	}()
	serveErr := srv.Serve(ctx, l, cfg.ShutdownTimeout)
	if ctx.Err() != nil {
		<-stopped
	} else if cfg.Workers > 0 {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = queue.Stop(sctx)
	}
	if serveErr != nil {
		return serveErr
	}
	log.Info("stopped")
	return nil
}

// newInstance wires one fairlead process: services, API and job queue.
func newInstance(db *store.DB, cfg config.Config, log *slog.Logger, node string) (*web.Server, *jobs.Queue) {
	return newInstanceOpts(db, cfg, log, jobs.Options{Node: node})
}

// newInstanceOpts is newInstance with queue options (tests shorten the
// backoff and poll interval).
func newInstanceOpts(db *store.DB, cfg config.Config, log *slog.Logger, qo jobs.Options) (*web.Server, *jobs.Queue) {
	qo.Concurrency, qo.Logger = cfg.Workers, log
	queue := jobs.New(db, qo)
	registerJobs(queue)
	srv := web.NewServer(web.Options{Logger: log, MaxBodyBytes: cfg.MaxBodyBytes, Ready: db.Ping, TrustedProxies: cfg.TrustedProxies})
	registerMetrics(srv, db, queue)
	a := &api.API{DB: db, Auth: auth.NewStore(db, nil), Jobs: queue, Log: log}
	a.Contacts, a.Purposes, a.Notices, a.Ledger = consentServices(db, cfg)
	a.Webhooks = webhookService(db, cfg, a.Contacts.Keys(), queue, log)
	a.Webhooks.Register(queue)
	a.Track = trackService(db, a.Contacts.Keys())
	a.Audience = audience.New(db, a.Ledger, a.Purposes, nil)
	a.Track.Decider = a.Audience
	a.Track.Grants = a.Ledger
	a.Analytics = &track.Analytics{DB: db}
	a.Capture = captureService(db, cfg, a.Contacts, a.Purposes, a.Notices, a.Ledger, a.Audience, queue, log)
	a.Capture.Register(queue)
	a.Outbox, a.Settings, a.CheckGatewayURL = a.Capture.Delivery.Outbox, a.Capture.Settings, checkGatewayURL
	a.Audit = audit.New(db, nil)
	a.Privacy = privacyService(a.Capture, queue, log, a.Webhooks)
	a.Privacy.Register(queue)
	a.Suppliers = supplierService(db, a.Contacts, a.Notices, a.Ledger, a.Audience, a.Settings, queue, log)
	a.Suppliers.Register(queue)
	// One hook: the ledger keeps a single one, and every listener must hear
	// every append in the appending transaction.
	a.Ledger.OnAppend(ledgerHooks(a.Webhooks.OnLedgerEvent, a.Track.OnLedgerEvent, a.Suppliers.OnLedgerEvent))
	// The same event store as the tracking service's, so its scoring hook
	// hears every recorded event.
	a.Leads = leadService(db, cfg, a.Contacts, a.Audience, a.Webhooks, a.Capture, a.Track.Store)
	a.Analytics.Stages = leadStages{a.Leads}
	a.Leads.Register(queue)
	a.Importer = &importer.Service{DB: db, Contacts: a.Contacts, Ledger: a.Ledger, Notices: a.Notices}
	a.Campaigns = campaignService(db, cfg, a.Audience, a.Contacts, a.Capture, a.Privacy, queue, log)
	// Opens and clicks go into the shared event store (scoring hears them);
	// saved segments and stage/score conditions come from lead management.
	a.Campaigns.Track, a.Campaigns.Events = a.Track.Store, a.Track.Store
	a.Campaigns.Segments, a.Campaigns.Conditions = a.Leads, a.Leads
	a.Campaigns.Register(queue)
	a.Mount(srv)
	ui := adminUI(db, cfg, a, queue, log)
	ui.Mount(srv)
	// The dashboard's figures are counted beside the server, never on a
	// page view; the first pass runs at start-up.
	srv.Background(func(ctx context.Context) { ui.Dashboards.Run(ctx, admin.DashboardEvery) })
	pages := &public.Pages{Notices: a.Notices, Log: log}
	pages.Mount(srv)
	(&public.Capture{Pages: pages, Service: a.Capture, Workspaces: workspaceBySlug(db), Limit: cfg.FormRateLimit}).Mount(srv)
	(&public.Feedback{Check: a.Leads.CheckFeedback, Submit: a.Leads.SubmitFeedback, Log: log}).Mount(srv)
	(&public.DSR{Verify: func(ctx context.Context, tok string) error { _, err := a.Privacy.VerifyLink(ctx, tok); return err }, Log: log}).Mount(srv)
	(&public.Tracking{Service: a.Track, Coalesce: track.NewCoalescer(a.Track), Signer: a.Contacts.Keys(), Workspaces: workspaceBySlug(db), Log: log}).Mount(srv)
	(&public.MailNotifications{Campaigns: a.Campaigns, Log: log}).Mount(srv)
	(&public.CampaignTracking{Campaigns: a.Campaigns, Log: log}).Mount(srv)
	mountOpenAPI(srv)
	return srv, queue
}

// noopArgs are the arguments of the built-in system.noop job.
type noopArgs struct {
	SleepMS int `json:"sleep_ms"`
}

// registerJobs registers the job kinds this binary runs. system.noop is a
// probe: operators (and the multi-process test) enqueue it to see that
// workers are alive and that each job runs exactly once.
func registerJobs(q *jobs.Queue) {
	q.Register("system.noop", func(ctx context.Context, j *jobs.Job) error {
		var a noopArgs
		if err := json.Unmarshal(j.Args, &a); err != nil {
			return jobs.Cancel(fmt.Errorf("bad args: %w", err))
		}
		if a.SleepMS > 0 {
			select {
			case <-time.After(time.Duration(a.SleepMS) * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}, jobs.KindOptions{})
}

func registerMetrics(srv *web.Server, db *store.DB, q *jobs.Queue) {
	poolGauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	srv.MustRegister(
		poolGauge("fairlead_db_open_connections", "Open database connections (write and read pools).", func() float64 {
			w, r := db.PoolStats()
			if db.W == db.R {
				return float64(w.OpenConnections)
			}
			return float64(w.OpenConnections + r.OpenConnections)
		}),
		poolGauge("fairlead_db_in_use_connections", "Database connections in use.", func() float64 {
			w, r := db.PoolStats()
			if db.W == db.R {
				return float64(w.InUse)
			}
			return float64(w.InUse + r.InUse)
		}),
		poolGauge("fairlead_db_wait_count", "Waits for a database connection since start.", func() float64 {
			w, r := db.PoolStats()
			if db.W == db.R {
				return float64(w.WaitCount)
			}
			return float64(w.WaitCount + r.WaitCount)
		}),
		&jobCollector{q: q, db: db},
	)
}

// jobCollector reports job counts by state (all workspaces) and this
// process's job counters.
type jobCollector struct {
	q  *jobs.Queue
	db *store.DB
}

var (
	jobsByStateDesc = prometheus.NewDesc("fairlead_jobs", "Background jobs by state.", []string{"state"}, nil)
	jobsDoneDesc    = prometheus.NewDesc("fairlead_jobs_processed_total", "Jobs processed by this process, by outcome.", []string{"outcome"}, nil)
)

func (c *jobCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsByStateDesc
	ch <- jobsDoneDesc
}

func (c *jobCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if counts, err := c.q.CountByState(ctx); err == nil {
		for state, n := range counts {
			ch <- prometheus.MustNewConstMetric(jobsByStateDesc, prometheus.GaugeValue, float64(n), state)
		}
	}
	st := c.q.Stats()
	for outcome, n := range map[string]uint64{"completed": st.Completed, "failed": st.Failed, "dead": st.Dead, "released": st.Released} {
		ch <- prometheus.MustNewConstMetric(jobsDoneDesc, prometheus.CounterValue, float64(n), outcome)
	}
}
