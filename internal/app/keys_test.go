package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/capture/token"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/workspace"
)

// services is what a fairlead process with env would wire.
type services struct {
	db       *store.DB
	cfg      config.Config
	contacts *contact.Store
	ledger   *consent.Ledger
	capture  *capture.Service
	ws       workspace.Workspace
}

func openServices(t *testing.T, env map[string]string) (*services, error) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(envFrom(env), nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = resolveKeys(ctx, db, cfg); err != nil {
		db.Close()
		return nil, err
	}
	s := &services{db: db, cfg: cfg}
	var purposes *consent.Purposes
	var notices *consent.Notices
	s.contacts, purposes, notices, s.ledger = consentServices(db, cfg)
	s.capture = captureService(db, cfg, s.contacts, purposes, notices, s.ledger, nil, nil, nil)
	if s.ws, err = workspace.BySlug(ctx, db.R, workspace.DemoSlug); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, nil
}

func mustServices(t *testing.T, env map[string]string) *services {
	t.Helper()
	s, err := openServices(t, env)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMasterKeyRotation writes everything that depends on the master key
// under K1, rotates to K2 with `keys new` and `keys rotate`, and then reads
// it all with K2 alone; K1 alone no longer opens the database.
func TestMasterKeyRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	env := map[string]string{"FAIRLEAD_DATA_DIR": dir}
	if _, errOut, err := run(t, env, "contact", "create", "--email", "Anna.Rot@example.com", "--first-name", "Anna", "--audience", "b2c", "--relationship", "prospect"); err != nil {
		t.Fatalf("create: %v %s", err, errOut)
	}
	k1, err := os.ReadFile(filepath.Join(dir, keyring.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}

	s := mustServices(t, env)
	list, err := s.contacts.List(ctx, s.ws.ID, contact.ListParams{Email: "anna.rot@example.com"})
	if err != nil || len(list) != 1 {
		t.Fatalf("lookup under K1: %v %v", list, err)
	}
	anna := list[0]
	if _, err := s.ledger.Append(ctx, nil, s.ws.ID, anna.ID, consent.NewEvent{Kind: consent.KindContractStarted,
		Evidence: consent.EvidenceInput{Source: "api", UserAgent: "Rotation-Test/1", Address: "Domstraße 1, Köln"}}, consent.Actor{}); err != nil {
		t.Fatal(err)
	}
	smtp := "smtp://user:s3cret@mail.example:587?tls=starttls"
	if _, err := s.capture.Settings.Update(ctx, s.ws.ID, capture.SettingsUpdate{SMTPURL: &smtp}, nil); err != nil {
		t.Fatal(err)
	}
	link, err := token.Sign(s.capture.Keys, token.Token{Kind: token.Preferences, Workspace: s.ws.ID, Subject: anna.ID, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	s.db.Close()

	// Start the rotation; a second `keys new` refuses while it is not finished.
	if out, errOut, err := run(t, env, "keys", "new"); err != nil || !strings.Contains(out, "is now master.key.previous") {
		t.Fatalf("keys new: %v %s %s", err, out, errOut)
	}
	if fi, err := os.Stat(filepath.Join(dir, keyring.MasterKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new master.key: %v %v", fi, err)
	}
	if _, _, err := run(t, env, "keys", "new"); err == nil || !strings.Contains(err.Error(), "not finished") {
		t.Fatalf("second keys new: %v", err)
	}
	// During the rotation (K2 current, K1 previous) a new contact is
	// wrapped under K2.
	if _, errOut, err := run(t, env, "contact", "create", "--email", "bert.rot@example.com", "--audience", "b2c", "--relationship", "prospect"); err != nil {
		t.Fatalf("create during rotation: %v %s", err, errOut)
	}
	out, errOut, err := run(t, env, "keys", "rotate", "--batch", "1")
	if err != nil || !strings.Contains(out, "1 contact key(s) rewrapped, 1 already under it") || !strings.Contains(out, "3 derived key(s) rewrapped") {
		t.Fatalf("rotate: %v\n%s\n%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "1 rewrapped") {
		t.Fatalf("no progress on stderr: %s", errOut)
	}
	if out, _, err := run(t, env, "keys", "rotate"); err != nil || !strings.Contains(out, "0 contact key(s) rewrapped, 2 already under it") {
		t.Fatalf("second rotate: %v %s", err, out)
	}
	k1Text := strings.TrimSpace(string(k1))
	if err := os.Remove(filepath.Join(dir, keyring.MasterKeyPreviousFile)); err != nil {
		t.Fatal(err)
	}

	// K2 alone: read, look up, open evidence and secrets, verify links and the chain.
	s = mustServices(t, env)
	list, err = s.contacts.List(ctx, s.ws.ID, contact.ListParams{Email: "ANNA.ROT@example.com"})
	if err != nil || len(list) != 1 || list[0].ID != anna.ID || list[0].FirstName != "Anna" {
		t.Fatalf("lookup under K2 alone: %+v %v", list, err)
	}
	evs, err := s.ledger.Events(ctx, s.ws.ID, anna.ID, true)
	if err != nil || len(evs) != 1 || evs[0].Evidence.Personal == nil || evs[0].Evidence.Personal.Address != "Domstraße 1, Köln" {
		t.Fatalf("evidence under K2 alone: %+v %v", evs, err)
	}
	eff, err := s.capture.Settings.Effective(ctx, s.ws.ID)
	if err != nil || eff.SMTPURL != smtp {
		t.Fatalf("workspace secret under K2 alone: %q %v", eff.SMTPURL, err)
	}
	if tok, err := token.Parse(s.capture.Keys, token.Preferences, link, time.Now()); err != nil || tok.Subject != anna.ID {
		t.Fatalf("link signed under K1 after rotation: %+v %v", tok, err)
	}
	s.db.Close()
	if out, _, err := run(t, env, "verify"); err != nil || !strings.Contains(out, "workspace demo: ok, 1 events") {
		t.Fatalf("verify under K2 alone: %v %s", err, out)
	}

	// K1 alone opens nothing any more.
	old := map[string]string{"FAIRLEAD_DATA_DIR": dir, "FAIRLEAD_MASTER_KEY": k1Text}
	if _, err := openServices(t, old); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("K1 alone: %v", err)
	}
	if _, _, err := run(t, old, "contact", "get", anna.ID); err == nil {
		t.Fatal("contact get with K1 alone worked")
	}
}

// TestKeysCommandsRefuseWhatTheyCannotDo: keys new is for the key file of
// the embedded default only; a bad batch size names the flag.
func TestKeysCommandsRefuseWhatTheyCannotDo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, errOut, err := run(t, map[string]string{"FAIRLEAD_DATA_DIR": dir, "FAIRLEAD_MASTER_KEY": testMasterKey}, "keys", "new")
	if code, ok := ExitCode(err); !ok || code != 2 || !strings.Contains(errOut, "FAIRLEAD_MASTER_KEY_PREVIOUS") {
		t.Fatalf("keys new with a configured key: %v %s", err, errOut)
	}
	if _, _, err := run(t, map[string]string{"FAIRLEAD_DATA_DIR": dir}, "keys", "new"); err == nil || !strings.Contains(err.Error(), "master.key") {
		t.Fatalf("keys new without a key file: %v", err)
	}
	if _, _, err := run(t, map[string]string{"FAIRLEAD_DATA_DIR": dir}, "keys", "rotate", "--batch", "0"); err == nil || !strings.Contains(err.Error(), "--batch") {
		t.Fatalf("bad batch: %v", err)
	}
	if _, _, err := run(t, map[string]string{"FAIRLEAD_DATA_DIR": dir}, "keys", "turn"); err == nil || !strings.Contains(err.Error(), "keys rotate") {
		t.Fatalf("unknown subcommand: %v", err)
	}
}

// TestMasterKeyRotationOnPostgres follows docs/keys.md with configured keys
// (the only way on PostgreSQL): both keys on every process, rotate, then
// the new key alone.
func TestMasterKeyRotationOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.NewPostgresURL(t)
	const k2 = "c2Vjb25kIG1hc3RlciBrZXk6IDMyIGJ5dGVzIGxvbmc="
	env := map[string]string{"FAIRLEAD_DATABASE_URL": url, "FAIRLEAD_MASTER_KEY": testMasterKey}
	a := createContact(t, env, "pg.rotate@example.com", "Petra")
	both := map[string]string{"FAIRLEAD_DATABASE_URL": url, "FAIRLEAD_MASTER_KEY": k2, "FAIRLEAD_MASTER_KEY_PREVIOUS": testMasterKey}
	if out, errOut, err := run(t, both, "keys", "rotate"); err != nil || !strings.Contains(out, "1 contact key(s) rewrapped") {
		t.Fatalf("rotate: %v %s %s", err, out, errOut)
	}
	alone := map[string]string{"FAIRLEAD_DATABASE_URL": url, "FAIRLEAD_MASTER_KEY": k2}
	s := mustServices(t, alone)
	list, err := s.contacts.List(ctx, s.ws.ID, contact.ListParams{Email: "PG.rotate@example.com"})
	if err != nil || len(list) != 1 || list[0].ID != a.ID || list[0].FirstName != "Petra" {
		t.Fatalf("K2 alone: %+v %v", list, err)
	}
	s.db.Close()
	if out, _, err := run(t, alone, "verify"); err != nil || !strings.Contains(out, "workspace demo: ok, 1 events") {
		t.Fatalf("verify: %v %s", err, out)
	}
	if _, err := openServices(t, env); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("old key alone: %v", err)
	}
	// A previous key that is not a key names its setting.
	bad := map[string]string{"FAIRLEAD_DATABASE_URL": url, "FAIRLEAD_MASTER_KEY": k2, "FAIRLEAD_MASTER_KEY_PREVIOUS": "short"}
	if _, _, err := run(t, bad, "keys", "rotate"); err == nil || !strings.Contains(err.Error(), "FAIRLEAD_MASTER_KEY_PREVIOUS") || strings.Contains(err.Error(), "short") {
		t.Fatalf("bad previous key: %v", err)
	}
}
