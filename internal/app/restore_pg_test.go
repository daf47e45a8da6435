package app

import (
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// pgTool finds a PostgreSQL client program.
func pgTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name); len(m) > 0 {
		return m[len(m)-1]
	}
	if os.Getenv("CI") == "true" || os.Getenv("FAIRLEAD_REQUIRE_POSTGRES") == "1" {
		t.Fatalf("%s not found", name)
	}
	t.Skipf("%s not found", name)
	return ""
}

func pgRun(t *testing.T, tool string, args ...string) string {
	t.Helper()
	out, err := exec.Command(pgTool(t, tool), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
	return string(out)
}

// TestPostgresDumpsKeepErasedPeopleErased runs the pg_dump procedure of
// docs/backup.md: the database dump holds no contact key, and a restore of
// a dump from before an erasure, with the newest keys dump, leaves the
// erased person unreadable and the ledger intact.
func TestPostgresDumpsKeepErasedPeopleErased(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testdb.NewPostgresURL(t)
	env := map[string]string{"FAIRLEAD_DATABASE_URL": url, "FAIRLEAD_MASTER_KEY": testMasterKey}
	a := createContact(t, env, "pg.erased.a@example.com", "Annegret")
	b := createContact(t, env, "pg.kept.b@example.com", "Berthold")
	dir := t.TempDir()
	dump, keysDump := filepath.Join(dir, "fairlead.dump"), filepath.Join(dir, "fairlead-keys.dump")
	pgRun(t, "pg_dump", "--format=custom", "--exclude-table-data=contact_keys", "--exclude-table-data=keyring_keys", "--file="+dump, url)
	plain := pgRun(t, "pg_dump", "--format=plain", "--exclude-table-data=contact_keys", "--exclude-table-data=keyring_keys", url)
	keysPlain := pgRun(t, "pg_dump", "--format=plain", "--data-only", "--table=contact_keys", "--table=keyring_keys", url)

	s := mustServices(t, env)
	keys := wrappedKeys(t, s)
	if len(keys) != 2 {
		t.Fatalf("%d keys", len(keys))
	}
	for i, k := range keys {
		h := hex.EncodeToString(k)
		if !strings.Contains(keysPlain, h) {
			t.Fatalf("key %d not in the keys dump: the search is broken", i)
		}
		if strings.Contains(plain, h) {
			t.Fatalf("contact key %d is in the database dump", i)
		}
	}
	for _, kind := range []string{consent.KindErasureRequested, consent.KindErasureExecuted} {
		if _, err := s.ledger.Append(ctx, nil, s.ws.ID, a.ID, consent.NewEvent{Kind: kind}, consent.Actor{}); err != nil {
			t.Fatal(err)
		}
	}
	s.db.Close()
	// The newest keys dump, taken after the erasure.
	pgRun(t, "pg_dump", "--format=custom", "--data-only", "--table=contact_keys", "--table=keyring_keys", "--file="+keysDump, url)

	target := testdb.NewPostgresURL(t)
	pgRun(t, "pg_restore", "--clean", "--if-exists", "--dbname="+target, dump)
	pgRun(t, "pg_restore", "--data-only", "--dbname="+target, keysDump)
	checkRestored(t, map[string]string{"FAIRLEAD_DATABASE_URL": target, "FAIRLEAD_MASTER_KEY": testMasterKey}, a, b)
}
