package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/workspace"
)

// TestContactAndVerifyCommands: zero-config SQLite creates master.key; the
// contact commands work; verify is green, then names a deleted row and
// exits 1.
func TestContactAndVerifyCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"FAIRLEAD_DATA_DIR": dir, "FAIRLEAD_ADMIN_PASSWORD": "operator test password"}
	out, errOut, err := run(t, env, "contact", "create", "--email", "Max@Example.com", "--audience", "b2c", "--relationship", "prospect", "--first-name", "Max", "--country", "de", "--city", "Köln")
	if err != nil {
		t.Fatalf("create: %v %s", err, errOut)
	}
	var c struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.Email != "max@example.com" {
		t.Fatalf("create output: %v %s", err, out)
	}
	fi, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key: %v", err)
	}
	if _, _, err := run(t, env, "contact", "create", "--email", "max@example.com", "--audience", "b2c", "--relationship", "prospect"); err == nil || !strings.Contains(err.Error(), "email") {
		t.Fatalf("duplicate: %v", err)
	}
	if _, _, err := run(t, env, "contact", "create", "--email", "x@example.com", "--audience", "b2z", "--relationship", "prospect"); err == nil || !strings.Contains(err.Error(), "--audience") {
		t.Fatalf("bad audience: %v", err)
	}
	if out, _, err := run(t, env, "contact", "get", c.ID); err != nil || !strings.Contains(out, "Köln") {
		t.Fatalf("get: %v %s", err, out)
	}
	if out, _, err := run(t, env, "contact", "list", "--email", "MAX@example.com"); err != nil || !strings.Contains(out, c.ID) {
		t.Fatalf("list: %v %s", err, out)
	}

	// Append three events directly, then verify, then delete one.
	ctx := context.Background()
	cfg, _ := config.Load(envFrom(env), nil)
	db, err := openDB(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg.MasterKey, err = masterKey(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, ledger := consentServices(db, cfg)
	ws, _ := workspace.BySlug(ctx, db.R, "demo")
	var ids []string
	for _, k := range []string{consent.KindContractStarted, consent.KindContractEnded, consent.KindContractStarted} {
		ev, err := ledger.Append(ctx, nil, ws.ID, c.ID, consent.NewEvent{Kind: k}, consent.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	if out, _, err := run(t, env, "verify"); err != nil || !strings.Contains(out, "workspace demo: ok, 3 events") {
		t.Fatalf("verify: %v %s", err, out)
	}
	// The database refuses the delete; someone with schema rights drops
	// the trigger first.
	if _, err := db.W.Exec(`DELETE FROM ledger_events WHERE id = $1`, ids[1]); err == nil {
		t.Fatal("the append-only trigger did not refuse a delete")
	}
	for _, q := range []string{`DROP TRIGGER ledger_events_no_delete`, `DELETE FROM ledger_events WHERE id = $1`} {
		args := []any{}
		if strings.HasPrefix(q, "DELETE") {
			args = append(args, ids[1])
		}
		if _, err := db.W.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err = run(t, env, "verify", "--workspace", "demo")
	if code, ok := ExitCode(err); !ok || code != 1 || !strings.Contains(out, "BROKEN at seq 2") || !strings.Contains(out, ids[2]) {
		t.Fatalf("verify after delete: %v %s", err, out)
	}
}

// TestPostgresNeedsAMasterKey: on PostgreSQL an empty key is a start-up
// error naming the setting.
func TestPostgresNeedsAMasterKey(t *testing.T) {
	t.Parallel()
	_, err := masterKey(config.Config{DatabaseURL: "postgres://x@127.0.0.1/x"})
	if err == nil || !strings.Contains(err.Error(), "FAIRLEAD_MASTER_KEY") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err %v", err)
	}
}
