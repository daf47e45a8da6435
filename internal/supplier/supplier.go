// Package supplier is the backflow acquisition: the organizations we buy
// from, with their contact persons, become customers through an addressed
// letter after the contract was concluded (contactability-rules.md §10,
// "Backflow acquisition").
//
// The steps are those of the rules: (1) our first inquiry to a supplier
// links the supplier privacy notice, and marking it sent records
// notice_given; (2) the concluded contract records the supplier
// relationship, the running contract and the balancing test of Art.
// 6(1)(f) GDPR; (3) letter batches ask the engine for every contact person
// at batch time (direct_marketing by post: postal_legitimate_interest
// unless objection) and record each letter in the ledger in the batch's
// transaction; (4) the supplier's response opens an inbound request, so
// replies on that channel are inquiry_reply.
//
// Contact persons are contacts (internal/contact): their names and
// addresses stay sealed there; the tables of this package refer to them by
// ID. Every decision goes through policy.Decide on facts the consent ledger
// derives; nothing here decides contactability itself.
package supplier

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Purpose is the built-in business purpose of the acquisition letters.
const Purpose = "supplier_acquisition"

// Languages of inquiries, notices and letters.
var Languages = []string{"de", "en"}

// Supplier is an organization we buy from.
type Supplier struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Language    string    `json:"language"`
	DreamClient bool      `json:"dream_client"`
	Notes       string    `json:"notes"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Contacts are the IDs of its contact persons, in the order added.
	Contacts []Person `json:"contacts"`
}

// Person links a contact to a supplier.
type Person struct {
	ContactID string `json:"contact_id"`
	Position  string `json:"position"`
}

// Facts is what the service needs of the consent ledger to decide.
type Facts interface {
	FactsForContacts(ctx context.Context, ws string, ids []string, purposeKey, channel string, asOf time.Time) (map[string]policy.Facts, policy.Request, error)
}

// Enqueuer queues jobs in the caller's transaction.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx store.Querier, p jobs.EnqueueParams) (string, error)
}

// Backflow runs the backflow acquisition of one fairlead instance.
type Backflow struct {
	DB       *store.DB
	Contacts *contact.Store
	Ledger   *consent.Ledger
	Notices  *consent.Notices
	// Audience gives the sales view its matrix (nil: no matrix).
	Audience *audience.Resolver
	// Printer renders letters (internal/letter through an adapter).
	Printer Printer
	// Jobs queues the scheduled batches (nil: schedules are not queued).
	Jobs Enqueuer
	// PublicURL is the base of the workspace's public links.
	PublicURL func(ctx context.Context, ws string) (string, error)
	Now       func() time.Time
	Log       *slog.Logger
}

func (s *Backflow) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

func (s *Backflow) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// NewSupplier is the input of Create.
type NewSupplier struct {
	Name        string `json:"name"`
	Language    string `json:"language"`
	DreamClient bool   `json:"dream_client"`
	Notes       string `json:"notes"`
}

func checkText(field, v string, max int, required bool) error {
	if required && strings.TrimSpace(v) == "" {
		return validate.Required(field)
	}
	if len(v) > max || !utf8.ValidString(v) {
		return validate.Invalid(field, fmt.Sprintf("%s must be valid UTF-8 of at most %d bytes", field, max))
	}
	return nil
}

func checkLanguage(field, v string) error {
	if !slices.Contains(Languages, v) {
		return validate.OneOf(field, v, Languages)
	}
	return nil
}

// Create adds a supplier.
func (s *Backflow) Create(ctx context.Context, ws string, in NewSupplier) (Supplier, error) {
	if !id.Valid(ws) {
		return Supplier{}, store.ErrNotFound
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Language == "" {
		in.Language = "de"
	}
	if err := checkText("name", in.Name, 300, true); err != nil {
		return Supplier{}, err
	}
	if err := checkLanguage("language", in.Language); err != nil {
		return Supplier{}, err
	}
	if err := checkText("notes", in.Notes, 20000, false); err != nil {
		return Supplier{}, err
	}
	now := s.now()
	x := Supplier{ID: id.New(), Name: in.Name, Language: in.Language, DreamClient: in.DreamClient, Notes: in.Notes, CreatedAt: now, UpdatedAt: now, Contacts: []Person{}}
	if _, err := s.DB.W.ExecContext(ctx, `INSERT INTO suppliers (id, workspace_id, name, language, dream_client, notes, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$7)`,
		x.ID, ws, x.Name, x.Language, x.DreamClient, x.Notes, now); err != nil {
		return Supplier{}, fmt.Errorf("create supplier: %w", store.MapError(err))
	}
	return x, nil
}

const supplierCols = `id, name, language, dream_client, notes, created_at, updated_at`

func scanSupplier(sc interface{ Scan(...any) error }) (Supplier, error) {
	var x Supplier
	if err := sc.Scan(&x.ID, &x.Name, &x.Language, &x.DreamClient, &x.Notes, &x.CreatedAt, &x.UpdatedAt); err != nil {
		return Supplier{}, store.MapError(err)
	}
	x.CreatedAt, x.UpdatedAt = x.CreatedAt.UTC(), x.UpdatedAt.UTC()
	x.Contacts = []Person{}
	return x, nil
}

// Get returns one supplier with its contact persons.
func (s *Backflow) Get(ctx context.Context, ws, supplierID string) (Supplier, error) {
	return s.get(ctx, s.DB.R, ws, supplierID)
}

func (s *Backflow) get(ctx context.Context, q store.Querier, ws, supplierID string) (Supplier, error) {
	if !id.Valid(ws) || !id.Valid(supplierID) {
		return Supplier{}, store.ErrNotFound
	}
	x, err := scanSupplier(q.QueryRowContext(ctx, `SELECT `+supplierCols+` FROM suppliers WHERE workspace_id = $1 AND id = $2`, ws, strings.ToLower(supplierID)))
	if err != nil {
		return Supplier{}, err
	}
	rows, err := q.QueryContext(ctx, `SELECT contact_id, position FROM supplier_contacts WHERE workspace_id = $1 AND supplier_id = $2 ORDER BY created_at, contact_id`, ws, x.ID)
	if err != nil {
		return Supplier{}, fmt.Errorf("read supplier contacts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p Person
		if err := rows.Scan(&p.ContactID, &p.Position); err != nil {
			return Supplier{}, err
		}
		x.Contacts = append(x.Contacts, p)
	}
	return x, rows.Err()
}

// List returns the workspace's suppliers by name; dreamOnly keeps the
// dream clients.
func (s *Backflow) List(ctx context.Context, ws string, dreamOnly bool) ([]Supplier, error) {
	out := []Supplier{}
	if !id.Valid(ws) {
		return out, nil
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT `+supplierCols+` FROM suppliers WHERE workspace_id = $1 AND ($2 = FALSE OR dream_client = TRUE) ORDER BY name, id`, ws, dreamOnly)
	if err != nil {
		return nil, fmt.Errorf("list suppliers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		x, err := scanSupplier(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// SupplierUpdate changes a supplier; nil fields stay.
type SupplierUpdate struct {
	Name        *string `json:"name"`
	Language    *string `json:"language"`
	DreamClient *bool   `json:"dream_client"`
	Notes       *string `json:"notes"`
}

// Update changes a supplier's name, language, dream-client flag or notes.
func (s *Backflow) Update(ctx context.Context, ws, supplierID string, up SupplierUpdate) (Supplier, error) {
	x, err := s.Get(ctx, ws, supplierID)
	if err != nil {
		return Supplier{}, err
	}
	if up.Name != nil {
		x.Name = strings.TrimSpace(*up.Name)
		if err := checkText("name", x.Name, 300, true); err != nil {
			return Supplier{}, err
		}
	}
	if up.Language != nil {
		if err := checkLanguage("language", *up.Language); err != nil {
			return Supplier{}, err
		}
		x.Language = *up.Language
	}
	if up.DreamClient != nil {
		x.DreamClient = *up.DreamClient
	}
	if up.Notes != nil {
		if err := checkText("notes", *up.Notes, 20000, false); err != nil {
			return Supplier{}, err
		}
		x.Notes = *up.Notes
	}
	x.UpdatedAt = s.now()
	if _, err := s.DB.W.ExecContext(ctx, `UPDATE suppliers SET name = $3, language = $4, dream_client = $5, notes = $6, updated_at = $7 WHERE workspace_id = $1 AND id = $2`,
		ws, x.ID, x.Name, x.Language, x.DreamClient, x.Notes, x.UpdatedAt); err != nil {
		return Supplier{}, fmt.Errorf("update supplier: %w", store.MapError(err))
	}
	return x, nil
}

// NewPerson is a contact person to add: an existing contact (ContactID) or
// a new one (Contact).
type NewPerson struct {
	ContactID string `json:"contact_id"`
	Position  string `json:"position"`
	// Contact creates the contact person; audience b2b and relationship
	// prospect are set by the service (the supplier relationship starts
	// with the contract, in the ledger).
	Contact *PersonInput `json:"contact"`
}

// PersonInput is the record of a new contact person.
type PersonInput struct {
	FirstName string           `json:"first_name"`
	LastName  string           `json:"last_name"`
	Email     string           `json:"email"`
	Phone     string           `json:"phone"`
	Address   *contact.Address `json:"address"`
}

// AddContact links a contact person to a supplier, creating the contact
// when asked to, in one transaction.
func (s *Backflow) AddContact(ctx context.Context, ws, supplierID string, in NewPerson) (Supplier, error) {
	x, err := s.Get(ctx, ws, supplierID)
	if err != nil {
		return Supplier{}, err
	}
	if err := checkText("position", in.Position, 200, false); err != nil {
		return Supplier{}, err
	}
	switch {
	case in.Contact == nil && in.ContactID == "":
		return Supplier{}, &validate.Error{Field: "contact_id", Code: "required", Message: "contact_id or contact is required: link an existing contact or create one"}
	case in.Contact != nil && in.ContactID != "":
		return Supplier{}, validate.Invalid("contact", "give either contact_id or contact, not both")
	}
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		cid := strings.ToLower(in.ContactID)
		if in.Contact != nil {
			c, err := s.Contacts.WithTx(tx).Create(ctx, ws, contact.Input{FirstName: in.Contact.FirstName, LastName: in.Contact.LastName, Organization: x.Name,
				Audience: "b2b", Relationship: "prospect", DataSource: "self_provided", Email: in.Contact.Email, Phone: in.Contact.Phone, Address: in.Contact.Address})
			if err != nil {
				return prefixField("contact.", err)
			}
			cid = c.ID
		} else if _, err := s.Contacts.PointsIn(ctx, tx, ws, cid); errors.Is(err, store.ErrNotFound) {
			return validate.Invalid("contact_id", "contact_id must be a contact of this workspace")
		} else if err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO supplier_contacts (workspace_id, supplier_id, contact_id, position, created_at) VALUES ($1,$2,$3,$4,$5)
			ON CONFLICT (workspace_id, supplier_id, contact_id) DO UPDATE SET position = excluded.position`, ws, x.ID, cid, in.Position, s.now())
		return store.MapError(err)
	})
	if err != nil {
		return Supplier{}, err
	}
	return s.Get(ctx, ws, x.ID)
}

// prefixField names a nested input field in a validation error.
func prefixField(prefix string, err error) error {
	var ve *validate.Error
	if errors.As(err, &ve) {
		c := *ve
		if c.Field != "" {
			c.Field = prefix + c.Field
		}
		return &c
	}
	return err
}

// renameField maps a field of a lower layer's error to the input field
// the caller knows.
func renameField(err error, from, to string) error {
	var ve *validate.Error
	if errors.As(err, &ve) && ve.Field == from {
		c := *ve
		c.Field = to
		c.Message = strings.ReplaceAll(c.Message, from, to)
		return &c
	}
	return err
}

// member checks that contactID is a contact person of the supplier.
func (s *Backflow) member(ctx context.Context, q store.Querier, ws, supplierID, contactID string) error {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM supplier_contacts WHERE workspace_id = $1 AND supplier_id = $2 AND contact_id = $3`, ws, supplierID, strings.ToLower(contactID)).Scan(&n)
	if err != nil {
		return err
	}
	if n == 0 {
		return validate.Invalid("contact_id", "contact_id must be a contact person of this supplier")
	}
	return nil
}

// supplierOf returns the supplier a contact is a contact person of ("" if none).
func (s *Backflow) supplierOf(ctx context.Context, ws, contactID string) (string, error) {
	var sid string
	err := s.DB.R.QueryRowContext(ctx, `SELECT supplier_id FROM supplier_contacts WHERE workspace_id = $1 AND contact_id = $2 ORDER BY created_at LIMIT 1`, ws, strings.ToLower(contactID)).Scan(&sid)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return sid, err
}

func nullID(s string) any {
	if s == "" {
		return nil
	}
	return s
}
