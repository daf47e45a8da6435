// Package contact holds the contact record: the person, their organization,
// audience, relationship, data source and contact points. Personal fields are
// sealed with the contact's own data key (see keyring) in one small blob;
// e-mail and phone are also kept as blind indexes for exact lookup and dedupe,
// so no index holds an address in clear and erasure is one key deletion.
package contact

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/contact/contactpoint"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Enumerations of the record (contactability-rules.md §4.1).
var (
	Audiences     = []string{"b2c", "b2b"}
	Relationships = []string{"prospect", "customer", "supplier"}
	DataSources   = []string{"self_provided", "third_party"}
)

// Blind index kinds.
const (
	IndexEmail = "email"
	IndexPhone = "phone"
)

// Address is a postal address.
type Address struct {
	Street     string `json:"street"`
	PostalCode string `json:"postal_code"`
	City       string `json:"city"`
	Country    string `json:"country"`
}

func (a *Address) empty() bool {
	return a == nil || (a.Street == "" && a.PostalCode == "" && a.City == "" && a.Country == "")
}

// Contact is one person (for b2b: a contact person of an organization).
type Contact struct {
	ID           string   `json:"id"`
	WorkspaceID  string   `json:"workspace_id"`
	FirstName    string   `json:"first_name"`
	LastName     string   `json:"last_name"`
	Organization string   `json:"organization"`
	Audience     string   `json:"audience"`
	Relationship string   `json:"relationship"`
	DataSource   string   `json:"data_source"`
	Email        string   `json:"email"`
	Phone        string   `json:"phone"`
	Address      *Address `json:"address"`
	// Erased is true once the data key was shredded: the personal fields are
	// gone for good and read as empty.
	Erased    bool      `json:"erased"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// personal is what gets sealed: short JSON keys keep the row small.
type personal struct {
	FirstName    string   `json:"f,omitempty"`
	LastName     string   `json:"l,omitempty"`
	Organization string   `json:"o,omitempty"`
	Email        string   `json:"e,omitempty"`
	Phone        string   `json:"p,omitempty"`
	Address      *Address `json:"a,omitempty"`
}

// Points are the non-personal parts of a contact that the consent ledger
// and the facts for the engine need; reading them decrypts nothing.
type Points struct {
	ID           string
	Audience     string
	Relationship string
	DataSource   string
	// EmailIndex and PhoneIndex are the blind indexes of the current
	// contact points ("" when the contact has none).
	EmailIndex string
	PhoneIndex string
}

// Store reads and writes contacts. Every method filters on the workspace.
type Store struct {
	w, r store.Querier
	db   *store.DB // nil when the store works inside a caller's transaction
	keys *keyring.Keyring
	now  func() time.Time
	// changed runs in the same transaction after a contact is created or
	// changed (the consent ledger re-derives its permission state there).
	changed ChangeHook
}

// ChangeHook is told, inside the writing transaction, that a contact was
// created or changed, and which decision-relevant fields changed.
type ChangeHook func(ctx context.Context, q store.Querier, ws, contactID string, changes []FieldChange) error

// FieldChange is a change of a field the contactability engine reads:
// audience, relationship and data_source with their values, and the e-mail
// address or phone number without them (they are personal data; a changed
// address also ends the consents given for the old one).
type FieldChange struct {
	Field string `json:"field"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
}

// OnChange sets the hook; stores made by WithTx afterwards inherit it.
func (s *Store) OnChange(h ChangeHook) { s.changed = h }

// changesBetween lists the decision-relevant fields that differ.
func changesBetween(a, b Contact) []FieldChange {
	var out []FieldChange
	for _, f := range []struct{ name, from, to string }{
		{"audience", a.Audience, b.Audience}, {"relationship", a.Relationship, b.Relationship}, {"data_source", a.DataSource, b.DataSource},
	} {
		if f.from != f.to {
			out = append(out, FieldChange{Field: f.name, From: f.from, To: f.to})
		}
	}
	if !strings.EqualFold(a.Email, b.Email) {
		out = append(out, FieldChange{Field: "email"})
	}
	if a.Phone != b.Phone {
		out = append(out, FieldChange{Field: "phone"})
	}
	return out
}

// inTx runs fn with a store bound to one transaction — the caller's, or a
// new one — and then the change hook in that same transaction.
func (s *Store) inTx(ctx context.Context, fn func(ts *Store) (Contact, []FieldChange, error)) (Contact, error) {
	run := func(ts *Store) (Contact, error) {
		c, changes, err := fn(ts)
		if err != nil {
			return Contact{}, err
		}
		if ts.changed != nil {
			if err := ts.changed(ctx, ts.w, c.WorkspaceID, c.ID, changes); err != nil {
				return Contact{}, err
			}
		}
		return c, nil
	}
	if s.db == nil {
		return run(s)
	}
	var c Contact
	err := s.db.Tx(ctx, func(tx store.Tx) error {
		var err error
		c, err = run(s.WithTx(tx))
		return err
	})
	return c, err
}

// NewStore works on the database's pools.
func NewStore(db *store.DB, keys *keyring.Keyring, now func() time.Time) *Store {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &Store{w: db.W, r: db.R, db: db, keys: keys, now: now}
}

// WithTx returns a Store whose reads and writes happen in tx.
func (s *Store) WithTx(tx store.Querier) *Store {
	return &Store{w: tx, r: tx, keys: s.keys.WithTx(tx), now: s.now, changed: s.changed}
}

// Keys is the keyring the store seals with (the ledger seals evidence with
// the same per-contact keys).
func (s *Store) Keys() *keyring.Keyring { return s.keys }

// EmailIndex is the blind index of an e-mail address, or a validation error.
func (s *Store) EmailIndex(field, email string) (string, error) {
	e, err := contactpoint.Email(email)
	if err != nil {
		return "", validate.Invalid(field, field+" "+err.Error())
	}
	return s.keys.Index(IndexEmail, e), nil
}

// DuplicateError says that a contact point is already used by another
// contact of the workspace. It is a store.ErrConflict.
type DuplicateError struct {
	Field     string
	ContactID string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("%s: another contact in this workspace has this %s", e.Field, strings.ReplaceAll(e.Field, "_", " "))
}

// Unwrap makes errors.Is(err, store.ErrConflict) true.
func (e *DuplicateError) Unwrap() error { return store.ErrConflict }

// Input is the input of Create; Update takes pointers to the same fields.
type Input struct {
	FirstName    string
	LastName     string
	Organization string
	Audience     string
	Relationship string
	DataSource   string
	Email        string
	Phone        string
	Address      *Address
}

func oneOf(field, v string, allowed []string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return validate.OneOf(field, v, allowed)
}

func maxLen(field, v string, n int) error {
	if len(v) > n {
		return validate.Invalid(field, fmt.Sprintf("%s must have at most %d characters", field, n))
	}
	return nil
}

// check validates and normalises a complete record.
func (s *Store) check(c *Contact) error {
	c.FirstName, c.LastName, c.Organization = strings.TrimSpace(c.FirstName), strings.TrimSpace(c.LastName), strings.TrimSpace(c.Organization)
	if err := oneOf("audience", c.Audience, Audiences); err != nil {
		return err
	}
	if err := oneOf("relationship", c.Relationship, Relationships); err != nil {
		return err
	}
	if err := oneOf("data_source", c.DataSource, DataSources); err != nil {
		return err
	}
	for _, f := range []struct {
		name, v string
	}{{"first_name", c.FirstName}, {"last_name", c.LastName}, {"organization", c.Organization}} {
		if err := maxLen(f.name, f.v, 200); err != nil {
			return err
		}
	}
	if c.Email != "" {
		e, err := contactpoint.Email(c.Email)
		if err != nil {
			return validate.Invalid("email", "email "+err.Error())
		}
		c.Email = e
	}
	if c.Phone != "" {
		p, err := contactpoint.Phone(c.Phone)
		if err != nil {
			return validate.Invalid("phone", "phone "+err.Error())
		}
		c.Phone = p
	}
	if c.Address.empty() {
		c.Address = nil
	} else {
		a := c.Address
		a.Street, a.PostalCode, a.City, a.Country = strings.TrimSpace(a.Street), strings.TrimSpace(a.PostalCode), strings.TrimSpace(a.City), strings.ToUpper(strings.TrimSpace(a.Country))
		for _, f := range []struct {
			name, v string
			n       int
		}{{"address.street", a.Street, 200}, {"address.postal_code", a.PostalCode, 20}, {"address.city", a.City, 100}} {
			if err := maxLen(f.name, f.v, f.n); err != nil {
				return err
			}
		}
		if a.Country != "" && (len(a.Country) != 2 || strings.Trim(a.Country, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "") {
			return validate.Invalid("address.country", "address.country must be a two-letter ISO 3166 code such as DE")
		}
	}
	if c.Email == "" && c.Phone == "" && c.Address == nil && c.LastName == "" && c.Organization == "" {
		return validate.Invalid("email", "a contact needs at least one of email, phone, address, last_name or organization")
	}
	return nil
}

func (s *Store) indexes(c *Contact) (email, phone sql.NullString) {
	if c.Email != "" {
		email = sql.NullString{String: s.keys.Index(IndexEmail, c.Email), Valid: true}
	}
	if c.Phone != "" {
		phone = sql.NullString{String: s.keys.Index(IndexPhone, c.Phone), Valid: true}
	}
	return
}

func (s *Store) seal(ctx context.Context, c *Contact) ([]byte, error) {
	b, err := json.Marshal(personal{c.FirstName, c.LastName, c.Organization, c.Email, c.Phone, c.Address})
	if err != nil {
		return nil, err
	}
	return s.keys.Seal(ctx, c.WorkspaceID, c.ID, b)
}

// dupCheck turns a unique violation on the e-mail index into a
// DuplicateError naming the other contact.
func (s *Store) dupCheck(ctx context.Context, ws string, email sql.NullString, err error) error {
	err = store.MapError(err)
	if !errors.Is(err, store.ErrConflict) || !email.Valid {
		return err
	}
	d := &DuplicateError{Field: "email"}
	_ = s.w.QueryRowContext(ctx, `SELECT id FROM contacts WHERE workspace_id = $1 AND email_index = $2`, ws, email.String).Scan(&d.ContactID)
	return d
}

// Create adds a contact and its data key. Run it in a transaction (WithTx)
// when other writes must succeed or fail with it; on its own, a failure
// after the key was made leaves only an unused key row.
func (s *Store) Create(ctx context.Context, ws string, in Input) (Contact, error) {
	return s.inTx(ctx, func(ts *Store) (Contact, []FieldChange, error) {
		c, err := ts.create(ctx, ws, in)
		return c, nil, err
	})
}

func (s *Store) create(ctx context.Context, ws string, in Input) (Contact, error) {
	if !id.Valid(ws) {
		return Contact{}, store.ErrNotFound
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	c := Contact{ID: id.New(), WorkspaceID: strings.ToLower(ws), FirstName: in.FirstName, LastName: in.LastName, Organization: in.Organization,
		Audience: in.Audience, Relationship: in.Relationship, DataSource: in.DataSource, Email: in.Email, Phone: in.Phone, CreatedAt: now, UpdatedAt: now}
	if c.DataSource == "" {
		c.DataSource = "self_provided"
	}
	if in.Address != nil {
		a := *in.Address
		c.Address = &a
	}
	if err := s.check(&c); err != nil {
		return Contact{}, err
	}
	email, phone := s.indexes(&c)
	if email.Valid {
		var other string
		err := s.w.QueryRowContext(ctx, `SELECT id FROM contacts WHERE workspace_id = $1 AND email_index = $2`, c.WorkspaceID, email.String).Scan(&other)
		if err == nil {
			return Contact{}, &DuplicateError{Field: "email", ContactID: other}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return Contact{}, fmt.Errorf("create contact: %w", err)
		}
	}
	if err := s.keys.CreateKey(ctx, c.WorkspaceID, c.ID); err != nil {
		return Contact{}, err
	}
	sealed, err := s.seal(ctx, &c)
	if err != nil {
		return Contact{}, err
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO contacts (id, workspace_id, audience, relationship, data_source, sealed, email_index, phone_index, created_at, updated_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
		c.ID, c.WorkspaceID, c.Audience, c.Relationship, c.DataSource, sealed, email, phone, c.CreatedAt, c.UpdatedAt)
	if err != nil {
		return Contact{}, fmt.Errorf("create contact: %w", s.dupCheck(ctx, c.WorkspaceID, email, err))
	}
	return c, nil
}

const cols = `id, workspace_id, audience, relationship, data_source, sealed, created_at, updated_at`

func (s *Store) scan(ctx context.Context, sc interface{ Scan(...any) error }) (Contact, error) {
	var c Contact
	var sealed []byte
	if err := sc.Scan(&c.ID, &c.WorkspaceID, &c.Audience, &c.Relationship, &c.DataSource, &sealed, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return Contact{}, store.MapError(err)
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	pt, err := s.keys.Open(ctx, c.WorkspaceID, c.ID, sealed)
	if errors.Is(err, keyring.ErrShredded) {
		c.Erased = true
		return c, nil
	}
	if err != nil {
		return Contact{}, fmt.Errorf("contact %s: %w", c.ID, err)
	}
	var p personal
	if err := json.Unmarshal(pt, &p); err != nil {
		return Contact{}, fmt.Errorf("contact %s: %w", c.ID, err)
	}
	c.FirstName, c.LastName, c.Organization, c.Email, c.Phone, c.Address = p.FirstName, p.LastName, p.Organization, p.Email, p.Phone, p.Address
	return c, nil
}

// Get returns one contact of the workspace with its personal fields opened.
func (s *Store) Get(ctx context.Context, ws, contactID string) (Contact, error) {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return Contact{}, store.ErrNotFound
	}
	return s.scan(ctx, s.r.QueryRowContext(ctx, `SELECT `+cols+` FROM contacts WHERE workspace_id = $1 AND id = $2`, ws, contactID))
}

// GetMany returns many contacts of the workspace with their personal
// fields opened, with two reads for the whole batch (senders build a batch
// of messages at once). Unknown IDs are missing from the map; erased
// contacts come back with Erased set.
func (s *Store) GetMany(ctx context.Context, ws string, ids []string) (map[string]Contact, error) {
	rs, err := s.Recipients(ctx, ws, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Contact, len(rs))
	for k, r := range rs {
		out[k] = r.Contact
	}
	return out, nil
}

// openPersonal fills c's personal fields from its sealed record; a contact
// without an opener (its data key destroyed by erasure) is marked erased.
func openPersonal(c *Contact, o *keyring.Opener, sealed []byte) error {
	if o == nil {
		c.Erased = true
		return nil
	}
	pt, err := o.Open(sealed)
	if err != nil {
		return fmt.Errorf("contact %s: %w", c.ID, err)
	}
	var p personal
	if err := json.Unmarshal(pt, &p); err != nil {
		return fmt.Errorf("contact %s: %w", c.ID, err)
	}
	c.FirstName, c.LastName, c.Organization, c.Email, c.Phone, c.Address = p.FirstName, p.LastName, p.Organization, p.Email, p.Phone, p.Address
	return nil
}

// Update is the input of Update: nil fields stay as they are; an empty
// string removes an optional value (e-mail, phone, names).
type Update struct {
	FirstName    *string
	LastName     *string
	Organization *string
	Audience     *string
	Relationship *string
	DataSource   *string
	Email        *string
	Phone        *string
	// Address replaces the whole address; an empty address removes it.
	Address *Address
}

// Update changes a contact (rectification, Art. 16 GDPR). A new e-mail
// address or phone number gets a new blind index, so consents recorded for
// the old one no longer cover the contact's current address (rules §11).
func (s *Store) Update(ctx context.Context, ws, contactID string, up Update) (Contact, error) {
	return s.inTx(ctx, func(ts *Store) (Contact, []FieldChange, error) { return ts.update(ctx, ws, contactID, up) })
}

func (s *Store) update(ctx context.Context, ws, contactID string, up Update) (Contact, []FieldChange, error) {
	c, err := s.Get(ctx, ws, contactID)
	if err != nil {
		return Contact{}, nil, err
	}
	old := c
	if c.Erased {
		return Contact{}, nil, validate.Invalid("id", "this contact was erased; its personal data cannot be changed")
	}
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&c.FirstName, up.FirstName)
	set(&c.LastName, up.LastName)
	set(&c.Organization, up.Organization)
	set(&c.Audience, up.Audience)
	set(&c.Relationship, up.Relationship)
	set(&c.DataSource, up.DataSource)
	set(&c.Email, up.Email)
	set(&c.Phone, up.Phone)
	if up.Address != nil {
		a := *up.Address
		c.Address = &a
	}
	if err := s.check(&c); err != nil {
		return Contact{}, nil, err
	}
	email, phone := s.indexes(&c)
	if email.Valid {
		var other string
		err := s.w.QueryRowContext(ctx, `SELECT id FROM contacts WHERE workspace_id = $1 AND email_index = $2 AND id <> $3`, c.WorkspaceID, email.String, c.ID).Scan(&other)
		if err == nil {
			return Contact{}, nil, &DuplicateError{Field: "email", ContactID: other}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return Contact{}, nil, fmt.Errorf("update contact: %w", err)
		}
	}
	sealed, err := s.seal(ctx, &c)
	if err != nil {
		return Contact{}, nil, err
	}
	c.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	res, err := s.w.ExecContext(ctx, `UPDATE contacts SET audience = $3, relationship = $4, data_source = $5, sealed = $6, email_index = $7, phone_index = $8, updated_at = $9
		WHERE workspace_id = $1 AND id = $2`,
		c.WorkspaceID, c.ID, c.Audience, c.Relationship, c.DataSource, sealed, email, phone, c.UpdatedAt)
	if err != nil {
		return Contact{}, nil, fmt.Errorf("update contact: %w", s.dupCheck(ctx, c.WorkspaceID, email, err))
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return Contact{}, nil, store.ErrNotFound
	}
	return c, changesBetween(old, c), nil
}

// ListParams select contacts: by exact e-mail, and a page after a cursor.
type ListParams struct {
	// Email, when set, finds the contact with this address (via the blind
	// index; the address is never compared in clear).
	Email string
	// After is the ID of the last contact of the previous page.
	After string
	// Limit is 1..500 (default 50).
	Limit int
}

// List returns contacts ordered by ID (creation order).
func (s *Store) List(ctx context.Context, ws string, p ListParams) ([]Contact, error) {
	if p.Limit == 0 {
		p.Limit = 50
	}
	if p.Limit < 1 || p.Limit > 500 {
		return nil, validate.Invalid("limit", "limit must be a whole number from 1 to 500")
	}
	if p.After != "" && !id.Valid(p.After) {
		return nil, validate.Invalid("after", "after must be the id of a contact (the last one of the previous page)")
	}
	out := []Contact{}
	if !id.Valid(ws) {
		return out, nil
	}
	q := `SELECT ` + cols + ` FROM contacts WHERE workspace_id = $1`
	args := []any{ws}
	if p.Email != "" {
		ix, err := s.EmailIndex("email", p.Email)
		if err != nil {
			return nil, err
		}
		args = append(args, ix)
		q += fmt.Sprintf(` AND email_index = $%d`, len(args))
	}
	if p.After != "" {
		args = append(args, strings.ToLower(p.After))
		q += fmt.Sprintf(` AND id > $%d`, len(args))
	}
	args = append(args, p.Limit)
	q += fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	type raw struct {
		c      Contact
		sealed []byte
	}
	var raws []raw
	for rows.Next() {
		var x raw
		if err := rows.Scan(&x.c.ID, &x.c.WorkspaceID, &x.c.Audience, &x.c.Relationship, &x.c.DataSource, &x.sealed, &x.c.CreatedAt, &x.c.UpdatedAt); err != nil {
			rows.Close()
			return nil, err
		}
		raws = append(raws, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Keys are read after the rows are closed: on SQLite in a transaction
	// there is one connection, and it cannot serve two result sets at once.
	for _, x := range raws {
		c, err := s.scan(ctx, rowOf{x.c, x.sealed})
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// rowOf replays an already scanned row through scan.
type rowOf struct {
	c      Contact
	sealed []byte
}

func (r rowOf) Scan(dst ...any) error {
	*dst[0].(*string), *dst[1].(*string), *dst[2].(*string), *dst[3].(*string), *dst[4].(*string) = r.c.ID, r.c.WorkspaceID, r.c.Audience, r.c.Relationship, r.c.DataSource
	*dst[5].(*[]byte) = r.sealed
	*dst[6].(*time.Time), *dst[7].(*time.Time) = r.c.CreatedAt, r.c.UpdatedAt
	return nil
}

// Points returns the non-personal parts of one contact.
func (s *Store) Points(ctx context.Context, ws, contactID string) (Points, error) {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return Points{}, store.ErrNotFound
	}
	m, err := s.points(ctx, s.r, ws, []string{contactID})
	if err != nil {
		return Points{}, err
	}
	p, ok := m[strings.ToLower(contactID)]
	if !ok {
		return Points{}, store.ErrNotFound
	}
	return p, nil
}

// PointsIn is Points in the caller's transaction (or on any Querier).
func (s *Store) PointsIn(ctx context.Context, q store.Querier, ws, contactID string) (Points, error) {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return Points{}, store.ErrNotFound
	}
	m, err := s.points(ctx, q, ws, []string{contactID})
	if err != nil {
		return Points{}, err
	}
	p, ok := m[strings.ToLower(contactID)]
	if !ok {
		return Points{}, store.ErrNotFound
	}
	return p, nil
}

// PointsFor returns the non-personal parts of many contacts, keyed by ID;
// IDs that are malformed or not in the workspace are missing from the map.
func (s *Store) PointsFor(ctx context.Context, ws string, ids []string) (map[string]Points, error) {
	return s.points(ctx, s.r, ws, ids)
}

// chunk bounds the IN lists: SQLite allows 32766 parameters, and shorter
// statements plan faster on both engines.
const chunk = 500

func (s *Store) points(ctx context.Context, q store.Querier, ws string, ids []string) (map[string]Points, error) {
	out := map[string]Points{}
	if !id.Valid(ws) {
		return out, nil
	}
	var valid []string
	for _, x := range ids {
		if id.Valid(x) {
			valid = append(valid, strings.ToLower(x))
		}
	}
	for len(valid) > 0 {
		n := min(len(valid), chunk)
		part := valid[:n]
		valid = valid[n:]
		args := []any{ws}
		var ph strings.Builder
		for i, x := range part {
			if i > 0 {
				ph.WriteByte(',')
			}
			args = append(args, x)
			fmt.Fprintf(&ph, "$%d", len(args))
		}
		rows, err := q.QueryContext(ctx, `SELECT id, audience, relationship, data_source, email_index, phone_index FROM contacts WHERE workspace_id = $1 AND id IN (`+ph.String()+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read contacts: %w", err)
		}
		for rows.Next() {
			var p Points
			var e, ph sql.NullString
			if err := rows.Scan(&p.ID, &p.Audience, &p.Relationship, &p.DataSource, &e, &ph); err != nil {
				rows.Close()
				return nil, err
			}
			p.EmailIndex, p.PhoneIndex = e.String, ph.String
			out[p.ID] = p
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Prepared is a new contact checked, normalised and sealed in memory with
// its own data key; InsertPrepared stores many at once. Preparing needs no
// database, so bulk writers prepare contacts in parallel workers and keep
// the single writer for the INSERTs.
type Prepared struct {
	Contact Contact
	// Key seals the contact's other values (capture values, evidence).
	Key          *keyring.NewKey
	email, phone sql.NullString
	sealed       []byte
}

// EmailIndex is the blind index of the prepared contact's e-mail address
// ("" without one).
func (p *Prepared) EmailIndex() string { return p.email.String }

// Points are the prepared contact's points, as Points will read them.
func (p *Prepared) Points() Points {
	c := p.Contact
	return Points{ID: c.ID, Audience: c.Audience, Relationship: c.Relationship, DataSource: c.DataSource, EmailIndex: p.email.String, PhoneIndex: p.phone.String}
}

// Prepare checks a new contact and seals it, as Create does, but stores
// nothing and does not look for duplicates: the caller has looked up the
// blind index (and a duplicate still fails at the unique index). It is
// safe for concurrent use.
func (s *Store) Prepare(ws string, in Input, now time.Time) (Prepared, error) {
	if !id.Valid(ws) {
		return Prepared{}, store.ErrNotFound
	}
	now = now.UTC().Truncate(time.Microsecond)
	c := Contact{ID: id.NewAt(now), WorkspaceID: strings.ToLower(ws), FirstName: in.FirstName, LastName: in.LastName, Organization: in.Organization,
		Audience: in.Audience, Relationship: in.Relationship, DataSource: in.DataSource, Email: in.Email, Phone: in.Phone, CreatedAt: now, UpdatedAt: now}
	if c.DataSource == "" {
		c.DataSource = "self_provided"
	}
	if in.Address != nil {
		a := *in.Address
		c.Address = &a
	}
	if err := s.check(&c); err != nil {
		return Prepared{}, err
	}
	p := Prepared{Contact: c}
	p.email, p.phone = s.indexes(&c)
	key, err := s.keys.MakeKey(c.WorkspaceID, c.ID)
	if err != nil {
		return Prepared{}, err
	}
	b, err := json.Marshal(personal{c.FirstName, c.LastName, c.Organization, c.Email, c.Phone, c.Address})
	if err != nil {
		return Prepared{}, err
	}
	if p.sealed, err = key.Seal(b); err != nil {
		return Prepared{}, err
	}
	p.Key = key
	return p, nil
}

// InsertPrepared stores prepared contacts and their keys with multi-row
// INSERTs, then tells the change hook of each. Run it on a store bound to
// a transaction (WithTx): the contacts are created together or not at all.
func (s *Store) InsertPrepared(ctx context.Context, ps []Prepared) error {
	if len(ps) == 0 {
		return nil
	}
	keys := make([]*keyring.NewKey, len(ps))
	for i := range ps {
		keys[i] = ps[i].Key
	}
	if err := s.keys.InsertKeys(ctx, keys); err != nil {
		return err
	}
	const per = 400 // 10 parameters a row
	for rest := ps; len(rest) > 0; {
		part := rest[:min(per, len(rest))]
		rest = rest[len(part):]
		args := make([]any, 0, 10*len(part))
		for _, p := range part {
			c := p.Contact
			args = append(args, c.ID, c.WorkspaceID, c.Audience, c.Relationship, c.DataSource, p.sealed, p.email, p.phone, c.CreatedAt, c.UpdatedAt)
		}
		q := `INSERT INTO contacts (id, workspace_id, audience, relationship, data_source, sealed, email_index, phone_index, created_at, updated_at) VALUES ` + store.Values(s.keys.Dialect(), len(part), 10)
		if _, err := s.w.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("create contacts: %w", store.MapError(err))
		}
	}
	if s.changed != nil {
		for _, p := range ps {
			if err := s.changed(ctx, s.w, p.Contact.WorkspaceID, p.Contact.ID, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
