package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/workspace"
)

func runMigrate(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "migrate", "Apply all pending database migrations and exit.", dbOptions...)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv, fs)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, store.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("%w (database: %s)", err, where(cfg))
	}
	v, _ := db.SchemaVersion(ctx)
	fmt.Fprintf(env.Stdout, "applied %d migration(s); schema version %d\n", n, v)
	return nil
}

func runToken(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprintln(env.Stdout, "Usage: fairlead token create --workspace demo --role marketing --name ci")
			return nil
		}
		return fmt.Errorf("usage: fairlead token create --workspace demo --role marketing --name ci")
	}
	fs := flags(env, "token create", "Create an API token and print it once. It is stored only as a hash.\nRoles: "+strings.Join(auth.RoleNames(), ", "), dbOptions...)
	wsSlug := fs.String("workspace", workspace.DemoSlug, "workspace slug")
	role := fs.String("role", "", "role of the token: "+strings.Join(auth.RoleNames(), ", "))
	name := fs.String("name", "", "a name that says what the token is for")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if _, err := auth.ParseRole("--role", *role); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return fmt.Errorf("--name is required: say what the token is for")
	}
	cfg, err := config.Load(env.Getenv, fs)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := bootstrap(ctx, db, cfg, env.Stderr); err != nil {
		return err
	}
	ws, err := workspace.BySlug(ctx, db.R, *wsSlug)
	if err != nil {
		return fmt.Errorf("no workspace %q (--workspace)", *wsSlug)
	}
	t, secret, err := auth.NewStore(db, nil).CreateToken(ctx, ws.ID, *name, *role)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "Created token %s (%s, role %s) in workspace %s. It is shown only this once:\n", t.ID, t.Name, t.Role, ws.Slug)
	fmt.Fprintln(env.Stdout, secret)
	return nil
}

func runJobs(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "retry") {
		return fmt.Errorf("usage: fairlead jobs list [--workspace demo] [--state dead] | fairlead jobs retry --workspace demo JOB_ID")
	}
	sub := args[0]
	fs := flags(env, "jobs "+sub, "List background jobs of a workspace, or retry a dead or cancelled one.", dbOptions...)
	wsSlug := fs.String("workspace", workspace.DemoSlug, "workspace slug")
	state := fs.String("state", "", "only jobs in this state: available, running, completed, dead, cancelled")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv, fs)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	ws, err := workspace.BySlug(ctx, db.R, *wsSlug)
	if err != nil {
		return fmt.Errorf("no workspace %q (--workspace)", *wsSlug)
	}
	q := jobs.New(db, jobs.Options{Node: "cli"})
	if sub == "retry" {
		if fs.NArg() != 1 {
			return fmt.Errorf("usage: fairlead jobs retry --workspace %s JOB_ID", ws.Slug)
		}
		if _, err := q.Retry(ctx, ws.ID, fs.Arg(0)); err != nil {
			return fmt.Errorf("retry %s: %w", fs.Arg(0), err)
		}
		fmt.Fprintln(env.Stdout, "job", fs.Arg(0), "will run again")
		return nil
	}
	list, err := q.List(ctx, ws.ID, jobs.ListParams{State: jobs.State(*state), Limit: 500})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTATE\tATTEMPT\tUPDATED\tLAST ERROR")
	for _, j := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", j.ID, j.Kind, j.State, j.Attempt, j.MaxAttempts, j.UpdatedAt.Format("2006-01-02 15:04:05"), firstLine(j.LastError))
	}
	return tw.Flush()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

func runBackup(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "backup", "Write a consistent online backup of the embedded SQLite database to a new file\n(safe while fairlead serve runs). For PostgreSQL use pg_dump.", dbOptions...)
	out := fs.String("out", "", "file to write (must not exist); default fairlead-backup-<time>.db in the current directory")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv, fs)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL != "" {
		fmt.Fprintln(env.Stderr, `fairlead backup copies the embedded SQLite database. On PostgreSQL, use the
database's own tools, which take a consistent snapshot while fairlead runs:

    pg_dump --format=custom --file=fairlead.dump "$FAIRLEAD_DATABASE_URL"
    pg_restore --clean --dbname="$FAIRLEAD_DATABASE_URL" fairlead.dump

or continuous archiving (base backup plus WAL) for point-in-time recovery.
See docs/backup.md.`)
		return exitError{2}
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	path := *out
	if path == "" {
		path = "fairlead-backup-" + nowStamp() + ".db"
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("backup file %s exists; choose another --out", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := db.Backup(ctx, abs); err != nil {
		return err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("backup written but not readable: %w", err)
	}
	fmt.Fprintf(env.Stdout, "wrote %s (%d bytes, mode 0600)\n", path, fi.Size())
	return nil
}

func nowStamp() string { return time.Now().UTC().Format("20060102-150405") }
