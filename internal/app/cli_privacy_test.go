package app

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDSRAndRetentionCommands walks a case through the CLI on the
// zero-configuration SQLite database and runs the retention dry run.
func TestDSRAndRetentionCommands(t *testing.T) {
	t.Parallel()
	env := map[string]string{"FAIRLEAD_DATA_DIR": t.TempDir(), "FAIRLEAD_ADMIN_PASSWORD": "operator test password"}
	out, errOut, err := run(t, env, "contact", "create", "--email", "cli.dsr@example.org", "--audience", "b2c", "--relationship", "prospect")
	if err != nil {
		t.Fatalf("create: %v %s", err, errOut)
	}
	var c struct{ ID string }
	_ = json.Unmarshal([]byte(out), &c)
	if _, _, err := run(t, env, "dsr", "open", "--contact", c.ID, "--type", "forget"); err == nil || !strings.Contains(err.Error(), "--type") {
		t.Fatalf("bad type: %v", err)
	}
	out, errOut, err = run(t, env, "dsr", "open", "--contact", c.ID, "--type", "access", "--received", "2026-01-31")
	if err != nil || !strings.Contains(errOut, "due 2026-02-28") {
		t.Fatalf("open: %v %s %s", err, out, errOut)
	}
	var k struct{ ID, Status string }
	_ = json.Unmarshal([]byte(out), &k)
	if out, _, err := run(t, env, "dsr", "list", "--status", "open"); err != nil || !strings.Contains(out, k.ID) || !strings.Contains(out, "yes") {
		t.Fatalf("list: %v %s", err, out)
	}
	if _, _, err := run(t, env, "dsr", "verify", k.ID, "--send"); err == nil || !strings.Contains(err.Error(), "confirmed e-mail") {
		t.Fatalf("link without a confirmed address: %v", err)
	}
	if _, _, err := run(t, env, "dsr", "verify", k.ID); err == nil || !strings.Contains(err.Error(), "--send or --method") {
		t.Fatalf("verify without a way: %v", err)
	}
	if out, _, err := run(t, env, "dsr", "verify", k.ID, "--method", "signed_letter"); err != nil || !strings.Contains(out, `"verification": "signed_letter"`) {
		t.Fatalf("verify: %v %s", err, out)
	}
	if _, _, err := run(t, env, "dsr", "extend", k.ID, "--months", "1", "--reason", "late"); err == nil {
		t.Fatal("an overdue case was extended")
	}
	if out, _, err := run(t, env, "dsr", "complete", k.ID); err != nil || !strings.Contains(out, `"status": "completed"`) {
		t.Fatalf("complete: %v %s", err, out)
	}
	if out, _, err := run(t, env, "dsr", "show", k.ID); err != nil || strings.Count(out, `"step"`) != 3 {
		t.Fatalf("show: %v %s", err, out)
	}
	out, _, err = run(t, env, "retention", "plan", "--as-of", "2030-01-01")
	if err != nil || !strings.Contains(out, "inactive_lead") || !strings.Contains(out, c.ID) || strings.Contains(out, "cli.dsr@example.org") {
		t.Fatalf("plan: %v %s", err, out)
	}
}
