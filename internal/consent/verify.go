package consent

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
)

// Problems that Verify reports.
const (
	ProblemMissing      = "missing_event" // a seq is absent: a deleted row
	ProblemHashMismatch = "hash_mismatch" // a row was changed or moved
	ProblemHeadMismatch = "head_mismatch" // the head disagrees with the last row
)

// Break is the first broken link of a chain.
type Break struct {
	Seq     int64  `json:"seq"`
	EventID string `json:"event_id,omitempty"`
	Problem string `json:"problem"`
	Message string `json:"message"`
}

// Report is the result of verifying one workspace's chain.
type Report struct {
	WorkspaceID string `json:"workspace_id"`
	Events      int64  `json:"events"`
	HeadSeq     int64  `json:"head_seq"`
	OK          bool   `json:"ok"`
	Break       *Break `json:"break,omitempty"`
}

// Verify recomputes the workspace's hash chain from the first event and
// reports the first broken or missing link: a seq gap (deleted row), a row
// whose hash does not match its columns (changed row, or rows whose seq
// were swapped), or a chain head that disagrees with the last row (deleted
// tail). It reads one consistent snapshot and streams the rows.
func (l *Ledger) Verify(ctx context.Context, ws string) (Report, error) {
	rep := Report{WorkspaceID: ws}
	if !id.Valid(ws) {
		return rep, store.ErrNotFound
	}
	var opts *sql.TxOptions
	if l.db.Dialect == store.Postgres {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	tx, err := l.db.R.BeginTx(ctx, opts)
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	defer tx.Rollback()

	var headSeq int64
	var headHash []byte
	var headMAC sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT seq, hash, mac FROM ledger_heads WHERE workspace_id = $1`, ws).Scan(&headSeq, &headHash, &headMAC)
	haveHead := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return rep, fmt.Errorf("verify: read head: %w", err)
	}
	rep.HeadSeq = headSeq

	rs, err := tx.QueryContext(ctx, `SELECT `+rowCols+` FROM ledger_events WHERE workspace_id = $1 ORDER BY seq`, ws)
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	defer rs.Close()
	prev := genesis
	var expect int64 = 1
	// The exact text shown is stored once per workspace outside the chain;
	// the chain holds its SHA-256, so each referenced text is checked too.
	texts := map[string]*row{}
	var textOrder []string
	for rs.Next() {
		r, err := scanRow(rs)
		if err != nil {
			return rep, err
		}
		rep.Events++
		if rep.Break != nil {
			continue // count the rest
		}
		switch {
		case r.Seq != expect:
			rep.Break = &Break{Seq: expect, EventID: r.ID, Problem: ProblemMissing,
				Message: fmt.Sprintf("seq %d is missing: the next row is event %s at seq %d (a row was deleted)", expect, r.ID, r.Seq)}
		case !bytes.Equal(chainHash(prev, r), r.Hash):
			rep.Break = &Break{Seq: r.Seq, EventID: r.ID, Problem: ProblemHashMismatch,
				Message: fmt.Sprintf("event %s at seq %d does not match its hash: a column was changed, or rows were reordered", r.ID, r.Seq)}
		default:
			prev = r.Hash
			expect++
			if h := textRef(r); h != "" {
				if _, seen := texts[h]; !seen {
					texts[h] = r
					textOrder = append(textOrder, h)
				}
			}
		}
	}
	if err := rs.Err(); err != nil {
		return rep, err
	}
	last := expect - 1
	if rep.Break == nil {
		switch {
		case !haveHead && last > 0:
			rep.Break = &Break{Seq: last, Problem: ProblemHeadMismatch, Message: "the chain head of this workspace is missing"}
		case haveHead && headSeq > last:
			rep.Break = &Break{Seq: last + 1, Problem: ProblemMissing,
				Message: fmt.Sprintf("seq %d to %d are missing: the chain head says %d events (rows were deleted at the end)", last+1, headSeq, headSeq)}
		case haveHead && headSeq < last:
			rep.Break = &Break{Seq: headSeq + 1, Problem: ProblemHeadMismatch,
				Message: fmt.Sprintf("the chain head says %d events but rows go up to seq %d", headSeq, last)}
		case haveHead && last > 0 && !bytes.Equal(headHash, prev):
			rep.Break = &Break{Seq: last, Problem: ProblemHeadMismatch,
				Message: fmt.Sprintf("the chain head's hash %s does not match the last event's hash", hex.EncodeToString(headHash))}
		}
	}
	if rep.Break == nil && haveHead && headSeq > 0 && (!headMAC.Valid || headMAC.String != l.headMAC(ws, headSeq, headHash)) {
		rep.Break = &Break{Seq: headSeq, Problem: ProblemHeadMismatch,
			Message: "the chain head is not sealed by this installation's master key: it was rewritten outside fairlead (events may have been cut off the end)"}
	}
	if rep.Break == nil {
		for _, h := range textOrder {
			var body string
			err := tx.QueryRowContext(ctx, `SELECT body FROM evidence_texts WHERE workspace_id = $1 AND hash = $2`, ws, h).Scan(&body)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return rep, fmt.Errorf("verify: read evidence text: %w", err)
			}
			if err != nil || textHash(body) != h {
				r := texts[h]
				rep.Break = &Break{Seq: r.Seq, EventID: r.ID, Problem: ProblemHashMismatch,
					Message: fmt.Sprintf("the text shown for event %s at seq %d is missing or was changed", r.ID, r.Seq)}
				break
			}
		}
	}
	rep.OK = rep.Break == nil
	return rep, nil
}

// textRef is the SHA-256 of the text shown that an event's evidence names.
func textRef(r *row) string {
	var e storedEvidence
	if emptyJSON(r.Ev) || json.Unmarshal([]byte(r.Ev), &e) != nil {
		return ""
	}
	return e.TextSHA256
}
