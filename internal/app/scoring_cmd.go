package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/track"
	"github.com/fairlead/fairlead/internal/workspace"
)

const scoringUsage = `usage: fairlead scoring import [--workspace demo] [--recompute=true] [FILE.json]   (reads standard input without FILE)
       fairlead scoring export [--workspace demo] [--version N]
       fairlead scoring recompute [--workspace demo]`

func runScoring(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || (args[0] != "import" && args[0] != "export" && args[0] != "recompute") {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprintln(env.Stdout, scoringUsage)
			return nil
		}
		return fmt.Errorf("%s", strings.ReplaceAll(scoringUsage, "\n       ", " | "))
	}
	sub := args[0]
	fs := flags(env, "scoring "+sub, "Import (save as a new version), export or apply the scoring and lifecycle rules as JSON (docs/leads.md).", dbOptions...)
	wsSlug := fs.String("workspace", workspace.DemoSlug, "workspace slug")
	version := fs.Int("version", 0, "export this saved version instead of the active one")
	recompute := fs.Bool("recompute", true, "after an import, recompute every score with the new rules")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	db, contacts, ledger, cfg, err := openConsent(ctx, env, fs)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := bootstrap(ctx, db, cfg, env.Stderr); err != nil {
		return err
	}
	ws, err := cliWorkspace(ctx, db, *wsSlug)
	if err != nil {
		return err
	}
	purposes := consent.NewPurposes(db, nil)
	svc := leadService(db, cfg, contacts, audience.New(db, ledger, purposes, nil), webhookService(db, cfg, contacts.Keys(), nil, nil), nil, track.NewStore(db, nil))
	switch sub {
	case "export":
		var rs lead.RuleSet
		if *version > 0 {
			rs, err = svc.RuleSetVersion(ctx, ws.ID, *version)
		} else {
			rs, err = svc.ActiveRules(ctx, ws.ID)
		}
		if err != nil {
			return err
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rs.Rules)
	case "import":
		var in io.Reader = env.Stdin
		if fs.NArg() > 0 {
			f, err := os.Open(fs.Arg(0))
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		}
		b, err := io.ReadAll(in)
		if err != nil {
			return err
		}
		rules, err := lead.ParseRules(b)
		if err != nil {
			return err
		}
		rs, created, err := svc.SaveRules(ctx, ws.ID, "cli", rules)
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(env.Stdout, "saved version %d\n", rs.Version)
		} else {
			fmt.Fprintf(env.Stdout, "unchanged: version %d\n", rs.Version)
		}
		if !*recompute {
			return nil
		}
	}
	// The server, if one runs, writes in another process: no index
	// build that holds the write lock longer than its busy_timeout.
	svc.KeepIndexes = true
	st, err := svc.Recompute(ctx, ws.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "recomputed %d contacts from %d events with version %d in %.3fs: %d transitions, %d hand-offs\n",
		st.Contacts, st.Events, st.RuleVersion, st.Seconds, st.Transitions, st.Handoffs)
	return nil
}
