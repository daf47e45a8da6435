// Package webhook tells connected systems (payment, shipping, CRM …) what
// happened to a person, as GDPR Art. 19 requires for erasure, rectification
// and restriction, and as consent withdrawal and objection need in practice.
//
// An endpoint is a URL with a secret. Notify, called inside the transaction
// that made the change, stores the event and one delivery per subscribed
// endpoint and enqueues a job for each: if the change rolls back, nothing
// is sent; once it commits, nothing is lost. Deliveries to one endpoint
// leave one at a time in commit order (a failing one holds back the later
// ones), are retried with the job queue's backoff, and end in the dead
// state after the configured number of attempts, from where an operator
// can redeliver them. Every request is signed (HMAC-SHA256 over timestamp
// and body) and carries the event ID as idempotency key.
//
// Payloads carry IDs, event types and field names, never personal values:
// an erasure must not spread the address it erases. See docs/webhooks.md.
package webhook

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Event types: a contract with receivers. Never rename one; add new ones.
const (
	TypeContactErased     = "contact.erased"
	TypeContactRectified  = "contact.rectified"
	TypeContactRestricted = "contact.restricted"
	TypeConsentWithdrawn  = "consent.withdrawn"
	TypeContactObjected   = "contact.objected"
	// TypeLeadHandoff is reserved: endpoints may subscribe to it, nothing
	// sends it yet.
	TypeLeadHandoff = "lead.handoff"
)

// EventTypes lists every event type an endpoint may subscribe to.
var EventTypes = []string{TypeContactErased, TypeContactRectified, TypeContactRestricted, TypeConsentWithdrawn, TypeContactObjected, TypeLeadHandoff}

// Event is what a receiver gets, as the JSON body of the request.
type Event struct {
	ID          string         `json:"id"`
	Type        string         `json:"type"`
	WorkspaceID string         `json:"workspace_id"`
	ContactID   string         `json:"contact_id"`
	OccurredAt  time.Time      `json:"occurred_at"`
	Data        map[string]any `json:"data"`
}

// Delivery states. Dead is the dead-letter state.
const (
	StatePending   = "pending"
	StateDelivered = "delivered"
	StateDead      = "dead"
)

// DeliveryStates lists every delivery state, for filters.
var DeliveryStates = []string{StatePending, StateDelivered, StateDead}

// DefaultMaxAttempts is FAIRLEAD_WEBHOOK_MAX_ATTEMPTS's default. With the
// job queue's attempt^4 backoff twelve attempts span about 11 hours, long
// enough for a receiver's maintenance window.
const DefaultMaxAttempts = 12

// JobKind is the job that delivers one delivery (and, while it holds the
// endpoint's lane, the ones queued after it).
const JobKind = "webhook.deliver"

// ErrDeliveryPending means a redelivery was asked for a delivery that is
// still queued.
var ErrDeliveryPending = errors.New("the delivery is still queued")

// ErrEndpointDisabled means a redelivery was asked for a disabled endpoint.
var ErrEndpointDisabled = errors.New("the endpoint is disabled")

// Enqueuer enqueues a job in the caller's transaction; *jobs.Queue is one
// and also wakes its local workers at once.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx store.Querier, p jobs.EnqueueParams) (string, error)
}

// Options configure a Service. Zero values mean the documented defaults.
type Options struct {
	// MaxAttempts before a delivery is dead (default DefaultMaxAttempts).
	MaxAttempts int
	// AllowPrivate lets endpoints use private, loopback, link-local and
	// CGNAT addresses and plain http to loopback (tests, local receivers).
	AllowPrivate bool
	// Backoff is the wait after failed attempt n (default
	// jobs.DefaultBackoff, the job queue's).
	Backoff func(attempt int) time.Duration
	// Timeout bounds one request, connect to last byte (default 10s).
	Timeout time.Duration
	// Jobs enqueues delivery jobs (default: jobs.Enqueue, which the workers
	// see at their next poll).
	Jobs Enqueuer
	// Now is the clock (default time.Now in UTC).
	Now func() time.Time
	// Logger gets IDs, states and status codes only.
	Logger *slog.Logger
	// Transport replaces the guarded transport (benchmarks of the queue
	// alone); leave nil in production: it carries the SSRF guard.
	Transport http.RoundTripper
}

// Service manages endpoints and delivers events to them.
type Service struct {
	db     *store.DB
	keys   *keyring.Keyring
	opts   Options
	client *http.Client
	log    *slog.Logger
}

// New returns a Service on db; keys seals the endpoints' secrets.
func New(db *store.DB, keys *keyring.Keyring, o Options) *Service {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Backoff == nil {
		o.Backoff = jobs.DefaultBackoff
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	rt := o.Transport
	if rt == nil {
		rt = guardedTransport(o.AllowPrivate, o.Timeout)
	}
	return &Service{db: db, keys: keys, opts: o, log: o.Logger.With("component", "webhook"),
		client: &http.Client{Transport: rt, Timeout: o.Timeout,
			// A redirect could lead anywhere, including past the address
			// check's intent (an open redirect on the receiver): never follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// now is the clock as the database stores it (see jobs.dbTime).
func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// Endpoint is a connected system. The secret is never part of it.
type Endpoint struct {
	ID          string   `json:"id"`
	WorkspaceID string   `json:"workspace_id"`
	Name        string   `json:"name"`
	URL         string   `json:"url"`
	EventTypes  []string `json:"event_types"`
	// DataCategories are the categories of personal data this system was
	// sent (free text, e.g. "contact data", "orders"); access exports list
	// them as recipients (Art. 15(1)(c)).
	DataCategories  []string   `json:"data_categories"`
	Disabled        bool       `json:"disabled"`
	SecretRotatedAt time.Time  `json:"secret_rotated_at"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	DisabledAt      *time.Time `json:"disabled_at,omitempty"`
}

// NewEndpoint is the input of Create.
type NewEndpoint struct {
	Name           string   `json:"name"`
	URL            string   `json:"url"`
	EventTypes     []string `json:"event_types"`
	DataCategories []string `json:"data_categories"`
	Disabled       bool     `json:"disabled"`
}

// EndpointUpdate changes the fields that are not nil.
type EndpointUpdate struct {
	Name           *string   `json:"name"`
	URL            *string   `json:"url"`
	EventTypes     *[]string `json:"event_types"`
	DataCategories *[]string `json:"data_categories"`
	Disabled       *bool     `json:"disabled"`
}

const (
	maxName       = 100
	maxCategories = 50
	maxCategory   = 100
	// secretPrefix lets receivers and secret scanners recognise the value.
	secretPrefix = "whsec_"
)

func secretLabel(endpointID string) string { return "webhook:" + endpointID }

func newSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("webhook: crypto/rand failed: " + err.Error())
	}
	return secretPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func checkName(n string) (string, error) {
	n = strings.TrimSpace(n)
	switch {
	case n == "":
		return "", validate.Required("name")
	case utf8.RuneCountInString(n) > maxName || strings.ContainsAny(n, "\r\n\x00"):
		return "", validate.Invalid("name", fmt.Sprintf("name must be one line of at most %d characters", maxName))
	}
	return n, nil
}

func checkTypes(ts []string) ([]string, error) {
	if len(ts) == 0 {
		return nil, &validate.Error{Field: "event_types", Code: "required", Allowed: EventTypes,
			Message: "event_types must name at least one of " + strings.Join(EventTypes, ", ")}
	}
	out := []string{}
	for _, t := range ts {
		if !slices.Contains(EventTypes, t) {
			return nil, validate.OneOf("event_types", t, EventTypes)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

func checkCategories(cs []string) ([]string, error) {
	if len(cs) > maxCategories {
		return nil, validate.Invalid("data_categories", fmt.Sprintf("data_categories may list at most %d categories", maxCategories))
	}
	out := []string{}
	for _, c := range cs {
		c = strings.TrimSpace(c)
		if c == "" || utf8.RuneCountInString(c) > maxCategory || strings.ContainsAny(c, "\r\n\x00") {
			return nil, validate.Invalid("data_categories", fmt.Sprintf("each data category must be one non-empty line of at most %d characters", maxCategory))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

func encodeList(l []string) string {
	b, _ := json.Marshal(l)
	return string(b)
}

// Create registers an endpoint and returns it with its signing secret,
// which is shown this once: fairlead keeps it only sealed.
func (s *Service) Create(ctx context.Context, ws string, in NewEndpoint) (Endpoint, string, error) {
	name, err := checkName(in.Name)
	if err != nil {
		return Endpoint{}, "", err
	}
	u, err := s.checkURL(in.URL)
	if err != nil {
		return Endpoint{}, "", err
	}
	types, err := checkTypes(in.EventTypes)
	if err != nil {
		return Endpoint{}, "", err
	}
	cats, err := checkCategories(in.DataCategories)
	if err != nil {
		return Endpoint{}, "", err
	}
	if !id.Valid(ws) {
		return Endpoint{}, "", store.ErrNotFound
	}
	ws = strings.ToLower(ws)
	epID := id.New()
	secret := newSecret()
	sealed, err := s.keys.SealSecret(ws, secretLabel(epID), []byte(secret))
	if err != nil {
		return Endpoint{}, "", err
	}
	now := s.now()
	var disabled any
	if in.Disabled {
		disabled = now
	}
	if _, err := s.db.W.ExecContext(ctx, `INSERT INTO webhook_endpoints
		(workspace_id, id, name, url, secret, event_types, data_categories, disabled_at, secret_rotated_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9)`,
		ws, epID, name, u, sealed, encodeList(types), encodeList(cats), disabled, now); err != nil {
		return Endpoint{}, "", fmt.Errorf("create webhook endpoint: %w", store.MapError(err))
	}
	ep, err := s.Endpoint(ctx, ws, epID)
	return ep, secret, err
}

const endpointColumns = `id, workspace_id, name, url, event_types, data_categories, disabled_at, secret_rotated_at, created_at, updated_at`

func scanEndpoint(sc interface{ Scan(...any) error }) (Endpoint, error) {
	var (
		ep          Endpoint
		types, cats string
		disabled    sql.NullTime
	)
	if err := sc.Scan(&ep.ID, &ep.WorkspaceID, &ep.Name, &ep.URL, &types, &cats, &disabled, &ep.SecretRotatedAt, &ep.CreatedAt, &ep.UpdatedAt); err != nil {
		return Endpoint{}, err
	}
	if err := json.Unmarshal([]byte(types), &ep.EventTypes); err != nil {
		return Endpoint{}, fmt.Errorf("webhook endpoint %s: event types: %w", ep.ID, err)
	}
	if err := json.Unmarshal([]byte(cats), &ep.DataCategories); err != nil {
		return Endpoint{}, fmt.Errorf("webhook endpoint %s: data categories: %w", ep.ID, err)
	}
	if disabled.Valid {
		t := disabled.Time.UTC()
		ep.Disabled, ep.DisabledAt = true, &t
	}
	ep.SecretRotatedAt, ep.CreatedAt, ep.UpdatedAt = ep.SecretRotatedAt.UTC(), ep.CreatedAt.UTC(), ep.UpdatedAt.UTC()
	return ep, nil
}

// Endpoints lists the workspace's endpoints, oldest first.
func (s *Service) Endpoints(ctx context.Context, ws string) ([]Endpoint, error) {
	out := []Endpoint{}
	if !id.Valid(ws) {
		return out, nil
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE workspace_id = $1 ORDER BY created_at, id`, strings.ToLower(ws))
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		ep, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ep)
	}
	return out, rows.Err()
}

// Endpoint returns one endpoint of the workspace.
func (s *Service) Endpoint(ctx context.Context, ws, endpointID string) (Endpoint, error) {
	return s.endpointIn(ctx, s.db.R, ws, endpointID)
}

func (s *Service) endpointIn(ctx context.Context, q store.Querier, ws, endpointID string) (Endpoint, error) {
	if !id.Valid(ws) || !id.Valid(endpointID) {
		return Endpoint{}, store.ErrNotFound
	}
	ep, err := scanEndpoint(q.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE workspace_id = $1 AND id = $2`, strings.ToLower(ws), strings.ToLower(endpointID)))
	if err != nil {
		return Endpoint{}, store.MapError(err)
	}
	return ep, nil
}

// Update changes an endpoint's name, URL, event types, data categories or
// disabled state. Invalid input changes nothing. Deliveries already queued
// keep going to the endpoint's current URL; a disabled endpoint gets no new
// deliveries and holds its queued ones until it is enabled again.
func (s *Service) Update(ctx context.Context, ws, endpointID string, u EndpointUpdate) (Endpoint, error) {
	cur, err := s.Endpoint(ctx, ws, endpointID)
	if err != nil {
		return Endpoint{}, err
	}
	name, url, types, cats := cur.Name, cur.URL, cur.EventTypes, cur.DataCategories
	if u.Name != nil {
		if name, err = checkName(*u.Name); err != nil {
			return Endpoint{}, err
		}
	}
	if u.URL != nil {
		if url, err = s.checkURL(*u.URL); err != nil {
			return Endpoint{}, err
		}
	}
	if u.EventTypes != nil {
		if types, err = checkTypes(*u.EventTypes); err != nil {
			return Endpoint{}, err
		}
	}
	if u.DataCategories != nil {
		if cats, err = checkCategories(*u.DataCategories); err != nil {
			return Endpoint{}, err
		}
	}
	now := s.now()
	disabled := any(nil)
	if cur.DisabledAt != nil {
		disabled = *cur.DisabledAt
	}
	if u.Disabled != nil {
		switch {
		case *u.Disabled && cur.DisabledAt == nil:
			disabled = now
		case !*u.Disabled:
			disabled = nil
		}
	}
	res, err := s.db.W.ExecContext(ctx, `UPDATE webhook_endpoints SET name = $3, url = $4, event_types = $5,
		data_categories = $6, disabled_at = $7, updated_at = $8 WHERE workspace_id = $1 AND id = $2`,
		cur.WorkspaceID, cur.ID, name, url, encodeList(types), encodeList(cats), disabled, now)
	if err != nil {
		return Endpoint{}, fmt.Errorf("update webhook endpoint: %w", store.MapError(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Endpoint{}, store.ErrNotFound
	}
	return s.Endpoint(ctx, cur.WorkspaceID, cur.ID)
}

// RotateSecret replaces the endpoint's signing secret at once and returns
// the new one, shown this once. Requests signed from now on use it.
func (s *Service) RotateSecret(ctx context.Context, ws, endpointID string) (Endpoint, string, error) {
	cur, err := s.Endpoint(ctx, ws, endpointID)
	if err != nil {
		return Endpoint{}, "", err
	}
	secret := newSecret()
	sealed, err := s.keys.SealSecret(cur.WorkspaceID, secretLabel(cur.ID), []byte(secret))
	if err != nil {
		return Endpoint{}, "", err
	}
	now := s.now()
	if _, err := s.db.W.ExecContext(ctx, `UPDATE webhook_endpoints SET secret = $3, secret_rotated_at = $4, updated_at = $4
		WHERE workspace_id = $1 AND id = $2`, cur.WorkspaceID, cur.ID, sealed, now); err != nil {
		return Endpoint{}, "", fmt.Errorf("rotate webhook secret: %w", err)
	}
	ep, err := s.Endpoint(ctx, cur.WorkspaceID, cur.ID)
	return ep, secret, err
}
