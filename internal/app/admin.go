package app

import (
	"crypto/sha256"
	"log/slog"

	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/web/admin"
	"github.com/fairlead/fairlead/internal/web/api"
)

// adminUI wires the web UI onto the same services the API uses.
func adminUI(db *store.DB, cfg config.Config, a *api.API, queue *jobs.Queue, log *slog.Logger) *admin.UI {
	// The lock-out counters are keyed by a hash of the account or address
	// under a key derived from the master key, so the table alone does not
	// tell which addresses tried.
	key := sha256.Sum256([]byte("fairlead admin login throttle\x00" + cfg.MasterKey))
	return &admin.UI{
		DB: db, Auth: a.Auth, Contacts: a.Contacts, Ledger: a.Ledger, Purposes: a.Purposes, Notices: a.Notices,
		Audience: a.Audience, Capture: a.Capture, Outbox: a.Outbox, Settings: a.Settings, Privacy: a.Privacy,
		Webhooks: a.Webhooks, Suppliers: a.Suppliers, Leads: a.Leads, Campaigns: a.Campaigns, Audit: a.Audit, Jobs: queue, CheckGatewayURL: a.CheckGatewayURL,
		Sessions:     admin.NewSessions(db, 0, 0, nil),
		Throttle:     admin.NewThrottle(db, key[:], nil),
		TOTP:         admin.NewTOTP(db, a.Contacts.Keys(), "fairlead", nil),
		SecureCookie: admin.SecureFor(cfg.Addr, cfg.PublicURL),
		Log:          log,
	}
}
