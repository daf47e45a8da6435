package supplier

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Letter is one letter to print (the shape of internal/letter's Letter).
type Letter struct {
	Ref        string
	Sender     Sender
	Recipient  []string
	Date       time.Time
	Lang       string
	Subject    string
	Salutation string
	Body       string
	Closing    string
	Signature  string
}

// Placed is where a letter landed in the batch PDF.
type Placed struct {
	Ref              string
	FirstPage, Pages int
}

// Printer checks and renders letters: internal/letter, wired in app.
type Printer interface {
	// Check returns a *validate.Error naming the field; code
	// address_does_not_fit when the address does not fit the window.
	Check(l Letter) error
	Render(w io.Writer, letters []Letter) ([]Placed, error)
	WriteManifest(w io.Writer, letters []Letter, placed []Placed) error
}

// Reason codes of letters left out besides the engine's.
const (
	ReasonAddressDoesNotFit = "address_does_not_fit"
	ReasonNoPostalAddress   = "no_postal_address"
	ReasonErased            = "erased"
)

// NewBatch is the input of CreateBatch.
type NewBatch struct {
	TemplateID string `json:"template_id"`
	// Purpose defaults to supplier_acquisition.
	Purpose string `json:"purpose"`
	// Channel must be post.
	Channel string `json:"channel"`
	// SupplierID limits the batch to one supplier's contact persons; ""
	// takes every supplier's.
	SupplierID string `json:"supplier_id"`

	scheduleID, contractID string
}

// Item is one contact considered for a batch.
type Item struct {
	ContactID   string   `json:"contact_id"`
	Included    bool     `json:"included"`
	Ref         string   `json:"ref,omitempty"`
	FirstPage   int      `json:"first_page,omitempty"`
	Pages       int      `json:"pages,omitempty"`
	Reasons     []string `json:"reasons"`
	LedgerEvent string   `json:"ledger_event,omitempty"`
}

// Batch is a set of letters printed together.
type Batch struct {
	ID           string    `json:"id"`
	TemplateID   string    `json:"template_id"`
	TemplateHash string    `json:"template_hash"`
	Purpose      string    `json:"purpose"`
	Channel      string    `json:"channel"`
	SupplierID   string    `json:"supplier_id,omitempty"`
	ScheduleID   string    `json:"schedule_id,omitempty"`
	ContractID   string    `json:"contract_id,omitempty"`
	Letters      int       `json:"letters"`
	LeftOut      int       `json:"left_out"`
	CreatedAt    time.Time `json:"created_at"`
	CreatedBy    string    `json:"created_by"`
	Items        []Item    `json:"items"`
}

// recipient is the address block: name, organization, street, postal code
// and city, and the country when it is not the sender's (DIN 5008).
func recipient(c contact.Contact) []string {
	var out []string
	if n := strings.TrimSpace(c.FirstName + " " + c.LastName); n != "" {
		out = append(out, n)
	}
	if c.Organization != "" {
		out = append(out, c.Organization)
	}
	a := c.Address
	out = append(out, a.Street, strings.TrimSpace(a.PostalCode+" "+a.City))
	if a.Country != "" && a.Country != "DE" {
		out = append(out, a.Country)
	}
	return out
}

func formatDate(lang string, t time.Time) string {
	if lang == "en" {
		return t.Format("2 January 2006")
	}
	return t.Format("02.01.2006")
}

// objectionNotice is the notice of the right to object that every letter
// on legitimate interest carries, as its own paragraph (Art. 21(4) GDPR:
// at the latest with the first communication, separate from other
// information).
func objectionNotice(lang, url string) string {
	if lang == "en" {
		s := "You may object at any time to the use of your data for advertising, informally by letter, e-mail or phone to the sender; we will then stop at once."
		if url != "" {
			s += " Privacy notice: " + url
		}
		return s
	}
	s := "Sie können der Verwendung Ihrer Daten für Werbung jederzeit widersprechen, formlos per Brief, E-Mail oder Telefon an den Absender; wir stellen die Werbung dann sofort ein."
	if url != "" {
		s += " Datenschutzhinweise: " + url
	}
	return s
}

// CreateBatch decides every contact person (of one supplier, or of all) by
// the engine now, renders a letter for each one allowed, and stores the
// batch — PDF, manifest, every contact with its outcome — with one
// letter_sent ledger event per letter in one transaction. Denied contacts
// are left out with the engine's reason codes; an address that does not fit
// the window is left out with address_does_not_fit. Bad input changes
// nothing.
func (s *Backflow) CreateBatch(ctx context.Context, ws string, in NewBatch, actor consent.Actor) (Batch, error) {
	if !id.Valid(ws) {
		return Batch{}, store.ErrNotFound
	}
	if in.TemplateID == "" {
		return Batch{}, validate.Required("template_id")
	}
	if in.Channel == "" {
		in.Channel = "post"
	}
	if in.Channel != "post" {
		return Batch{}, validate.OneOf("channel", in.Channel, []string{"post"})
	}
	if in.Purpose == "" {
		in.Purpose = Purpose
	}
	t, err := s.Template(ctx, ws, in.TemplateID)
	if errors.Is(err, store.ErrNotFound) {
		return Batch{}, validate.Invalid("template_id", "template_id must be a letter template of this workspace")
	}
	if err != nil {
		return Batch{}, err
	}
	if in.SupplierID != "" {
		if _, err := s.Get(ctx, ws, in.SupplierID); errors.Is(err, store.ErrNotFound) {
			return Batch{}, validate.Invalid("supplier_id", "supplier_id must be a supplier of this workspace")
		} else if err != nil {
			return Batch{}, err
		}
	}
	pt, err := parseContent(t.Content)
	if err != nil {
		return Batch{}, err
	}
	ids, names, err := s.batchContacts(ctx, ws, strings.ToLower(in.SupplierID))
	if err != nil {
		return Batch{}, err
	}
	asOf := s.now()
	// The ledger names the workspace's purposes when this one is unknown or
	// does not use post.
	facts, req, err := s.Ledger.FactsForContacts(ctx, ws, ids, in.Purpose, in.Channel, asOf)
	if err != nil {
		return Batch{}, err
	}
	noticeURL := ""
	if n, err := s.CurrentNotice(ctx, ws, t.Content.Language); err == nil {
		if noticeURL, err = s.noticeURL(ctx, ws, n.Hash); err != nil {
			return Batch{}, err
		}
	}

	b := Batch{ID: id.New(), TemplateID: t.ID, TemplateHash: t.Hash, Purpose: in.Purpose, Channel: in.Channel, SupplierID: strings.ToLower(in.SupplierID),
		ScheduleID: in.scheduleID, ContractID: in.contractID, CreatedAt: asOf, CreatedBy: actor.String(), Items: []Item{}}
	var letters []Letter
	var byRef = map[string]int{}
	for _, cid := range ids {
		f, ok := facts[cid]
		if !ok {
			continue // deleted meanwhile
		}
		d, err := policy.Decide(f, req)
		if err != nil {
			return Batch{}, fmt.Errorf("decide for contact %s: %w", cid, err)
		}
		it := Item{ContactID: cid, Reasons: []string{}}
		for _, r := range d.Reasons {
			it.Reasons = append(it.Reasons, string(r))
		}
		if !d.Allowed {
			b.Items = append(b.Items, it)
			continue
		}
		c, err := s.Contacts.Get(ctx, ws, cid)
		if err != nil {
			return Batch{}, err
		}
		if c.Erased {
			it.Reasons = []string{ReasonErased}
			b.Items = append(b.Items, it)
			continue
		}
		if c.Address == nil || c.Address.Street == "" || c.Address.City == "" {
			it.Reasons = []string{ReasonNoPostalAddress}
			b.Items = append(b.Items, it)
			continue
		}
		vals := map[string]string{"first_name": c.FirstName, "last_name": c.LastName, "full_name": strings.TrimSpace(c.FirstName + " " + c.LastName),
			"organization": c.Organization, "supplier.name": names[cid], "notice_url": noticeURL, "date": formatDate(t.Content.Language, asOf)}
		if vals["full_name"] == "" {
			vals["full_name"] = map[string]string{"de": "Damen und Herren", "en": "Sir or Madam"}[t.Content.Language]
		}
		l := Letter{Ref: fmt.Sprintf("%s-%04d", b.ID[len(b.ID)-8:], len(letters)+1), Sender: t.Content.Sender, Recipient: recipient(c), Date: asOf, Lang: t.Content.Language,
			Subject: pt.subject.Execute(vals, nil), Salutation: pt.salutation.Execute(vals, nil), Body: pt.body.Execute(vals, nil),
			Closing: pt.closing.Execute(vals, nil), Signature: t.Content.Signature}
		if slices.Contains(d.Obligations, policy.ObligationIncludeObjectionNotice) {
			l.Body = strings.TrimRight(l.Body, "\n") + "\n\n" + objectionNotice(t.Content.Language, noticeURL)
		}
		if err := s.Printer.Check(l); err != nil {
			var ve *validate.Error
			if !errors.As(err, &ve) {
				return Batch{}, err
			}
			// The letter is left out, not the batch: the reason says why,
			// without the address itself.
			it.Reasons = []string{ve.Code}
			if ve.Code == "" {
				it.Reasons = []string{"letter_invalid"}
			}
			b.Items = append(b.Items, it)
			continue
		}
		it.Included, it.Ref = true, l.Ref
		byRef[l.Ref] = len(b.Items)
		b.Items = append(b.Items, it)
		letters = append(letters, l)
	}

	var pdf bytes.Buffer
	var manifest bytes.Buffer
	if len(letters) > 0 {
		placed, err := s.Printer.Render(&pdf, letters)
		if err != nil {
			return Batch{}, fmt.Errorf("render batch: %w", err)
		}
		for _, p := range placed {
			if i, ok := byRef[p.Ref]; ok {
				b.Items[i].FirstPage, b.Items[i].Pages = p.FirstPage, p.Pages
			}
		}
		if err := s.Printer.WriteManifest(&manifest, letters, placed); err != nil {
			return Batch{}, fmt.Errorf("write manifest: %w", err)
		}
	}
	b.Letters, b.LeftOut = len(letters), len(b.Items)-len(letters)

	// The print files carry names and postal addresses: they are kept sealed
	// like every other personal field, under a workspace key of the keyring
	// bound to the batch, so a copy of the database or a backup without the
	// key file does not show them.
	var pdfArg any
	var manifestArg string
	if pdf.Len() > 0 {
		if pdfArg, err = s.sealFile(ws, b.ID, filePDF, pdf.Bytes()); err != nil {
			return Batch{}, err
		}
	}
	if manifest.Len() > 0 {
		sealed, err := s.sealFile(ws, b.ID, fileManifest, manifest.Bytes())
		if err != nil {
			return Batch{}, err
		}
		manifestArg = sealedPrefix + base64.RawStdEncoding.EncodeToString(sealed)
	}
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO letter_batches (id, workspace_id, template_id, template_hash, purpose, channel, supplier_id, schedule_id, contract_id, letters, left_out, pdf, manifest, created_at, created_by)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)`,
			b.ID, ws, b.TemplateID, b.TemplateHash, b.Purpose, b.Channel, nullID(b.SupplierID), nullID(b.ScheduleID), nullID(b.ContractID), b.Letters, b.LeftOut, pdfArg, manifestArg, b.CreatedAt, b.CreatedBy); err != nil {
			return store.MapError(err)
		}
		bulk, err := s.Ledger.Bulk(ctx, tx, ws)
		if err != nil {
			return err
		}
		at := b.CreatedAt
		for i := range b.Items {
			it := &b.Items[i]
			if it.Included {
				ev, err := bulk.Append(ctx, it.ContactID, consent.NewEvent{Kind: consent.KindLetterSent, Purpose: b.Purpose, Channels: []string{b.Channel}, OccurredAt: &at,
					Details: consent.Details{Template: b.TemplateHash}, Evidence: consent.EvidenceInput{Source: "letter_batch:" + b.ID}}, actor)
				if err != nil {
					return err
				}
				it.LedgerEvent = ev.ID
			}
			reasons, _ := json.Marshal(it.Reasons)
			if _, err := tx.ExecContext(ctx, `INSERT INTO letter_batch_items (workspace_id, batch_id, contact_id, included, ref, first_page, pages, reasons, ledger_event) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
				ws, b.ID, it.ContactID, it.Included, it.Ref, it.FirstPage, it.Pages, string(reasons), it.LedgerEvent); err != nil {
				return store.MapError(err)
			}
		}
		return bulk.Flush(ctx)
	})
	if err != nil {
		return Batch{}, err
	}
	return b, nil
}

// batchContacts lists the contact persons of one supplier or of all, in
// ID order, each once, with the name of (the first) supplier.
func (s *Backflow) batchContacts(ctx context.Context, ws, supplierID string) ([]string, map[string]string, error) {
	rows, err := s.DB.R.QueryContext(ctx, `SELECT sc.contact_id, s.name FROM supplier_contacts sc JOIN suppliers s ON s.workspace_id = sc.workspace_id AND s.id = sc.supplier_id
		WHERE sc.workspace_id = $1 AND ($2 = '' OR sc.supplier_id = $3) ORDER BY sc.contact_id, sc.created_at`, ws, supplierID, nullID(supplierID))
	if err != nil {
		return nil, nil, fmt.Errorf("list supplier contacts: %w", err)
	}
	defer rows.Close()
	var ids []string
	names := map[string]string{}
	for rows.Next() {
		var cid, name string
		if err := rows.Scan(&cid, &name); err != nil {
			return nil, nil, err
		}
		cid = strings.ToLower(cid)
		if _, seen := names[cid]; !seen {
			ids = append(ids, cid)
			names[cid] = name
		}
	}
	slices.Sort(ids)
	return ids, names, rows.Err()
}

const batchCols = `id, template_id, template_hash, purpose, channel, supplier_id, schedule_id, contract_id, letters, left_out, created_at, created_by`

func scanBatch(sc interface{ Scan(...any) error }) (Batch, error) {
	var b Batch
	var sup, sch, con sql.NullString
	if err := sc.Scan(&b.ID, &b.TemplateID, &b.TemplateHash, &b.Purpose, &b.Channel, &sup, &sch, &con, &b.Letters, &b.LeftOut, &b.CreatedAt, &b.CreatedBy); err != nil {
		return Batch{}, store.MapError(err)
	}
	b.SupplierID, b.ScheduleID, b.ContractID = sup.String, sch.String, con.String
	b.CreatedAt = b.CreatedAt.UTC()
	b.Items = []Item{}
	return b, nil
}

// Batch returns a batch with every contact considered.
func (s *Backflow) Batch(ctx context.Context, ws, batchID string) (Batch, error) {
	if !id.Valid(ws) || !id.Valid(batchID) {
		return Batch{}, store.ErrNotFound
	}
	b, err := scanBatch(s.DB.R.QueryRowContext(ctx, `SELECT `+batchCols+` FROM letter_batches WHERE workspace_id = $1 AND id = $2`, ws, strings.ToLower(batchID)))
	if err != nil {
		return Batch{}, err
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT contact_id, included, ref, first_page, pages, reasons, ledger_event FROM letter_batch_items WHERE workspace_id = $1 AND batch_id = $2 ORDER BY included DESC, ref, contact_id`, ws, b.ID)
	if err != nil {
		return Batch{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var it Item
		var reasons string
		if err := rows.Scan(&it.ContactID, &it.Included, &it.Ref, &it.FirstPage, &it.Pages, &reasons, &it.LedgerEvent); err != nil {
			return Batch{}, err
		}
		if err := json.Unmarshal([]byte(reasons), &it.Reasons); err != nil {
			return Batch{}, err
		}
		b.Items = append(b.Items, it)
	}
	return b, rows.Err()
}

// Batches lists the workspace's batches, newest first (without items).
func (s *Backflow) Batches(ctx context.Context, ws string, limit int) ([]Batch, error) {
	out := []Batch{}
	if !id.Valid(ws) {
		return out, nil
	}
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT `+batchCols+` FROM letter_batches WHERE workspace_id = $1 ORDER BY created_at DESC, id LIMIT `+fmt.Sprint(limit), ws)
	if err != nil {
		return nil, fmt.Errorf("list batches: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// ErrNoLetters means a batch left everyone out: it has no PDF or manifest.
var ErrNoLetters = errors.New("the batch has no letters")

// BatchPDF returns the batch's PDF as stored.
func (s *Backflow) BatchPDF(ctx context.Context, ws, batchID string) ([]byte, error) {
	if !id.Valid(ws) || !id.Valid(batchID) {
		return nil, store.ErrNotFound
	}
	var pdf []byte
	if err := s.DB.R.QueryRowContext(ctx, `SELECT pdf FROM letter_batches WHERE workspace_id = $1 AND id = $2`, ws, strings.ToLower(batchID)).Scan(&pdf); err != nil {
		return nil, store.MapError(err)
	}
	if len(pdf) == 0 {
		return nil, ErrNoLetters
	}
	return s.openFile(ws, batchID, filePDF, pdf)
}

// BatchManifest returns the batch's CSV manifest as stored.
func (s *Backflow) BatchManifest(ctx context.Context, ws, batchID string) (string, error) {
	if !id.Valid(ws) || !id.Valid(batchID) {
		return "", store.ErrNotFound
	}
	var m string
	if err := s.DB.R.QueryRowContext(ctx, `SELECT manifest FROM letter_batches WHERE workspace_id = $1 AND id = $2`, ws, strings.ToLower(batchID)).Scan(&m); err != nil {
		return "", store.MapError(err)
	}
	if m == "" {
		return "", ErrNoLetters
	}
	rest, ok := strings.CutPrefix(m, sealedPrefix)
	if !ok {
		return m, nil // written before the files were sealed
	}
	sealed, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil {
		return "", fmt.Errorf("batch manifest: malformed sealed text")
	}
	b, err := s.openFile(ws, batchID, fileManifest, sealed)
	return string(b), err
}

const (
	filePDF      = "pdf"
	fileManifest = "manifest"
	// sealedPrefix marks a sealed manifest in its text column.
	sealedPrefix = "sealed1:"
)

// sealFile seals one print file of a batch; the label binds it to the
// batch and the kind of file, so a sealed PDF copied to another batch or
// column does not open.
func (s *Backflow) sealFile(ws, batchID, kind string, b []byte) ([]byte, error) {
	sealed, err := s.Contacts.Keys().SealSecret(ws, fileLabel(batchID, kind), b)
	if err != nil {
		return nil, fmt.Errorf("seal batch %s: %w", kind, err)
	}
	return sealed, nil
}

func (s *Backflow) openFile(ws, batchID, kind string, stored []byte) ([]byte, error) {
	if kind == filePDF && bytes.HasPrefix(stored, []byte("%PDF-")) {
		return stored, nil // written before the files were sealed
	}
	b, err := s.Contacts.Keys().OpenSecret(ws, fileLabel(batchID, kind), stored)
	if err != nil {
		return nil, fmt.Errorf("open batch %s: %w", kind, err)
	}
	return b, nil
}

func fileLabel(batchID, kind string) string {
	return "letter_batch:" + strings.ToLower(batchID) + ":" + kind
}
