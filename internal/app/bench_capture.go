package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/capture/form"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/workspace"
)

const benchCaptureHelp = `Measure lead capture end to end on a scratch database: the real server on a
loopback port (no form rate limit, no workers) takes N public submissions of the
demo form, form-encoded like a browser, from --concurrency clients over HTTP, and
reports submissions/s with p50/p99 latency. Then the workers start against an
in-process SMTP sink and the confirmation mails delivered per second are reported
until all have arrived. At the end the contacts, pending consents and mails are
counted and must each equal N. With --returning P, P percent of the submissions
sign up a known address again (with --mails 0): then the contacts must number N
less those, and the events N.

SQLite in a new temporary directory unless --database-url is given on this
command line (FAIRLEAD_DATABASE_URL is ignored: the benchmark never writes into
a configured database).`

// runBenchCapture measures public form submissions and confirmation mail
// delivery through the real HTTP stack and job queue.
func runBenchCapture(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "bench capture", benchCaptureHelp, "database-url")
	n := fs.Int("submissions", 20_000, "public form submissions to post")
	conc := fs.Int("concurrency", 16, "clients posting at once")
	mails := fs.Int("mails", -1, "confirmation mails to wait for in the delivery phase (-1 = one per submission, 0 = skip the phase)")
	workers := fs.Int("workers", 8, "job workers sending the confirmation mails")
	returning := fs.Int("returning", 0, "percent of the submissions (0-100) that sign up again an address signed up 200 submissions before")
	dir := fs.String("dir", "", "scratch data directory for SQLite (default: a new temporary one, removed afterwards)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the submission phase to this file")
	traceOut := fs.String("trace", "", "write an execution trace of the submission phase to this file (go tool trace)")
	mailprofile := fs.String("mailprofile", "", "write a CPU profile of the delivery phase to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 1 || *conc < 1 || *workers < 1 || *workers > 256 {
		return fmt.Errorf("--submissions and --concurrency must be at least 1, --workers from 1 to 256")
	}
	if *returning < 0 || *returning > 100 {
		return fmt.Errorf("--returning must be a percentage from 0 to 100, not %d", *returning)
	}
	if *returning > 0 && *mails != 0 {
		return fmt.Errorf("--returning needs --mails 0: a returning address's mails are not counted")
	}
	if *mails < 0 || *mails > *n {
		*mails = *n
	}
	// Only a --database-url given on this command line leads to PostgreSQL.
	cfg, cleanup, err := benchConfig(env, fs, "capture", dir, false)
	if err != nil {
		return err
	}
	defer cleanup()
	cfg.AdminPassword = "bench password only"
	cfg.FormRateLimit = 0
	cfg.Workers = *workers
	cfg.MailFrom = "newsletter@bench.invalid"

	sink, err := startMailSink()
	if err != nil {
		return err
	}
	defer sink.Close()
	cfg.SMTPURL = sink.URL()

	bs, err := startBenchServer(ctx, env, &cfg)
	if err != nil {
		return err
	}
	defer bs.db.Close()
	l, base, db, srv, log, queue := bs.l, bs.base, bs.db, bs.srv, bs.log, bs.queue
	if err := seedDemoWith(ctx, db, cfg, log); err != nil {
		l.Close()
		return fmt.Errorf("demo workspace: %w", err)
	}
	ws, err := workspace.BySlug(ctx, db.R, workspace.DemoSlug)
	if err != nil {
		l.Close()
		return err
	}
	before, err := captureCounts(ctx, db, ws.ID)
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

	out := env.Stdout
	fmt.Fprintf(out, "lead capture on %s: %d submissions, %d clients, %d workers\n", cfg.Backend(), *n, *conc, *workers)

	// Phase 1: submissions; nothing is sent, so only the enqueue is measured.
	if *cpuprofile != "" {
		stop, err := startCPUProfileAt(*cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if *traceOut != "" {
		f, err := os.Create(*traceOut)
		if err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
		defer trace.Stop()
	}
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(out, "load average at start: %s\n", strings.TrimSpace(string(b)))
	}
	var stmts atomic.Int64
	db.SetTrace(func(string) { stmts.Add(1) })
	cpu := cpuTime()
	lat, took, err := postSubmissions(ctx, base+"/p/forms/"+form.DemoKey, run, *n, *conc, *returning)
	if err != nil {
		return err
	}
	cpu = cpuTime() - cpu
	db.SetTrace(nil)
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if *traceOut != "" {
		trace.Stop()
	}
	fmt.Fprintf(out, "submissions: %d in %s: %.0f/s, p50 %s, p99 %s, max %s\n", *n, took.Round(time.Millisecond),
		float64(*n)/took.Seconds(), pct(lat, 50), pct(lat, 99), pct(lat, 100))
	// The process runs the clients too: its CPU is an upper bound of the server's.
	fmt.Fprintf(out, "process CPU (user+sys, clients included): %s, %.3f ms per submission; %.1f statements per submission in write transactions\n",
		cpu.Round(time.Millisecond), float64(cpu.Microseconds())/1000/float64(*n), float64(stmts.Load())/float64(*n))

	// Phase 2: the workers send the confirmation mails.
	if *mails > 0 {
		if *mailprofile != "" {
			stop, err := startCPUProfileAt(*mailprofile)
			if err != nil {
				return err
			}
			defer stop()
		}
		qctx, cancel := context.WithCancel(ctx)
		defer cancel()
		t0 := time.Now()
		if err := queue.Start(qctx); err != nil {
			return fmt.Errorf("start workers: %w", err)
		}
		if err := sink.waitFor(ctx, *mails, 10*time.Minute); err != nil {
			return err
		}
		d := time.Since(t0)
		if *mailprofile != "" {
			pprof.StopCPUProfile()
		}
		fmt.Fprintf(out, "confirmation mails: %d delivered in %s: %.0f/s\n", *mails, d.Round(time.Millisecond), float64(*mails)/d.Seconds())
		// The jobs are marked done just after the mail left; give them a moment.
		deadline := time.Now().Add(30 * time.Second)
		for *mails == *n && time.Now().Before(deadline) {
			c, err := captureCounts(ctx, db, ws.ID)
			if err != nil {
				return err
			}
			if c.jobsDone-before.jobsDone >= *n {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		stopCtx, cancelStop := context.WithTimeout(ctx, 30*time.Second)
		defer cancelStop()
		if err := queue.Stop(stopCtx); err != nil {
			return fmt.Errorf("stop workers: %w", err)
		}
	}

	after, err := captureCounts(ctx, db, ws.ID)
	if err != nil {
		return err
	}
	d := after.minus(before)
	d.mails = sink.count()
	again := 0
	for i := range *n {
		if _, back := submissionAddress(i, *returning); back {
			again++
		}
	}
	ok := d.contacts == *n-again && d.requested == *n && (again > 0 || d.pending == *n)
	if *mails == *n {
		ok = ok && d.mails == *n && d.jobsDone == *n
	}
	verdict := "OK"
	if !ok {
		verdict = "FAILED"
	}
	if again > 0 {
		fmt.Fprintf(out, "returning: %d submissions signed up an address again\n", again)
	}
	fmt.Fprintf(out, "check %s: %d contacts, %d consent_requested events, %d pending double opt-in requests, %d mails received, %d mail jobs completed (want %d each",
		verdict, d.contacts, d.requested, d.pending, d.mails, d.jobsDone, *n)
	if again > 0 {
		fmt.Fprintf(out, "; %d contacts; requests not checked: --returning", *n-again)
	}
	if *mails != *n {
		fmt.Fprintf(out, "; mails and jobs not checked: --mails %d", *mails)
	}
	fmt.Fprintln(out, ")")
	if !ok {
		return errors.New("lead capture benchmark: the counts do not match the submissions")
	}
	return nil
}

func startCPUProfileAt(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// postSubmissions posts n sign-ups of unique addresses from conc clients,
// as a browser sends them, and returns each one's latency.
// submissionAddress is the number of the address submission i signs up:
// with returning percent, a spread share of the submissions from the
// 200th on sign up again the address of the submission 200 before (which
// has committed by then at any concurrency the benchmark is run with).
func submissionAddress(i, returning int) (int, bool) {
	if i >= 200 && (i*37)%100 < returning {
		j, _ := submissionAddress(i-200, returning)
		return j, true
	}
	return i, false
}

func postSubmissions(ctx context.Context, target, run string, n, conc, returning int) ([]time.Duration, time.Duration, error) {
	client := &http.Client{
		Transport:     &http.Transport{MaxIdleConns: conc, MaxIdleConnsPerHost: conc},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	lats := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	t0 := time.Now()
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				addr, _ := submissionAddress(i, returning)
				body := url.Values{"email": {fmt.Sprintf("lead-%s-%d@example.com", run, addr)}, "first_name": {"Erika"},
					"newsletter_email": {"1"}, "lang": {"de"}}.Encode()
				req, _ := http.NewRequestWithContext(ctx, "POST", target, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) fairlead-bench/1.0")
				req.Header.Set("Accept-Language", "de-DE,de;q=0.9,en;q=0.8")
				s := time.Now()
				res, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusSeeOther {
						err = fmt.Errorf("submission %d: status %d", i, res.StatusCode)
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
				lats[g] = append(lats[g], time.Since(s))
			}
		}(g)
	}
	wg.Wait()
	took := time.Since(t0)
	if firstErr != nil {
		return nil, 0, firstErr
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	return all, took, nil
}

type captureCount struct {
	contacts, requested, pending, jobsDone, mails int
}

func (c captureCount) minus(o captureCount) captureCount {
	return captureCount{c.contacts - o.contacts, c.requested - o.requested, c.pending - o.pending, c.jobsDone - o.jobsDone, c.mails - o.mails}
}

func captureCounts(ctx context.Context, db *store.DB, ws string) (captureCount, error) {
	var c captureCount
	err := db.R.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM contacts WHERE workspace_id = $1),
		(SELECT COUNT(*) FROM ledger_events WHERE workspace_id = $1 AND kind = 'consent_requested'),
		(SELECT COUNT(*) FROM doi_requests WHERE workspace_id = $1 AND channel = 'email' AND confirmed_at IS NULL),
		(SELECT COUNT(*) FROM jobs WHERE workspace_id = $1 AND kind = $2 AND state = 'completed')`, ws, capture.JobSendDOIEmail).
		Scan(&c.contacts, &c.requested, &c.pending, &c.jobsDone)
	if err != nil {
		return c, fmt.Errorf("count results: %w", err)
	}
	return c, nil
}

// mailSink is an SMTP server on loopback that accepts every message and
// only counts it.
type mailSink struct {
	srv  *smtp.Server
	ln   net.Listener
	done chan struct{}

	mu      sync.Mutex
	n       int
	changed chan struct{}
}

func startMailSink() (*mailSink, error) {
	s := &mailSink{done: make(chan struct{}), changed: make(chan struct{})}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return sinkSession{s}, nil }))
	s.srv.Domain = "sink.localhost"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 30*time.Second, 30*time.Second
	s.srv.MaxMessageBytes = 1 << 20
	s.srv.EnableSMTPUTF8 = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.ln = ln
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

func (s *mailSink) URL() string { return "smtp://" + s.ln.Addr().String() + "?tls=none&timeout=10s" }

func (s *mailSink) Close() {
	s.srv.Close()
	s.ln.Close()
	<-s.done
}

func (s *mailSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *mailSink) waitFor(ctx context.Context, n int, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		s.mu.Lock()
		got, changed := s.n, s.changed
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-changed:
		case <-t.C:
			return fmt.Errorf("only %d of %d confirmation mails arrived within %s", got, n, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type sinkSession struct{ s *mailSink }

func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	s.n++
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}
func (sinkSession) Reset()        {}
func (sinkSession) Logout() error { return nil }
