// Package outbox keeps outbound e-mail and SMS in the database instead of
// sending them, for installations without an SMTP server or SMS gateway:
// a newcomer can walk the double opt-in locally and click the link from
// the stored message.
//
// What identifies or concerns the person (recipient, subject, body) is
// sealed with the contact's data key, so erasure (crypto-shredding) makes
// the outbox copies unreadable as well.
package outbox

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	fmail "github.com/fairlead/fairlead/internal/mail"
	"github.com/fairlead/fairlead/internal/sms"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Channels.
const (
	Email = "email"
	SMS   = "sms"
)

// Channels are the values of Item.Channel.
var Channels = []string{Email, SMS}

// DefaultLimit and MaxLimit bound List.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Item is one stored message.
type Item struct {
	ID        string    `json:"id"`
	Channel   string    `json:"channel"`
	ContactID string    `json:"contact_id"`
	To        string    `json:"to"`
	Subject   string    `json:"subject"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	// Unreadable means the contact was erased: To, Subject and Body are
	// gone with the data key.
	Unreadable bool `json:"unreadable"`
}

// Outbox stores and reads items.
type Outbox struct {
	db   *store.DB
	keys *keyring.Keyring
	now  func() time.Time
}

// NewOutbox returns an Outbox on db whose items are sealed with keys.
func NewOutbox(db *store.DB, keys *keyring.Keyring, now func() time.Time) *Outbox {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &Outbox{db: db, keys: keys, now: now}
}

// Put stores it in q (the caller's transaction, so a message exists only
// if what caused it commits; nil means the database) and returns its ID.
// ID and CreatedAt of it are ignored. The contact's key must exist: a
// contact of another workspace is store.ErrNotFound, an erased one
// keyring.ErrShredded.
func (o *Outbox) Put(ctx context.Context, q store.Querier, ws string, it Item) (string, error) {
	if err := check(it); err != nil {
		return "", err
	}
	if !id.Valid(ws) {
		return "", store.ErrNotFound
	}
	if q == nil {
		q = o.db.W
	}
	// Seal inside q: on SQLite the transaction holds the only write
	// connection, and the key lookup must not wait for it.
	keys := o.keys.WithTx(q)
	var sealed [3][]byte
	for i, v := range []string{it.To, it.Subject, it.Body} {
		s, err := keys.Seal(ctx, ws, it.ContactID, []byte(v))
		if err != nil {
			return "", fmt.Errorf("outbox: seal: %w", err)
		}
		sealed[i] = s
	}
	now := o.now().UTC()
	newID := id.NewAt(now)
	_, err := q.ExecContext(ctx, `INSERT INTO outbox_messages (workspace_id, id, channel, contact_id, recipient, subject, body, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, ws, newID, it.Channel, it.ContactID, sealed[0], sealed[1], sealed[2], now)
	if err != nil {
		return "", fmt.Errorf("outbox: store: %w", store.MapError(err))
	}
	return newID, nil
}

func check(it Item) error {
	switch it.Channel {
	case Email, SMS:
	default:
		return validate.OneOf("channel", it.Channel, Channels)
	}
	if it.ContactID == "" {
		return validate.Invalid("contact_id", "contact_id is required: recipient and body are sealed with the contact's data key")
	}
	if !id.Valid(it.ContactID) {
		return validate.Invalid("contact_id", "contact_id must be a lower-case UUID")
	}
	if strings.TrimSpace(it.To) == "" {
		return validate.Required("to")
	}
	if it.Body == "" {
		return validate.Required("body")
	}
	return nil
}

const columns = `id, channel, contact_id, recipient, subject, body, created_at`

// List returns the workspace's items, newest first, at most limit (0 means
// DefaultLimit). before, when set, is the ID of the last item of the
// previous page.
func (o *Outbox) List(ctx context.Context, ws string, limit int, before string) ([]Item, error) {
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return nil, validate.Invalid("limit", fmt.Sprintf("limit must be from 1 to %d", MaxLimit))
	}
	if before != "" && !id.Valid(before) {
		return nil, validate.Invalid("before", "before must be the ID of an item (a lower-case UUID)")
	}
	if !id.Valid(ws) {
		return nil, nil
	}
	var rows *sql.Rows
	var err error
	if before == "" {
		rows, err = o.db.R.QueryContext(ctx, `SELECT `+columns+` FROM outbox_messages
			WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, ws, limit)
	} else {
		rows, err = o.db.R.QueryContext(ctx, `SELECT `+columns+` FROM outbox_messages m
			WHERE m.workspace_id = $1 AND EXISTS (SELECT 1 FROM outbox_messages c WHERE c.workspace_id = $1 AND c.id = $2
				AND (m.created_at < c.created_at OR (m.created_at = c.created_at AND m.id < c.id)))
			ORDER BY m.created_at DESC, m.id DESC LIMIT $3`, ws, before, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: list: %w", err)
	}
	defer rows.Close()
	var raw []sealedItem
	for rows.Next() {
		s, err := scan(rows)
		if err != nil {
			return nil, err
		}
		raw = append(raw, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("outbox: list: %w", err)
	}
	rows.Close()
	openers := map[string]*keyring.Opener{}
	out := make([]Item, 0, len(raw))
	for _, s := range raw {
		it, err := o.open(ctx, ws, s, openers)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// Get returns one item; store.ErrNotFound when there is none with this ID
// in the workspace.
func (o *Outbox) Get(ctx context.Context, ws, itemID string) (Item, error) {
	if !id.Valid(ws) || !id.Valid(itemID) {
		return Item{}, store.ErrNotFound
	}
	row := o.db.R.QueryRowContext(ctx, `SELECT `+columns+` FROM outbox_messages WHERE workspace_id = $1 AND id = $2`, ws, itemID)
	s, err := scan(row)
	if err != nil {
		return Item{}, err
	}
	return o.open(ctx, ws, s, map[string]*keyring.Opener{})
}

type sealedItem struct {
	Item
	to, subject, body []byte
}

func scan(sc interface{ Scan(...any) error }) (sealedItem, error) {
	var s sealedItem
	var contact sql.NullString
	if err := sc.Scan(&s.ID, &s.Channel, &contact, &s.to, &s.subject, &s.body, &s.CreatedAt); err != nil {
		return s, store.MapError(err)
	}
	s.ContactID = strings.ToLower(contact.String)
	s.ID = strings.ToLower(s.ID)
	s.CreatedAt = s.CreatedAt.UTC()
	return s, nil
}

func (o *Outbox) open(ctx context.Context, ws string, s sealedItem, openers map[string]*keyring.Opener) (Item, error) {
	it := s.Item
	op, ok := openers[it.ContactID]
	if !ok {
		var err error
		op, err = o.keys.Opener(ctx, ws, it.ContactID)
		switch {
		case errors.Is(err, keyring.ErrShredded):
			op = nil
		case err != nil:
			return Item{}, fmt.Errorf("outbox: open item %s: %w", it.ID, err)
		}
		openers[it.ContactID] = op
	}
	if op == nil {
		it.Unreadable = true
		return it, nil
	}
	for _, f := range []struct {
		dst    *string
		sealed []byte
	}{{&it.To, s.to}, {&it.Subject, s.subject}, {&it.Body, s.body}} {
		pt, err := op.Open(f.sealed)
		if err != nil {
			return Item{}, fmt.Errorf("outbox: open item %s: %w", it.ID, err)
		}
		*f.dst = string(pt)
	}
	return it, nil
}

// Mailer returns a mail.Sender that stores into the outbox for one
// contact, so code that sends can be handed either the SMTP sender or
// this, unchanged.
func (o *Outbox) Mailer(ws, contactID string) fmail.Sender {
	return mailer{o, ws, contactID}
}

type mailer struct {
	o             *Outbox
	ws, contactID string
}

func (m mailer) Send(ctx context.Context, env fmail.Envelope, raw []byte) error {
	subject := ""
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		subject = msg.Header.Get("Subject")
		if dec, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
			subject = dec
		}
	}
	_, err := m.o.Put(ctx, nil, m.ws, Item{Channel: Email, ContactID: m.contactID, To: strings.Join(env.To, ", "), Subject: subject, Body: string(raw)})
	return err
}

// Texter returns an sms.Gateway that stores into the outbox for one
// contact.
func (o *Outbox) Texter(ws, contactID string) sms.Gateway {
	return texter{o, ws, contactID}
}

type texter struct {
	o             *Outbox
	ws, contactID string
}

func (t texter) Send(ctx context.Context, to, text string) error {
	_, err := t.o.Put(ctx, nil, t.ws, Item{Channel: SMS, ContactID: t.contactID, To: to, Body: text})
	return err
}
