package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/web"
)

// JobQueue is the part of the job queue the API shows: visibility of a
// workspace's jobs, retry and cancel.
type JobQueue interface {
	List(ctx context.Context, workspaceID string, p jobs.ListParams) ([]jobs.Job, error)
	Get(ctx context.Context, workspaceID, jobID string) (jobs.Job, error)
	Attempts(ctx context.Context, workspaceID, jobID string) ([]jobs.Attempt, error)
	Retry(ctx context.Context, workspaceID, jobID string) (jobs.Job, error)
	Cancel(ctx context.Context, workspaceID, jobID string) (jobs.Job, error)
}

var jobStates = []string{"available", "running", "completed", "dead", "cancelled"}

func (a *API) listJobs(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	lp := jobs.ListParams{State: jobs.State(q.Get("state")), Kind: q.Get("kind"), Limit: 100}
	if lp.State != "" && !slices.Contains(jobStates, string(lp.State)) {
		return validate.OneOf("state", string(lp.State), jobStates)
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			return validate.Invalid("limit", "limit must be a whole number from 1 to 500")
		}
		lp.Limit = n
	}
	list, err := a.Jobs.List(r.Context(), p.WorkspaceID, lp)
	if err != nil {
		return err
	}
	if list == nil {
		list = []jobs.Job{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"jobs": list})
	return nil
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	j, err := a.Jobs.Get(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	at, err := a.Jobs.Attempts(r.Context(), p.WorkspaceID, j.ID)
	if err != nil {
		return err
	}
	if at == nil {
		at = []jobs.Attempt{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"job": j, "attempts": at})
	return nil
}

func jobStateError(err error) error {
	if errors.Is(err, jobs.ErrJobState) {
		return &web.Error{Status: http.StatusConflict, Code: "job_state", Message: err.Error()}
	}
	return err
}

func (a *API) retryJob(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if _, err := a.Jobs.Retry(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return jobStateError(err)
	}
	return a.getJob(w, r, p)
}

func (a *API) cancelJob(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if _, err := a.Jobs.Cancel(r.Context(), p.WorkspaceID, r.PathValue("id")); err != nil {
		return jobStateError(err)
	}
	return a.getJob(w, r, p)
}
