package privacy

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// cpuTime is the CPU time this process used so far: under a loaded
// machine it tells the work done apart from the time spent waiting for a
// core. (PostgreSQL's own CPU is in its server processes, not here.)
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchBackends(b *testing.B, fn func(b *testing.B, db *store.DB)) {
	for _, d := range testdb.Backends {
		b.Run(string(d), func(b *testing.B) { fn(b, testdb.Open(b, d)) })
	}
}

// benchFixture is newFixture for benchmarks.
func benchFixture(b *testing.B, db *store.DB) *fixture {
	t := &testing.T{}
	f := newFixture(t, db)
	if t.Failed() {
		b.Fatal("fixture failed")
	}
	f.t = t
	return f
}

// BenchmarkAccessExport: the export of a person with 1,000 ledger events
// (a double opt-in, then 998 uses of the consent with evidence), built and
// rendered as JSON and as the HTML page. Target: under 50 ms.
func BenchmarkAccessExport(b *testing.B) {
	benchBackends(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		f := benchFixture(b, db)
		c := f.contact(contact.Input{Email: "bench.export@example.org", FirstName: "Bea"})
		f.spreadSealed(c, "bench.export@example.org")
		// spreadSealed wrote 3 events; 997 uses make 1,000. They go in as
		// rows: Append re-derives the contact's state from its whole history
		// each time, which makes building a long history quadratic, and the
		// export does not check the chain.
		if err := appendRaw(ctx, db, f.ws, c.ID, 997); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		var build, doc, page time.Duration
		cpu0 := cpuTime()
		for b.Loop() {
			t0 := time.Now()
			x, err := f.svc.AccessExport(ctx, f.ws, c.ID)
			if err != nil {
				b.Fatal(err)
			}
			if len(x.Ledger) != 1000 {
				b.Fatalf("%d events", len(x.Ledger))
			}
			t1 := time.Now()
			if _, err := x.JSON(); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			if err := x.WriteHTML(io.Discard, "de"); err != nil {
				b.Fatal(err)
			}
			build, doc, page = build+t1.Sub(t0), doc+t2.Sub(t1), page+time.Since(t2)
		}
		n := float64(b.N)
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/n/1000, "cpu-ms/op")
		b.ReportMetric(float64(build.Microseconds())/n/1000, "ms-collect")
		b.ReportMetric(float64((build+doc).Microseconds())/n/1000, "ms-json")
		b.ReportMetric(float64(page.Microseconds())/n/1000, "ms-html")
	})
}

// BenchmarkErase: one erasure of a person with a profile value, two outbox
// copies, a double opt-in request and four ledger events. Target: under
// 20 ms.
func BenchmarkErase(b *testing.B) {
	benchBackends(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		f := benchFixture(b, db)
		ids := make([]string, 0, 64)
		mk := func() {
			b.StopTimer()
			for len(ids) < 32 {
				addr := "bench." + id.New()[24:] + "@example.org"
				c := f.contact(contact.Input{Email: addr})
				f.spread(c, addr)
				ids = append(ids, c.ID)
			}
			b.StartTimer()
		}
		var cpu time.Duration
		for b.Loop() {
			if len(ids) == 0 {
				mk()
			}
			cid := ids[0]
			ids = ids[1:]
			c0 := cpuTime()
			if r, err := f.svc.Erase(ctx, f.ws, cid, dpo); err != nil || r.Outcome != OutcomeErased {
				b.Fatal(r, err)
			}
			cpu += cpuTime() - c0
		}
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N)/1000, "cpu-ms/op")
	})
}

// seedContacts bulk-inserts n contacts with a realistic spread for the
// clean-up: a third with a confirmed consent, a third inactive leads with
// one event two to three years old, a third with an unconfirmed double
// opt-in. Rows go in directly (no keys are made, no seals): the clean-up
// reads only IDs, times and event kinds.
func seedContacts(b *testing.B, db *store.DB, ws string, n int) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	const batch = 200
	type rowset struct {
		q    string
		cols int
		args []any
	}
	flush := func(tx store.Tx, r *rowset) error {
		if len(r.args) == 0 {
			return nil
		}
		var sb strings.Builder
		sb.WriteString(r.q)
		for i := 0; i < len(r.args)/r.cols; i++ {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteByte('(')
			for j := 0; j < r.cols; j++ {
				if j > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, "$%d", i*r.cols+j+1)
			}
			sb.WriteByte(')')
		}
		_, err := tx.ExecContext(ctx, sb.String(), r.args...)
		r.args = r.args[:0]
		return err
	}
	seq := int64(0)
	hash := make([]byte, 32)
	for start := 0; start < n; start += 20000 {
		err := db.Tx(ctx, func(tx store.Tx) error {
			cs := &rowset{q: `INSERT INTO contacts (id, workspace_id, audience, relationship, data_source, sealed, created_at, updated_at) VALUES `, cols: 8}
			ks := &rowset{q: `INSERT INTO contact_keys (workspace_id, contact_id, wrapped, created_at) VALUES `, cols: 4}
			ls := &rowset{q: `INSERT INTO ledger_events (id, workspace_id, contact_id, seq, kind, purpose, channels, lawful_basis, contact_point, details, evidence, occurred_at, recorded_at, hash) VALUES `, cols: 14}
			ds := &rowset{q: `INSERT INTO doi_requests (id, workspace_id, contact_id, channel, form_key, form_version, lang, consents, created_at, expires_at) VALUES `, cols: 10}
			for i := start; i < min(start+20000, n); i++ {
				cid := id.New()
				age := time.Duration(i%1100) * 24 * time.Hour
				created := now.Add(-age)
				cs.args = append(cs.args, cid, ws, "b2c", "prospect", "self_provided", []byte{1}, created, created)
				ks.args = append(ks.args, ws, cid, []byte{1}, created)
				ev := func(kind string, at time.Time) {
					seq++
					ls.args = append(ls.args, id.New(), ws, cid, seq, kind, "newsletter", `["email"]`, "art6_1_a", "", "{}", "{}", at, now, hash)
				}
				switch i % 3 {
				case 0:
					ev(consent.KindConsentRequested, created)
					ev(consent.KindConsentConfirmed, created)
				case 1:
					ev(consent.KindConsentRequested, created)
				case 2:
					ev(consent.KindConsentRequested, created)
					ds.args = append(ds.args, id.New(), ws, cid, "email", "n", 1, "de", "[]", created, created.Add(7*24*time.Hour))
				}
				// Contacts first: the ledger's rows refer to them.
				if len(cs.args)/cs.cols >= batch {
					for _, r := range []*rowset{cs, ks, ls, ds} {
						if err := flush(tx, r); err != nil {
							return err
						}
					}
				}
			}
			for _, r := range []*rowset{cs, ks, ls, ds} {
				if err := flush(tx, r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.W.ExecContext(ctx, `INSERT INTO ledger_heads (workspace_id, seq, hash, updated_at) VALUES ($1, $2, $3, $4)`, ws, seq, hash, now); err != nil {
		b.Fatal(err)
	}
	if db.Dialect == store.Postgres {
		_, _ = db.W.ExecContext(ctx, `ANALYZE`)
	}
}

// BenchmarkRetentionPlan: evaluating every contact of a workspace against
// the rules. FAIRLEAD_BENCH_CONTACTS sets the number (default 100,000);
// the figure is contacts evaluated per second. Target: 1,000,000 in 60 s.
func BenchmarkRetentionPlan(b *testing.B) {
	n := 100_000
	if s := os.Getenv("FAIRLEAD_BENCH_CONTACTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	benchBackends(b, func(b *testing.B, db *store.DB) {
		ctx := context.Background()
		f := benchFixture(b, db)
		t0 := time.Now()
		seedContacts(b, db, f.ws, n)
		b.Logf("seeded %d contacts in %s", n, time.Since(t0).Round(time.Millisecond))
		b.ResetTimer()
		var took time.Duration
		cpu0 := cpuTime()
		for b.Loop() {
			pl, err := f.svc.Plan(ctx, f.ws, time.Now().UTC())
			if err != nil {
				b.Fatal(err)
			}
			if pl.Evaluated != n {
				b.Fatalf("evaluated %d, want %d", pl.Evaluated, n)
			}
			took += pl.Took
			b.Logf("run: %d contacts in %s (%.0f contacts/s)", n, pl.Took.Round(time.Millisecond), float64(n)/pl.Took.Seconds())
		}
		b.ReportMetric(float64(n)*float64(b.N)/took.Seconds(), "contacts/s")
		b.ReportMetric(float64(n)*float64(b.N)/(cpuTime()-cpu0).Seconds(), "contacts/cpu-s")
	})
}

// appendRaw adds n consent_used rows with evidence to a contact's ledger.
func appendRaw(ctx context.Context, db *store.DB, ws, cid string, n int) error {
	return db.Tx(ctx, func(tx store.Tx) error {
		var seq int64
		if err := tx.QueryRowContext(ctx, `SELECT seq FROM ledger_heads WHERE workspace_id = $1`, ws).Scan(&seq); err != nil {
			return err
		}
		at := time.Now().UTC().Add(-time.Minute)
		for i := 0; i < n; i++ {
			seq++
			if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_events (id, workspace_id, contact_id, seq, kind, purpose, channels, lawful_basis, contact_point, details, evidence, occurred_at, recorded_at, hash)
				VALUES ($1,$2,$3,$4,'consent_used','newsletter','["email"]','art6_1_a','','{}',$5,$6,$6,$7)`,
				id.New(), ws, cid, seq, `{"source":"message:bench:`+strconv.Itoa(i)+`","actor":"system"}`, at, make([]byte, 32)); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE ledger_heads SET seq = $2 WHERE workspace_id = $1`, ws, seq)
		return err
	})
}
