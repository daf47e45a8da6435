package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/workspace"
)

// openDB opens and migrates the configured database. Its errors are one
// line naming the cause and the setting to change.
func openDB(ctx context.Context, cfg config.Config) (*store.DB, error) {
	db, err := store.Open(ctx, store.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w (database: %s)", err, where(cfg))
	}
	return db, nil
}

func where(cfg config.Config) string {
	if cfg.DatabaseURL != "" {
		return "PostgreSQL from FAIRLEAD_DATABASE_URL"
	}
	return "SQLite in " + cfg.DataDir + " (FAIRLEAD_DATA_DIR)"
}

// bootstrap creates the demo workspace and its admin user on first start.
// A generated password is printed once to out and never stored in clear.
// Several processes starting at once on one PostgreSQL are fine: the
// workspace slug is unique, so exactly one of them creates it.
func bootstrap(ctx context.Context, db *store.DB, cfg config.Config, out io.Writer) error {
	n, err := workspace.Count(ctx, db.R)
	if err != nil {
		return fmt.Errorf("read workspaces: %w", err)
	}
	if n > 0 {
		return nil
	}
	pw, generated := cfg.AdminPassword, false
	if pw == "" {
		pw, generated = auth.GeneratePassword(), true
	}
	err = db.Tx(ctx, func(tx store.Tx) error {
		ws, err := workspace.Create(ctx, tx, workspace.DemoSlug, "Demo", time.Now())
		if err != nil {
			return err
		}
		_, err = auth.NewStore(db, nil).WithTx(tx).CreateUser(ctx, ws.ID, auth.NewUser{
			Email: cfg.AdminEmail, Name: "Administrator", Role: string(auth.RoleAdmin), Password: pw,
		})
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return nil // another process created it a moment ago
	}
	if err != nil {
		return fmt.Errorf("create demo workspace: %w", err)
	}
	fmt.Fprintf(out, "Created workspace %q with admin user %s.\n", workspace.DemoSlug, cfg.AdminEmail)
	if generated {
		fmt.Fprintf(out, "Admin password (shown only this once, store it now): %s\n", pw)
	}
	return nil
}
