package lead

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/fairlead/fairlead/internal/store"
)

// A recompute that rewrites most of lead_state fills its score index once
// at the end instead of row by row (SQLite only). A state row's entry in
// lead_state_score sits at its score, so a batch of contacts in ID order
// puts its entries on pages all over that index: at 100,000 contacts it
// was a third of the CPU of a full recompute, while building the index
// from the finished table is one sorted pass. lead_state_stage stays: its
// entries of a batch in ID order append at one place per stage, cheaper
// than sorting them afresh. The price: from the recompute's first
// transaction to its last the score index is missing, for every workspace
// of the database, and a preview with a score leaf reads the table instead
// (the same counts, slower).

// reindexed are the indexes a large recompute drops and builds again.
var reindexed = []string{"lead_state_score"}

// reindexedDefs are those indexes as the migrations make them: a recompute
// whose process was killed between the drop and the build leaves its index
// missing, and RepairIndexes makes it from these (TestReindexedDefsAreTheSchema
// keeps them equal to the schema).
var reindexedDefs = map[string]string{
	"lead_state_score": `CREATE INDEX lead_state_score ON lead_state (workspace_id, fit, eng_log)`,
}

// RepairIndexes makes the indexes a recompute drops when they are missing
// and no recompute of this process has them dropped: after a process was
// killed in the middle of a large recompute. Start-up calls it, and every
// recompute before it starts.
func RepairIndexes(ctx context.Context, db *store.DB) error {
	if db.Dialect != store.SQLite || reindexing.Load() > 0 {
		return nil
	}
	for _, name := range reindexed {
		var n int
		if err := db.R.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = $1`, name).Scan(&n); err != nil {
			return fmt.Errorf("lead: look for index %s: %w", name, err)
		}
		if n > 0 {
			continue
		}
		if err := buildIndexes(ctx, db, []string{reindexedDefs[name]}); err != nil {
			return err
		}
	}
	return nil
}

// reindexing counts this process's recomputes that have dropped the
// indexes: RepairIndexes must not make them again under their feet.
var reindexing atomic.Int32

// reindexMin is the fewest rows a recompute must be expected to write
// before it drops the indexes; below it, maintaining them row by row is
// cheaper than rebuilding them.
var reindexMin = 50_000

// stateIndexes returns the CREATE statements of the reindexed indexes as
// the schema holds them (whatever migration made them last); a unique
// index is never dropped, so no constraint is off meanwhile.
func (s *Service) stateIndexes(ctx context.Context, q store.Querier) ([]string, error) {
	var out []string
	for _, name := range reindexed {
		var stmt string
		err := q.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'lead_state' AND name = $1 AND sql IS NOT NULL`, name).Scan(&stmt)
		if store.MapError(err) == store.ErrNotFound {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("lead: state indexes: %w", err)
		}
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(stmt)), "CREATE INDEX ") {
			out = append(out, stmt)
		}
	}
	return out, nil
}

// indexName is the name in "CREATE INDEX name ON ...".
func indexName(create string) string {
	f := strings.Fields(create)
	if len(f) < 3 {
		return ""
	}
	return f[2]
}

// shouldReindex says whether this recompute rewrites enough of lead_state
// to fill its indexes afterwards: judged from the first batch's share of
// changed contacts over the workspace's contacts, against all rows of the
// table (the indexes hold every workspace).
func (s *Service) shouldReindex(ctx context.Context, ws string, first []pending) (bool, error) {
	if s.DB.Dialect != store.SQLite || s.KeepIndexes || len(first) == 0 {
		return false, nil
	}
	changed := 0
	for _, pd := range first {
		if pd.changed {
			changed++
		}
	}
	if 2*changed < len(first) {
		return false, nil
	}
	var contacts, states int
	if err := s.DB.R.QueryRowContext(ctx, `SELECT count(*) FROM contacts WHERE workspace_id = $1`, ws).Scan(&contacts); err != nil {
		return false, fmt.Errorf("lead: count contacts: %w", err)
	}
	expect := contacts * changed / len(first)
	if expect < reindexMin {
		return false, nil
	}
	// Deliberately over all workspaces: the index is shared, and what
	// matters is how much of it this recompute rewrites. Only the number
	// leaves the query.
	if err := s.DB.R.QueryRowContext(ctx, `SELECT count(*) FROM lead_state`).Scan(&states); err != nil {
		return false, fmt.Errorf("lead: count states: %w", err)
	}
	return 2*expect >= states, nil
}

// dropIndexes drops the indexes in q; createIndexes makes them again.
func dropIndexes(ctx context.Context, q store.Querier, creates []string) error {
	for _, c := range creates {
		if _, err := q.ExecContext(ctx, `DROP INDEX IF EXISTS `+indexName(c)); err != nil {
			return fmt.Errorf("lead: drop index %s: %w", indexName(c), err)
		}
	}
	return nil
}

func createIndexes(ctx context.Context, q store.Querier, creates []string) error {
	for _, c := range creates {
		stmt := strings.Replace(c, "CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
		if _, err := q.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("lead: create index %s: %w", indexName(c), err)
		}
	}
	return nil
}

// buildIndexes makes the indexes in a write transaction of their own, with
// their sort on helper threads.
func buildIndexes(ctx context.Context, db *store.DB, creates []string) error {
	restore, err := sortInParallel(ctx, db.W)
	if err != nil {
		return err
	}
	err = db.TxCached(ctx, func(q store.Querier) error { return createIndexes(ctx, q, creates) })
	if rerr := restore(); err == nil {
		err = rerr
	}
	return err
}

// Building an index sorts the table's keys, and at 1,000,000 contacts that
// sort was two thirds of the build, which the recompute waits for at its
// end with nothing else to do. SQLite sorts with helper threads only when
// its temporary storage is files and the keys overflow the page cache:
// the statement then sorts pieces of buildSortPiece KiB on the helpers and
// merges them. temp_store MEMORY, the connection's setting, turns the
// helpers off, and the recompute's large page cache holds all the keys in
// one piece, sorted by one thread. The pieces go to unlinked temporary
// files in SQLite's temporary directory (SQLITE_TMPDIR or TMPDIR, else
// /var/tmp or /tmp): about 60 MB at 1,000,000 contacts, the workspace and
// contact IDs with the score values, no personal data.
const buildSortPiece = 8 << 10

// sortInParallel sets the write connection w (a pool of one) for a sort on
// helper threads and returns what sets it back. SQLite refuses to change
// temp_store inside a transaction once the connection has used its
// temporary database, so this runs before the build's transaction, and a
// writer that comes in between runs with these settings: the same results,
// a smaller page cache. Changing temp_store drops a connection's temporary
// tables; only a key restore makes any, on a restored copy's connection it
// holds for its whole run, so none exist here.
func sortInParallel(ctx context.Context, w *sql.DB) (restore func() error, err error) {
	var threads, tempStore, cache int
	for _, r := range []struct {
		pragma string
		dst    *int
	}{{"threads", &threads}, {"temp_store", &tempStore}, {"cache_size", &cache}} {
		if err := w.QueryRowContext(ctx, `PRAGMA `+r.pragma).Scan(r.dst); err != nil {
			return nil, fmt.Errorf("lead: index build setting %s: %w", r.pragma, err)
		}
	}
	set := func(ctx context.Context, threads, tempStore, cache int) error {
		for _, stmt := range []string{
			fmt.Sprintf(`PRAGMA threads = %d`, threads),
			fmt.Sprintf(`PRAGMA temp_store = %d`, tempStore),
			fmt.Sprintf(`PRAGMA cache_size = %d`, cache),
		} {
			if _, err := w.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("lead: index build setting: %w", err)
			}
		}
		return nil
	}
	// 1 is temp_store FILE; the helpers run beside the statement's own
	// thread.
	if err := set(ctx, min(runtime.NumCPU(), 4), 1, -buildSortPiece); err != nil {
		_ = set(context.WithoutCancel(ctx), threads, tempStore, cache)
		return nil, err
	}
	return func() error { return set(context.WithoutCancel(ctx), threads, tempStore, cache) }, nil
}
