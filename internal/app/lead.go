package app

import (
	"context"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/track"
	"github.com/fairlead/fairlead/internal/webhook"
)

// leadService wires scoring, lifecycle and segments, and registers the
// incremental scoring on the event store: every Record scores in its own
// transaction.
func leadService(db *store.DB, cfg config.Config, contacts *contact.Store, aud *audience.Resolver, hooks *webhook.Service, capt *capture.Service, events *track.Store) *lead.Service {
	s := &lead.Service{DB: db, Events: events, Contacts: contacts, Audience: aud, Webhooks: hooks, PublicURL: cfg.PublicURL}
	if capt != nil {
		s.Values = func(ctx context.Context, ws, contactID string) (map[string]string, error) {
			vs, err := capt.Values(ctx, ws, contactID)
			if err != nil {
				return nil, err
			}
			out := map[string]string{}
			for _, v := range vs {
				if v.SupersededAt == nil {
					out[v.Name] = v.Value
				}
			}
			return out, nil
		}
	}
	events.OnRecord(s.OnRecord)
	return s
}

// leadStages gives the analytics report the lead funnel; track cannot
// import lead, which imports track.
type leadStages struct{ l *lead.Service }

func (s leadStages) Funnel(ctx context.Context, ws string, from, to time.Time, bucket string) ([]track.FunnelPoint, error) {
	ps, err := s.l.Funnel(ctx, ws, from, to, bucket)
	if err != nil {
		return nil, err
	}
	out := make([]track.FunnelPoint, len(ps))
	for i, p := range ps {
		out[i] = track.FunnelPoint{Start: p.Start, InStage: p.InStage, Entered: p.Entered}
	}
	return out, nil
}
