package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/importer"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/workspace"
)

const benchImportHelp = `Import N generated CSV rows (e-mail, names, address; every tenth with a
double opt-in consent and its evidence) into a scratch database through
the importer, with provenance recorded, and report rows/s. The file is
generated into a temporary file first, so its generation is not timed.
--third-party marks the rows third_party (each then gets an Art. 14 task).

SQLite in a new temporary directory unless --database-url is given on this
command line (FAIRLEAD_DATABASE_URL is ignored: the benchmark never writes into
a configured database). Each run makes a new master key, so a PostgreSQL
database must be new for every run.`

func runBenchImport(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "bench import", benchImportHelp, "database-url")
	n := fs.Int("rows", 100_000, "CSV rows to import")
	chunk := fs.Int("chunk", 1000, "lines per transaction")
	third := fs.Bool("third-party", false, "import as third-party data (Art. 14 tasks)")
	dir := fs.String("dir", "", "scratch data directory for SQLite (default: a new temporary one, removed afterwards)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the import to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 1 || *chunk < 1 {
		return fmt.Errorf("--rows and --chunk must be at least 1")
	}
	cfg, cleanup, err := benchConfig(env, fs, "import", dir, false)
	if err != nil {
		return err
	}
	defer cleanup()
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if db.Dialect == store.SQLite {
		// Random blind indexes land all over the B-tree; the default 2 MiB
		// page cache would read pages back from the file.
		if _, err := db.W.ExecContext(ctx, `PRAGMA cache_size = -524288`); err != nil {
			return err
		}
	}
	contacts, _, notices, ledger := consentServices(db, cfg)
	ws, err := workspace.Create(ctx, db.W, fmt.Sprintf("bench-%d", time.Now().UnixNano()), "Bench", time.Now())
	if err != nil {
		return err
	}
	text, _, err := notices.Create(ctx, ws.ID, "bench", consent.NewNotice{Kind: "consent_text", Language: "de", Title: "Newsletter", Body: "Ja, ich möchte den Newsletter per E-Mail erhalten. Widerruf jederzeit."})
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "fairlead-bench-import-*.csv")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := writeBenchCSV(f, *n, text.Hash); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	svc := &importer.Service{DB: db, Contacts: contacts, Ledger: ledger, Notices: notices}
	o := importer.Options{Source: "bench", DataSource: "self_provided", Chunk: *chunk}
	if *third {
		o.DataSource = "third_party"
	}
	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	t0, cpu0 := time.Now(), cpuTime()
	rep, err := svc.Import(ctx, ws.ID, bufio.NewReaderSize(f, 1<<20), o)
	if err != nil {
		return err
	}
	el, cpu := time.Since(t0), cpuTime()-cpu0
	if rep.Created != *n || len(rep.Errors) != 0 {
		return fmt.Errorf("bench import: %d created of %d, %d errors (first: %v)", rep.Created, *n, len(rep.Errors), firstErr(rep))
	}
	engine := "SQLite"
	if db.Dialect == store.Postgres {
		engine = "PostgreSQL"
	}
	// On a shared machine the process's CPU time says more than the wall
	// clock: rows per CPU second is what the import costs.
	fmt.Fprintf(env.Stdout, "imported %d rows (%d consents, %d Art. 14 tasks) on %s in %s: %.0f rows/s; CPU %s (user+system, this process): %.0f rows per CPU second\n",
		rep.Created, rep.Consents, rep.Art14Tasks, engine, el.Round(time.Millisecond), float64(rep.Created)/el.Seconds(), cpu.Round(time.Millisecond), float64(rep.Created)/cpu.Seconds())
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(env.Stdout, "load average: %s", la)
	}
	return nil
}

func firstErr(rep importer.Report) any {
	if len(rep.Errors) == 0 {
		return nil
	}
	return rep.Errors[0]
}

// writeBenchCSV writes n rows of generated people under example.org.
func writeBenchCSV(w io.Writer, n int, notice string) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	fmt.Fprintln(bw, "email,first_name,last_name,street,postal_code,city,country,consent_purpose,consent_channels,consent_at,consent_method,consent_notice,consent_verification")
	first := []string{"Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hanno"}
	last := []string{"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"}
	city := []string{"Berlin", "Hamburg", "München", "Köln", "Leipzig"}
	for i := 0; i < n; i++ {
		fmt.Fprintf(bw, "person%d@example.org,%s,%s,Hauptstraße %d,%05d,%s,DE", i, first[i%len(first)], last[(i/8)%len(last)], i%200+1, 10000+i%89999, city[i%len(city)])
		if i%10 == 0 {
			fmt.Fprintf(bw, ",newsletter,email,2026-01-%02dT10:00:00Z,email_link,%s,email_doi\n", i%28+1, notice)
		} else {
			bw.WriteString(",,,,,,\n")
		}
	}
	return bw.Flush()
}
