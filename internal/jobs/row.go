package jobs

import (
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// jobColumns is the column list every job query selects or returns, in the
// order scanJob expects.
const jobColumns = `id, workspace_id, kind, args, state, attempt, max_attempts, run_at,
	locked_by, locked_until, last_error, unique_key, created_at, updated_at, finished_at`

const attemptColumns = `id, job_id, attempt, node, started_at, finished_at, outcome, error`

type rowScanner interface{ Scan(dest ...any) error }

func scanJob(r rowScanner) (Job, error) {
	var (
		j                              Job
		ws, lockedBy, lastErr, uniqKey sql.NullString
		args                           string
		runAt, created, updated        dbTimeScan
		lockedUntil, finished          dbTimeScan
	)
	err := r.Scan(&j.ID, &ws, &j.Kind, &args, &j.State, &j.Attempt, &j.MaxAttempts, &runAt,
		&lockedBy, &lockedUntil, &lastErr, &uniqKey, &created, &updated, &finished)
	if err != nil {
		return Job{}, err
	}
	j.WorkspaceID = ws.String
	j.Args = []byte(args)
	j.RunAt = runAt.t
	j.LockedBy = lockedBy.String
	j.LockedUntil = lockedUntil.ptr()
	j.LastError = lastErr.String
	j.UniqueKey = strings.TrimPrefix(uniqKey.String, keyPrefix(j.WorkspaceID, j.Kind))
	j.CreatedAt = created.t
	j.UpdatedAt = updated.t
	j.FinishedAt = finished.ptr()
	return j, nil
}

func scanAttempt(r rowScanner) (Attempt, error) {
	var (
		a                 Attempt
		errText           sql.NullString
		started, finished dbTimeScan
	)
	if err := r.Scan(&a.ID, &a.JobID, &a.Attempt, &a.Node, &started, &finished, &a.Outcome, &errText); err != nil {
		return Attempt{}, err
	}
	a.StartedAt = started.t
	a.FinishedAt = finished.ptr()
	a.Error = errText.String
	return a, nil
}

// dbTimeScan reads a timestamp column from either engine. PostgreSQL hands
// back time.Time; SQLite stores text and its driver converts only columns
// whose declared type it can see, which RETURNING clauses do not always
// carry, so text is parsed here as well.
type dbTimeScan struct {
	t     time.Time
	valid bool
}

// sqliteTimeFormats are the layouts the SQLite driver writes (with
// _time_format=sqlite) and that SQLite itself uses.
var sqliteTimeFormats = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

func (s *dbTimeScan) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*s = dbTimeScan{}
		return nil
	case time.Time:
		*s = dbTimeScan{t: x.UTC(), valid: true}
		return nil
	case string:
		return s.parse(x)
	case []byte:
		return s.parse(string(x))
	}
	return fmt.Errorf("cannot read %T as a timestamp", v)
}

func (s *dbTimeScan) parse(text string) error {
	for _, layout := range sqliteTimeFormats {
		if t, err := time.Parse(layout, text); err == nil {
			*s = dbTimeScan{t: t.UTC(), valid: true}
			return nil
		}
	}
	return fmt.Errorf("cannot parse timestamp %q", text)
}

func (s dbTimeScan) ptr() *time.Time {
	if !s.valid {
		return nil
	}
	t := s.t
	return &t
}

// placeholders returns "$from, $from+1, …" for n values.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", from+i)
	}
	return b.String()
}
