package webhook_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/webhook"
)

// BenchmarkDeliveries queues b.N deliveries (events committed 100 per
// transaction) for one or four endpoints on a real receiver on loopback,
// then starts a queue with four workers (BENCH_CONC overrides) and
// measures until every delivery is recorded as delivered (deliveries/s:
// signing, the HTTP round trip, the attempt log) and until every delivery
// job has completed too (s-until-jobs-closed: the jobs of deliveries queued
// behind others start followerDelay late and only close what was sent). One endpoint is one lane, so
// its deliveries go one at a time; four endpoints can use all four workers.
func BenchmarkDeliveries(b *testing.B) {
	for _, d := range testdb.Backends {
		for _, endpoints := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/endpoints=%d", d, endpoints), func(b *testing.B) {
				ctx := context.Background()
				conc := 4
				if v := os.Getenv("BENCH_CONC"); v != "" {
					conc, _ = strconv.Atoi(v)
				}
				db := testdb.Open(b, d)
				ws := newWorkspace(b, db)
				var got atomic.Int64
				rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					got.Add(1)
					w.WriteHeader(http.StatusNoContent)
				}))
				b.Cleanup(rc.Close)
				svc := webhook.New(db, newKeys(b, db), webhook.Options{AllowPrivate: true, Logger: slog.New(slog.DiscardHandler)})
				for i := range endpoints {
					createEndpoint(b, svc, ws, fmt.Sprintf("%s/hook/%d", rc.URL, i), webhook.TypeContactErased)
				}
				events := (b.N + endpoints - 1) / endpoints
				for left := events; left > 0; left -= 100 {
					if err := db.Tx(ctx, func(tx store.Tx) error {
						for range min(left, 100) {
							if err := svc.Notify(ctx, tx, ws, webhook.TypeContactErased, id.New(), map[string]any{"ledger_event_id": id.New()}); err != nil {
								return err
							}
						}
						return nil
					}); err != nil {
						b.Fatal(err)
					}
				}
				total := events * endpoints
				q := jobs.New(db, jobs.Options{Concurrency: conc, Logger: slog.New(slog.DiscardHandler)})
				svc.Register(q)
				b.ResetTimer()
				began := time.Now()
				if err := q.Start(ctx); err != nil {
					b.Fatal(err)
				}
				defer func() {
					sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
					_ = q.Stop(sctx)
				}()
				deadline := time.Now().Add(10 * time.Minute)
				var firstAll time.Time
				for {
					var n, done int
					if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE workspace_id = $1 AND state = 'delivered'`, ws).Scan(&n); err != nil {
						b.Fatal(err)
					}
					if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE workspace_id = $1 AND state = 'completed'`, ws).Scan(&done); err != nil {
						b.Fatal(err)
					}
					if n == total && firstAll.IsZero() {
						firstAll = time.Now()
					}
					if n == total && done == total {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("%d of %d delivered, %d jobs completed", n, total, done)
					}
					time.Sleep(2 * time.Millisecond)
				}
				all := time.Since(began)
				b.StopTimer()
				b.ReportMetric(float64(total)/firstAll.Sub(began).Seconds(), "deliveries/s")
				b.ReportMetric(all.Seconds(), "s-until-jobs-closed")
				b.ReportMetric(float64(got.Load())/float64(total), "requests/delivery")
			})
		}
	}
}
