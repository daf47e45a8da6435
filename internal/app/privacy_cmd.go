package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/workspace"
)

const dsrUsage = `usage: fairlead dsr open --contact ID --type access|portability|rectification|erasure|restriction|objection [--received YYYY-MM-DD] [--note …]
       fairlead dsr list [--status open|received|verifying|in_progress|extended|completed|rejected] [--overdue]
       fairlead dsr show CASE
       fairlead dsr verify CASE --send [--lang de|en]   (a link to the confirmed e-mail address)
       fairlead dsr verify CASE --method in_person|signed_letter|other [--note …]
       fairlead dsr extend CASE --months 1|2 --reason …
       fairlead dsr complete CASE [--outcome completed|rejected] [--note …]
every subcommand takes --workspace (default demo)`

// openPrivacy opens the database and wires the privacy service for a CLI
// command. Jobs it enqueues (the identity link) are run by the server's
// workers.
func openPrivacy(ctx context.Context, env Env, fs *flag.FlagSet, slug string) (*store.DB, *privacy.Service, workspace.Workspace, error) {
	db, _, _, cfg, err := openConsent(ctx, env, fs)
	if err != nil {
		return nil, nil, workspace.Workspace{}, err
	}
	ws, err := cliWorkspace(ctx, db, slug)
	if err != nil {
		db.Close()
		return nil, nil, workspace.Workspace{}, err
	}
	contacts, purposes, notices, ledger := consentServices(db, cfg)
	log := newLogger(cfg, env.Stderr)
	q := jobs.New(db, jobs.Options{Node: "cli"})
	return db, privacyService(captureService(db, cfg, contacts, purposes, notices, ledger, nil, q, log), q, log, webhookService(db, cfg, contacts.Keys(), q, log)), ws, nil
}

// caseFirst lets the case ID come before the flags (dsr show CASE --workspace x).
func caseFirst(args []string) []string {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return append(append([]string{}, args[1:]...), args[0])
	}
	return args
}

func runDSR(ctx context.Context, env Env, args []string) error {
	subs := []string{"open", "list", "show", "verify", "extend", "complete"}
	if len(args) == 0 || !contains(subs, args[0]) {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprintln(env.Stdout, dsrUsage)
			return nil
		}
		return fmt.Errorf("%s", strings.ReplaceAll(dsrUsage, "\n       ", " | "))
	}
	sub := args[0]
	fs := flags(env, "dsr "+sub, "Data subject requests (Art. 15–21 GDPR) as cases with a deadline and a log.\n"+dsrUsage, dbOptions...)
	slug := fs.String("workspace", workspace.DemoSlug, "workspace slug")
	var (
		contactID, typ, received, note, status, lang, method, reason, outcome string
		overdue, send                                                         bool
		months                                                                int
	)
	switch sub {
	case "open":
		fs.StringVar(&contactID, "contact", "", "contact ID")
		fs.StringVar(&typ, "type", "", "request type: "+strings.Join(privacy.RequestTypes, ", "))
		fs.StringVar(&received, "received", "", "day the request was received, YYYY-MM-DD (default now)")
		fs.StringVar(&note, "note", "", "a note for the file (no personal data)")
	case "list":
		fs.StringVar(&status, "status", "", "only cases in this status, or open")
		fs.BoolVar(&overdue, "overdue", false, "only open cases past their due date")
	case "verify":
		fs.BoolVar(&send, "send", false, "send a link to the contact's confirmed e-mail address")
		fs.StringVar(&lang, "lang", "de", "language of the link's e-mail: de or en")
		fs.StringVar(&method, "method", "", "record a check done another way: in_person, signed_letter or other")
		fs.StringVar(&note, "note", "", "a note for the file (no personal data)")
	case "extend":
		fs.IntVar(&months, "months", 0, "1 or 2 further months (Art. 12(3) GDPR)")
		fs.StringVar(&reason, "reason", "", "why the request needs longer (the person must be told)")
	case "complete":
		fs.StringVar(&outcome, "outcome", "completed", "completed or rejected")
		fs.StringVar(&note, "note", "", "the reason of a rejection, or a note")
	}
	if err := parse(fs, caseFirst(args[1:])); err != nil {
		return err
	}
	needsCase := sub != "open" && sub != "list"
	if needsCase && fs.NArg() != 1 {
		return fmt.Errorf("usage: fairlead dsr %s CASE [flags]", sub)
	}
	if sub == "verify" && send == (method != "") {
		return fmt.Errorf("--send or --method: send a link to the confirmed e-mail address, or record a check done another way (in_person, signed_letter, other)")
	}
	var receivedAt *time.Time
	if received != "" {
		t, err := time.Parse(time.DateOnly, received)
		if err != nil {
			return fmt.Errorf("--received must be a date YYYY-MM-DD")
		}
		receivedAt = &t
	}
	db, svc, ws, err := openPrivacy(ctx, env, fs, *slug)
	if err != nil {
		return err
	}
	defer db.Close()
	var actor consent.Actor
	var c privacy.Case
	caseID := fs.Arg(0)
	switch sub {
	case "open":
		c, err = svc.Open(ctx, ws.ID, privacy.OpenCase{ContactID: contactID, RequestType: typ, ReceivedAt: receivedAt, Note: note}, actor)
		if err == nil {
			fmt.Fprintf(env.Stderr, "Opened case %s, due %s.\n", c.ID, c.DueAt.Format(time.DateOnly))
		}
	case "list":
		cs, err := svc.Cases(ctx, ws.ID, privacy.ListCases{Status: status, Overdue: overdue, Limit: 500})
		if err != nil {
			return dsrError(err)
		}
		return printCases(env.Stdout, cs)
	case "show":
		c, err = svc.Case(ctx, ws.ID, caseID)
	case "verify":
		if send {
			c, err = svc.SendVerification(ctx, ws.ID, caseID, lang, actor)
			if err == nil {
				fmt.Fprintln(env.Stderr, "The link goes out with the next run of the workers (fairlead serve).")
			}
		} else {
			c, err = svc.Verify(ctx, ws.ID, caseID, method, note, actor)
		}
	case "extend":
		c, err = svc.Extend(ctx, ws.ID, caseID, months, reason, actor)
	case "complete":
		c, err = svc.Complete(ctx, ws.ID, caseID, outcome, note, actor)
	}
	if err != nil {
		if needsCase {
			return fmt.Errorf("case %s: %w", caseID, dsrError(err))
		}
		return dsrError(err)
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(c)
}

// dsrError names flags instead of JSON fields where they differ.
func dsrError(err error) error {
	msg := err.Error()
	for field, flag := range map[string]string{"contact_id": "contact", "request_type": "type", "received_at": "received"} {
		if strings.HasPrefix(msg, field+": ") {
			return fmt.Errorf("--%s: %s", flag, strings.TrimPrefix(msg, field+": "))
		}
	}
	return cliError(err)
}

func printCases(w io.Writer, cs []privacy.Case) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tSTATUS\tRECEIVED\tDUE\tOVERDUE\tCONTACT")
	for _, c := range cs {
		od := ""
		if c.Overdue {
			od = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.RequestType, c.Status, c.ReceivedAt.Format(time.DateOnly), c.DueAt.Format(time.DateOnly), od, c.ContactID)
	}
	return tw.Flush()
}

func runRetention(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] != "plan" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprintln(env.Stdout, "usage: fairlead retention plan [--workspace demo] [--as-of YYYY-MM-DD] [--json]")
			return nil
		}
		return fmt.Errorf("usage: fairlead retention plan [--workspace demo] [--as-of YYYY-MM-DD] [--json]")
	}
	fs := flags(env, "retention plan", "Dry run of the retention clean-up: what each rule would do and why, with counts and contact IDs.\nNothing is changed; the daily job of fairlead serve applies the same plan.", dbOptions...)
	slug := fs.String("workspace", workspace.DemoSlug, "workspace slug")
	asOf := fs.String("as-of", "", "evaluate as of this day, YYYY-MM-DD (default now)")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	at := time.Now().UTC()
	if *asOf != "" {
		t, err := time.Parse(time.DateOnly, *asOf)
		if err != nil {
			return fmt.Errorf("--as-of must be a date YYYY-MM-DD")
		}
		at = t
	}
	db, svc, ws, err := openPrivacy(ctx, env, fs, *slug)
	if err != nil {
		return err
	}
	defer db.Close()
	pl, err := svc.Plan(ctx, ws.ID, at)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(pl)
	}
	fmt.Fprintf(env.Stdout, "Retention plan for workspace %s as of %s: %d contacts evaluated in %s.\n", ws.Slug, pl.AsOf.Format(time.DateOnly), pl.Evaluated, pl.Took.Round(time.Millisecond))
	for _, r := range pl.Rules {
		fmt.Fprintf(env.Stdout, "\n%s (%s after %d days): %d contact(s)\n  why: %s\n", r.Rule, r.Action, r.AfterDays, r.Count, r.WhyEN)
		for _, cid := range r.ContactIDs {
			fmt.Fprintln(env.Stdout, "  "+cid)
		}
	}
	return nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
