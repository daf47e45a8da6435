package app

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/campaign"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/workspace"
)

// runBenchCampaign measures campaign sending: N subscribers with a
// confirmed newsletter consent, one campaign to all of them, sent to a
// local SMTP sink with the engine's decision per recipient right before
// each message, the capture footer and the claimed row per message.
func runBenchCampaign(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "bench campaign", "Generate N subscribers in a scratch database and send campaigns to all of them through\na local SMTP sink, the engine deciding each recipient right before the send. Reports\ne-mails per second per run, and the peak resident memory (VmHWM).", "database-url")
	n := fs.Int("recipients", 100_000, "subscribers to generate (each gets one message per run)")
	runs := fs.Int("runs", 3, "campaigns to send, one after the other")
	workers := fs.Int("workers", 16, "messages in flight at once (SMTP connections)")
	dir := fs.String("dir", "", "scratch data directory for SQLite (default: a new temporary one, removed afterwards)")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the first send to `PREFIX`-send.pprof")
	reuse := fs.Bool("reuse", false, "send to the subscribers a previous run generated in --dir instead of generating new ones")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 1 || *runs < 1 || *workers < 1 || *workers > 16 {
		return fmt.Errorf("--recipients and --runs must be at least 1, --workers from 1 to 16")
	}
	cfg, cleanup, err := benchConfig(env, fs, "campaign", dir, *reuse)
	if err != nil {
		return err
	}
	defer cleanup()
	cfg.Workers = 0
	sink, err := startSink()
	if err != nil {
		return err
	}
	defer sink.Close()
	cfg.SMTPURL = fmt.Sprintf("smtp://%s?tls=none&max_idle=%d", sink.Addr(), *workers)
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if db.Dialect == store.SQLite {
		if _, err := db.W.ExecContext(ctx, `PRAGMA cache_size = -131072`); err != nil {
			return err
		}
	}
	contacts, purposes, notices, ledger := consentServices(db, cfg)
	out := env.Stdout
	var ws workspace.Workspace
	if *reuse {
		var ids []string
		if ws, ids, err = benchWorkspace(ctx, db); err != nil {
			return err
		}
		fmt.Fprintf(out, "reusing %d subscribers of workspace %s\n", len(ids), ws.Slug)
	} else {
		if ws, err = workspace.Create(ctx, db.W, fmt.Sprintf("bench-%d", time.Now().UnixNano()), "Bench", time.Now()); err != nil {
			return err
		}
		text, _, err := notices.Create(ctx, ws.ID, "bench", consent.NewNotice{Kind: "consent_text", Language: "de", Title: "Newsletter", Body: "Ja, ich möchte den Newsletter per E-Mail erhalten. Widerruf jederzeit."})
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := generateSubscribers(ctx, db, ledger, ws.ID, text, *n); err != nil {
			return err
		}
		fmt.Fprintf(out, "generated %d subscribers in %s\n", *n, time.Since(t0).Round(time.Millisecond))
	}
	if db.Dialect == store.Postgres {
		if _, err := db.W.ExecContext(ctx, `VACUUM (ANALYZE)`); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q := jobs.New(db, jobs.Options{Node: "bench"})
	resolver := audience.New(db, ledger, purposes, nil)
	capt := captureService(db, cfg, contacts, purposes, notices, ledger, resolver, q, log)
	if _, err := capt.Settings.Update(ctx, ws.ID, capture.SettingsUpdate{Imprint: map[string]string{"de": "Bench GmbH, Weg 1, 10115 Berlin"}}, nil); err != nil {
		return err
	}
	svc := campaignService(db, cfg, resolver, contacts, capt, privacyService(capt, q, log, nil), q, log)
	svc.Workers = *workers
	for i := range *runs {
		c, err := svc.Create(ctx, ws.ID, campaign.Input{Name: fmt.Sprintf("Bench %d", i+1), Purpose: "newsletter", RatePerSecond: campaign.MaxRate,
			Steps: []campaign.Step{{Subject: "Neuigkeiten für {{first_name}}", Text: "Guten Tag {{first_name}} {{last_name}},\n\nhier sind unsere Neuigkeiten des Monats.\n",
				HTML: "<p>Guten Tag {{first_name}} {{last_name}},</p><p>hier sind unsere Neuigkeiten des Monats.</p>"}}})
		if err != nil {
			return err
		}
		s := time.Now()
		_, queued, err := svc.Schedule(ctx, ws.ID, c.ID, time.Time{})
		if err != nil {
			return err
		}
		sched := time.Since(s)
		stop := func() {}
		if i == 0 {
			if stop, err = startProfile(*profile, "send"); err != nil {
				return err
			}
		}
		before := sink.count.Load()
		s, cpu := time.Now(), cpuTime()
		p, err := svc.Run(ctx, ws.ID, c.ID)
		if err != nil {
			return err
		}
		took := time.Since(s)
		stop()
		got := sink.count.Load() - before
		if got != int64(p.Sent) {
			return fmt.Errorf("the sink received %d messages, the campaign says it sent %d", got, p.Sent)
		}
		fmt.Fprintf(out, "run %d: scheduled %d in %s; sent %d (skipped %d, failed %d) in %s: %.0f e-mails/s (CPU of this process %s)\n",
			i+1, queued, sched.Round(time.Millisecond), p.Sent, p.Skipped, p.Failed, took.Round(time.Millisecond), float64(p.Sent)/took.Seconds(), (cpuTime() - cpu).Round(time.Millisecond))
	}
	fmt.Fprintf(out, "peak resident memory (VmHWM): %s; GOMAXPROCS %d\n", vmHWM(), runtime.GOMAXPROCS(0))
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(out, "load average: %s", la)
	}
	return nil
}

// vmHWM is the process's peak resident set size from /proc/self/status.
func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// generateSubscribers makes n contacts, each with a confirmed newsletter
// consent by e-mail double opt-in, 1,000 per consent.Bulk transaction.
func generateSubscribers(ctx context.Context, db *store.DB, ledger *consent.Ledger, ws string, text consent.Notice, n int) error {
	requested := consent.EvidenceInput{Source: "form:newsletter", NoticeHash: text.Hash, TextShown: text.Body}
	confirmed := consent.EvidenceInput{Source: "form:newsletter", ConfirmationMethod: "email_link"}
	actor := consent.Actor{TokenID: "bench"}
	at := time.Now().UTC().AddDate(0, 0, -30)
	for done := 0; done < n; {
		err := db.Tx(ctx, func(tx store.Tx) error {
			b, err := ledger.Bulk(ctx, tx, ws)
			if err != nil {
				return err
			}
			for k := 0; k < 1000 && done < n; k++ {
				c, err := b.Contacts().Create(ctx, ws, contact.Input{FirstName: "Erika", LastName: "Mustermann", Email: fmt.Sprintf("person%d@example.com", done),
					Audience: "b2c", Relationship: "prospect"})
				if err != nil {
					return err
				}
				for _, ev := range []consent.NewEvent{
					{Kind: consent.KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: &at, Details: consent.Details{Verification: "email_doi"}, Evidence: requested},
					{Kind: consent.KindConsentConfirmed, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: &at, Details: consent.Details{Verification: "email_doi"}, Evidence: confirmed},
				} {
					if _, err := b.Append(ctx, c.ID, ev, actor); err != nil {
						return err
					}
				}
				done++
			}
			return b.Flush(ctx)
		})
		if err != nil {
			return fmt.Errorf("generate subscribers: %w", err)
		}
	}
	return nil
}

// sink is a minimal SMTP server on loopback that accepts and discards
// every message: the benchmark measures fairlead, not a mail server.
type sink struct {
	ln    net.Listener
	count atomic.Int64
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s, nil
}

func (s *sink) Addr() string { return s.ln.Addr().String() }
func (s *sink) Close() error { return s.ln.Close() }

func (s *sink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriter(c)
	// Replies are flushed only once the client's pipelined commands are
	// all read, as a pipelining server does (RFC 2920 §3.2).
	reply := func(line string) bool {
		w.WriteString(line)
		w.WriteString("\r\n")
		if r.Buffered() > 0 {
			return true
		}
		return w.Flush() == nil
	}
	if !reply("220 sink ESMTP") {
		return
	}
	for {
		// Command lines are short: they stay in the reader's buffer
		// until the next read.
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		cmd := bytes.TrimSpace(line)
		verb := cmd[:min(4, len(cmd))]
		switch {
		case bytes.EqualFold(verb, []byte("EHLO")):
			w.WriteString("250-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n")
			if !reply("250 PIPELINING") {
				return
			}
		case bytes.EqualFold(verb, []byte("DATA")):
			if !reply("354 go ahead") {
				return
			}
			for {
				l, err := r.ReadSlice('\n')
				if err != nil && err != bufio.ErrBufferFull {
					return
				}
				if string(l) == ".\r\n" {
					break
				}
			}
			s.count.Add(1)
			if !reply("250 ok") {
				return
			}
		case bytes.EqualFold(verb, []byte("BDAT")):
			// RFC 3030: exactly the announced octets follow the command.
			f := bytes.Fields(cmd)
			n := -1
			if len(f) > 1 {
				if v, err := strconv.Atoi(string(f[1])); err == nil {
					n = v
				}
			}
			if n < 0 {
				reply("501 5.5.4 BDAT needs a size")
				return
			}
			last := len(f) > 2 && bytes.EqualFold(f[2], []byte("LAST"))
			if _, err := r.Discard(n); err != nil {
				return
			}
			if last {
				s.count.Add(1)
			}
			if !reply("250 ok") {
				return
			}
		case bytes.EqualFold(verb, []byte("QUIT")):
			reply("221 bye")
			return
		default:
			if !reply("250 ok") {
				return
			}
		}
	}
}
