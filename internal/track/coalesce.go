package track

import (
	"context"
	"sync"
	"time"
)

// Coalescer joins calls that arrive while the workspace's previous batch
// is being written into one batch: one engine read for all their contacts
// and one transaction, instead of one of each per script request. It adds
// no wait of its own — a call that finds nothing running is written at
// once — so a lone request is as fast as without it.
type Coalescer struct {
	s  *Service
	mu sync.Mutex
	qs map[string]*queue
}

type pending struct {
	in   []Incoming
	done chan result
}

type result struct {
	branches []Branch
	err      error
}

type queue struct{ waiting []*pending }

// NewCoalescer coalesces calls to s.
func NewCoalescer(s *Service) *Coalescer { return &Coalescer{s: s, qs: map[string]*queue{}} }

// Ingest is Service.Ingest for one caller among many; it returns the branch
// of each of the caller's events.
func (c *Coalescer) Ingest(ctx context.Context, ws string, in []Incoming) ([]Branch, error) {
	// Bad input is refused before it can spoil a shared batch.
	if err := check(ws, in); err != nil {
		return nil, err
	}
	p := &pending{in: in, done: make(chan result, 1)}
	c.mu.Lock()
	q, running := c.qs[ws]
	if !running {
		q = &queue{}
		c.qs[ws] = q
	}
	q.waiting = append(q.waiting, p)
	c.mu.Unlock()
	if !running {
		// This caller writes, for itself and whoever queues meanwhile.
		go c.run(ws, q)
	}
	select {
	case r := <-p.done:
		return r.branches, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Coalescer) run(ws string, q *queue) {
	for {
		c.mu.Lock()
		n, take := 0, 0
		for take < len(q.waiting) && (take == 0 || n+len(q.waiting[take].in) <= MaxBatch) {
			n += len(q.waiting[take].in)
			take++
		}
		batch := q.waiting[:take:take]
		q.waiting = q.waiting[take:]
		if len(batch) == 0 {
			delete(c.qs, ws)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		// The callers may give up; the write still completes, as a single
		// call's would.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		all := make([]Incoming, 0, n)
		for _, p := range batch {
			all = append(all, p.in...)
		}
		branches, _, err := c.s.ingest(ctx, ws, all, nil)
		if err != nil && len(batch) > 1 {
			// One caller's event (an erased contact) spoils the batch:
			// write each alone, so only that caller gets the error.
			for _, p := range batch {
				br, _, err := c.s.ingest(ctx, ws, p.in, nil)
				p.done <- result{br, err}
			}
			cancel()
			continue
		}
		cancel()
		off := 0
		for _, p := range batch {
			if err != nil {
				p.done <- result{nil, err}
				continue
			}
			p.done <- result{branches[off : off+len(p.in)], nil}
			off += len(p.in)
		}
	}
}
