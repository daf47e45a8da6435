package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/keyring"
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
	ws, err := cliWorkspace(ctx, db, *wsSlug)
	if err != nil {
		return err
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
	ws, err := cliWorkspace(ctx, db, *wsSlug)
	if err != nil {
		return err
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
	fs := flags(env, "backup", `Write a consistent online backup of the embedded SQLite database to a new file
(safe while fairlead serve runs). The backup holds no contact data keys: they go to a
separate key file, so a person erased later stays unreadable in this backup. Keep only
the newest key file; keep database backups as long as you need. For PostgreSQL see
docs/backup.md.`, dbOptions...)
	out := fs.String("out", "", "file to write (must not exist); default fairlead-backup-<time>.db in the current directory")
	keysOut := fs.String("keys-out", "", "file for the contact keys (must not exist, mode 0600); default <out>.keys")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv, fs)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL != "" {
		fmt.Fprintln(env.Stderr, `fairlead backup copies the embedded SQLite database. On PostgreSQL, use the
database's own tools, which take a consistent snapshot while fairlead runs, and keep the
contact keys out of the database dump (see docs/backup.md):

    pg_dump --format=custom --exclude-table-data=contact_keys --exclude-table-data=keyring_keys \
        --file=fairlead.dump "$FAIRLEAD_DATABASE_URL"
    pg_dump --format=custom --data-only --table=contact_keys --table=keyring_keys \
        --file=fairlead-keys.dump "$FAIRLEAD_DATABASE_URL"

Keep only the newest keys dump.`)
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
	kpath := *keysOut
	if kpath == "" {
		kpath = path + ".keys"
	}
	for _, p := range []struct{ flag, path string }{{"--out", path}, {"--keys-out", kpath}} {
		if _, err := os.Stat(p.path); err == nil {
			return fmt.Errorf("%s exists; choose another %s", p.path, p.flag)
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	withheld := 0
	err = db.Backup(ctx, abs, func(ctx context.Context, q store.Querier) error {
		withheld, err = keyring.WithholdKeys(ctx, q)
		return err
	})
	if err != nil {
		return err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("backup written but not readable: %w", err)
	}
	fmt.Fprintf(env.Stdout, "wrote %s (%d bytes, mode 0600) without contact keys (%d withheld)\n", path, fi.Size(), withheld)
	// The keys are read after the snapshot, so the key file is never older
	// than the backup: a contact erased in between is shredded in both.
	rep, err := writeKeyFile(ctx, db, kpath)
	if err != nil {
		return fmt.Errorf("the backup %s was written, the key file not: %w", path, err)
	}
	fmt.Fprintf(env.Stdout, "wrote %s (%d contact keys, %d shredded, %d derived keys, mode 0600); keep only the newest key file: an older one still holds keys of people erased since\n",
		kpath, rep.Keys, rep.Shredded, rep.Derived)
	return nil
}

func writeKeyFile(ctx context.Context, db *store.DB, path string) (keyring.ExportReport, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return keyring.ExportReport{}, err
	}
	rep, err := keyring.ExportKeys(ctx, db.R, f)
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		os.Remove(path)
		return rep, err
	}
	return rep, nil
}

func runRestore(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "restore", `Restore a backup made by fairlead backup into the data directory of the embedded SQLite
database. Stop fairlead serve first. The contact keys come from the database being
replaced (default) or from --keys when it is lost; a person erased in the database being
replaced stays erased. The replaced file is kept as fairlead.db.before-restore. The ledger
chain of every workspace is verified before the restored file is put in place.`, dbOptions...)
	from := fs.String("from", "", "backup file written by fairlead backup (required)")
	keysFile := fs.String("keys", "", "key file written by fairlead backup; needed when the live database is lost")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv, fs)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL != "" {
		fmt.Fprintln(env.Stderr, `fairlead restore restores the embedded SQLite database. On PostgreSQL restore the
database dump, then the contact keys from the newest keys dump, with PostgreSQL's tools
(see docs/backup.md):

    pg_restore --clean --if-exists --dbname="$FAIRLEAD_DATABASE_URL" fairlead.dump
    pg_restore --data-only --dbname="$FAIRLEAD_DATABASE_URL" fairlead-keys.dump

then run fairlead verify.`)
		return exitError{2}
	}
	if *from == "" {
		return fmt.Errorf("--from is required: the backup file written by fairlead backup")
	}
	livePath := filepath.Join(cfg.DataDir, "fairlead.db")
	if _, err := os.Stat(livePath); errors.Is(err, os.ErrNotExist) && *keysFile == "" {
		return fmt.Errorf("there is no database in %s (FAIRLEAD_DATA_DIR) to take the contact keys from: give --keys with the newest key file from fairlead backup", cfg.DataDir)
	}
	// Never make up a master key here: a new one would open nothing.
	if cfg.MasterKey == "" {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, keyring.MasterKeyFile)); err != nil {
			return fmt.Errorf("no master key: set FAIRLEAD_MASTER_KEY or put the backed-up master.key into %s (FAIRLEAD_DATA_DIR)", cfg.DataDir)
		}
	}
	var keys *os.File
	if *keysFile != "" {
		if keys, err = os.Open(*keysFile); err != nil {
			return fmt.Errorf("--keys: %w", err)
		}
		defer keys.Close()
	}
	var rep keyring.RestoreReport
	var broken int
	res, err := store.Restore(ctx, cfg.DataDir, *from, func(ctx context.Context, restored, live *store.DB) error {
		src := keyring.KeySource{}
		if keys != nil {
			src.File = keys
		}
		if live != nil {
			src.Live = live.R
		}
		var err error
		if rep, err = keyring.RestoreKeys(ctx, restored, src); err != nil {
			return err
		}
		if rep.Restored == 0 && rep.Missing > 0 {
			// Every key unknown to the source: a key file or data
			// directory of another installation, not a mass erasure.
			return fmt.Errorf("none of the %d contact keys of the backup is in the key source (wrong --keys file or FAIRLEAD_DATA_DIR?); nothing was replaced", rep.Missing)
		}
		kcfg, err := resolveKeys(ctx, restored, cfg)
		if err != nil {
			return err
		}
		_, _, _, ledger := consentServices(restored, kcfg)
		if broken, err = verifyLedgers(ctx, restored, ledger, "", env.Stdout); err != nil {
			return err
		}
		if broken > 0 {
			return fmt.Errorf("the ledger chain of %d workspace(s) in the backup is broken; nothing was replaced", broken)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(env.Stdout, "restored %s into %s: %d contact keys back, %d shredded (%d of them erased since the backup), %d without a key in the source (unreadable)\n",
		*from, res.Path, rep.Restored, rep.Shredded, rep.ErasedSince, rep.Missing)
	if res.Before != "" {
		fmt.Fprintf(env.Stdout, "the replaced database is kept as %s (mode 0600)\n", res.Before)
	}
	return nil
}

func nowStamp() string { return time.Now().UTC().Format("20060102-150405") }
