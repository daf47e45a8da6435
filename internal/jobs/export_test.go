package jobs

import "context"

// ClaimForTest claims up to n jobs the way a running node does and then
// forgets them, as a node does that dies right after claiming: nothing
// renews their lease or records a result.
func (q *Queue) ClaimForTest(ctx context.Context, n int) ([]Job, error) {
	q.mu.Lock()
	q.prepareClaim()
	q.mu.Unlock()
	claimed, err := q.claim(ctx, n)
	if err != nil {
		return nil, err
	}
	out := make([]Job, len(claimed))
	q.mu.Lock()
	for i, f := range claimed {
		delete(q.inflight, f.job.ID)
		out[i] = f.job
	}
	q.mu.Unlock()
	return out, nil
}

// RescueForTest runs one lease rescue now.
func (q *Queue) RescueForTest(ctx context.Context) (int, error) { return q.rescue(ctx) }

// CleanupForTest runs one clean-up now.
func (q *Queue) CleanupForTest(ctx context.Context) (int, error) { return q.cleanup(ctx) }
