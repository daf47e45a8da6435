package app

import (
	"context"
	"fmt"

	"github.com/fairlead/fairlead/internal/workspace"
)

func runVerify(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "verify", "Recompute the consent ledger's hash chain of every workspace (or one) and report the\nfirst broken or missing link: a deleted row (seq gap), a changed or reordered row, or a\nchain head that disagrees with the last row. Exit status 1 if a chain is broken.", dbOptions...)
	wsSlug := fs.String("workspace", "", "verify only this workspace (slug); default all")
	if err := parse(fs, args); err != nil {
		return err
	}
	db, _, ledger, _, err := openConsent(ctx, env, fs)
	if err != nil {
		return err
	}
	defer db.Close()
	type ws struct{ id, slug string }
	var list []ws
	if *wsSlug != "" {
		w, err := workspace.BySlug(ctx, db.R, *wsSlug)
		if err != nil {
			return fmt.Errorf("no workspace %q (--workspace)", *wsSlug)
		}
		list = append(list, ws{w.ID, w.Slug})
	} else {
		rows, err := db.R.QueryContext(ctx, `SELECT id, slug FROM workspaces ORDER BY slug`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var w ws
			if err := rows.Scan(&w.id, &w.slug); err != nil {
				rows.Close()
				return err
			}
			list = append(list, w)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	broken := 0
	for _, w := range list {
		rep, err := ledger.Verify(ctx, w.id)
		if err != nil {
			return fmt.Errorf("verify workspace %s: %w", w.slug, err)
		}
		if rep.OK {
			fmt.Fprintf(env.Stdout, "workspace %s: ok, %d events, head seq %d\n", w.slug, rep.Events, rep.HeadSeq)
			continue
		}
		broken++
		b := rep.Break
		fmt.Fprintf(env.Stdout, "workspace %s: BROKEN at seq %d", w.slug, b.Seq)
		if b.EventID != "" {
			fmt.Fprintf(env.Stdout, " (event %s)", b.EventID)
		}
		fmt.Fprintf(env.Stdout, ": %s: %s\n", b.Problem, b.Message)
	}
	if broken > 0 {
		fmt.Fprintf(env.Stderr, "verify: %d workspace ledger(s) broken\n", broken)
		return exitError{1}
	}
	return nil
}
