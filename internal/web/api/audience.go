package api

import (
	"bufio"
	"encoding/json"
	"net/http"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/policy/policyjson"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/web"
)

// matrixCell is one purpose × channel answer of the contactability matrix.
type matrixCell struct {
	Purpose string `json:"purpose"`
	Kind    string `json:"kind"`
	Channel string `json:"channel"`
	policyjson.Output
}

// contactability answers "may we contact this person, for this purpose, on
// this channel, now?" — one decision with purpose and channel, the whole
// matrix of the workspace's purposes without them.
func (a *API) contactability(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	purpose, channel := q.Get("purpose"), q.Get("channel")
	cid := r.PathValue("id")
	if purpose == "" && channel == "" {
		// Check the contact first so an unknown one is a 404, not an empty matrix.
		if _, err := a.Contacts.Get(r.Context(), p.WorkspaceID, cid); err != nil {
			return err
		}
		cells, err := a.Audience.Matrix(r.Context(), p.WorkspaceID, cid)
		if err != nil {
			return err
		}
		out := make([]matrixCell, len(cells))
		for i, c := range cells {
			out[i] = matrixCell{Purpose: c.Purpose, Kind: c.Kind, Channel: c.Channel, Output: policyjson.NewOutput(c.Decision)}
		}
		web.WriteJSON(w, http.StatusOK, map[string]any{"contact_id": cid, "matrix": out})
		return nil
	}
	if purpose == "" {
		return validate.Required("purpose")
	}
	if channel == "" {
		return validate.Required("channel")
	}
	d, err := a.Audience.Decide(r.Context(), p.WorkspaceID, cid, purpose, channel, audience.Campaign{})
	if err != nil {
		return err
	}
	pur, err := a.Purposes.Get(r.Context(), p.WorkspaceID, purpose)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, matrixCell{Purpose: purpose, Kind: pur.Kind, Channel: channel, Output: policyjson.NewOutput(d)})
	return nil
}

// resolveAudience streams, as NDJSON, the IDs of every contact the engine
// allows for a purpose on a channel now: one {"contact_id"} line each, then
// a last line {"count", "complete": true} — or {"error"} if it had to stop,
// so a client can tell a complete list from a broken one. With
// "count_only": true the answer is one JSON object {"count"}.
func (a *API) resolveAudience(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		audience.Query
		CountOnly bool `json:"count_only"`
	}
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	if err := a.Audience.Validate(ctx, p.WorkspaceID, in.Query); err != nil {
		return err
	}
	if in.CountOnly {
		n, err := a.Audience.Count(ctx, p.WorkspaceID, in.Query)
		if err != nil {
			return err
		}
		web.WriteJSON(w, http.StatusOK, map[string]int{"count": n})
		return nil
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// Lines are written by hand into a buffer: the IDs are canonical UUIDs
	// (nothing to escape), and an encoder per line cost more than resolving.
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	var writeErr error
	sent := 0
	n, err := a.Audience.Resolve(ctx, p.WorkspaceID, in.Query, func(cid string) error {
		bw.WriteString(`{"contact_id":"`)
		bw.WriteString(cid)
		if _, writeErr = bw.WriteString("\"}\n"); writeErr != nil {
			return writeErr
		}
		if sent++; sent%1000 == 0 {
			if writeErr = bw.Flush(); writeErr != nil {
				return writeErr
			}
			_ = rc.Flush()
		}
		return nil
	})
	defer bw.Flush()
	rid := web.RequestID(ctx)
	if writeErr != nil || ctx.Err() != nil {
		// The client went away. Its error text names its address, which
		// must not reach the logs; the status was sent long ago.
		a.Log.InfoContext(ctx, "audience stream ended by the client", "request_id", rid, "sent", sent)
		return nil
	}
	if err != nil {
		e := web.ErrorFor(err)
		a.Log.ErrorContext(ctx, "audience resolution stopped", "request_id", rid, "err", err)
		_ = enc.Encode(map[string]any{"error": map[string]string{"code": e.Code, "message": "the list is incomplete: " + e.Message}})
		return nil
	}
	_ = enc.Encode(map[string]any{"count": n, "complete": true})
	return nil
}
