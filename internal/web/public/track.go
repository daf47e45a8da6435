package public

import (
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/fairlead/fairlead/internal/track"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/web"
)

//go:embed static/t.js
var trackScript []byte

// TrackScript is the tracking script as served at /p/t.js.
func TrackScript() []byte { return trackScript }

// pixel is a transparent 1x1 GIF.
var pixel = []byte{
	0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
}

// Tracking serves the tracking script and its endpoint. Every event it
// takes counts as collected through the device (TDDDG §25): the engine then
// allows it only with consent.
type Tracking struct {
	Service *track.Service
	// Coalesce, when set, joins concurrent requests into shared batches.
	Coalesce *track.Coalescer
	Signer   track.Signer
	// Workspaces finds a workspace by slug (the script's data-workspace).
	Workspaces func(r *http.Request, slug string) (string, error)
	Log        *slog.Logger
	Now        func() time.Time
}

// Mount registers the tracking routes.
func (t *Tracking) Mount(s *web.Server) {
	if t.Log == nil {
		t.Log = slog.Default()
	}
	if t.Now == nil {
		t.Now = func() time.Time { return time.Now().UTC() }
	}
	s.Handle("GET /p/t.js", http.HandlerFunc(t.script))
	s.Handle("POST /p/t", http.HandlerFunc(t.collect))
	s.Handle("GET /p/t", http.HandlerFunc(t.pixel))
}

func (t *Tracking) script(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(trackScript)
}

// MaxPublicEvents is the most events one POST /p/t takes.
const MaxPublicEvents = 50

type publicEvent struct {
	Type  string            `json:"type"`
	Name  string            `json:"name"`
	Ref   string            `json:"ref"`
	Props map[string]string `json:"props"`
}

type publicBatch struct {
	Workspace string        `json:"w"`
	Visitor   string        `json:"v"`
	GPC       bool          `json:"gpc"`
	Events    []publicEvent `json:"e"`
}

// who resolves the workspace and contact: the visitor token names both;
// without a valid one, the workspace slug names the workspace only.
func (t *Tracking) who(r *http.Request, slug, visitor string) (ws, contactID string, err error) {
	if visitor != "" {
		if ws, c, err := track.ParseVisitor(t.Signer, visitor, t.Now()); err == nil {
			return ws, c, nil
		}
	}
	if slug == "" {
		return "", "", validate.Required("w")
	}
	ws, err = t.Workspaces(r, slug)
	return ws, "", err
}

// ingest reports whether any of the request's events was identified.
func (t *Tracking) ingest(r *http.Request, b publicBatch) (bool, error) {
	ws, contactID, err := t.who(r, b.Workspace, b.Visitor)
	if err != nil {
		return false, err
	}
	if len(b.Events) > MaxPublicEvents {
		return false, validate.Invalid("e", "at most 50 events per request")
	}
	gpc := b.GPC || r.Header.Get("Sec-GPC") == "1"
	signal := clientIP(r) + "\x00" + r.UserAgent()
	in := make([]track.Incoming, len(b.Events))
	for i, e := range b.Events {
		in[i] = track.Incoming{ContactID: contactID, Type: e.Type, Name: e.Name, Ref: e.Ref, Props: e.Props,
			Signal: signal, GPC: gpc, DeviceAccess: true}
	}
	if gpc && len(in) == 0 {
		// An objection without events still deletes the history its
		// signal leads to.
		_, err := t.Service.Pseudonyms.Forget(r.Context(), nil, ws, signal)
		return false, err
	}
	if t.Coalesce == nil {
		out, err := t.Service.Ingest(r.Context(), ws, in)
		return out.Identified > 0, err
	}
	branches, err := t.Coalesce.Ingest(r.Context(), ws, in)
	return slices.Contains(branches, track.Identified), err
}

func (t *Tracking) collect(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		web.WriteError(w, r, err)
		return
	}
	var b publicBatch
	if err := json.Unmarshal(body, &b); err != nil {
		web.WriteError(w, r, validate.Invalid("body", "the body must be a JSON object {w, v, gpc, e: [{type, name, ref, props}]}"))
		return
	}
	identified, err := t.ingest(r, b)
	if err != nil {
		web.WriteError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"identified": identified})
}

// pixel is the endpoint for <noscript> and e-mail images: the same
// decision, and always the image, so a page never shows a broken one.
func (t *Tracking) pixel(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	typ := q.Get("type")
	if typ == "" {
		typ = "page_view"
	}
	b := publicBatch{Workspace: q.Get("w"), Visitor: q.Get("v"), Events: []publicEvent{{Type: typ, Name: q.Get("n"), Ref: q.Get("r")}}}
	if _, err := t.ingest(r, b); err != nil {
		var ve *validate.Error
		if !errors.As(err, &ve) {
			t.Log.WarnContext(r.Context(), "tracking pixel", "request_id", web.RequestID(r.Context()), "err", err)
		}
	}
	w.Header().Set("Content-Type", "image/gif")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	_, _ = w.Write(pixel)
}
