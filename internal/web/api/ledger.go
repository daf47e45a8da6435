package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/web"
)

// Ledger roles. Everyone who works with contacts reads their history;
// personal evidence (IP address, user agent, …) is opened only for admin
// and dpo. Who may record which event kind:
//   - admin, dpo: every kind;
//   - marketing: consents, objections, notices, inbound requests,
//     relationships, contracts, presumed consent and existing-customer facts
//     — not the data-protection workflow (restriction, rights requests,
//     retention duties, erasure, legitimate-interest assessments), which
//     belongs to the DPO;
//   - sales: what a rep hears on the phone: an inbound request or an
//     objection ("don't call me again"), nothing that grants permission.
var (
	ledgerReaders   = contactReaders
	ledgerAppenders = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleSales, auth.RoleDPO}
	personalReaders = adminOrDPO

	kindsByRole = map[auth.Role][]string{
		auth.RoleMarketing: {
			consent.KindConsentRequested, consent.KindConsentConfirmed, consent.KindConsentWithdrawn, consent.KindObjection,
			consent.KindNoticeGiven, consent.KindInboundRequestReceived, consent.KindInboundRequestClosed,
			consent.KindRelationshipStarted, consent.KindRelationshipEnded, consent.KindContractStarted, consent.KindContractEnded,
			consent.KindPresumedConsentRecorded, consent.KindExistingCustomerFacts, consent.KindConsentUsed,
		},
		auth.RoleSales: {consent.KindInboundRequestReceived, consent.KindObjection},
	}
)

// mayRecord reports whether role may append events of kind.
func mayRecord(role auth.Role, kind string) (bool, []string) {
	if role == auth.RoleAdmin || role == auth.RoleDPO {
		return true, nil
	}
	ks := kindsByRole[role]
	return slices.Contains(ks, kind), ks
}

func (a *API) getLedger(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	evs, err := a.Ledger.Events(r.Context(), p.WorkspaceID, r.PathValue("id"), slices.Contains(personalReaders, p.Role))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"events": evs})
	return nil
}

func (a *API) appendLedger(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	cid := r.PathValue("id")
	if _, err := a.Contacts.Points(r.Context(), p.WorkspaceID, cid); err != nil {
		return err
	}
	var in consent.NewEvent
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	if in.Kind != "" && slices.Contains(consent.EventKinds, in.Kind) {
		if ok, ks := mayRecord(p.Role, in.Kind); !ok {
			return web.Errorf(http.StatusForbidden, "forbidden", "role "+string(p.Role)+" may record only "+strings.Join(ks, ", "))
		}
	}
	ev, err := a.Ledger.Append(r.Context(), nil, p.WorkspaceID, cid, in, consent.Actor{TokenID: p.TokenID, UserID: p.UserID})
	if err != nil {
		return conflict(err)
	}
	if !slices.Contains(personalReaders, p.Role) && ev.Evidence.Personal != nil {
		ev.Evidence.Personal, ev.Evidence.PersonalState = nil, "redacted"
	}
	w.Header().Set("Location", "/api/v1/contacts/"+cid+"/ledger")
	web.WriteJSON(w, http.StatusCreated, ev)
	return nil
}

func (a *API) verifyLedger(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	rep, err := a.Ledger.Verify(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, rep)
	return nil
}
