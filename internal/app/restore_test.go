package app

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/keyring"
)

func createContact(t *testing.T, env map[string]string, email, first string) contact.Contact {
	t.Helper()
	if _, errOut, err := run(t, env, "contact", "create", "--email", email, "--first-name", first, "--audience", "b2c", "--relationship", "prospect"); err != nil {
		t.Fatalf("create %s: %v %s", first, err, errOut)
	}
	s := mustServices(t, env)
	defer s.db.Close()
	list, err := s.contacts.List(context.Background(), s.ws.ID, contact.ListParams{Email: email})
	if err != nil || len(list) != 1 {
		t.Fatalf("find %s: %v %v", first, list, err)
	}
	if _, err := s.ledger.Append(context.Background(), nil, s.ws.ID, list[0].ID, consent.NewEvent{Kind: consent.KindContractStarted,
		Evidence: consent.EvidenceInput{Source: "api", Address: first + "weg 1, Köln"}}, consent.Actor{}); err != nil {
		t.Fatal(err)
	}
	return list[0]
}

func wrappedKeys(t *testing.T, s *services) [][]byte {
	t.Helper()
	rows, err := s.db.R.Query(`SELECT wrapped FROM contact_keys WHERE workspace_id = $1 AND wrapped IS NOT NULL`, s.ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		rows.Scan(&b)
		out = append(out, b)
	}
	return out
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestRestoredBackupKeepsErasedPeopleErased is the crypto-shredding test:
// a backup taken before a person was erased, restored afterwards, does not
// bring that person back, while everyone else reads back and the ledger
// chain verifies.
func TestRestoredBackupKeepsErasedPeopleErased(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, bdir := t.TempDir(), t.TempDir()
	env := map[string]string{"FAIRLEAD_DATA_DIR": dir}
	const emailA = "erased.person.a7x@example.com"
	a := createContact(t, env, emailA, "Annegret")
	b := createContact(t, env, "kept.person.b@example.com", "Berthold")

	backup := filepath.Join(bdir, "before.db")
	out, errOut, err := run(t, env, "backup", "--out", backup)
	if err != nil || !strings.Contains(out, "(2 withheld)") || !strings.Contains(out, "2 contact keys, 0 shredded, 3 derived keys") {
		t.Fatalf("backup: %v\n%s\n%s", err, out, errOut)
	}
	if mode(t, backup) != 0o600 || mode(t, backup+".keys") != 0o600 {
		t.Fatalf("modes %v %v", mode(t, backup), mode(t, backup+".keys"))
	}
	if _, err := os.Stat(backup + ".partial"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partial file left: %v", err)
	}

	// No key material, and not A's address, in the backup file; the live
	// database has the keys (so the search can find them).
	s := mustServices(t, env)
	keys := wrappedKeys(t, s)
	if len(keys) != 2 {
		t.Fatalf("%d live keys", len(keys))
	}
	if err := s.db.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	liveRaw, _ := os.ReadFile(filepath.Join(dir, "fairlead.db"))
	raw, _ := os.ReadFile(backup)
	for i, k := range keys {
		if !bytes.Contains(liveRaw, k) {
			t.Fatalf("key %d not found in the live file: the search is broken", i)
		}
		if bytes.Contains(raw, k) {
			t.Fatalf("contact key %d is in the backup file", i)
		}
		if bytes.Contains(raw, k[13:29]) {
			t.Fatalf("part of contact key %d is in the backup file", i)
		}
	}
	if bytes.Contains(bytes.ToLower(raw), []byte(emailA)) || bytes.Contains(raw, []byte("Annegret")) {
		t.Fatal("A's personal data in clear in the backup file")
	}

	// Erase A through the ledger: that shreds A's key.
	for _, kind := range []string{consent.KindErasureRequested, consent.KindErasureExecuted} {
		if _, err := s.ledger.Append(ctx, nil, s.ws.ID, a.ID, consent.NewEvent{Kind: kind}, consent.Actor{}); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
	}
	if got, err := s.contacts.Get(ctx, s.ws.ID, a.ID); err != nil || !got.Erased {
		t.Fatalf("A after erasure: %+v %v", got, err)
	}

	// The server must be stopped: a process holding the database is refused.
	if _, _, err := run(t, env, "restore", "--from", backup); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("restore while the database is open: %v", err)
	}
	s.db.Close()

	out, errOut, err = run(t, env, "restore", "--from", backup)
	if err != nil || !strings.Contains(out, "workspace demo: ok, 2 events") || !strings.Contains(out, "1 contact keys back, 1 shredded (1 of them erased since the backup)") {
		t.Fatalf("restore: %v\n%s\n%s", err, out, errOut)
	}
	if mode(t, filepath.Join(dir, "fairlead.db.before-restore")) != 0o600 {
		t.Fatal("before-restore file not owner-only")
	}
	checkRestored(t, env, a, b)

	// The live database is lost: restore with the newest key file, taken
	// after the erasure, onto an empty data directory.
	newer := filepath.Join(bdir, "after.db")
	if out, _, err := run(t, env, "backup", "--out", newer); err != nil || !strings.Contains(out, "1 contact keys, 1 shredded") {
		t.Fatalf("second backup: %v %s", err, out)
	}
	lost := t.TempDir()
	mk, _ := os.ReadFile(filepath.Join(dir, keyring.MasterKeyFile))
	os.WriteFile(filepath.Join(lost, keyring.MasterKeyFile), mk, 0o600)
	lenv := map[string]string{"FAIRLEAD_DATA_DIR": lost}
	if _, _, err := run(t, lenv, "restore", "--from", backup); err == nil || !strings.Contains(err.Error(), "--keys") {
		t.Fatalf("restore without live database or --keys: %v", err)
	}
	out, errOut, err = run(t, lenv, "restore", "--from", backup, "--keys", newer+".keys")
	if err != nil || !strings.Contains(out, "1 contact keys back, 1 shredded (1 of them erased since the backup)") || strings.Contains(out, "kept as") {
		t.Fatalf("restore with --keys: %v\n%s\n%s", err, out, errOut)
	}
	checkRestored(t, lenv, a, b)
}

func checkRestored(t *testing.T, env map[string]string, a, b contact.Contact) {
	t.Helper()
	ctx := context.Background()
	s := mustServices(t, env)
	defer s.db.Close()
	got, err := s.contacts.Get(ctx, s.ws.ID, b.ID)
	if err != nil || got.FirstName != "Berthold" || got.Email != b.Email || got.Erased {
		t.Fatalf("B after restore: %+v %v", got, err)
	}
	if list, err := s.contacts.List(ctx, s.ws.ID, contact.ListParams{Email: b.Email}); err != nil || len(list) != 1 {
		t.Fatalf("B by e-mail after restore: %v %v", list, err)
	}
	got, err = s.contacts.Get(ctx, s.ws.ID, a.ID)
	if err != nil || !got.Erased || got.FirstName != "" || got.Email != "" {
		t.Fatalf("A after restore: %+v %v", got, err)
	}
	evs, err := s.ledger.Events(ctx, s.ws.ID, a.ID, true)
	if err != nil || len(evs) != 1 || evs[0].Evidence.Personal != nil || evs[0].Evidence.PersonalState != "erased" {
		t.Fatalf("A's evidence after restore: %+v %v", evs, err)
	}
	if out, _, err := run(t, env, "verify"); err != nil || !strings.Contains(out, "workspace demo: ok") {
		t.Fatalf("verify after restore: %v %s", err, out)
	}
}

// TestRestoreRefusesBadInput: each refusal names what to change and leaves
// the data directory as it was.
func TestRestoreRefusesBadInput(t *testing.T) {
	t.Parallel()
	dir, bdir := t.TempDir(), t.TempDir()
	env := map[string]string{"FAIRLEAD_DATA_DIR": dir}
	createContact(t, env, "someone@example.com", "Some")
	backup := filepath.Join(bdir, "b.db")
	if _, _, err := run(t, env, "backup", "--out", backup); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, env, "backup", "--out", filepath.Join(bdir, "c.db"), "--keys-out", backup+".keys"); err == nil || !strings.Contains(err.Error(), "--keys-out") {
		t.Fatalf("existing key file: %v", err)
	}
	junk := filepath.Join(bdir, "junk.db")
	os.WriteFile(junk, []byte("not a database"), 0o600)
	badKeys := filepath.Join(bdir, "bad.keys")
	os.WriteFile(badKeys, []byte(`{"format":"something-else"}`+"\n"), 0o600)
	other := map[string]string{"FAIRLEAD_DATA_DIR": t.TempDir()}
	createContact(t, other, "someone.else@example.com", "Else")
	otherBackup := filepath.Join(bdir, "other.db")
	if _, _, err := run(t, other, "backup", "--out", otherBackup); err != nil {
		t.Fatal(err)
	}
	before := keySnapshot(t, env)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"restore"}, "--from is required"},
		{[]string{"restore", "--from", filepath.Join(bdir, "missing.db")}, "no such file"},
		{[]string{"restore", "--from", junk}, "not an intact SQLite database"},
		{[]string{"restore", "--from", backup, "--keys", badKeys}, "not a fairlead key file"},
		{[]string{"restore", "--from", filepath.Join(dir, "fairlead.db")}, "live database itself"},
		{[]string{"restore", "--from", backup, "--keys", otherBackup + ".keys"}, "none of the 1 contact keys"},
	} {
		if _, _, err := run(t, env, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	if after := keySnapshot(t, env); before != after {
		t.Error("a refused restore changed the database")
	}
	for _, f := range []string{"fairlead.db.before-restore", "fairlead.db.restoring"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("a refused restore left %s", f)
		}
	}
	if _, _, err := run(t, env, "restore", "--from", backup); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, env, "restore", "--from", backup); err == nil || !strings.Contains(err.Error(), "before-restore") {
		t.Fatalf("second restore over a kept file: %v", err)
	}
	_, errOut, err := run(t, map[string]string{"FAIRLEAD_DATABASE_URL": "postgres://x@127.0.0.1/x"}, "restore", "--from", backup)
	if code, ok := ExitCode(err); !ok || code != 2 || !strings.Contains(errOut, "pg_restore") {
		t.Fatalf("restore on PostgreSQL: %v %s", err, errOut)
	}
	_, errOut, err = run(t, map[string]string{"FAIRLEAD_DATABASE_URL": "postgres://x@127.0.0.1/x"}, "backup")
	if code, ok := ExitCode(err); !ok || code != 2 || !strings.Contains(errOut, "--exclude-table-data=contact_keys") {
		t.Fatalf("backup on PostgreSQL: %v %s", err, errOut)
	}
}

// keySnapshot is the content that a restore would change: the contact keys and
// the ledger.
func keySnapshot(t *testing.T, env map[string]string) string {
	t.Helper()
	s := mustServices(t, env)
	defer s.db.Close()
	var b strings.Builder
	for _, q := range []string{
		`SELECT contact_id || ':' || COALESCE(hex(wrapped), 'shredded') FROM contact_keys WHERE workspace_id = $1 ORDER BY contact_id`,
		`SELECT id || ':' || hash FROM ledger_events WHERE workspace_id = $1 ORDER BY seq`,
	} {
		rows, err := s.db.R.Query(q, s.ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v string
			rows.Scan(&v)
			b.WriteString(v + "\n")
		}
		rows.Close()
	}
	return b.String()
}

// TestRestoreOfABackupWithKeys: a backup written before backups left the
// keys out still holds the key of a person erased since; the restore
// shreds it and leaves no trace of it in the restored file.
func TestRestoreOfABackupWithKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, bdir := t.TempDir(), t.TempDir()
	env := map[string]string{"FAIRLEAD_DATA_DIR": dir}
	a := createContact(t, env, "old.style.a@example.com", "Annegret")
	b := createContact(t, env, "old.style.b@example.com", "Berthold")
	s := mustServices(t, env)
	keys := wrappedKeys(t, s)
	var keyA []byte
	s.db.R.QueryRow(`SELECT wrapped FROM contact_keys WHERE workspace_id = $1 AND contact_id = $2`, s.ws.ID, a.ID).Scan(&keyA)
	backup := filepath.Join(bdir, "with-keys.db")
	if err := s.db.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(backup); !bytes.Contains(raw, keyA) {
		t.Fatal("the old-style backup lacks A's key: the test proves nothing")
	}
	for _, kind := range []string{consent.KindErasureRequested, consent.KindErasureExecuted} {
		if _, err := s.ledger.Append(ctx, nil, s.ws.ID, a.ID, consent.NewEvent{Kind: kind}, consent.Actor{}); err != nil {
			t.Fatal(err)
		}
	}
	s.db.Close()
	if out, errOut, err := run(t, env, "restore", "--from", backup); err != nil || !strings.Contains(out, "1 contact keys back, 1 shredded (1 of them erased since the backup)") {
		t.Fatalf("restore: %v\n%s\n%s", err, out, errOut)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "fairlead.db"))
	if bytes.Contains(raw, keyA) {
		t.Fatal("A's key is still in the restored file")
	}
	if len(keys) != 2 || !bytes.Contains(raw, keys[0]) && !bytes.Contains(raw, keys[1]) {
		t.Fatal("B's key is not in the restored file: the search is broken")
	}
	checkRestored(t, env, a, b)
}
