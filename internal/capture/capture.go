// Package capture is where a lead enters and where the person keeps
// control: form definitions (checked by the form lint when saved), public
// submissions that create or enrich a contact and record each consent as
// requested with its evidence, double opt-in by e-mail link or SMS code,
// the preference center and one-click unsubscribe. Everything a submission
// or a click changes happens in one transaction together with the job that
// sends the resulting message (transactional outbox).
package capture

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/store"
)

// Enqueuer puts a job into the caller's transaction (jobs.Queue).
type Enqueuer interface {
	Enqueue(ctx context.Context, tx store.Querier, p jobs.EnqueueParams) (string, error)
}

// Decider is the engine's decision for one contact now (audience.Resolver):
// the last check before any message leaves.
type Decider interface {
	Decide(ctx context.Context, ws, contactID, purposeKey, channel string, c audience.Campaign) (policy.Decision, error)
}

// Service holds what capture needs.
type Service struct {
	DB       *store.DB
	Contacts *contact.Store
	Ledger   *consent.Ledger
	Purposes *consent.Purposes
	Notices  *consent.Notices
	Keys     *keyring.Keyring
	Jobs     Enqueuer
	Decider  Decider
	Settings *SettingsStore
	Delivery *Delivery
	Log      *slog.Logger
	Now      func() time.Time

	cache       versionCache
	reads       readStmts
	submissions groupCommit
	public      publicForms
	formChanges atomic.Uint64
}

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

// Meta is what the request tells about the person's device: evidence of
// the sign-up or confirmation. IP is kept (sealed) only when the workspace
// enables record_ip.
type Meta struct {
	IP        string
	UserAgent string
}

// Errors people see as pages.
var (
	// ErrLinkInvalid: the link is not one of ours (or was tampered with).
	ErrLinkInvalid = errors.New("the link is not valid")
	// ErrLinkExpired: the link was ours but its time is up.
	ErrLinkExpired = errors.New("the link has expired")
	// ErrFormNotFound: no form under that key.
	ErrFormNotFound = errors.New("no such form")
	// ErrCodeLocked: too many wrong SMS codes; a new code is needed.
	ErrCodeLocked = errors.New("too many wrong codes")
	// ErrCodeWrong: the SMS code does not match.
	ErrCodeWrong = errors.New("the code is not right")
)

// Job kinds.
const (
	JobSendDOIEmail    = "capture.send_doi_email"
	JobSendDOISMS      = "capture.send_doi_sms"
	JobSendWelcome     = "capture.send_welcome"
	JobSendPreferences = "capture.send_preferences_link"
)

// jobArgs are the arguments of every capture job: IDs only, never personal
// data (job rows are not sealed).
type jobArgs struct {
	Request   string `json:"request,omitempty"`
	ContactID string `json:"contact_id,omitempty"`
	Lang      string `json:"lang,omitempty"`
}

// Register registers capture's jobs on the queue.
func (s *Service) Register(q *jobs.Queue) {
	q.Register(JobSendDOIEmail, s.runSendDOIEmail, jobs.KindOptions{MaxAttempts: 12})
	q.Register(JobSendDOISMS, s.runSendDOISMS, jobs.KindOptions{MaxAttempts: 8})
	q.Register(JobSendWelcome, s.runSendWelcome, jobs.KindOptions{MaxAttempts: 12})
	q.Register(JobSendPreferences, s.runSendPreferences, jobs.KindOptions{MaxAttempts: 8})
}
