// Package privacy is what the data protection officer works with: data
// subject requests as cases with a deadline and a log, the access and
// portability export of one person (JSON and a readable page from one
// structure), erasure everywhere the person's data live with a suppression
// list that outlives it, and the retention rules that clean up on their
// own.
//
// Nothing here writes personal data in clear: cases, erasure records,
// suppressions and clean-up records name contacts by ID and contact points
// by their blind index only.
package privacy

import (
	"context"
	"log/slog"
	"time"

	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
)

// Recipient is a connected system a person's data went to (Art. 15(1)(c),
// Art. 19 GDPR).
type Recipient struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	DataCategories []string   `json:"data_categories"`
	EventTypes     []string   `json:"event_types"`
	Deliveries     int        `json:"deliveries"`
	LastSentAt     *time.Time `json:"last_sent_at"`
}

// RecipientSource tells which connected systems received data about a
// contact. The webhook registry implements it.
type RecipientSource interface {
	Recipients(ctx context.Context, ws, contactID string) ([]Recipient, error)
}

// Service holds what privacy operations need.
type Service struct {
	DB       *store.DB
	Contacts *contact.Store
	Ledger   *consent.Ledger
	// Capture gives the workspace settings and the delivery path for the
	// identity verification mail, and reads profile values.
	Capture *capture.Service
	Jobs    capture.Enqueuer
	// Recipients may be nil: then no connected system is known.
	Recipients RecipientSource
	Log        *slog.Logger
	Now        func() time.Time
	// Erasers delete what other parts hold about a contact (tracking
	// events, …), in the erasure's transaction, whatever retention duty
	// runs: none of it is kept for one. Each returns its tables' counts.
	Erasers []Eraser
	// Exporters add what other parts hold about a contact (tracking
	// events, score and stage, supplier responses, …) to the access
	// export, each under its own key of the document's "more" object.
	Exporters []Exporter
}

// Exporter reads what one part of fairlead holds about a contact for the
// access export. Key names its section in the document; what Export returns
// must marshal to JSON (rows as maps, see store.RowMaps).
type Exporter struct {
	Key    string
	Export func(ctx context.Context, q store.Querier, ws, contactID string) (any, error)
}

// Eraser deletes a contact's rows in its own tables as part of an erasure.
type Eraser func(ctx context.Context, q store.Querier, ws, contactID string) (map[string]int, error)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Service) keys() *keyring.Keyring { return s.Contacts.Keys() }

func (s *Service) recipients(ctx context.Context, ws, contactID string) ([]Recipient, error) {
	if s.Recipients == nil {
		return []Recipient{}, nil
	}
	rs, err := s.Recipients.Recipients(ctx, ws, contactID)
	if rs == nil {
		rs = []Recipient{}
	}
	return rs, err
}

// Job kinds.
const (
	JobErase            = "privacy.erase"
	JobSendVerification = "privacy.send_verification"
	JobRetention        = "privacy.retention"
)

// Register registers the privacy jobs on the queue.
func (s *Service) Register(q *jobs.Queue) {
	q.Register(JobErase, s.runErase, jobs.KindOptions{MaxAttempts: 20})
	q.Register(JobSendVerification, s.runSendVerification, jobs.KindOptions{MaxAttempts: 12})
	q.Register(JobRetention, s.runRetention, jobs.KindOptions{MaxAttempts: 5})
}

// actorString names who acted in records that outlive the request.
func actorString(a consent.Actor) string { return a.String() }
