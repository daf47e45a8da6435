package store_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/store"
)

// A leader waits, at most Linger, for the callers Coming counts: one that
// arrives a moment later joins its batch; when nobody is counted, or the
// counted one does not come, the leader does not wait longer than that.
func TestBatcherLinger(t *testing.T) {
	t.Parallel()
	var coming atomic.Int64
	b := &store.Batcher[int]{Coming: func() int { return int(coming.Load()) }, Linger: 2 * time.Second}
	var mu sync.Mutex
	var sizes []int
	run := func(batch []int) {
		mu.Lock()
		sizes = append(sizes, len(batch))
		mu.Unlock()
	}
	coming.Store(2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.Do(1, run)
	}()
	for b.Waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	b.Do(2, run)
	wg.Wait()
	if len(sizes) != 1 || sizes[0] != 2 {
		t.Fatalf("batches %v, want one of 2: the leader did not wait for the caller on its way", sizes)
	}

	sizes = nil
	coming.Store(1)
	start := time.Now()
	b.Do(3, run)
	if d := time.Since(start); d > time.Second {
		t.Errorf("alone and nobody coming: the leader waited %v", d)
	}

	b.Linger = 30 * time.Millisecond
	coming.Store(5)
	start = time.Now()
	b.Do(4, run)
	if d := time.Since(start); d < 30*time.Millisecond || d > time.Second {
		t.Errorf("waiting for callers that do not come: %v, want the linger of 30ms", d)
	}
	if !b.Idle() {
		t.Error("not idle after all calls")
	}
}
