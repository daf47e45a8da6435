package app

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/supplier"
	"github.com/fairlead/fairlead/internal/workspace"
)

const lettersUsage = `usage: fairlead letters batch [--workspace demo] --template ID [--supplier ID] [--purpose supplier_acquisition] [--pdf letters.pdf] [--manifest letters.csv]
       fairlead letters list [--workspace demo]`

// runLetters creates and lists letter batches from the command line, for
// operators who print without the API. A batch decides every supplier
// contact by the engine now, exactly as POST /api/v1/letter-batches does.
func runLetters(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || (args[0] != "batch" && args[0] != "list") {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprintln(env.Stdout, lettersUsage)
			return nil
		}
		return fmt.Errorf("%s", strings.ReplaceAll(lettersUsage, "\n       ", " | "))
	}
	sub := args[0]
	fs := flags(env, "letters "+sub, "Create a letter batch for the suppliers' contact persons (the engine decides each one now), or list batches.\nThe PDF and manifest hold personal data: write them only where the print service picks them up.", dbOptions...)
	wsSlug := fs.String("workspace", workspace.DemoSlug, "workspace slug")
	var in supplier.NewBatch
	var pdfPath, manifestPath string
	if sub == "batch" {
		fs.StringVar(&in.TemplateID, "template", "", "letter template ID")
		fs.StringVar(&in.SupplierID, "supplier", "", "only this supplier's contact persons (default: every supplier's)")
		fs.StringVar(&in.Purpose, "purpose", supplier.Purpose, "business purpose")
		fs.StringVar(&pdfPath, "pdf", "", "write the batch PDF to this file")
		fs.StringVar(&manifestPath, "manifest", "", "write the CSV manifest to this file")
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	db, contacts, ledger, cfg, err := openConsent(ctx, env, fs)
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
	svc := supplierService(db, contacts, consent.NewNotices(db, nil), ledger, nil, nil, nil, nil)
	public := cfg.Public()
	svc.PublicURL = func(context.Context, string) (string, error) { return public, nil }
	if sub == "list" {
		list, err := svc.Batches(ctx, ws.ID, 100)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tPURPOSE\tLETTERS\tLEFT OUT\tTEMPLATE")
		for _, b := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", b.ID, b.CreatedAt.Format("2006-01-02 15:04"), b.Purpose, b.Letters, b.LeftOut, b.TemplateID)
		}
		return tw.Flush()
	}
	b, err := svc.CreateBatch(ctx, ws.ID, in, consent.Actor{})
	if err != nil {
		return cliError(err)
	}
	fmt.Fprintf(env.Stdout, "batch %s: %d letters, %d left out\n", b.ID, b.Letters, b.LeftOut)
	for _, it := range b.Items {
		if !it.Included {
			fmt.Fprintf(env.Stdout, "left out %s: %s\n", it.ContactID, strings.Join(it.Reasons, ", "))
		}
	}
	for _, f := range []struct {
		path string
		get  func() ([]byte, error)
	}{
		{pdfPath, func() ([]byte, error) { return svc.BatchPDF(ctx, ws.ID, b.ID) }},
		{manifestPath, func() ([]byte, error) { m, err := svc.BatchManifest(ctx, ws.ID, b.ID); return []byte(m), err }},
	} {
		if f.path == "" || b.Letters == 0 {
			continue
		}
		data, err := f.get()
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.path, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
