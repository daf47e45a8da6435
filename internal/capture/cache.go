package capture

import (
	"strconv"
	"sync"

	"github.com/fairlead/fairlead/internal/capture/form"
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
