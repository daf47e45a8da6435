package supplier

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// NoticeKind is the notice kind of the supplier privacy notice; a
// notice_given event naming a version of it sets supplier_notice_given.
const NoticeKind = "supplier_privacy_notice"

// DefaultNotices are the supplier privacy notice every workspace starts
// with, one per language. They name the three purposes of the backflow
// acquisition and, set apart, the right to object (Art. 21(4) GDPR).
// Operators store their own version (POST /api/v1/notices, kind
// supplier_privacy_notice); the newest version of a language is the current one.
var DefaultNotices = []consent.NewNotice{
	{Kind: NoticeKind, Language: "de", Title: "Datenschutzhinweise für Lieferanten und Dienstleister",
		Body: "Verantwortlich ist das Unternehmen, das Ihnen diese Anfrage geschickt hat (siehe Impressum).\n\n" +
			"Wir verarbeiten die Daten unserer Lieferanten und Dienstleister und ihrer Ansprechpartner (Name, Firma, Funktion, geschäftliche Kontaktdaten, Vertragsdaten) zu drei Zwecken:\n\n" +
			"1. Vertragsabwicklung: Anfrage, Angebot, Bestellung, Lieferung, Rechnung und Zahlung (Art. 6 Abs. 1 lit. b DSGVO).\n\n" +
			"2. Werbliche Ansprache: Wir informieren Sie per Post über unsere eigenen Leistungen, die für Ihr Unternehmen interessant sein können. Rechtsgrundlage ist unser berechtigtes Interesse an Direktwerbung (Art. 6 Abs. 1 lit. f DSGVO, Erwägungsgrund 47); die Interessenabwägung haben wir dokumentiert.\n\n" +
			"3. Aufbewahrungspflichten: Handels- und steuerrechtliche Unterlagen bewahren wir bis zu zehn Jahre auf (Art. 6 Abs. 1 lit. c DSGVO, § 257 HGB, § 147 AO).\n\n" +
			"WIDERSPRUCHSRECHT: Sie können der Verarbeitung Ihrer Daten zur Direktwerbung jederzeit ohne Angabe von Gründen widersprechen (Art. 21 Abs. 2 DSGVO). Nach einem Widerspruch verwenden wir Ihre Daten nicht mehr für Werbung; die Vertragsabwicklung bleibt davon unberührt.\n\n" +
			"Sie haben außerdem das Recht auf Auskunft, Berichtigung, Löschung, Einschränkung der Verarbeitung und Datenübertragbarkeit sowie auf Beschwerde bei einer Aufsichtsbehörde."},
	{Kind: NoticeKind, Language: "en", Title: "Privacy notice for suppliers and service providers",
		Body: "The controller is the company that sent you this inquiry (see its imprint).\n\n" +
			"We process the data of our suppliers and service providers and of their contact persons (name, company, position, business contact details, contract data) for three purposes:\n\n" +
			"1. Performing the contract: inquiry, quotation, order, delivery, invoice and payment (Art. 6(1)(b) GDPR).\n\n" +
			"2. Marketing to you: we inform you by post about our own services that may interest your company. The legal basis is our legitimate interest in direct marketing (Art. 6(1)(f) GDPR, Recital 47); we have documented the balancing of interests.\n\n" +
			"3. Retention duties: commercial and tax records are kept for up to ten years (Art. 6(1)(c) GDPR, § 257 HGB, § 147 AO).\n\n" +
			"RIGHT TO OBJECT: you may object at any time, without giving reasons, to the processing of your data for direct marketing (Art. 21(2) GDPR). After an objection we no longer use your data for marketing; the performance of the contract is not affected.\n\n" +
			"You also have the right of access, rectification, erasure, restriction and portability, and to lodge a complaint with a supervisory authority."},
}

// EnsureNotices stores the default supplier notice of each language that
// has none yet, and returns the current versions by language.
func (s *Backflow) EnsureNotices(ctx context.Context, ws string) (map[string]consent.Notice, error) {
	out := map[string]consent.Notice{}
	for _, d := range DefaultNotices {
		n, err := s.CurrentNotice(ctx, ws, d.Language)
		if errors.Is(err, store.ErrNotFound) {
			n, _, err = s.Notices.Create(ctx, ws, "system", d)
		}
		if err != nil {
			return nil, err
		}
		out[d.Language] = n
	}
	return out, nil
}

// CurrentNotice is the newest supplier notice version of a language.
func (s *Backflow) CurrentNotice(ctx context.Context, ws, language string) (consent.Notice, error) {
	list, err := s.Notices.List(ctx, ws, NoticeKind)
	if err != nil {
		return consent.Notice{}, err
	}
	for _, n := range list {
		if n.Language == language {
			return n, nil
		}
	}
	return consent.Notice{}, store.ErrNotFound
}

// noticeURL is the public address of a notice version.
func (s *Backflow) noticeURL(ctx context.Context, ws, hash string) (string, error) {
	base := ""
	if s.PublicURL != nil {
		var err error
		if base, err = s.PublicURL(ctx, ws); err != nil {
			return "", err
		}
	}
	return strings.TrimRight(base, "/") + "/p/notices/" + hash, nil
}

// InquiryChannels are the channels a first inquiry goes out on: an e-mail,
// the supplier's web form, or a letter.
var InquiryChannels = []string{"email", "web_form", "post"}

// ledgerChannel is the ledger channel of an inquiry channel.
func ledgerChannel(ch string) string {
	if ch == "web_form" {
		return "web"
	}
	return ch
}

// NewInquiry is the input of GenerateInquiry.
type NewInquiry struct {
	ContactID string `json:"contact_id"`
	Channel   string `json:"channel"`
	// Language defaults to the supplier's.
	Language string `json:"language"`
	// Request says what we want to buy; it goes into the text as written.
	Request string `json:"request"`
}

// Inquiry is a generated first inquiry.
type Inquiry struct {
	ID         string     `json:"id"`
	SupplierID string     `json:"supplier_id"`
	ContactID  string     `json:"contact_id"`
	Channel    string     `json:"channel"`
	Language   string     `json:"language"`
	NoticeHash string     `json:"notice_hash"`
	NoticeURL  string     `json:"notice_url"`
	Subject    string     `json:"subject"`
	Body       string     `json:"body"`
	CreatedAt  time.Time  `json:"created_at"`
	SentAt     *time.Time `json:"sent_at"`
	// LedgerEvent is the notice_given event recorded when it was sent.
	LedgerEvent string `json:"ledger_event"`
}

// inquiryText is the text of a first inquiry. It asks for what we want to
// buy and links the notice; it must not advertise our own products (rules
// §10: a demand inquiry that promotes the sender is advertising, BGH I ZR
// 197/05). The salutation is generic so that no name is stored in clear.
func inquiryText(lang, channel, request, url string) (subject, body string) {
	if lang == "en" {
		subject = "Inquiry: " + firstLine(request)
		body = "Dear Sir or Madam,\n\nwe are interested in the following and ask for your quotation with prices and availability:\n\n" + request +
			"\n\nHow we process the data of our suppliers and their contact persons — to perform the contract, to inform you by post about our own services, and to meet retention duties — and how you can object at any time is described in our privacy notice for suppliers: " + url +
			"\n\nKind regards"
		if channel == "web_form" {
			body = strings.Replace(body, "Dear Sir or Madam,\n\n", "", 1)
		}
		return subject, body
	}
	subject = "Anfrage: " + firstLine(request)
	body = "Sehr geehrte Damen und Herren,\n\nwir interessieren uns für Folgendes und bitten um Ihr Angebot mit Preisen und Verfügbarkeit:\n\n" + request +
		"\n\nWie wir die Daten unserer Lieferanten und ihrer Ansprechpartner verarbeiten – zur Vertragsabwicklung, für Informationen über unsere eigenen Leistungen per Post und zur Erfüllung von Aufbewahrungspflichten – und wie Sie dem jederzeit widersprechen können, lesen Sie in unseren Datenschutzhinweisen für Lieferanten: " + url +
		"\n\nMit freundlichen Grüßen"
	if channel == "web_form" {
		body = strings.Replace(body, "Sehr geehrte Damen und Herren,\n\n", "", 1)
	}
	return subject, body
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > 80 {
		s = string(r[:80]) + "…"
	}
	return s
}

// GenerateInquiry writes the first-inquiry text for a contact person of
// the supplier, linking the current supplier notice version of the
// language. Nothing is recorded in the ledger until it is marked sent.
func (s *Backflow) GenerateInquiry(ctx context.Context, ws, supplierID string, in NewInquiry) (Inquiry, error) {
	x, err := s.Get(ctx, ws, supplierID)
	if err != nil {
		return Inquiry{}, err
	}
	if in.ContactID == "" {
		return Inquiry{}, validate.Required("contact_id")
	}
	if in.Channel == "" {
		in.Channel = "email"
	}
	if !slices.Contains(InquiryChannels, in.Channel) {
		return Inquiry{}, validate.OneOf("channel", in.Channel, InquiryChannels)
	}
	if in.Language == "" {
		in.Language = x.Language
	}
	if err := checkLanguage("language", in.Language); err != nil {
		return Inquiry{}, err
	}
	in.Request = strings.TrimSpace(in.Request)
	if err := checkText("request", in.Request, 5000, true); err != nil {
		return Inquiry{}, err
	}
	if err := s.member(ctx, s.DB.R, ws, x.ID, in.ContactID); err != nil {
		return Inquiry{}, err
	}
	if _, err := s.EnsureNotices(ctx, ws); err != nil {
		return Inquiry{}, err
	}
	n, err := s.CurrentNotice(ctx, ws, in.Language)
	if err != nil {
		return Inquiry{}, err
	}
	url, err := s.noticeURL(ctx, ws, n.Hash)
	if err != nil {
		return Inquiry{}, err
	}
	subject, body := inquiryText(in.Language, in.Channel, in.Request, url)
	q := Inquiry{ID: id.New(), SupplierID: x.ID, ContactID: strings.ToLower(in.ContactID), Channel: in.Channel, Language: in.Language,
		NoticeHash: n.Hash, NoticeURL: url, Subject: subject, Body: body, CreatedAt: s.now()}
	if _, err := s.DB.W.ExecContext(ctx, `INSERT INTO supplier_inquiries (id, workspace_id, supplier_id, contact_id, notice_hash, language, channel, subject, body, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`, q.ID, ws, q.SupplierID, q.ContactID, q.NoticeHash, q.Language, q.Channel, q.Subject, q.Body, q.CreatedAt); err != nil {
		return Inquiry{}, fmt.Errorf("store inquiry: %w", store.MapError(err))
	}
	return q, nil
}

const inquiryCols = `id, supplier_id, contact_id, channel, language, notice_hash, subject, body, created_at, sent_at, ledger_event`

func (s *Backflow) scanInquiry(ctx context.Context, ws string, sc interface{ Scan(...any) error }) (Inquiry, error) {
	var q Inquiry
	var sent *time.Time
	if err := sc.Scan(&q.ID, &q.SupplierID, &q.ContactID, &q.Channel, &q.Language, &q.NoticeHash, &q.Subject, &q.Body, &q.CreatedAt, &sent, &q.LedgerEvent); err != nil {
		return Inquiry{}, store.MapError(err)
	}
	q.CreatedAt = q.CreatedAt.UTC()
	if sent != nil {
		t := sent.UTC()
		q.SentAt = &t
	}
	url, err := s.noticeURL(ctx, ws, q.NoticeHash)
	if err != nil {
		return Inquiry{}, err
	}
	q.NoticeURL = url
	return q, nil
}

// Inquiries lists a supplier's inquiries, newest first.
func (s *Backflow) Inquiries(ctx context.Context, ws, supplierID string) ([]Inquiry, error) {
	x, err := s.Get(ctx, ws, supplierID)
	if err != nil {
		return nil, err
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT `+inquiryCols+` FROM supplier_inquiries WHERE workspace_id = $1 AND supplier_id = $2 ORDER BY created_at DESC, id`, ws, x.ID)
	if err != nil {
		return nil, fmt.Errorf("list inquiries: %w", err)
	}
	defer rows.Close()
	out := []Inquiry{}
	for rows.Next() {
		q, err := s.scanInquiry(ctx, ws, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// MarkSent records that the inquiry went out: a notice_given event with the
// notice version and the channel, whose evidence is the exact text sent,
// in the same transaction as the inquiry's sent time. sentAt nil = now.
func (s *Backflow) MarkSent(ctx context.Context, ws, inquiryID string, sentAt *time.Time, actor consent.Actor) (Inquiry, error) {
	if !id.Valid(ws) || !id.Valid(inquiryID) {
		return Inquiry{}, store.ErrNotFound
	}
	inquiryID = strings.ToLower(inquiryID)
	var out Inquiry
	err := s.DB.Tx(ctx, func(tx store.Tx) error {
		q, err := s.scanInquiry(ctx, ws, tx.QueryRowContext(ctx, `SELECT `+inquiryCols+` FROM supplier_inquiries WHERE workspace_id = $1 AND id = $2`, ws, inquiryID))
		if err != nil {
			return err
		}
		if q.SentAt != nil {
			return &consent.ConflictError{Field: "id", Code: "already_sent", Message: "this inquiry was already marked sent at " + q.SentAt.Format(time.RFC3339)}
		}
		at := s.now()
		if sentAt != nil {
			at = sentAt.UTC().Truncate(time.Microsecond)
		}
		ev, err := s.Ledger.Append(ctx, tx, ws, q.ContactID, consent.NewEvent{Kind: consent.KindNoticeGiven, Channels: []string{ledgerChannel(q.Channel)}, OccurredAt: &at,
			Details:  consent.Details{Notice: q.NoticeHash},
			Evidence: consent.EvidenceInput{Source: "supplier_inquiry:" + q.ID, NoticeHash: q.NoticeHash, TextShown: q.Body}}, actor)
		if err != nil {
			return renameField(err, "occurred_at", "sent_at")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE supplier_inquiries SET sent_at = $3, ledger_event = $4 WHERE workspace_id = $1 AND id = $2`, ws, q.ID, at, ev.ID); err != nil {
			return store.MapError(err)
		}
		q.SentAt, q.LedgerEvent = &at, ev.ID
		out = q
		return nil
	})
	return out, err
}
