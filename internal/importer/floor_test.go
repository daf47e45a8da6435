package importer_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// BenchmarkContactsFloor measures what SQLite alone (modernc, WAL,
// synchronous NORMAL, the import benchmark's 512 MiB page cache) takes to
// write contact rows — the floor under any import: multi-row INSERTs of
// 400 rows with one prepared statement, a random blind index per row (as
// HMACs are), time-ordered IDs, a 200-byte sealed record. The tables:
// contacts as migrated (its indexes), the same columns with only the
// unique e-mail index, and with no secondary index. b.N is the number of
// rows; run it with -benchtime 200000x. cpu-us/row is the process's CPU
// time (user + system) per row.
//
//	go test -run '^$' -bench ContactsFloor -benchtime 200000x ./internal/importer/
func BenchmarkContactsFloor(b *testing.B) {
	for _, name := range []string{"schema", "email_only", "no_index"} {
		for _, perTx := range []int{1000, 20000} {
			b.Run(fmt.Sprintf("%s/tx=%d", name, perTx), func(b *testing.B) {
				db := testdb.Open(b, store.SQLite)
				ctx := context.Background()
				if _, err := db.W.ExecContext(ctx, `PRAGMA cache_size = -524288`); err != nil {
					b.Fatal(err)
				}
				ws := id.New()
				if _, err := db.W.ExecContext(ctx, `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, 'F', $3)`, ws, "floor-"+ws[24:], time.Now()); err != nil {
					b.Fatal(err)
				}
				table := "contacts"
				if name != "schema" {
					table = "floor_contacts"
					unique := ""
					if name == "email_only" {
						unique = ", UNIQUE (workspace_id, email_index)"
					}
					if _, err := db.W.ExecContext(ctx, `CREATE TABLE floor_contacts (id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, audience TEXT NOT NULL,
						relationship TEXT NOT NULL, data_source TEXT NOT NULL, sealed BLOB NOT NULL, email_index TEXT, phone_index TEXT,
						created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL`+unique+`)`); err != nil {
						b.Fatal(err)
					}
				}
				const per = 400
				q := `INSERT INTO ` + table + ` (id, workspace_id, audience, relationship, data_source, sealed, email_index, phone_index, created_at, updated_at) VALUES ` + store.Values(db.Dialect, per, 10)
				sealed := make([]byte, 200)
				now := time.Now().UTC()
				mac := make([]byte, 32)
				args := make([]any, 0, per*10)
				b.ResetTimer()
				cpu0 := cpuTime()
				for done := 0; done < b.N; {
					n := min(perTx, b.N-done)
					err := db.Tx(ctx, func(tx store.Tx) error {
						st := store.NewStmtCache(tx)
						defer st.Close()
						for i := 0; i < n; i += per {
							args = args[:0]
							rows := min(per, n-i)
							for r := 0; r < rows; r++ {
								rand.Read(mac)
								args = append(args, id.NewAt(now), ws, "b2c", "prospect", "self_provided", sealed, hex.EncodeToString(mac), nil, now, now)
							}
							var err error
							if rows == per {
								_, err = st.ExecContext(ctx, q, args...)
							} else {
								_, err = tx.ExecContext(ctx, `INSERT INTO `+table+` (id, workspace_id, audience, relationship, data_source, sealed, email_index, phone_index, created_at, updated_at) VALUES `+store.Values(db.Dialect, rows, 10), args...)
							}
							if err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
					done += n
				}
				b.StopTimer()
				// The machine is shared: the process's CPU time per row is
				// the figure that holds still.
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/row")
			})
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
