package public

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/fairlead/fairlead/internal/campaign"
	"github.com/fairlead/fairlead/internal/web"
)

// CampaignTracking serves the open pixel and the tracked links of campaign
// messages. They exist only in messages to contacts whose e-mail tracking
// the engine allows; a bad token gets the pixel or a plain 404, never an
// error page that tells a scanner more.
type CampaignTracking struct {
	Campaigns *campaign.Service
	Log       *slog.Logger
}

// Mount registers /p/t/o/{token} and /p/t/c/{token}.
func (t *CampaignTracking) Mount(s *web.Server) {
	if t.Log == nil {
		t.Log = slog.Default()
	}
	s.Handle("GET /p/t/o/{token}", http.HandlerFunc(t.open))
	s.Handle("GET /p/t/c/{token}", http.HandlerFunc(t.click))
}

func (t *CampaignTracking) open(w http.ResponseWriter, r *http.Request) {
	if err := t.Campaigns.TrackOpen(r.Context(), r.PathValue("token")); err != nil && !errors.Is(err, campaign.ErrTrackingLink) {
		t.Log.ErrorContext(r.Context(), "campaign open", "request_id", web.RequestID(r.Context()), "err", err)
	}
	w.Header().Set("Content-Type", "image/gif")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(pixel)
}

func (t *CampaignTracking) click(w http.ResponseWriter, r *http.Request) {
	target, err := t.Campaigns.TrackClick(r.Context(), r.PathValue("token"))
	if errors.Is(err, campaign.ErrTrackingLink) {
		http.Error(w, "Link ungültig / link not valid", http.StatusNotFound)
		return
	}
	if err != nil {
		// The person still gets where the link goes; the click is lost.
		t.Log.ErrorContext(r.Context(), "campaign click", "request_id", web.RequestID(r.Context()), "err", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target, http.StatusFound)
}
