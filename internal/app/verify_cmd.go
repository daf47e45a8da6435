package app

import (
	"context"
	"fmt"
	"io"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/store"
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
	var only string
	if *wsSlug != "" {
		w, err := cliWorkspace(ctx, db, *wsSlug)
		if err != nil {
			return err
		}
		only = w.ID
	}
	broken, err := verifyLedgers(ctx, db, ledger, only, env.Stdout)
	if err != nil {
		return err
	}
	if broken > 0 {
		fmt.Fprintf(env.Stderr, "verify: %d workspace ledger(s) broken\n", broken)
		return exitError{1}
	}
	return nil
}

// verifyLedgers verifies the ledger chain of every workspace (or only the
// one with ID only), writes one line per workspace to out and returns how
// many are broken.
func verifyLedgers(ctx context.Context, db *store.DB, ledger *consent.Ledger, only string, out io.Writer) (int, error) {
	type ws struct{ id, slug string }
	var list []ws
	rows, err := db.R.QueryContext(ctx, `SELECT id, slug FROM workspaces ORDER BY slug`)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var w ws
		if err := rows.Scan(&w.id, &w.slug); err != nil {
			rows.Close()
			return 0, err
		}
		if only == "" || w.id == only {
			list = append(list, w)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	broken := 0
	for _, w := range list {
		rep, err := ledger.Verify(ctx, w.id)
		if err != nil {
			return broken, fmt.Errorf("verify workspace %s: %w", w.slug, err)
		}
		if rep.OK {
			fmt.Fprintf(out, "workspace %s: ok, %d events, head seq %d\n", w.slug, rep.Events, rep.HeadSeq)
			continue
		}
		broken++
		b := rep.Break
		fmt.Fprintf(out, "workspace %s: BROKEN at seq %d", w.slug, b.Seq)
		if b.EventID != "" {
			fmt.Fprintf(out, " (event %s)", b.EventID)
		}
		fmt.Fprintf(out, ": %s: %s\n", b.Problem, b.Message)
	}
	return broken, nil
}
