package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/supplier"
	"github.com/fairlead/fairlead/internal/workspace"
)

// supplierService wires the backflow acquisition onto the consent hub; q,
// when set, queues the scheduled letter batches.
func supplierService(db *store.DB, contacts *contact.Store, notices *consent.Notices, ledger *consent.Ledger, resolver *audience.Resolver,
	settings *capture.SettingsStore, q supplier.Enqueuer, log *slog.Logger) *supplier.Backflow {
	s := &supplier.Backflow{DB: db, Contacts: contacts, Ledger: ledger, Notices: notices, Audience: resolver, Printer: supplier.LetterPrinter{}, Log: log}
	if q != nil {
		s.Jobs = q
	}
	if settings != nil {
		s.PublicURL = func(ctx context.Context, ws string) (string, error) {
			e, err := settings.Effective(ctx, ws)
			return e.PublicURL, err
		}
	}
	return s
}

// seedSupplierNotices gives the demo workspace the default supplier privacy
// notice in German and English, so /p/notices/{id} can be linked from the
// first inquiry at once.
func seedSupplierNotices(ctx context.Context, db *store.DB, notices *consent.Notices) error {
	ws, err := workspace.BySlug(ctx, db.R, workspace.DemoSlug)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = (&supplier.Backflow{DB: db, Notices: notices}).EnsureNotices(ctx, ws.ID)
	return err
}
