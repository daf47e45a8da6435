package public

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/fairlead/fairlead/internal/campaign"
	"github.com/fairlead/fairlead/internal/web"
)

// MailNotifications takes the mail provider's bounce, complaint and
// delivery notifications for a workspace, signed with its secret
// (docs/campaigns.md). It answers JSON: a provider is a machine.
type MailNotifications struct {
	Campaigns *campaign.Service
	Log       *slog.Logger
}

// maxNotificationBytes bounds one batch: providers send at most a few
// hundred events at once.
const maxNotificationBytes = 1 << 20

// Mount registers the notification endpoint.
func (m *MailNotifications) Mount(s *web.Server) {
	if m.Log == nil {
		m.Log = slog.Default()
	}
	s.Handle("POST /p/mail/notifications/{workspace}", http.HandlerFunc(m.notify))
}

func (m *MailNotifications) notify(w http.ResponseWriter, r *http.Request) {
	ws := r.PathValue("workspace")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxNotificationBytes+1))
	if err != nil {
		web.WriteError(w, r, web.Errorf(http.StatusBadRequest, "bad_body", "the body could not be read"))
		return
	}
	if len(body) > maxNotificationBytes {
		web.WriteError(w, r, web.Errorf(http.StatusRequestEntityTooLarge, "too_large", "at most 1 MiB of notifications per request"))
		return
	}
	// The signature is checked before the body is parsed: an unsigned
	// request learns nothing, not even whether its JSON was valid.
	if err := m.Campaigns.CheckSignature(ws, body, r.Header.Get("X-Fairlead-Signature")); err != nil {
		web.WriteError(w, r, web.Errorf(http.StatusUnauthorized, "bad_signature", "X-Fairlead-Signature must be sha256=<hex HMAC-SHA256 of the body under the workspace's notification secret>"))
		return
	}
	var in struct {
		Events []campaign.Notification `json:"events"`
	}
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if err := web.DecodeJSON(req, &in); err != nil {
		web.WriteError(w, r, err)
		return
	}
	res, err := m.Campaigns.Notify(r.Context(), ws, in.Events)
	if err != nil {
		if !errors.Is(err, r.Context().Err()) {
			m.Log.ErrorContext(r.Context(), "mail notifications", "workspace_id", ws, "request_id", web.RequestID(r.Context()), "err", err)
		}
		web.WriteError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, res)
}
