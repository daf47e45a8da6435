// Package workspace holds tenants. Every row of workspace data carries a
// workspace_id and every query filters on it (Trennungsgebot); this package
// owns the workspaces table itself.
package workspace

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Workspace is one tenant.
type Workspace struct {
	ID        string    `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// DemoSlug is the workspace created on first start.
const DemoSlug = "demo"

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Create inserts a workspace.
func Create(ctx context.Context, q store.Querier, slug, name string, now time.Time) (Workspace, error) {
	if !slugRE.MatchString(slug) {
		return Workspace{}, validate.Invalid("slug", "slug must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit")
	}
	if name == "" {
		return Workspace{}, validate.Required("name")
	}
	w := Workspace{ID: id.New(), Slug: slug, Name: name, CreatedAt: now.UTC()}
	if _, err := q.ExecContext(ctx, `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`,
		w.ID, w.Slug, w.Name, w.CreatedAt); err != nil {
		return Workspace{}, fmt.Errorf("create workspace: %w", store.MapError(err))
	}
	return w, nil
}

// BySlug finds a workspace by its slug.
func BySlug(ctx context.Context, q store.Querier, slug string) (Workspace, error) {
	var w Workspace
	err := q.QueryRowContext(ctx, `SELECT id, slug, name, created_at FROM workspaces WHERE slug = $1`, slug).
		Scan(&w.ID, &w.Slug, &w.Name, &w.CreatedAt)
	if err != nil {
		return Workspace{}, fmt.Errorf("workspace %q: %w", slug, store.MapError(err))
	}
	w.CreatedAt = w.CreatedAt.UTC()
	return w, nil
}

// ByID finds a workspace by its ID.
func ByID(ctx context.Context, q store.Querier, wsID string) (Workspace, error) {
	if !id.Valid(wsID) {
		return Workspace{}, store.ErrNotFound
	}
	var w Workspace
	err := q.QueryRowContext(ctx, `SELECT id, slug, name, created_at FROM workspaces WHERE id = $1`, wsID).
		Scan(&w.ID, &w.Slug, &w.Name, &w.CreatedAt)
	if err != nil {
		return Workspace{}, fmt.Errorf("workspace: %w", store.MapError(err))
	}
	w.CreatedAt = w.CreatedAt.UTC()
	return w, nil
}

// Count returns how many workspaces exist (0 means first start).
func Count(ctx context.Context, q store.Querier) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM workspaces`).Scan(&n)
	return n, err
}
