// Package app wires fairlead together: configuration -> store -> services ->
// HTTP server and workers, and the operator subcommands. It is the only
// package that knows all the others.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/policy/policyjson"
)

// Version is set at build time with -ldflags "-X github.com/fairlead/fairlead/internal/app.Version=…".
var Version = "dev"

// exitError carries an exit status without a message (the command has
// already said what went wrong).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// ExitCode reports the status a command asked for without a message.
func ExitCode(err error) (int, bool) {
	var e exitError
	if errors.As(err, &e) {
		return e.code, true
	}
	return 0, false
}

// Env is what a command sees of the outside world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

type command struct {
	name  string
	usage string
	run   func(ctx context.Context, env Env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the HTTP server and background workers", runServe},
		{"migrate", "apply database migrations and exit", runMigrate},
		{"token", "manage API tokens: token create --workspace demo --role marketing --name ci", runToken},
		{"jobs", "show and retry background jobs: jobs list|retry", runJobs},
		{"decide", "evaluate the contactability engine on NDJSON facts from stdin", runDecide},
		{"contact", "manage contacts: contact create|get|list --workspace demo", runContact},
		{"import", "import contacts from CSV or JSON with their source: import --source NAME --data-source third_party FILE", runImport},
		{"export", "export contacts with their provenance as CSV or JSON: export contacts --workspace demo", runExport},
		{"form", "import, export and list lead-capture forms: form import|export|list --workspace demo", runForm},
		{"outbox", "show the dev outbox: mail and SMS that would have been sent, with their links", runOutbox},
		{"scoring", "lead scoring rules: scoring import|export|recompute --workspace demo", runScoring},
		{"dsr", "data subject requests: dsr open|list|show|verify|extend|complete --workspace demo", runDSR},
		{"retention", "dry run of the retention clean-up: retention plan --workspace demo", runRetention},
		{"letters", "letter batches for the suppliers' contact persons: letters batch|list --workspace demo", runLetters},
		{"verify", "recompute the consent ledger's hash chains and report the first broken link", runVerify},
		{"config", "print the effective configuration (secrets redacted)", runConfig},
		{"keys", "rotate the master key: keys rotate, keys new (embedded SQLite)", runKeys},
		{"backup", "write a consistent online backup of the SQLite database and, apart, its contact keys", runBackup},
		{"restore", "restore a SQLite backup, keeping erased people erased, and verify the ledger", runRestore},
		{"bench", "measure performance: bench startup [--rows N]", runBench},
		{"version", "print the version", runVersion},
	}
}

// Run runs one subcommand.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return RunEnv(ctx, args, Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv})
}

// RunEnv is Run with an explicit environment (tests).
func RunEnv(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout)
		if len(args) == 0 {
			return exitError{2}
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	usage(env.Stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "fairlead — lead management and consent hub")
	fmt.Fprintln(w, "\nUsage: fairlead <command> [flags]\n\nCommands:")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(w, "\nRun 'fairlead <command> --help' for the flags of a command.")
}

// flags makes a FlagSet whose --help output goes to stdout and whose errors
// are returned, with the config options of the given names registered.
func flags(env Env, name, summary string, options ...string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fs.SetOutput(env.Stdout)
		fmt.Fprintf(env.Stdout, "Usage: fairlead %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	if len(options) > 0 {
		config.RegisterFlags(fs, options...)
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitError{0}
		}
		return exitError{2}
	}
	return nil
}

var dbOptions = []string{"data-dir", "database-url", "log-level", "log-format", "admin-email"}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runDecide(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "decide", `Read newline-delimited JSON from stdin, one object per line:
  {"id": any (optional), "facts": {...}, "request": {"purpose": "...", "channel": "..."}}
with facts and request as docs/contactability-rules.md defines them (facts.as_of is the
evaluation date; facts.policy overrides policy keys for that line). Write one JSON line per
input: the decision (allowed, reasons, legal_refs, legal_bases, obligations, warnings,
policy_version, as_of) plus "id", or {"id", "error": {"code", "message", "field"}}.
Exit status 1 if any line failed.`)
	if err := parse(fs, args); err != nil {
		return err
	}
	failed, err := policyjson.Stream(env.Stdin, env.Stdout)
	if err != nil {
		return fmt.Errorf("decide: %w", err)
	}
	if failed > 0 {
		fmt.Fprintf(env.Stderr, "decide: %d line(s) failed\n", failed)
		return exitError{1}
	}
	return nil
}

func runVersion(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "version", "Print the version.")
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "fairlead", Version)
	return nil
}

func runConfig(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "config", "Print the effective configuration from defaults, FAIRLEAD_* variables and flags; secrets are redacted.")
	config.RegisterFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv, fs)
	if err != nil {
		return err
	}
	return cfg.Print(env.Stdout)
}
