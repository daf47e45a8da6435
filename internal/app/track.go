package app

import (
	"context"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/track"
)

// trackService wires the tracking service; its Decider is set once the
// audience resolver exists (the resolver needs the ledger, whose hook
// needs the tracking service).
func trackService(db *store.DB, keys *keyring.Keyring) *track.Service {
	return &track.Service{DB: db, Store: track.NewStore(db, nil), Pseudonyms: track.NewPseudonyms(db, keys, nil), Signer: keys}
}

// ledgerHooks runs several append hooks in order, in the appending
// transaction; the first error rolls the append back.
func ledgerHooks(hs ...consent.AppendHook) consent.AppendHook {
	return func(ctx context.Context, q store.Querier, ws, contactID string, ev consent.Event) error {
		for _, h := range hs {
			if err := h(ctx, q, ws, contactID, ev); err != nil {
				return err
			}
		}
		return nil
	}
}
