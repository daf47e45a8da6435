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
	"github.com/fairlead/fairlead/internal/supplier"
	"github.com/fairlead/fairlead/internal/workspace"
)

// TestLettersCommand prints a batch from the command line: the letter to
// the told supplier lands in the PDF file, the untold one is listed as left
// out with the engine's reason code.
func TestLettersCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"FAIRLEAD_DATA_DIR": dir, "FAIRLEAD_ADMIN_PASSWORD": "operator test password"}
	var ids []string
	for _, name := range []string{"Told", "Untold"} {
		out, errOut, err := run(t, env, "contact", "create", "--last-name", name, "--organization", name+" GmbH", "--audience", "b2b", "--relationship", "prospect",
			"--street", "Kai 3", "--postal-code", "28195", "--city", "Bremen", "--country", "DE")
		if err != nil {
			t.Fatalf("create: %v %s", err, errOut)
		}
		var c struct{ ID string }
		_ = json.Unmarshal([]byte(out), &c)
		ids = append(ids, c.ID)
	}

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
		t.Fatal(err)
	}
	ws, err := workspace.BySlug(ctx, db.R, workspace.DemoSlug)
	if err != nil {
		t.Fatal(err)
	}
	contacts, _, notices, ledger := consentServices(db, cfg)
	svc := supplierService(db, contacts, notices, ledger, nil, nil, nil, nil)
	tpl, _, err := svc.SaveTemplate(ctx, ws.ID, "test", supplier.NewTemplate{Name: "cli", TemplateContent: supplier.TemplateContent{
		Subject: "Post für {{organization}}", Body: "Wir würden gern für Sie arbeiten.", Sender: supplier.Sender{Name: "Demo GmbH", Address: []string{"Musterstraße 1", "10115 Berlin"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for i, cid := range ids {
		x, err := svc.Create(ctx, ws.ID, supplier.NewSupplier{Name: []string{"Told GmbH", "Untold GmbH"}[i]})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AddContact(ctx, ws.ID, x.ID, supplier.NewPerson{ContactID: cid}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			q, err := svc.GenerateInquiry(ctx, ws.ID, x.ID, supplier.NewInquiry{ContactID: cid, Request: "Papier"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.MarkSent(ctx, ws.ID, q.ID, nil, consent.Actor{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.RecordContract(ctx, ws.ID, x.ID, supplier.NewContract{}, consent.Actor{}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	if _, _, err := run(t, env, "letters", "batch", "--template", "nope"); err == nil || !strings.Contains(err.Error(), "--template") {
		t.Fatalf("unknown template: %v", err)
	}
	pdf := filepath.Join(dir, "letters.pdf")
	out, errOut, err := run(t, env, "letters", "batch", "--template", tpl.ID, "--pdf", pdf)
	if err != nil {
		t.Fatalf("batch: %v %s", err, errOut)
	}
	if !strings.Contains(out, "1 letters, 1 left out") || !strings.Contains(out, "left out "+ids[1]+": supplier_notice_missing") {
		t.Fatalf("batch output: %s", out)
	}
	b, err := os.ReadFile(pdf)
	if err != nil {
		t.Fatal(err)
	}
	if text := pdfText(t, b); !strings.Contains(text, "Post für Told GmbH") || strings.Contains(text, "Untold") {
		t.Fatalf("pdf text:\n%s", text)
	}
	if out, _, err := run(t, env, "letters", "list"); err != nil || !strings.Contains(out, "supplier_acquisition") {
		t.Fatalf("list: %v %s", err, out)
	}
}
