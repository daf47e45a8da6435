package app

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/capture/form"
	"github.com/fairlead/fairlead/internal/workspace"
)

const formUsage = `usage: fairlead form import [--workspace demo] [FILE.json]   (reads standard input without FILE)
       fairlead form export [--workspace demo] KEY
       fairlead form list [--workspace demo]`

// openCapture opens the database and the capture service for a CLI command.
func openCapture(ctx context.Context, env Env, args []string, name, help string, extra func(fs *flag.FlagSet)) (*capture.Service, workspace.Workspace, []string, func(), error) {
	fs := flags(env, name, help, dbOptions...)
	wsSlug := fs.String("workspace", workspace.DemoSlug, "workspace slug")
	if extra != nil {
		extra(fs)
	}
	if err := parse(fs, args); err != nil {
		return nil, workspace.Workspace{}, nil, nil, err
	}
	db, contacts, ledger, cfg, err := openConsent(ctx, env, fs)
	if err != nil {
		return nil, workspace.Workspace{}, nil, nil, err
	}
	if err := bootstrap(ctx, db, cfg, env.Stderr); err != nil {
		db.Close()
		return nil, workspace.Workspace{}, nil, nil, err
	}
	_, purposes, notices, _ := consentServices(db, cfg)
	svc := captureService(db, cfg, contacts, purposes, notices, ledger, nil, nil, nil)
	if err := seedDemo(ctx, svc, db); err != nil {
		db.Close()
		return nil, workspace.Workspace{}, nil, nil, err
	}
	ws, err := cliWorkspace(ctx, db, *wsSlug)
	if err != nil {
		db.Close()
		return nil, workspace.Workspace{}, nil, nil, err
	}
	return svc, ws, fs.Args(), func() { db.Close() }, nil
}

func runForm(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || (args[0] != "import" && args[0] != "export" && args[0] != "list") {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprintln(env.Stdout, formUsage)
			return nil
		}
		return fmt.Errorf("%s", strings.ReplaceAll(formUsage, "\n       ", " | "))
	}
	sub := args[0]
	svc, ws, rest, done, err := openCapture(ctx, env, args[1:], "form "+sub,
		"Import (save), export or list lead-capture forms as JSON. An import is validated and linted;\nevery lint finding is printed and nothing is saved.", nil)
	if err != nil {
		return err
	}
	defer done()
	switch sub {
	case "list":
		fs, err := svc.Forms(ctx, ws.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tVERSION\tUPDATED\tPUBLIC PAGE")
		for _, f := range fs {
			fmt.Fprintf(tw, "%s\t%d\t%s\t/p/forms/%s\n", f.Key, f.Version, f.UpdatedAt.Format("2006-01-02 15:04"), f.Key)
		}
		return tw.Flush()
	case "export":
		if len(rest) != 1 {
			return fmt.Errorf("usage: fairlead form export [--workspace %s] KEY", ws.Slug)
		}
		f, err := svc.Form(ctx, ws.ID, rest[0])
		if err != nil {
			return fmt.Errorf("no form %q in workspace %s", rest[0], ws.Slug)
		}
		return f.Definition.Encode(env.Stdout)
	}
	var in io.Reader = env.Stdin
	if len(rest) == 1 {
		f, err := os.Open(rest[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	} else if len(rest) > 1 {
		return fmt.Errorf("usage: fairlead form import [--workspace %s] [FILE.json]", ws.Slug)
	}
	d, err := form.Decode(in)
	if err != nil {
		return cliError(err)
	}
	f, created, err := svc.SaveForm(ctx, ws.ID, "cli", d)
	var le *capture.LintError
	if errors.As(err, &le) {
		for _, x := range le.Findings {
			fmt.Fprintf(env.Stderr, "%s\t%s\t%s (%s)\n", x.Code, x.Field, x.Message, x.Ref)
		}
		return fmt.Errorf("the form was not saved: %d lint finding(s)", len(le.Findings))
	}
	if err != nil {
		return cliError(err)
	}
	state := "unchanged"
	if created {
		state = "saved"
	}
	fmt.Fprintf(env.Stdout, "form %s version %d %s; public page /p/forms/%s\n", f.Key, f.Version, state, f.Key)
	return nil
}

// runOutbox prints the dev outbox: the mail and SMS that would have been
// sent without an SMTP server or SMS gateway, with their links, so the
// double opt-in can be walked in a terminal.
func runOutbox(ctx context.Context, env Env, args []string) error {
	var last *int
	svc, ws, _, done, err := openCapture(ctx, env, args, "outbox",
		"Show the newest messages of the dev outbox (mail and SMS that would have been sent\nwithout FAIRLEAD_SMTP_URL / FAIRLEAD_SMS_URL), decoded, with their links.",
		func(fs *flag.FlagSet) { last = fs.Int("last", 3, "how many messages (1-100)") })
	if err != nil {
		return err
	}
	defer done()
	n := *last
	if n < 1 || n > 100 {
		return fmt.Errorf("--last must be 1 to 100")
	}
	items, err := svc.Delivery.Outbox.List(ctx, ws.ID, n, "")
	if err != nil {
		return err
	}
	if len(items) == 0 {
		fmt.Fprintln(env.Stdout, "The dev outbox is empty. Submit a form, e.g. http://127.0.0.1:8080/p/forms/demo-newsletter")
		return nil
	}
	for _, it := range items {
		fmt.Fprintf(env.Stdout, "── %s  %s  to %s  %s\n", it.CreatedAt.Format("2006-01-02 15:04:05"), it.Channel, it.To, it.Subject)
		if it.Unreadable {
			fmt.Fprintln(env.Stdout, "(unreadable: the contact was erased)")
			continue
		}
		if it.Channel == "email" {
			fmt.Fprintln(env.Stdout, plainText(it.Body))
		} else {
			fmt.Fprintln(env.Stdout, it.Body)
		}
	}
	return nil
}

// plainText decodes the text part of a raw message for the terminal.
func plainText(raw string) string {
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		return raw
	}
	mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	dec := func(enc string, r io.Reader) string {
		if strings.EqualFold(enc, "quoted-printable") {
			r = quotedprintable.NewReader(r)
		}
		var b bytes.Buffer
		_, _ = io.Copy(&b, r)
		return b.String()
	}
	if !strings.HasPrefix(mt, "multipart/") {
		return dec(m.Header.Get("Content-Transfer-Encoding"), m.Body)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return raw
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			return dec(p.Header.Get("Content-Transfer-Encoding"), p)
		}
	}
}
