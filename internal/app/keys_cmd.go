package app

import (
	"context"
	"fmt"

	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/keyring"
)

const keysUsage = `usage: fairlead keys rotate [--batch 500]
       fairlead keys new`

func runKeys(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "new") {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprintln(env.Stdout, keysUsage)
			return nil
		}
		return fmt.Errorf("usage: fairlead keys rotate [--batch 500] | fairlead keys new")
	}
	if args[0] == "new" {
		return runKeysNew(ctx, env, args[1:])
	}
	fs := flags(env, "keys rotate", `Rewrap every contact key and the stored derived keys under the current master key
(FAIRLEAD_MASTER_KEY or <data-dir>/master.key), opening them with the previous one
(FAIRLEAD_MASTER_KEY_PREVIOUS or <data-dir>/master.key.previous). Safe while fairlead runs,
resumable and idempotent: keys already under the current master key are skipped.
See docs/keys.md for the whole procedure.`, dbOptions...)
	batch := fs.Int("batch", 500, "contact keys rewrapped per transaction (1 to 10000)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *batch < 1 || *batch > 10000 {
		return fmt.Errorf("--batch must be a whole number from 1 to 10000, got %d", *batch)
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
	if cfg, err = resolveKeys(ctx, db, cfg); err != nil {
		return err
	}
	keys, err := openKeyring(ctx, db, cfg)
	if err != nil {
		return err
	}
	if cfg.MasterKeyPrevious == "" {
		fmt.Fprintln(env.Stderr, "keys rotate: no previous master key configured (FAIRLEAD_MASTER_KEY_PREVIOUS or master.key.previous); checking that everything is under the current one")
	}
	rep, err := keys.Rotate(ctx, *batch, func(r keyring.RotateReport) {
		fmt.Fprintf(env.Stderr, "keys rotate: %d rewrapped, %d already current so far\n", r.Rewrapped, r.Current)
	})
	fmt.Fprintf(env.Stdout, "master key %s: %d contact key(s) rewrapped, %d already under it, %d shredded (erased) left as they are; %d derived key(s) rewrapped\n",
		keys.KeyID(), rep.Rewrapped, rep.Current, rep.Shredded, rep.Derived)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "Every key is under the current master key. Once every fairlead process runs with it, remove the previous key (FAIRLEAD_MASTER_KEY_PREVIOUS, or delete master.key.previous).")
	return nil
}

func runKeysNew(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "keys new", `Start a master key rotation of the embedded SQLite default: <data-dir>/master.key becomes
master.key.previous and a fresh master.key (mode 0600) is written. Then restart fairlead,
run fairlead keys rotate, and delete master.key.previous. See docs/keys.md.`, dbOptions...)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv, fs)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL != "" || cfg.MasterKey != "" {
		fmt.Fprintln(env.Stderr, `fairlead keys new replaces <data-dir>/master.key of the embedded SQLite default.
With FAIRLEAD_MASTER_KEY (always on PostgreSQL), make a new key yourself:

    head -c 32 /dev/urandom | base64

set it as FAIRLEAD_MASTER_KEY and the old one as FAIRLEAD_MASTER_KEY_PREVIOUS on every
fairlead process, restart them, run fairlead keys rotate, then remove the previous key.
See docs/keys.md.`)
		return exitError{2}
	}
	oldID, newID, err := keyring.ReplaceMasterKeyFile(cfg.DataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "New master key %s written to %s/%s; the old one (%s) is now %s.\n", newID, cfg.DataDir, keyring.MasterKeyFile, oldID, keyring.MasterKeyPreviousFile)
	fmt.Fprintln(env.Stdout, "Back up the new master.key now. Next: restart fairlead serve, run fairlead keys rotate, then delete master.key.previous.")
	return nil
}
