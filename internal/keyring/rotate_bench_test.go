package keyring

import (
	"context"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/workspace"
)

// BenchmarkRotate measures `keys rotate` on 10,000 contact keys per
// iteration (batches of 500), from K1 to K2.
func BenchmarkRotate(b *testing.B) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(d), func(b *testing.B) {
			const n = 10_000
			ctx := context.Background()
			db := testdb.Open(b, d)
			ws, err := workspace.Create(ctx, db.W, "bench", "Bench", time.Now())
			if err != nil {
				b.Fatal(err)
			}
			a, err := New(db, k1, nil)
			if err != nil {
				b.Fatal(err)
			}
			err = db.Tx(ctx, func(tx store.Tx) error {
				kt := a.WithTx(tx)
				for i := 0; i < n; i++ {
					if err := kt.CreateKey(ctx, ws.ID, id.New()); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			keys := [][]byte{k1, k2}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k, err := Open(ctx, db, Options{Master: keys[(i+1)%2], Previous: keys[i%2]})
				if err != nil {
					b.Fatal(err)
				}
				rep, err := k.Rotate(ctx, 500, nil)
				if err != nil || rep.Rewrapped != n {
					b.Fatalf("%+v %v", rep, err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}
