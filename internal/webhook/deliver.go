package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
)

// How delivery works. Every delivery has a job, but the job is only a
// trigger: whichever job runs first takes the endpoint's lane (a lease on
// the endpoint row) and sends the endpoint's pending deliveries in seq
// order, as long as they succeed. A failure schedules that delivery's next
// attempt and stops the lane there, so later deliveries wait behind it;
// when it is dead (attempts used up) the lane moves on past it. A job whose
// delivery is still pending afterwards snoozes (which costs no job attempt)
// until the head of the lane is due again. The delivery rows, not the jobs,
// count attempts; the jobs' own retries only cover database failures.

const (
	// pumpBudget bounds one run of the lane so one busy endpoint cannot hold
	// a worker for ever; the next trigger job goes on where it stopped.
	pumpBudget = 20 * time.Second
	pumpBatch  = 1000
	// followLag lets the head's own job take the lane first when the head
	// becomes due; the later deliveries' jobs then mostly find their
	// delivery done.
	followLag = time.Second
	// busyWait is how long a job waits when another worker holds the lane:
	// that worker sends this job's delivery too, most likely, and the job
	// then only has to see it done. Shorter waits made the waiting jobs'
	// claims and snoozes compete with the sender for the database.
	busyWait = 2 * time.Second
	// disabledWait is how often a disabled endpoint's queued deliveries look
	// whether it was enabled again.
	disabledWait = time.Minute
	// maxBody is how much of a receiver's answer is read (and discarded), so
	// the connection can be reused without trusting the receiver's size.
	maxBody = 64 << 10
	// maxErr keeps stored errors short.
	maxErr = 500
)

// Register registers the delivery job on q. Call it before q starts.
func (s *Service) Register(q *jobs.Queue) {
	q.Register(JobKind, s.handle, jobs.KindOptions{
		MaxAttempts: s.opts.MaxAttempts + jobs.DefaultMaxAttempts,
		Timeout:     pumpBudget + 3*s.opts.Timeout,
	})
}

func (s *Service) laneLease() time.Duration { return 3 * s.opts.Timeout }

func (s *Service) handle(ctx context.Context, j *jobs.Job) error {
	var a deliverArgs
	if err := j.DecodeArgs(&a); err != nil {
		return err
	}
	ws := j.WorkspaceID
	state, epID, err := s.deliveryState(ctx, ws, a.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		return jobs.Cancel(fmt.Errorf("webhook delivery %s is gone", a.DeliveryID))
	}
	if err != nil || state != StatePending {
		return err
	}
	headID, wait, err := s.pump(ctx, ws, epID)
	if err != nil {
		return err
	}
	if state, _, err = s.deliveryState(ctx, ws, a.DeliveryID); err != nil || state != StatePending {
		return err
	}
	wait = max(wait, 0)
	if headID != "" && headID != a.DeliveryID {
		wait += followLag
	}
	// Jitter spreads the wake-ups of many deliveries queued behind one head.
	return jobs.Snooze(wait + rand.N(wait/10+time.Millisecond))
}

func (s *Service) deliveryState(ctx context.Context, ws, deliveryID string) (string, string, error) {
	if !id.Valid(ws) || !id.Valid(deliveryID) {
		return "", "", store.ErrNotFound
	}
	var state, epID string
	err := s.db.R.QueryRowContext(ctx, `SELECT state, endpoint_id FROM webhook_deliveries WHERE workspace_id = $1 AND id = $2`,
		strings.ToLower(ws), strings.ToLower(deliveryID)).Scan(&state, &epID)
	return state, epID, store.MapError(err)
}

// lane is the endpoint as the sender needs it.
type lane struct {
	ws, id, url, secret string
	token               string
	until               time.Time
}

// acquire takes the endpoint's lane for token, or says how long the
// current holder's lease still runs.
func (s *Service) acquire(ctx context.Context, ws, epID, token string) (bool, time.Duration, error) {
	now := s.now()
	// A read first: most jobs that find the lane busy need no write at all.
	var held sql.NullTime
	if err := s.db.R.QueryRowContext(ctx, `SELECT lane_until FROM webhook_endpoints WHERE workspace_id = $1 AND id = $2`,
		ws, epID).Scan(&held); err != nil {
		return false, 0, store.MapError(err)
	}
	if held.Valid && held.Time.After(now) {
		return false, min(held.Time.Sub(now), busyWait), nil
	}
	until := now.Add(s.laneLease())
	res, err := s.db.W.ExecContext(ctx, `UPDATE webhook_endpoints SET lane_owner = $3, lane_until = $4
		WHERE workspace_id = $1 AND id = $2 AND (lane_until IS NULL OR lane_until < $5 OR lane_owner = $3)`,
		ws, epID, token, until, now)
	if err != nil {
		return false, 0, fmt.Errorf("take webhook lane: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, 0, nil
	}
	return false, busyWait, nil // taken between the read and the write
}

func (s *Service) release(l *lane) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.db.W.ExecContext(ctx, `UPDATE webhook_endpoints SET lane_owner = NULL, lane_until = NULL
		WHERE workspace_id = $1 AND id = $2 AND lane_owner = $3`, l.ws, l.id, l.token); err != nil {
		// The lease runs out by itself; only the next sender waits for it.
		s.log.Warn("release webhook lane", "endpoint_id", l.id, "error", err)
	}
}

// renew extends the lease before a send if less than two request timeouts
// are left, so the lease cannot pass while a request is on the wire.
func (s *Service) renew(ctx context.Context, l *lane) error {
	now := s.now()
	if l.until.Sub(now) > 2*s.opts.Timeout {
		return nil
	}
	until := now.Add(s.laneLease())
	res, err := s.db.W.ExecContext(ctx, `UPDATE webhook_endpoints SET lane_until = $4
		WHERE workspace_id = $1 AND id = $2 AND lane_owner = $3`, l.ws, l.id, l.token, until)
	if err != nil {
		return fmt.Errorf("renew webhook lane: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errors.New("webhook lane lost")
	}
	l.until = until
	return nil
}

// head is the first pending delivery of a lane.
type head struct {
	id, eventID, eventType string
	attempts               int
	due                    time.Time
	payload                []byte
}

func (s *Service) head(ctx context.Context, ws, epID string) (*head, error) {
	var h head
	var payload string
	err := s.db.R.QueryRowContext(ctx, `SELECT d.id, d.event_id, e.type, d.attempts, d.next_attempt_at, e.payload
		FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id AND e.workspace_id = d.workspace_id
		WHERE d.workspace_id = $1 AND d.endpoint_id = $2 AND d.state = 'pending'
		ORDER BY d.seq LIMIT 1`, ws, epID).Scan(&h.id, &h.eventID, &h.eventType, &h.attempts, &h.due, &payload)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read webhook lane: %w", err)
	}
	h.payload = []byte(payload)
	return &h, nil
}

// pump sends the endpoint's due deliveries in order while they succeed. It
// returns the head it stopped at ("" when the lane is empty or busy) and how
// long until it is due.
func (s *Service) pump(ctx context.Context, ws, epID string) (string, time.Duration, error) {
	for {
		headID, wait, empty, err := s.pumpOnce(ctx, ws, epID)
		if err != nil || !empty {
			return headID, wait, err
		}
		// A job that found the lane busy just before the release waits
		// busyWait, trusting that this run sends its delivery. Look once
		// more after the release, so a delivery committed during the last
		// moments of this run is not left to that wait.
		h, err := s.head(ctx, ws, epID)
		if err != nil || h == nil {
			return "", 0, err
		}
	}
}

// pumpOnce holds the lane for one run; empty means it found no pending
// delivery left before it released the lane.
func (s *Service) pumpOnce(ctx context.Context, ws, epID string) (headID string, wait time.Duration, empty bool, err error) {
	l := &lane{ws: ws, id: epID, token: id.New()}
	ok, wait, err := s.acquire(ctx, ws, epID, l.token)
	if err != nil || !ok {
		return "", wait, false, err
	}
	l.until = s.now().Add(s.laneLease())
	defer s.release(l)

	var sealed []byte
	var disabled sql.NullTime
	if err := s.db.R.QueryRowContext(ctx, `SELECT url, secret, disabled_at FROM webhook_endpoints WHERE workspace_id = $1 AND id = $2`,
		ws, epID).Scan(&l.url, &sealed, &disabled); err != nil {
		return "", 0, false, store.MapError(err)
	}
	if disabled.Valid {
		return "", disabledWait, false, nil
	}
	secret, err := s.keys.OpenSecret(ws, secretLabel(epID), sealed)
	if err != nil {
		return "", 0, false, err
	}
	l.secret = string(secret)

	deadline := time.Now().Add(pumpBudget)
	for range pumpBatch {
		if time.Now().After(deadline) {
			break
		}
		h, err := s.head(ctx, ws, epID)
		if err != nil || h == nil {
			return "", 0, h == nil && err == nil, err
		}
		if wait := h.due.Sub(s.now()); wait > 0 {
			return h.id, wait, false, nil
		}
		if err := s.renew(ctx, l); err != nil {
			return "", 0, false, err
		}
		started := s.now()
		t0 := time.Now()
		status, sendErr := s.send(ctx, l, h, started)
		took := time.Since(t0)
		if sendErr != nil && ctx.Err() != nil {
			// Stopping (or out of time): not the receiver's fault, so no
			// attempt is charged and the job is released.
			return "", 0, false, ctx.Err()
		}
		next, err := s.record(ctx, ws, h, started, took, status, sendErr)
		if err != nil {
			return "", 0, false, err
		}
		if sendErr != nil && !next.IsZero() {
			s.log.Warn("webhook delivery failed; will retry", "delivery_id", h.id, "endpoint_id", epID,
				"attempt", h.attempts+1, "status", status, "error", sendErr, "retry_at", next)
			return h.id, next.Sub(s.now()), false, nil
		}
		if sendErr != nil {
			s.log.Error("webhook delivery failed for good (dead)", "delivery_id", h.id, "endpoint_id", epID,
				"attempt", h.attempts+1, "status", status, "error", sendErr)
		}
	}
	return "", 0, false, nil
}

// Sign returns the Fairlead-Signature header value for body at time t:
// t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// send makes one request. The error never quotes the receiver's body or
// the URL (whose query may hold a receiver's token).
func (s *Service) send(ctx context.Context, l *lane, h *head, now time.Time) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(h.payload))
	if err != nil {
		return 0, errors.New("the endpoint URL cannot be requested")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "fairlead-webhook/1")
	req.Header.Set("Fairlead-Event-Id", h.eventID)
	req.Header.Set("Fairlead-Event-Type", h.eventType)
	req.Header.Set("Fairlead-Delivery-Id", h.id)
	req.Header.Set("Fairlead-Signature", Sign(l.secret, now, h.payload))
	res, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("request failed: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxBody))
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.StatusCode, fmt.Errorf("receiver answered %d %s", res.StatusCode, http.StatusText(res.StatusCode))
	}
	return res.StatusCode, nil
}

func errText(err error) string {
	s := strings.ToValidUTF8(strings.ReplaceAll(err.Error(), "\x00", ""), "\uFFFD")
	if len(s) > maxErr {
		n := maxErr
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}

// record logs an attempt and moves the delivery on: delivered, due again
// after the backoff (returned), or dead. It is saved even when ctx ends
// during the write, because the request went out.
func (s *Service) record(ctx context.Context, ws string, h *head, started time.Time, took time.Duration, status int, sendErr error) (time.Time, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := s.now()
	attempt := h.attempts + 1
	var statusV, errV any
	if status != 0 {
		statusV = status
	}
	if sendErr != nil {
		errV = errText(sendErr)
	}
	var next time.Time
	err := s.db.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (workspace_id, id, delivery_id, started_at, duration_ms, status_code, error)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, ws, id.New(), h.id, started, took.Milliseconds(), statusV, errV); err != nil {
			return err
		}
		var err error
		switch {
		case sendErr == nil:
			_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'delivered', attempts = $3, last_status = $4,
				last_error = NULL, delivered_at = $5, updated_at = $5 WHERE workspace_id = $1 AND id = $2 AND state = 'pending'`,
				ws, h.id, attempt, statusV, now)
		case attempt >= s.opts.MaxAttempts:
			_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = 'dead', attempts = $3, last_status = $4,
				last_error = $5, updated_at = $6 WHERE workspace_id = $1 AND id = $2 AND state = 'pending'`,
				ws, h.id, attempt, statusV, errV, now)
		default:
			next = now.Add(s.opts.Backoff(attempt))
			_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = $3, last_status = $4, last_error = $5,
				next_attempt_at = $6, updated_at = $7 WHERE workspace_id = $1 AND id = $2 AND state = 'pending'`,
				ws, h.id, attempt, statusV, errV, next, now)
		}
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("record webhook attempt: %w", err)
	}
	return next, nil
}
