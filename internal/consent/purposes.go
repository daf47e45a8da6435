package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// kindChannels are the legal purpose kinds with their allowed channels
// (contactability-rules.md §3). A business purpose maps to exactly one kind
// and may narrow, never widen, its channels.
var kindChannels = map[policy.Purpose][]string{
	policy.PurposeDirectMarketing:     {"email", "sms", "phone", "post"},
	policy.PurposeConsentConfirmation: {"email", "sms"},
	policy.PurposeInquiryReply:        {"email", "sms", "phone", "post"},
	policy.PurposeContract:            {"email", "sms", "phone", "post"},
	policy.PurposeRightsResponse:      {"email", "sms", "phone", "post"},
	policy.PurposeLegalRetention:      {"none"},
	policy.PurposeAnalytics:           {"web", "email"},
	policy.PurposePersonalization:     {"web", "none"},
}

// Kinds lists the legal purpose kinds in the order of the rules document.
var Kinds = []string{"direct_marketing", "consent_confirmation", "inquiry_reply", "contract", "rights_response", "legal_retention", "analytics", "personalization"}

// Channels lists every channel of the rules document (§1).
var Channels = []string{"email", "sms", "phone", "post", "web", "none"}

// KindChannels returns the channels a legal purpose kind allows.
func KindChannels(kind string) []string { return slices.Clone(kindChannels[policy.Purpose(kind)]) }

// Purpose is a business purpose of a workspace (newsletter, sales_calls, …)
// mapped to one legal purpose kind of the rules document.
type Purpose struct {
	Key            string    `json:"key"`
	Kind           string    `json:"kind"`
	DescriptionDE  string    `json:"description_de"`
	DescriptionEN  string    `json:"description_en"`
	DataCategories []string  `json:"data_categories"`
	Channels       []string  `json:"channels"`
	BuiltIn        bool      `json:"built_in"`
	CreatedAt      time.Time `json:"created_at"`
}

// Allows reports whether the purpose may use the channel.
func (p Purpose) Allows(channel string) bool { return slices.Contains(p.Channels, channel) }

// DefaultCatalog is the catalogue every workspace starts with.
func DefaultCatalog() []Purpose {
	contact := []string{"name", "email"}
	return []Purpose{
		{Key: "newsletter", Kind: "direct_marketing", DescriptionDE: "Newsletter mit Neuigkeiten und Angeboten", DescriptionEN: "Newsletter with news and offers", DataCategories: contact, Channels: []string{"email", "sms", "phone", "post"}},
		{Key: "product_offers", Kind: "direct_marketing", DescriptionDE: "Angebote zu eigenen, ähnlichen Produkten", DescriptionEN: "Offers for our own, similar products", DataCategories: []string{"name", "email", "postal_address", "purchase_history"}, Channels: []string{"email", "sms", "phone", "post"}},
		{Key: "event_invitations", Kind: "direct_marketing", DescriptionDE: "Einladungen zu Veranstaltungen und Webinaren", DescriptionEN: "Invitations to events and webinars", DataCategories: contact, Channels: []string{"email", "sms", "phone", "post"}},
		{Key: "sales_calls", Kind: "direct_marketing", DescriptionDE: "Werbeanrufe durch den Vertrieb", DescriptionEN: "Sales calls", DataCategories: []string{"name", "phone", "organization"}, Channels: []string{"email", "sms", "phone", "post"}},
		{Key: "supplier_acquisition", Kind: "direct_marketing", DescriptionDE: "Briefwerbung an Lieferanten (Backflow-Akquise)", DescriptionEN: "Postal advertising to suppliers (backflow acquisition)", DataCategories: []string{"name", "organization", "postal_address"}, Channels: []string{"post"}},
		{Key: "order_processing", Kind: "contract", DescriptionDE: "Abwicklung von Bestellungen und Verträgen", DescriptionEN: "Processing orders and contracts", DataCategories: []string{"name", "email", "phone", "postal_address", "order_data"}, Channels: []string{"email", "sms", "phone", "post"}},
		{Key: "accounting_retention", Kind: "legal_retention", DescriptionDE: "Aufbewahrung nach HGB und AO", DescriptionEN: "Retention under commercial and tax law", DataCategories: []string{"name", "postal_address", "invoices"}, Channels: []string{"none"}},
		{Key: "inquiry_replies", Kind: "inquiry_reply", DescriptionDE: "Antworten auf Anfragen", DescriptionEN: "Replies to inquiries", DataCategories: contact, Channels: []string{"email", "sms", "phone", "post"}},
		{Key: "rights_responses", Kind: "rights_response", DescriptionDE: "Antworten auf Betroffenenanfragen", DescriptionEN: "Responses to data subject requests", DataCategories: contact, Channels: []string{"email", "sms", "phone", "post"}},
		{Key: "doi_confirmation", Kind: "consent_confirmation", DescriptionDE: "Bestätigungsaufforderung (Double-Opt-In)", DescriptionEN: "Double opt-in confirmation request", DataCategories: []string{"email", "phone"}, Channels: []string{"email", "sms"}},
		{Key: "web_analytics", Kind: "analytics", DescriptionDE: "Reichweitenmessung auf der Website", DescriptionEN: "Website usage measurement", DataCategories: []string{"usage_data", "device_identifiers"}, Channels: []string{"web"}},
		{Key: "web_tracking", Kind: "analytics", DescriptionDE: "Personenbezogene Auswertung der Website-Nutzung (mit dem Kontakt verknüpft)", DescriptionEN: "Website usage linked to the contact record", DataCategories: []string{"usage_data", "device_identifiers"}, Channels: []string{"web"}},
		{Key: "email_tracking", Kind: "analytics", DescriptionDE: "Öffnungs- und Klickmessung in E-Mails", DescriptionEN: "Open and click tracking in e-mails", DataCategories: []string{"email", "usage_data"}, Channels: []string{"email"}},
		{Key: "personalization", Kind: "personalization", DescriptionDE: "Personalisierte Inhalte und Angebote", DescriptionEN: "Personalized content and offers", DataCategories: []string{"purchase_history", "usage_data"}, Channels: []string{"web", "none"}},
	}
}

// Purposes is the catalogue of business purposes of each workspace. The
// built-in purposes are written on first use, so every workspace has them
// however it was created.
type Purposes struct {
	db  *store.DB
	now func() time.Time
	// catalogs caches each workspace's catalogue for the permission state,
	// which every ledger append re-derives. Purposes are never changed or
	// deleted, only added, so the number of rows tells whether the cached
	// list is still the catalogue; one count is far cheaper than reading and
	// parsing every purpose on every append.
	catalogs sync.Map // workspace ID -> catalog
}

type catalog struct {
	n    int
	list []Purpose
}

// NewPurposes works on db.
func NewPurposes(db *store.DB, now func() time.Time) *Purposes {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &Purposes{db: db, now: now}
}

// ensure writes the missing built-in purposes of the workspace through q.
func (p *Purposes) ensure(ctx context.Context, q store.Querier, ws string) error {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM purposes WHERE workspace_id = $1 AND built_in = $2`, ws, true).Scan(&n); err != nil {
		return fmt.Errorf("read purposes: %w", err)
	}
	defs := DefaultCatalog()
	if n >= len(defs) {
		return nil
	}
	now := p.now().UTC().Truncate(time.Microsecond)
	for _, d := range defs {
		cats, _ := json.Marshal(d.DataCategories)
		chs, _ := json.Marshal(d.Channels)
		if _, err := q.ExecContext(ctx, `INSERT INTO purposes (workspace_id, purpose_key, kind, description_de, description_en, data_categories, channels, built_in, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (workspace_id, purpose_key) DO NOTHING`,
			ws, d.Key, d.Kind, d.DescriptionDE, d.DescriptionEN, string(cats), string(chs), true, now); err != nil {
			return fmt.Errorf("create built-in purposes: %w", err)
		}
	}
	return nil
}

const purposeCols = `purpose_key, kind, description_de, description_en, data_categories, channels, built_in, created_at`

func scanPurpose(sc interface{ Scan(...any) error }) (Purpose, error) {
	var x Purpose
	var cats, chs string
	if err := sc.Scan(&x.Key, &x.Kind, &x.DescriptionDE, &x.DescriptionEN, &cats, &chs, &x.BuiltIn, &x.CreatedAt); err != nil {
		return Purpose{}, store.MapError(err)
	}
	x.CreatedAt = x.CreatedAt.UTC()
	if err := json.Unmarshal([]byte(cats), &x.DataCategories); err != nil {
		return Purpose{}, err
	}
	if err := json.Unmarshal([]byte(chs), &x.Channels); err != nil {
		return Purpose{}, err
	}
	return x, nil
}

// catalog is ensure followed by list, answered from the cache when the
// workspace's purpose count matches it. A purpose added by another process
// changes the count; one added in a transaction that rolls back is never
// read by a permission refresh in that transaction (Create refreshes
// nothing), so a cached list never holds a purpose that does not exist.
// Callers must not modify the returned slice.
func (p *Purposes) catalog(ctx context.Context, q store.Querier, ws string) ([]Purpose, error) {
	var n, builtIn int
	if err := q.QueryRowContext(ctx, `SELECT count(*), count(CASE WHEN built_in THEN 1 END) FROM purposes WHERE workspace_id = $1`, ws).Scan(&n, &builtIn); err != nil {
		return nil, fmt.Errorf("read purposes: %w", err)
	}
	if builtIn < len(DefaultCatalog()) {
		if err := p.ensure(ctx, q, ws); err != nil {
			return nil, err
		}
		return p.list(ctx, q, ws)
	}
	if c, ok := p.catalogs.Load(ws); ok && c.(catalog).n == n {
		return c.(catalog).list, nil
	}
	list, err := p.list(ctx, q, ws)
	if err != nil {
		return nil, err
	}
	if len(list) == n {
		p.catalogs.Store(ws, catalog{n: n, list: list})
	}
	return list, nil
}

// List returns the workspace's purposes, built-in ones first, by key.
func (p *Purposes) List(ctx context.Context, ws string) ([]Purpose, error) {
	if !id.Valid(ws) {
		return []Purpose{}, nil
	}
	if err := p.ensure(ctx, p.db.W, ws); err != nil {
		return nil, err
	}
	return p.list(ctx, p.db.R, ws)
}

func (p *Purposes) list(ctx context.Context, q store.Querier, ws string) ([]Purpose, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+purposeCols+` FROM purposes WHERE workspace_id = $1 ORDER BY built_in DESC, purpose_key`, ws)
	if err != nil {
		return nil, fmt.Errorf("list purposes: %w", err)
	}
	defer rows.Close()
	out := []Purpose{}
	for rows.Next() {
		x, err := scanPurpose(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// Get returns one purpose of the workspace by key.
func (p *Purposes) Get(ctx context.Context, ws, key string) (Purpose, error) {
	return p.get(ctx, p.db.R, ws, key)
}

// get reads a purpose through q. A built-in purpose that has not been
// written for this workspace yet is served from the default catalogue, so
// reads (and appends inside a caller's transaction) never need to write.
func (p *Purposes) get(ctx context.Context, q store.Querier, ws, key string) (Purpose, error) {
	if !id.Valid(ws) {
		return Purpose{}, store.ErrNotFound
	}
	x, err := scanPurpose(q.QueryRowContext(ctx, `SELECT `+purposeCols+` FROM purposes WHERE workspace_id = $1 AND purpose_key = $2`, ws, key))
	if errors.Is(err, store.ErrNotFound) {
		for _, d := range DefaultCatalog() {
			if d.Key == key {
				d.BuiltIn = true
				return d, nil
			}
		}
	}
	return x, err
}

// lookup is get with a 400 naming the workspace's purposes for an unknown key.
func (p *Purposes) lookup(ctx context.Context, q store.Querier, ws, field, key string) (Purpose, error) {
	x, err := p.get(ctx, q, ws, key)
	if errors.Is(err, store.ErrNotFound) {
		keys := p.keys(ctx, q, ws)
		return Purpose{}, validate.OneOf(field, key, keys)
	}
	return x, err
}

func (p *Purposes) keys(ctx context.Context, q store.Querier, ws string) []string {
	seen := map[string]bool{}
	var keys []string
	for _, d := range DefaultCatalog() {
		seen[d.Key] = true
		keys = append(keys, d.Key)
	}
	if list, err := p.list(ctx, q, ws); err == nil {
		for _, x := range list {
			if !seen[x.Key] {
				keys = append(keys, x.Key)
			}
		}
	}
	return keys
}

// NewPurpose is the input of Create.
type NewPurpose struct {
	Key            string
	Kind           string
	DescriptionDE  string
	DescriptionEN  string
	DataCategories []string
	// Channels default to all channels of the kind.
	Channels []string
}

var keyRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,62}$`)

// Create extends the workspace's catalogue.
func (p *Purposes) Create(ctx context.Context, ws string, in NewPurpose) (Purpose, error) {
	if !id.Valid(ws) {
		return Purpose{}, store.ErrNotFound
	}
	if !keyRE.MatchString(in.Key) {
		return Purpose{}, validate.Invalid("key", "key must be 2-63 characters of a-z, 0-9 and _, starting with a letter")
	}
	if !slices.Contains(Kinds, in.Kind) {
		return Purpose{}, validate.OneOf("kind", in.Kind, Kinds)
	}
	in.DescriptionDE, in.DescriptionEN = strings.TrimSpace(in.DescriptionDE), strings.TrimSpace(in.DescriptionEN)
	if in.DescriptionDE == "" {
		return Purpose{}, validate.Required("description_de")
	}
	if in.DescriptionEN == "" {
		return Purpose{}, validate.Required("description_en")
	}
	if len(in.DescriptionDE) > 500 || len(in.DescriptionEN) > 500 {
		return Purpose{}, validate.Invalid("description_de", "descriptions must have at most 500 characters")
	}
	allowed := KindChannels(in.Kind)
	if len(in.Channels) == 0 {
		in.Channels = allowed
	}
	chs, err := channelSet("channels", in.Channels, allowed)
	if err != nil {
		return Purpose{}, err
	}
	if in.DataCategories == nil {
		in.DataCategories = []string{}
	}
	if len(in.DataCategories) > 50 {
		return Purpose{}, validate.Invalid("data_categories", "at most 50 data categories")
	}
	for _, c := range in.DataCategories {
		if !keyRE.MatchString(c) {
			return Purpose{}, validate.Invalid("data_categories", "data categories must be 2-63 characters of a-z, 0-9 and _ such as postal_address")
		}
	}
	x := Purpose{Key: in.Key, Kind: in.Kind, DescriptionDE: in.DescriptionDE, DescriptionEN: in.DescriptionEN, DataCategories: in.DataCategories, Channels: chs, CreatedAt: p.now().UTC().Truncate(time.Microsecond)}
	cats, _ := json.Marshal(x.DataCategories)
	chj, _ := json.Marshal(x.Channels)
	err = p.db.Tx(ctx, func(tx store.Tx) error {
		if err := p.ensure(ctx, tx, ws); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO purposes (workspace_id, purpose_key, kind, description_de, description_en, data_categories, channels, built_in, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`, ws, x.Key, x.Kind, x.DescriptionDE, x.DescriptionEN, string(cats), string(chj), false, x.CreatedAt)
		return store.MapError(err)
	})
	if errors.Is(err, store.ErrConflict) {
		return Purpose{}, &validate.Error{Field: "key", Code: "duplicate", Message: "a purpose with this key exists in this workspace"}
	}
	if err != nil {
		return Purpose{}, fmt.Errorf("create purpose: %w", err)
	}
	// The kept catalogue lacks it now: the next reader keeps the new one
	// (other processes meet the larger count in their next transaction).
	p.catalogs.Delete(strings.ToLower(ws))
	return x, nil
}

// channelSet validates channels against allowed and returns them
// de-duplicated in the order of allowed.
func channelSet(field string, chs, allowed []string) ([]string, error) {
	for _, c := range chs {
		if !slices.Contains(Channels, c) {
			return nil, validate.OneOf(field, c, Channels)
		}
		if !slices.Contains(allowed, c) {
			return nil, &validate.Error{Field: field, Code: "channel_not_allowed", Allowed: allowed,
				Message: fmt.Sprintf("%s: channel %q is not allowed here; allowed: %s", field, c, strings.Join(allowed, ", "))}
		}
	}
	var out []string
	for _, a := range allowed {
		if slices.Contains(chs, a) {
			out = append(out, a)
		}
	}
	return out, nil
}
