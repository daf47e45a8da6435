package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/webhook"
	"github.com/fairlead/fairlead/internal/workspace"
)

// masterKey resolves FAIRLEAD_MASTER_KEY (or, on SQLite, <data-dir>/master.key)
// and returns it base64-encoded, so the rest of the wiring cannot fail on it.
func masterKey(cfg config.Config) (string, error) {
	k, err := keyring.LoadMasterKey(cfg.MasterKey, cfg.DataDir, cfg.DatabaseURL != "")
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// resolveKeys resolves the master key and, during a rotation, the previous
// one into cfg, and opens the keyring once: a master key that does not fit
// the database is then a start-up error naming the setting, not a panic in
// the wiring.
func resolveKeys(ctx context.Context, db *store.DB, cfg config.Config) (config.Config, error) {
	var err error
	if cfg.MasterKey, err = masterKey(cfg); err != nil {
		return cfg, err
	}
	prev, err := keyring.LoadPreviousMasterKey(cfg.MasterKeyPrevious, cfg.DataDir, cfg.DatabaseURL != "")
	if err != nil {
		return cfg, err
	}
	cfg.MasterKeyPrevious = ""
	if prev != nil {
		cfg.MasterKeyPrevious = base64.StdEncoding.EncodeToString(prev)
	}
	if _, err := openKeyring(ctx, db, cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// openKeyring opens the keyring with the resolved keys of cfg.
func openKeyring(ctx context.Context, db *store.DB, cfg config.Config) (*keyring.Keyring, error) {
	k, err := keyring.ParseMasterKey(cfg.MasterKey)
	if err != nil {
		return nil, fmt.Errorf("FAIRLEAD_MASTER_KEY: %w", err)
	}
	var prev []byte
	if cfg.MasterKeyPrevious != "" {
		if prev, err = keyring.ParseMasterKey(cfg.MasterKeyPrevious); err != nil {
			return nil, fmt.Errorf("FAIRLEAD_MASTER_KEY_PREVIOUS: %w", err)
		}
	}
	return keyring.Open(ctx, db, keyring.Options{Master: k, Previous: prev})
}

// consentServices wires the keyring, contacts and the consent ledger. The
// keys must have been resolved (resolveKeys) before.
func consentServices(db *store.DB, cfg config.Config) (*contact.Store, *consent.Purposes, *consent.Notices, *consent.Ledger) {
	keys, err := openKeyring(context.Background(), db, cfg)
	if err != nil {
		panic("app: keys not resolved before wiring: " + err.Error())
	}
	contacts := contact.NewStore(db, keys, nil)
	purposes := consent.NewPurposes(db, nil)
	notices := consent.NewNotices(db, nil)
	ledger := consent.NewLedger(db, contacts, purposes, notices, nil)
	// Every process that appends to the ledger (server, CLI, benchmarks)
	// must queue the webhooks of what it appends, in the same transaction.
	// So must the deletion of tracking events an objection or withdrawal
	// ends.
	ledger.OnAppend(ledgerHooks(webhookService(db, cfg, keys, nil, nil).OnLedgerEvent, trackService(db, keys).OnLedgerEvent))
	return contacts, purposes, notices, ledger
}

// webhookService wires the connected-systems service. q, when set, is the
// local job queue, so that deliveries start without waiting for a poll.
func webhookService(db *store.DB, cfg config.Config, keys *keyring.Keyring, q webhook.Enqueuer, log *slog.Logger) *webhook.Service {
	return webhook.New(db, keys, webhook.Options{MaxAttempts: cfg.WebhookMaxAttempts, AllowPrivate: cfg.WebhookAllowPrivate, Jobs: q, Logger: log})
}

// openConsent opens the database and the consent services for a CLI command.
func openConsent(ctx context.Context, env Env, fs *flag.FlagSet) (*store.DB, *contact.Store, *consent.Ledger, config.Config, error) {
	cfg, err := config.Load(env.Getenv, fs)
	if err != nil {
		return nil, nil, nil, cfg, err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return nil, nil, nil, cfg, err
	}
	if cfg, err = resolveKeys(ctx, db, cfg); err != nil {
		db.Close()
		return nil, nil, nil, cfg, err
	}
	contacts, _, _, ledger := consentServices(db, cfg)
	return db, contacts, ledger, cfg, nil
}

const contactUsage = `usage: fairlead contact create --workspace demo --email anna@example.com --audience b2c --relationship prospect [--first-name …] [--last-name …] [--organization …] [--phone …] [--street … --postal-code … --city … --country DE] [--data-source self_provided|third_party]
       fairlead contact get [--workspace demo] ID
       fairlead contact list [--workspace demo] [--email …] [--limit 50] [--after ID]`

func runContact(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "get" && args[0] != "list") {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprintln(env.Stdout, contactUsage)
			return nil
		}
		return fmt.Errorf("%s", strings.ReplaceAll(contactUsage, "\n       ", " | "))
	}
	sub := args[0]
	fs := flags(env, "contact "+sub, "Create, show or list contacts. Personal fields are stored encrypted with the contact's own key;\nthis command prints them in clear to you, never to a log.", dbOptions...)
	wsSlug := fs.String("workspace", workspace.DemoSlug, "workspace slug")
	var in contact.Input
	var addr contact.Address
	var lp contact.ListParams
	switch sub {
	case "create":
		fs.StringVar(&in.Email, "email", "", "e-mail address")
		fs.StringVar(&in.Phone, "phone", "", "phone number, e.g. +49 171 1234567")
		fs.StringVar(&in.FirstName, "first-name", "", "first name")
		fs.StringVar(&in.LastName, "last-name", "", "last name")
		fs.StringVar(&in.Organization, "organization", "", "organization (for b2b contacts)")
		fs.StringVar(&in.Audience, "audience", "", "b2c or b2b")
		fs.StringVar(&in.Relationship, "relationship", "", "prospect, customer or supplier")
		fs.StringVar(&in.DataSource, "data-source", "self_provided", "self_provided or third_party")
		fs.StringVar(&addr.Street, "street", "", "street and number")
		fs.StringVar(&addr.PostalCode, "postal-code", "", "postal code")
		fs.StringVar(&addr.City, "city", "", "city")
		fs.StringVar(&addr.Country, "country", "", "two-letter country code, e.g. DE")
	case "list":
		fs.StringVar(&lp.Email, "email", "", "find the contact with this exact e-mail address")
		fs.IntVar(&lp.Limit, "limit", 50, "how many (1-500)")
		fs.StringVar(&lp.After, "after", "", "list contacts after this ID (the last of the previous page)")
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if sub == "get" && fs.NArg() != 1 {
		return fmt.Errorf("usage: fairlead contact get [--workspace %s] ID", *wsSlug)
	}
	if sub == "create" && (in.Audience == "" || in.Relationship == "") {
		return fmt.Errorf("--audience (b2c or b2b) and --relationship (prospect, customer or supplier) are required")
	}
	db, contacts, _, _, err := openConsent(ctx, env, fs)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := bootstrap(ctx, db, mustLoad(env, fs), env.Stderr); err != nil {
		return err
	}
	ws, err := cliWorkspace(ctx, db, *wsSlug)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	switch sub {
	case "create":
		if addr != (contact.Address{}) {
			in.Address = &addr
		}
		c, err := contacts.Create(ctx, ws.ID, in)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(env.Stderr, "Created contact %s in workspace %s.\n", c.ID, ws.Slug)
		return enc.Encode(c)
	case "get":
		c, err := contacts.Get(ctx, ws.ID, fs.Arg(0))
		if err != nil {
			return fmt.Errorf("contact %s: %w", fs.Arg(0), cliError(err))
		}
		return enc.Encode(c)
	}
	list, err := contacts.List(ctx, ws.ID, lp)
	if err != nil {
		return cliError(err)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAUDIENCE\tRELATIONSHIP\tNAME\tEMAIL")
	for _, c := range list {
		name := strings.TrimSpace(c.FirstName + " " + c.LastName)
		if c.Erased {
			name = "(erased)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Audience, c.Relationship, name, c.Email)
	}
	return tw.Flush()
}

// mustLoad re-reads the configuration already validated by openConsent.
func mustLoad(env Env, fs *flag.FlagSet) config.Config {
	cfg, _ := config.Load(env.Getenv, fs)
	return cfg
}

// cliError phrases a domain error for a terminal: the flag, not the JSON
// field, is what an operator types.
func cliError(err error) error {
	msg := err.Error()
	if f, rest, ok := strings.Cut(msg, ": "); ok && !strings.Contains(f, " ") {
		return fmt.Errorf("--%s: %s", strings.ReplaceAll(f, "_", "-"), rest)
	}
	return err
}

// cliWorkspace finds the workspace a command's --workspace names. An
// unknown slug is named with the flag; any other failure (the database)
// is reported as what it is, not as a missing workspace.
func cliWorkspace(ctx context.Context, db *store.DB, slug string) (workspace.Workspace, error) {
	ws, err := workspace.BySlug(ctx, db.R, slug)
	if errors.Is(err, store.ErrNotFound) {
		return ws, fmt.Errorf("no workspace %q (--workspace)", slug)
	}
	return ws, err
}
