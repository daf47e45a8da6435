package api

import (
	"net/http"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/track"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/web"
)

// Events come from trusted systems (the website's backend, a shop) with a
// token; the tracking settings are the data protection choice of the
// workspace.
var (
	eventWriters     = []auth.Role{auth.RoleAdmin, auth.RoleMarketing}
	trackingReaders  = []auth.Role{auth.RoleAdmin, auth.RoleDPO, auth.RoleMarketing}
	trackingSettings = []auth.Role{auth.RoleAdmin, auth.RoleDPO}
)

type apiEvent struct {
	ContactID string            `json:"contact_id"`
	Type      string            `json:"type"`
	Name      string            `json:"name"`
	Ref       string            `json:"ref"`
	Props     map[string]string `json:"props"`
	At        *time.Time        `json:"at"`
	// Visitor is the request the event was seen in, for the pseudonym;
	// neither part is stored.
	Visitor *struct {
		IP        string `json:"ip"`
		UserAgent string `json:"user_agent"`
	} `json:"visitor"`
	GPC          bool `json:"gpc"`
	DeviceAccess bool `json:"device_access"`
}

func (e apiEvent) incoming() track.Incoming {
	in := track.Incoming{ContactID: e.ContactID, Type: e.Type, Name: e.Name, Ref: e.Ref, Props: e.Props, GPC: e.GPC, DeviceAccess: e.DeviceAccess}
	if e.At != nil {
		in.At = *e.At
	}
	if e.Visitor != nil && (e.Visitor.IP != "" || e.Visitor.UserAgent != "") {
		// The same signal as /p/t builds from a request, so one visitor
		// gets one pseudonym whichever way the event came.
		in.Signal = e.Visitor.IP + "\x00" + e.Visitor.UserAgent
	}
	return in
}

// ingestEvents takes one event object or {"events": [...]}.
func (a *API) ingestEvents(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	body, err := web.ReadBody(r)
	if err != nil {
		return err
	}
	evs, ok := decodeEventsFast(body)
	if !ok {
		if evs, err = decodeEvents(body); err != nil {
			return err
		}
	}
	in := make([]track.Incoming, len(evs))
	for i, e := range evs {
		in[i] = e.incoming()
	}
	out, err := a.Track.IngestWith(r.Context(), p.WorkspaceID, in, auditInTx(r))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, out)
	return nil
}

// decodeEvents reads both shapes with encoding/json: one decode for the
// batch's "events" beside the fields of a single event.
func decodeEvents(body []byte) ([]apiEvent, error) {
	var b struct {
		Events *[]apiEvent `json:"events"`
		apiEvent
	}
	if err := web.Unmarshal(body, &b); err != nil {
		return nil, err
	}
	if b.Events == nil {
		return []apiEvent{b.apiEvent}, nil
	}
	if b.Type != "" || b.ContactID != "" {
		return nil, validate.Invalid("events", "send either one event or {\"events\": [...]}, not both")
	}
	return *b.Events, nil
}

func (a *API) createVisitorToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in struct {
		ContactID string `json:"contact_id"`
	}
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	tok, exp, err := a.Track.IssueVisitorToken(r.Context(), p.WorkspaceID, in.ContactID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusCreated, map[string]any{"token": tok, "expires_at": exp})
	return nil
}

func (a *API) getTrackingSettings(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	st, err := a.Track.Pseudonyms.Settings(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, st)
	return nil
}

func (a *API) updateTrackingSettings(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var up track.SettingsUpdate
	if err := web.DecodeJSON(r, &up); err != nil {
		return err
	}
	st, err := a.Track.Pseudonyms.UpdateSettings(r.Context(), p.WorkspaceID, up)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, st)
	return nil
}
