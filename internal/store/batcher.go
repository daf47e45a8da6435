package store

import (
	"sync"
	"time"
)

// Batcher lets concurrent callers have their work done in batches, by one
// of them at a time: a group commit without a background goroutine. The
// first caller to find nobody leading leads: it takes the waiting work (up
// to Max, its own first), runs it, and hands the lead to the first caller
// that queued meanwhile, so nobody waits for more than the batch in front
// of it and no goroutine outlives its caller. The zero value is ready;
// Max 0 means 64.
type Batcher[T any] struct {
	Max int
	// Coming, when set, counts the callers on their way to Do (or in
	// it). A leader that finds fewer queued waits for them, at most
	// Linger, before it takes the queue, so that work about to arrive
	// joins this batch instead of following alone in the next.
	Coming func() int
	Linger time.Duration

	mu      sync.Mutex
	queue   []*batched[T]
	leading bool
	// arrived is signalled when a caller queues behind a leader (Linger).
	arrived chan struct{}
}

// linger waits, at most Linger, until the callers Coming counts have
// queued (or max have).
func (b *Batcher[T]) linger(max int) {
	var t *time.Timer
	for {
		b.mu.Lock()
		queued := len(b.queue)
		if b.arrived == nil {
			b.arrived = make(chan struct{}, 1)
		}
		arrived := b.arrived
		b.mu.Unlock()
		if queued >= min(b.Coming(), max) {
			break
		}
		if t == nil {
			t = time.NewTimer(b.Linger)
			defer t.Stop()
		}
		select {
		case <-arrived:
		case <-t.C:
			return
		}
	}
}

type batched[T any] struct {
	v T
	// wake gets true when the caller is to lead, false when its work is done.
	wake chan bool
}

// Do queues v and returns once run has been called with a batch holding
// it. run is called by one caller at a time and must record each item's
// outcome in the item itself.
func (b *Batcher[T]) Do(v T, run func(batch []T)) {
	c := &batched[T]{v: v, wake: make(chan bool, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	if b.leading {
		if b.arrived != nil {
			select {
			case b.arrived <- struct{}{}:
			default:
			}
		}
		b.mu.Unlock()
		if !<-c.wake {
			return
		}
	} else {
		b.leading = true
		b.mu.Unlock()
	}
	// Leading: c heads the queue.
	max := b.Max
	if max <= 0 {
		max = 64
	}
	if b.Coming != nil && b.Linger > 0 {
		b.linger(max)
	}
	b.mu.Lock()
	n := min(len(b.queue), max)
	items := make([]*batched[T], n)
	copy(items, b.queue)
	b.queue = append(b.queue[:0], b.queue[n:]...)
	b.mu.Unlock()

	vs := make([]T, n)
	for i, it := range items {
		vs[i] = it.v
	}
	run(vs)

	b.mu.Lock()
	if len(b.queue) > 0 {
		next := b.queue[0]
		b.mu.Unlock()
		next.wake <- true
	} else {
		b.leading = false
		b.mu.Unlock()
	}
	for _, it := range items[1:] {
		it.wake <- false
	}
}

// Waiting is how many callers wait for a batch (tests).
func (b *Batcher[T]) Waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// Idle says nobody leads and nobody waits (tests).
func (b *Batcher[T]) Idle() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.leading && len(b.queue) == 0
}
