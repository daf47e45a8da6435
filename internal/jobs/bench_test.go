package jobs_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// BenchmarkEnqueue measures one enqueue in its own transaction, the way a
// request handler enqueues next to its own write.
func BenchmarkEnqueue(b *testing.B) {
	for _, d := range testdb.Backends {
		b.Run(string(d), func(b *testing.B) {
			ctx := context.Background()
			db := testdb.Open(b, d)
			ws := newWorkspace(b, db)
			p := jobs.EnqueueParams{WorkspaceID: ws, Kind: "mail", Args: map[string]string{"lead": "l-1", "template": "welcome"}}
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				err := db.Tx(ctx, func(tx store.Tx) error {
					_, err := jobs.Enqueue(ctx, tx, p)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
		})
	}
}

// BenchmarkThroughput enqueues b.N no-op jobs (100 per transaction) into a
// running queue and measures until all have completed.
func BenchmarkThroughput(b *testing.B) {
	for _, d := range testdb.Backends {
		for _, conc := range []int{4, 16} {
			b.Run(fmt.Sprintf("%s/concurrency=%d", d, conc), func(b *testing.B) {
				ctx := context.Background()
				db := testdb.Open(b, d)
				ws := newWorkspace(b, db)
				var done atomic.Int64
				all := make(chan struct{})
				n := int64(b.N)
				q := jobs.New(db, jobs.Options{Concurrency: conc, Logger: slog.New(slog.DiscardHandler)})
				q.Register("noop", func(ctx context.Context, j *jobs.Job) error {
					if done.Add(1) == n {
						close(all)
					}
					return nil
				}, jobs.KindOptions{})
				start(b, q)
				b.ResetTimer()
				began := time.Now()
				for left := b.N; left > 0; left -= 100 {
					err := db.Tx(ctx, func(tx store.Tx) error {
						for range min(left, 100) {
							if _, err := q.Enqueue(ctx, tx, jobs.EnqueueParams{WorkspaceID: ws, Kind: "noop"}); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				select {
				case <-all:
				case <-time.After(5 * time.Minute):
					b.Fatalf("only %d of %d jobs completed", done.Load(), b.N)
				}
				// The handler counts before the result is saved; wait for the
				// last results so that the figure includes them.
				waitFor(b, "results saved", func() bool { return q.Stats().Completed == uint64(b.N) })
				b.StopTimer()
				b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "jobs/s")
			})
		}
	}
}
