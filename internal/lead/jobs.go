package lead

import (
	"context"
	"fmt"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
)

// JobRecompute is the job kind that recomputes a workspace's scores.
const JobRecompute = "lead.recompute"

// Register registers the recompute job. A recompute of a large workspace
// takes minutes, so it runs without the default handler timeout and is
// not retried more than a few times.
func (s *Service) Register(q *jobs.Queue) {
	q.Register(JobRecompute, func(ctx context.Context, j *jobs.Job) error {
		_, err := s.Recompute(ctx, j.WorkspaceID)
		return err
	}, jobs.KindOptions{MaxAttempts: 3, Timeout: -1})
}

// EnqueueRecompute queues a recompute with the given rule version; a
// second request for the same version while one is queued is the same
// job.
func (s *Service) EnqueueRecompute(ctx context.Context, ws string, version int) (string, error) {
	if !id.Valid(ws) {
		return "", store.ErrNotFound
	}
	return jobs.Enqueue(ctx, s.DB.W, jobs.EnqueueParams{WorkspaceID: ws, Kind: JobRecompute, MaxAttempts: 3,
		UniqueKey: fmt.Sprintf("rules-v%d", version)})
}
