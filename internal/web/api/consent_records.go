package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/consentrecord"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/web"
	"github.com/fairlead/fairlead/internal/workspace"
)

// consentRecordReaders may export a contact's consents as ISO/IEC TS 27560
// consent records and receipts: whoever reads the ledger.
var consentRecordReaders = ledgerReaders

// incompleteRecord is a consent whose ledger entries do not make a valid
// consent record, with the reasons.
type incompleteRecord struct {
	ID       string               `json:"id"`
	Purpose  string               `json:"purpose"`
	Channel  string               `json:"channel"`
	Status   consentrecord.Status `json:"status"`
	Problems []string             `json:"problems"`
}

// consentRecords builds the contact's consent records with the workspace's
// record settings.
func (a *API) consentRecords(r *http.Request, p auth.Principal) ([]consent.ConsentRecord, error) {
	ws, err := workspace.ByID(r.Context(), a.DB.R, p.WorkspaceID)
	if err != nil {
		return nil, err
	}
	return consent.ConsentRecords(r.Context(), a.Ledger, p.WorkspaceID, r.PathValue("id"), consent.DefaultRecordSettings(ws.Name, publicBase(r)))
}

// publicBase is the origin the request was made to. Until the workspace has
// a public-URL setting, the URLs in consent records (notice pages,
// preference center, imprint) are built from it.
func publicBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (a *API) listConsentRecords(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	recs, err := a.consentRecords(r, p)
	if err != nil {
		return err
	}
	records := make([]json.RawMessage, 0, len(recs))
	incomplete := make([]incompleteRecord, 0)
	for _, rec := range recs {
		if len(rec.Problems) > 0 {
			incomplete = append(incomplete, incompleteRecord{ID: rec.ID, Purpose: rec.Purpose, Channel: rec.Channel, Status: rec.Status, Problems: rec.Problems})
			continue
		}
		b, err := consentrecord.Record(rec.Input)
		if err != nil {
			return err
		}
		records = append(records, b)
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"records": records, "incomplete": incomplete})
	return nil
}

func (a *API) getConsentReceipt(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	recs, err := a.consentRecords(r, p)
	if err != nil {
		return err
	}
	want := strings.ToLower(r.PathValue("record"))
	for _, rec := range recs {
		if rec.ID != want {
			continue
		}
		if len(rec.Problems) > 0 {
			return web.Errorf(http.StatusConflict, "record_incomplete", "the ledger entries of this consent do not make a valid consent record: "+strings.Join(rec.Problems, "; "))
		}
		b, err := consentrecord.Receipt(rec.Input)
		if err != nil {
			return err
		}
		// The receipt's bytes as consentrecord renders them: the same input
		// always gives the same receipt.
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
		return nil
	}
	return store.ErrNotFound
}
