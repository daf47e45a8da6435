package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/importer"
	"github.com/fairlead/fairlead/internal/importer/csvmap"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/workspace"
)

var importHelp = `Import contacts from a CSV or JSON file (or - for stdin) into a workspace.
Every import declares where the data come from (--source, --data-source);
third-party contacts get an Art. 14 GDPR notice task due one month later.
Contacts are deduplicated by e-mail address: an existing one is enriched,
and a changed value keeps its history. A line with an error is reported with
its line number and field and not imported; the other lines are (with
--atomic, one bad line rejects the whole file). --dry-run reports what would
happen and writes nothing. Suppressed addresses are not imported again, and
an import never overrides a withdrawal or an objection.

Import fields: ` + strings.Join(csvmap.Fields, ", ") + `.
A consent (consent_purpose) needs consent_channels, consent_at, consent_method
and consent_notice (the version hash of the consent text shown).

The report is JSON on stdout; exit status 1 if any line was not imported.`

// maxImportChunk bounds the lines one transaction of `fairlead import`
// holds in memory.
const maxImportChunk = 100_000

func runImport(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "import", importHelp, dbOptions...)
	wsSlug := fs.String("workspace", workspace.DemoSlug, "workspace slug")
	format := fs.String("format", "", "csv or json (default: from the file name, else csv)")
	mapping := fs.String("mapping", "", `column=field pairs, e.g. "E-Mail=email,Nachname=last_name" (default: columns named like the fields)`)
	source := fs.String("source", "", "where the data come from, e.g. the list broker or trade fair (required)")
	dataSource := fs.String("data-source", "", "self_provided or third_party (required)")
	audienceF := fs.String("audience", "b2c", "audience of lines without one: b2c or b2b")
	relationship := fs.String("relationship", "prospect", "relationship of lines without one: prospect, customer or supplier")
	atomic := fs.Bool("atomic", false, "import all lines or none")
	dryRun := fs.Bool("dry-run", false, "report what would happen, write nothing")
	chunk := fs.Int("chunk", 1000, "lines per transaction (1 to 100000): larger chunks import faster and hold the database's writer longer")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *chunk < 1 || *chunk > maxImportChunk {
		return cliError(validate.Invalid("chunk", fmt.Sprintf("chunk must be from 1 to %d lines per transaction", maxImportChunk)))
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: fairlead import --workspace demo --source NAME --data-source self_provided|third_party [--mapping col=field,…] [--atomic] [--dry-run] FILE|-")
	}
	m, err := csvmap.ParseSpec(*mapping)
	if err != nil {
		return cliError(err)
	}
	name := fs.Arg(0)
	var in io.Reader = env.Stdin
	size := int64(-1)
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		in = f
		if *format == "" && strings.HasSuffix(strings.ToLower(name), ".json") {
			*format = "json"
		}
	}
	db, contacts, ledger, _, err := openConsent(ctx, env, fs)
	if err != nil {
		return err
	}
	defer db.Close()
	ws, err := cliWorkspace(ctx, db, *wsSlug)
	if err != nil {
		return err
	}
	svc := &importer.Service{DB: db, Contacts: contacts, Ledger: ledger, Notices: consent.NewNotices(db, nil)}
	if bar := progress(env.Stderr, size); bar != nil {
		in = io.TeeReader(in, bar)
		defer bar.Finish()
	}
	rep, err := svc.Import(ctx, ws.ID, in, importer.Options{Format: *format, Mapping: m, Source: *source, DataSource: *dataSource,
		Audience: *audienceF, Relationship: *relationship, Atomic: *atomic, DryRun: *dryRun, Actor: consent.Actor{}, Chunk: *chunk})
	if err != nil {
		return cliError(err)
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rep); err != nil {
		return err
	}
	what := "Imported"
	switch {
	case rep.DryRun:
		what = "Dry run, nothing written:"
	case !rep.Committed:
		what = "Rejected (atomic), nothing written:"
	}
	fmt.Fprintf(env.Stderr, "\n%s %d line(s): %d created, %d enriched, %d unchanged, %d not imported (%d suppressed), %d consent(s), %d Art. 14 task(s).\n",
		what, rep.Lines, rep.Created, rep.Enriched, rep.Unchanged, rep.Rejected, rep.Suppressed, rep.Consents, rep.Art14Tasks)
	for _, e := range rep.Errors {
		fmt.Fprintf(env.Stderr, "  %s\n", e.Error())
	}
	if len(rep.Errors) > 0 {
		return exitError{1}
	}
	return nil
}

// progress is a progress bar over the bytes read, only when stderr is a
// terminal: in a pipe or a log it would be noise.
func progress(w io.Writer, size int64) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(size, progressbar.OptionSetWriter(f), progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("import"), progressbar.OptionThrottle(100_000_000), progressbar.OptionClearOnFinish())
}

const exportHelp = `Export the contacts of a workspace with their provenance (data source, the
source and import they came from) as CSV or JSON to stdout or --out. The
export contains personal data in clear: store and send it accordingly.`

func runExport(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] != "contacts" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprintln(env.Stdout, "Usage: fairlead export contacts --workspace demo [--format csv|json] [--out FILE]")
			return nil
		}
		return fmt.Errorf("usage: fairlead export contacts --workspace demo [--format csv|json] [--out FILE]")
	}
	fs := flags(env, "export contacts", exportHelp, dbOptions...)
	wsSlug := fs.String("workspace", workspace.DemoSlug, "workspace slug")
	format := fs.String("format", "csv", "csv or json")
	out := fs.String("out", "", "write to this file (created with mode 0600) instead of stdout")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	db, contacts, ledger, _, err := openConsent(ctx, env, fs)
	if err != nil {
		return err
	}
	defer db.Close()
	ws, err := cliWorkspace(ctx, db, *wsSlug)
	if err != nil {
		return err
	}
	w := env.Stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	svc := &importer.Service{DB: db, Contacts: contacts, Ledger: ledger}
	n, err := svc.Export(ctx, ws.ID, *format, w)
	if err != nil {
		return cliError(err)
	}
	fmt.Fprintf(env.Stderr, "Exported %d contact(s) of workspace %s.\n", n, ws.Slug)
	return nil
}
