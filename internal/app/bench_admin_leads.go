package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
)

// benchStageMix is the share of generated contacts per stage, in percent
// of all contacts: the rest (60 %) were never scored and are visitors
// without a state row.
var benchStageMix = []struct {
	stage string
	pct   int
}{{"lead", 20}, {"marketing_qualified", 10}, {"sales_qualified", 5}, {"customer", 3}, {"disqualified", 2}}

// benchLeadStates gives the generated contacts lifecycle stages (lead_state
// rows written directly, as a recompute would leave them, 1,000 per
// statement) unless the workspace has some already, and saves two
// segments: a broad one (marketing and sales qualified, 15 %) and a rare
// one (customers, 3 %). It returns the segments' IDs, broad first.
func benchLeadStates(ctx context.Context, db *store.DB, ws string, ids []string) (broad, rare string, err error) {
	var have int
	if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM lead_state WHERE workspace_id = $1`, ws).Scan(&have); err != nil {
		return "", "", err
	}
	now := time.Now().UTC()
	if have == 0 {
		stageOf := func(i int) string {
			x := (i * 37) % 100 // spread the stages over the ID range
			acc := 60
			for _, m := range benchStageMix {
				if x < acc+m.pct && x >= acc {
					return m.stage
				}
				acc += m.pct
			}
			return ""
		}
		const per = 1000
		for start := 0; start < len(ids); start += per {
			var b strings.Builder
			b.WriteString(`INSERT INTO lead_state (workspace_id, contact_id, stage, score, score_ref_at, fit, eng_log, rule_version) VALUES `)
			// score_ref_at is microseconds on SQLite (migration 0030).
			var ref any = now
			if db.Dialect == store.SQLite {
				ref = now.UnixMicro()
			}
			args := []any{ws, ref}
			n := 0
			for i := start; i < min(start+per, len(ids)); i++ {
				st := stageOf(i)
				if st == "" {
					continue
				}
				if n > 0 {
					b.WriteString(",")
				}
				args = append(args, ids[i], st)
				fmt.Fprintf(&b, "($1, $%d, $%d, 0, $2, 0, NULL, 0)", len(args)-1, len(args))
				n++
			}
			if n == 0 {
				continue
			}
			if _, err := db.W.ExecContext(ctx, b.String(), args...); err != nil {
				return "", "", fmt.Errorf("generate lead states: %w", err)
			}
		}
	}
	// One contact in a hundred answered "how does our personalization
	// feel?", every tenth answer with a comment.
	var answers int
	if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM lead_feedback WHERE workspace_id = $1`, ws).Scan(&answers); err != nil {
		return "", "", err
	}
	if answers == 0 {
		const per = 500
		for start := 0; start < len(ids); start += per * 100 {
			var b strings.Builder
			b.WriteString(`INSERT INTO lead_feedback (id, workspace_id, contact_id, ref, rating, comment, created_at) VALUES `)
			args := []any{ws, now}
			for i, n := start, 0; i < min(start+per*100, len(ids)); i, n = i+100, n+1 {
				if n > 0 {
					b.WriteString(",")
				}
				comment := ""
				if n%10 == 0 {
					comment = "passt"
				}
				// i+n%100 spreads the answers over the stages (stageOf).
				args = append(args, id.New(), ids[min(i+n%100, len(ids)-1)], 1+n%5, comment)
				fmt.Fprintf(&b, "($%d, $1, $%d, 'campaign:bench:1', $%d, $%d, $2)", len(args)-3, len(args)-2, len(args)-1, len(args))
			}
			if _, err := db.W.ExecContext(ctx, b.String(), args...); err != nil {
				return "", "", fmt.Errorf("generate feedback: %w", err)
			}
		}
	}
	save := func(name string, filter any) (string, error) {
		var sid string
		err := db.R.QueryRowContext(ctx, `SELECT id FROM lead_segments WHERE workspace_id = $1 AND name = $2`, ws, name).Scan(&sid)
		if err == nil {
			return sid, nil
		}
		raw, _ := json.Marshal(filter)
		sid = id.New()
		_, err = db.W.ExecContext(ctx, `INSERT INTO lead_segments (id, workspace_id, name, filter, created_by, created_at, updated_at) VALUES ($1,$2,$3,$4,'bench',$5,$5)`,
			sid, ws, name, string(raw), now)
		return sid, err
	}
	if broad, err = save("bench qualified", map[string]any{"field": "stage", "op": "in", "values": []string{"marketing_qualified", "sales_qualified"}}); err != nil {
		return "", "", err
	}
	if rare, err = save("bench customers", map[string]any{"field": "stage", "op": "eq", "value": "customer"}); err != nil {
		return "", "", err
	}
	return broad, rare, nil
}
