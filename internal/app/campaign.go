package app

import (
	"log/slog"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/campaign"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/track"
)

// dkimSigner loads the DKIM key when configured (nil when not). A key
// without selector and domain, or the reverse, is a start-up error.
func dkimSigner(cfg config.Config) (*campaign.DKIMSigner, error) {
	if cfg.DKIMKeyFile == "" && cfg.DKIMSelector == "" && cfg.DKIMDomain == "" {
		return nil, nil
	}
	return campaign.LoadDKIMSigner(cfg.DKIMKeyFile, cfg.DKIMSelector, cfg.DKIMDomain)
}

// campaignService wires e-mail campaigns onto capture (footer, delivery),
// the engine and the suppression list. Segments, lead conditions and
// events are wired here once their services exist.
func campaignService(db *store.DB, cfg config.Config, resolver *audience.Resolver, contacts *contact.Store, capt *capture.Service, priv *privacy.Service,
	q *jobs.Queue, log *slog.Logger) *campaign.Service {
	signer, err := dkimSigner(cfg)
	if err != nil {
		// serve refuses to start on this; other commands send no campaigns.
		log.Error("DKIM signing is off", "err", err)
	}
	events := track.NewStore(db, nil)
	return &campaign.Service{DB: db, Engine: resolver, Permissions: capt.Ledger, Contacts: contacts, Capture: capt, Privacy: priv, Jobs: q, Signer: signer, Log: log,
		Track: events, Events: events}
}
