package capture

import (
	"context"
	"database/sql"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/fairlead/fairlead/internal/capture/form"
	"github.com/fairlead/fairlead/internal/store"
)

// maxCached bounds each cache; when full it starts over, which costs one
// read per form and language, and keeps memory bounded whatever keys the
// public asks for.
const maxCached = 1024

// versionCache keeps what depends only on a saved form version: its
// decoded definition and its rendering per language. A version is never
// changed once saved (form_versions) and notices are immutable by hash,
// so entries never go stale; a new version simply has a new key.
type versionCache struct {
	mu      sync.Mutex
	defs    map[string]form.Definition
	renders map[string]Rendered
}

func versionKey(ws, key string, version int, lang string) string {
	return ws + "\x00" + key + "\x00" + strconv.Itoa(version) + "\x00" + lang
}

func (c *versionCache) def(k string) (form.Definition, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.defs[k]
	return d, ok
}

func (c *versionCache) putDef(k string, d form.Definition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.defs == nil || len(c.defs) >= maxCached {
		c.defs = map[string]form.Definition{}
	}
	c.defs[k] = d
}

func (c *versionCache) render(k string) (Rendered, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.renders[k]
	return r, ok
}

func (c *versionCache) putRender(k string, r Rendered) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.renders == nil || len(c.renders) >= maxCached {
		c.renders = map[string]Rendered{}
	}
	c.renders[k] = r
}

// publicFormTTL bounds how long PublicForm uses a form it read: the time
// a change made by another process may take to reach this one.
const publicFormTTL = time.Second

// publicForms keeps the forms PublicForm found, by public key, each with
// the change count of its process and the time it was read.
type publicForms struct {
	mu sync.Mutex
	m  map[string]publicForm
}

type publicForm struct {
	f   Form
	gen uint64
	at  time.Time
}

func (c *publicForms) get(key string, gen uint64, now time.Time) (Form, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || e.gen != gen || now.Sub(e.at) >= publicFormTTL || now.Before(e.at) {
		return Form{}, false
	}
	f := e.f
	if f.settings != nil {
		// Each caller gets its own settings to change, as from a read.
		set := *f.settings
		set.Imprint = maps.Clone(set.Imprint)
		f.settings = &set
	}
	return f, true
}

func (c *publicForms) put(key string, f Form, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = map[string]publicForm{}
	}
	c.m[key] = publicForm{f: f, gen: gen, at: now}
}

// readStmts keeps the statements every submission runs on the read pool
// prepared: modernc.org/sqlite parses a statement anew on every call that
// is not prepared, which was most of the cost of these one-row reads.
// PostgreSQL needs none of it: pgx keeps a prepared statement per
// connection and query by itself, while a database/sql statement is
// prepared again on every pool connection it meets and closed with each
// connection the pool lets go — two round trips more where pgx has none
// (an eighth of a submission's CPU on PostgreSQL).
type readStmts struct {
	m sync.Map // query → *sql.Stmt
}

// queryRow runs query on db's read pool, on SQLite through its prepared
// statement (prepared on first use; a failed prepare runs it unprepared).
func (c *readStmts) queryRow(ctx context.Context, db *store.DB, query string, args ...any) *sql.Row {
	if db.Dialect != store.SQLite {
		return db.R.QueryRowContext(ctx, query, args...)
	}
	if st, ok := c.m.Load(query); ok {
		return st.(*sql.Stmt).QueryRowContext(ctx, args...)
	}
	st, err := db.R.PrepareContext(ctx, query)
	if err != nil {
		return db.R.QueryRowContext(ctx, query, args...)
	}
	if prev, loaded := c.m.LoadOrStore(query, st); loaded {
		st.Close()
		st = prev.(*sql.Stmt)
	}
	return st.QueryRowContext(ctx, args...)
}
