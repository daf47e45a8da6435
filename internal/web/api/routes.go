// Package api is fairlead's JSON API under /api/v1/. Every route is declared
// in one table with the roles it admits; Mount refuses a route without a
// declaration, and the route/role matrix test walks the whole table.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/audit"
	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/campaign"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/importer"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/mail/outbox"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/supplier"
	"github.com/fairlead/fairlead/internal/track"
	"github.com/fairlead/fairlead/internal/web"
	"github.com/fairlead/fairlead/internal/webhook"
)

// HandlerFunc is an API handler: it returns an error instead of writing one.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

// Route is one API operation.
type Route struct {
	Method  string
	Path    string // ServeMux path pattern, e.g. /api/v1/users/{id}
	Roles   []auth.Role
	Summary string
	Handle  HandlerFunc
}

// Pattern is the ServeMux pattern of the route.
func (rt Route) Pattern() string { return rt.Method + " " + rt.Path }

// Admits reports whether role may call the route.
func (rt Route) Admits(role auth.Role) bool {
	for _, r := range rt.Roles {
		if r == role {
			return true
		}
	}
	return false
}

var (
	all        = auth.Roles
	adminOnly  = []auth.Role{auth.RoleAdmin}
	adminOrDPO = []auth.Role{auth.RoleAdmin, auth.RoleDPO}
)

// Authenticator resolves bearer tokens.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (auth.Principal, error)
}

// API holds what the handlers need.
type API struct {
	DB    *store.DB
	Auth  *auth.Store
	Jobs  JobQueue
	Now   func() time.Time
	Log   *slog.Logger
	authn Authenticator

	// The consent hub: contacts, the ledger, business purposes, notices.
	Contacts *contact.Store
	Ledger   *consent.Ledger
	Purposes *consent.Purposes
	Notices  *consent.Notices
	// Audience decides contactability for one contact, its matrix, and
	// whole audiences, all through the same engine call.
	Audience *audience.Resolver

	// Lead capture: forms, the dev outbox, workspace settings.
	Capture  *capture.Service
	Outbox   *outbox.Outbox
	Settings *capture.SettingsStore
	// CheckGatewayURL validates an SMTP or SMS gateway URL before it is saved.
	CheckGatewayURL capture.URLCheck

	// Audit records changes, exports and overrides (nil = no trail).
	Audit *audit.Trail
	// Webhooks are the connected systems told of erasures and the like.
	Webhooks *webhook.Service
	// Privacy: data subject requests, exports, erasure, retention.
	Privacy *privacy.Service
	// Suppliers: the backflow acquisition (suppliers, inquiries, contracts,
	// letter templates and batches, responses).
	Suppliers *supplier.Backflow

	// Track decides and stores tracking events; Analytics reports on them.
	Track     *track.Service
	Analytics *track.Analytics
	// Leads: scoring, lifecycle, hand-off, segments, sensitive data.
	Leads *lead.Service
	// Importer: contact import/export with provenance, Art. 14 tasks.
	Importer *importer.Service
	// Campaigns: e-mail nurture sequences, their sending and reports.
	Campaigns *campaign.Service
}

// Routes is the table of every /api/v1 operation.
func (a *API) Routes() []Route {
	return []Route{
		{"GET", "/api/v1/me", all, "Who am I: workspace, role and token", a.me},

		{"POST", "/api/v1/decide", all, "Evaluate the contactability engine on given facts (what-if; one object or an array)", a.decide},

		{"GET", "/api/v1/users", adminOnly, "List users", a.listUsers},
		{"POST", "/api/v1/users", adminOnly, "Create a user", a.createUser},
		{"GET", "/api/v1/users/{id}", adminOnly, "Get a user", a.getUser},
		{"PATCH", "/api/v1/users/{id}", adminOnly, "Change a user's role, name or disabled state", a.updateUser},

		{"GET", "/api/v1/tokens", adminOnly, "List API tokens", a.listTokens},
		{"POST", "/api/v1/tokens", adminOnly, "Create an API token (the secret is shown once)", a.createToken},
		{"DELETE", "/api/v1/tokens/{id}", adminOnly, "Revoke an API token", a.revokeToken},

		{"GET", "/api/v1/jobs", adminOrDPO, "List background jobs (e.g. the failed ones)", a.listJobs},
		{"GET", "/api/v1/jobs/{id}", adminOrDPO, "Get a job with its attempts", a.getJob},
		{"POST", "/api/v1/jobs/{id}/retry", adminOnly, "Retry a dead or cancelled job", a.retryJob},
		{"POST", "/api/v1/jobs/{id}/cancel", adminOnly, "Cancel a job that has not started", a.cancelJob},

		{"GET", "/api/v1/purposes", all, "List the workspace's business purposes", a.listPurposes},
		{"POST", "/api/v1/purposes", catalogEditors, "Add a business purpose to the catalogue", a.createPurpose},

		{"GET", "/api/v1/notices", all, "List notice versions (privacy notices, consent texts, …)", a.listNotices},
		{"POST", "/api/v1/notices", catalogEditors, "Store a notice version (the same content again returns the existing version)", a.createNotice},
		{"GET", "/api/v1/notices/{id}", all, "Get a notice version by its hash", a.getNotice},

		{"GET", "/api/v1/contacts", contactReaders, "List contacts, or find one by exact e-mail address", a.listContacts},
		{"POST", "/api/v1/contacts", contactCreators, "Create a contact", a.createContact},
		{"GET", "/api/v1/contacts/{id}", contactReaders, "Get a contact", a.getContact},
		{"PATCH", "/api/v1/contacts/{id}", contactEditors, "Change (rectify) a contact", a.updateContact},

		{"GET", "/api/v1/contacts/{id}/ledger", ledgerReaders, "A contact's consent ledger with evidence (personal evidence for admin and dpo only)", a.getLedger},
		{"POST", "/api/v1/contacts/{id}/ledger", ledgerAppenders, "Append one event to a contact's consent ledger", a.appendLedger},
		{"GET", "/api/v1/contacts/{id}/contactability", contactReaders, "May we contact this person now? One purpose and channel, or the whole matrix, with reasons and legal references", a.contactability},
		{"POST", "/api/v1/audiences/resolve", contactReaders, "Stream the IDs of every contact the engine allows for a purpose on a channel now (NDJSON), or count them", a.resolveAudience},
		{"GET", "/api/v1/contacts/{id}/consent-records", consentRecordReaders, "A contact's consents as ISO/IEC TS 27560 consent records", a.listConsentRecords},
		{"GET", "/api/v1/contacts/{id}/consent-records/{record}/receipt", consentRecordReaders, "The consent receipt (summary) of one of a contact's consent records", a.getConsentReceipt},
		{"GET", "/api/v1/ledger/verify", adminOrDPO, "Recompute the workspace's ledger hash chain", a.verifyLedger},
		{"GET", "/api/v1/contacts/{id}/values", contactReaders, "Every value a contact gave, with its source and history (progressive profiling)", a.contactValues},

		{"GET", "/api/v1/forms", all, "List forms (current versions)", a.listForms},
		{"POST", "/api/v1/forms", formEditors, "Save a form (a new version when it changed); 422 lists every lint finding", a.saveForm},
		{"POST", "/api/v1/forms/lint", formEditors, "Check a form definition without saving it: validation errors as 400, lint findings as a list", a.lintForm},
		{"GET", "/api/v1/forms/{key}", all, "Get a form's current version", a.getForm},
		{"PUT", "/api/v1/forms/{key}", formEditors, "Save a form under this key (a new version when it changed)", a.saveForm},
		{"GET", "/api/v1/forms/{key}/snippet", all, "The form's embed snippet: HTML and a small script that posts to the hosted endpoint", a.formSnippet},
		{"GET", "/api/v1/forms/{key}/versions/{version}", all, "Get one saved version of a form", a.getFormVersion},

		{"GET", "/api/v1/outbox", outboxReaders, "The dev outbox: mail and SMS that would have been sent (no SMTP server or SMS gateway configured)", a.listOutbox},
		{"GET", "/api/v1/outbox/{id}", outboxReaders, "One message of the dev outbox", a.getOutbox},

		{"GET", "/api/v1/audit", adminOrDPO, "The audit trail: who changed, exported or overrode what, when, through which request (IDs and field names, never values)", a.listAudit},
		{"GET", "/api/v1/audit/export", adminOrDPO, "The audit trail as CSV", a.exportAudit},
		{"GET", "/api/v1/webhooks", adminOrDPO, "List the connected systems (webhook endpoints; never their secrets)", a.listWebhooks},
		{"POST", "/api/v1/webhooks", adminOnly, "Register a webhook endpoint (the signing secret is shown once)", a.createWebhook},
		{"GET", "/api/v1/webhooks/{id}", adminOrDPO, "Get a webhook endpoint", a.getWebhook},
		{"PATCH", "/api/v1/webhooks/{id}", adminOnly, "Change a webhook endpoint's name, URL, event types, data categories or disabled state", a.updateWebhook},
		{"POST", "/api/v1/webhooks/{id}/rotate-secret", adminOnly, "Replace a webhook endpoint's signing secret (the new one is shown once)", a.rotateWebhookSecret},
		{"GET", "/api/v1/webhooks/{id}/deliveries", adminOrDPO, "An endpoint's deliveries with their attempt logs, newest first, by state", a.listWebhookDeliveries},
		{"POST", "/api/v1/webhooks/deliveries/{id}/redeliver", adminOnly, "Queue a delivered or dead delivery again (same event ID)", a.redeliverWebhook},
		{"GET", "/api/v1/dsr", privacyRoles, "List data subject requests, the most urgent first (filter by status, overdue)", a.listCases},
		{"POST", "/api/v1/dsr", privacyRoles, "Open a data subject request case (due one calendar month after receipt)", a.openCase},
		{"GET", "/api/v1/dsr/{id}", privacyRoles, "Get a data subject request with its log", a.getCase},
		{"POST", "/api/v1/dsr/{id}/verification", privacyRoles, "Verify the requester's identity: send a link to the confirmed e-mail address, or record another check", a.verifyCase},
		{"POST", "/api/v1/dsr/{id}/extend", privacyRoles, "Extend the deadline by one or two months with the reason (Art. 12(3) GDPR)", a.extendCase},
		{"POST", "/api/v1/dsr/{id}/complete", privacyRoles, "Close a data subject request as completed or rejected", a.completeCase},
		{"GET", "/api/v1/contacts/{id}/export", privacyRoles, "Everything held about a person (Art. 15, 20 GDPR) as JSON or as a readable page", a.exportContact},
		{"POST", "/api/v1/contacts/{id}/erase", privacyRoles, "Erase a person's personal data everywhere (restricted instead while a retention duty runs)", a.eraseContact},
		{"GET", "/api/v1/retention/policies", privacyRoles, "The retention rules as this workspace applies them", a.listRetentionPolicies},
		{"PATCH", "/api/v1/retention/policies/{rule}", privacyRoles, "Change a retention rule (enabled, period in days)", a.setRetentionPolicy},
		{"GET", "/api/v1/retention/plan", privacyRoles, "Dry run of the clean-up: what each rule would do now, with counts and contact IDs", a.retentionPlan},

		{"GET", "/api/v1/settings", adminOnly, "The workspace's settings (imprint, public URL, sender, lifetimes; gateway secrets are never shown)", a.getSettings},
		{"PATCH", "/api/v1/settings", adminOnly, "Change the workspace's settings", a.updateSettings},

		{"GET", "/api/v1/suppliers", supplierReaders, "List suppliers (dream_client=true: only dream clients)", a.listSuppliers},
		{"POST", "/api/v1/suppliers", supplierEditors, "Create a supplier", a.createSupplier},
		{"GET", "/api/v1/suppliers/{id}", supplierReaders, "Get a supplier with its contact persons", a.getSupplier},
		{"PATCH", "/api/v1/suppliers/{id}", supplierEditors, "Change a supplier's name, language, dream-client flag or notes", a.updateSupplier},
		{"POST", "/api/v1/suppliers/{id}/contacts", supplierEditors, "Add a contact person (an existing contact or a new one)", a.addSupplierContact},
		{"GET", "/api/v1/suppliers/{id}/inquiries", supplierReaders, "A supplier's first inquiries", a.listInquiries},
		{"POST", "/api/v1/suppliers/{id}/inquiries", supplierEditors, "Generate the first-inquiry text linking the current supplier notice", a.createInquiry},
		{"POST", "/api/v1/supplier-inquiries/{id}/sent", supplierEditors, "Mark an inquiry sent: records notice_given with the notice version and channel", a.markInquirySent},
		{"GET", "/api/v1/suppliers/{id}/contracts", supplierReaders, "A supplier's concluded contracts", a.listContracts},
		{"POST", "/api/v1/suppliers/{id}/contracts", supplierEditors, "Record a concluded contract: supplier relationship, contract, balancing test; queues the scheduled letters", a.recordContract},
		{"GET", "/api/v1/suppliers/{id}/sales-view", supplierReaders, "Sales view: every contact person with responses and the current contactability matrix", a.supplierSalesView},
		{"GET", "/api/v1/letter-templates", supplierReaders, "List letter templates (latest versions)", a.listLetterTemplates},
		{"POST", "/api/v1/letter-templates", supplierEditors, "Save a letter template version (unknown merge fields are refused)", a.saveLetterTemplate},
		{"GET", "/api/v1/letter-templates/{id}", supplierReaders, "A letter template with all its versions", a.getLetterTemplate},
		{"PUT", "/api/v1/letter-templates/{id}/schedule", supplierEditors, "Set the template's schedule: a batch this many days after each contract concluded", a.setLetterSchedule},
		{"GET", "/api/v1/letter-schedules", supplierReaders, "List letter schedules", a.listLetterSchedules},
		{"GET", "/api/v1/letter-batches", supplierReaders, "List letter batches, newest first", a.listLetterBatches},
		{"POST", "/api/v1/letter-batches", supplierEditors, "Create a letter batch: the engine decides every supplier contact now", a.createLetterBatch},
		{"GET", "/api/v1/letter-batches/{id}", supplierReaders, "A letter batch with every contact considered (left out ones with reason codes)", a.getLetterBatch},
		{"GET", "/api/v1/letter-batches/{id}/pdf", supplierReaders, "The batch's letters as one PDF", a.getLetterBatchPDF},
		{"GET", "/api/v1/letter-batches/{id}/manifest", supplierReaders, "The batch's CSV manifest for the print-and-mail service", a.getLetterBatchManifest},
		{"GET", "/api/v1/contacts/{id}/responses", supplierReaders, "Sales view of a contact: responses and the current contactability matrix", a.contactResponses},
		{"POST", "/api/v1/contacts/{id}/responses", supplierEditors, "Log an inbound response (phone, e-mail, letter): opens an inbound request", a.logResponse},
		{"POST", "/api/v1/events", eventWriters, "Record tracking events from a trusted system (one event or {events: [...]}); the engine picks identified, pseudonymous, anonymous or none per event", a.ingestEvents},
		{"POST", "/api/v1/tracking/visitor-tokens", eventWriters, "Issue a visitor token for a contact who consented to identified web tracking (for the tracking script)", a.createVisitorToken},
		{"GET", "/api/v1/tracking/settings", trackingReaders, "The workspace's pseudonymous analytics setting and pseudonym rotation period", a.getTrackingSettings},
		{"PATCH", "/api/v1/tracking/settings", trackingSettings, "Turn pseudonymous analytics on or off (off deletes its history) and set the rotation period in days", a.updateTrackingSettings},
		{"GET", "/api/v1/analytics", all, "Dashboard data: funnel, double opt-in, withdrawal and objection rates, sources, events by branch (counts only)", a.analytics},
		{"GET", "/api/v1/scoring/rules", leadReaders, "The active scoring and lifecycle rules (version 0: the defaults)", a.getScoringRules},
		{"PUT", "/api/v1/scoring/rules", scoringEditors, "Save the scoring rules as a new immutable version (the same rules again return the newest version)", a.putScoringRules},
		{"GET", "/api/v1/scoring/rules/versions", leadReaders, "Every saved version of the scoring rules, newest first", a.listScoringVersions},
		{"GET", "/api/v1/scoring/rules/versions/{version}", leadReaders, "One saved version of the scoring rules", a.getScoringVersion},
		{"POST", "/api/v1/scoring/recompute", scoringEditors, "Recompute every contact's score from all events with the active rules", a.recomputeScores},
		{"GET", "/api/v1/contacts/{id}/score", leadReaders, "A contact's score now, with every contribution explained (decay applied)", a.contactScore},
		{"GET", "/api/v1/contacts/{id}/lead", leadReaders, "A contact's lifecycle stage, owner and recorded transitions", a.contactLead},
		{"POST", "/api/v1/contacts/{id}/stage", scoringEditors, "Move a contact to a stage by hand, with the reason (stages allowed per role)", a.moveStage},
		{"GET", "/api/v1/sales/leads", salesRoles, "Handed-off leads with the channels the engine allows now and why the others are blocked", a.salesLeads},
		{"GET", "/api/v1/segments", leadReaders, "List saved segments", a.listSegments},
		{"POST", "/api/v1/segments", segmentEditors, "Save a segment (a filter over attributes, stage, score, events and consents)", a.createSegment},
		{"POST", "/api/v1/segments/preview", segmentEditors, "Count the contacts a filter matches now, without saving it", a.previewSegment},
		{"GET", "/api/v1/segments/{id}", leadReaders, "Get a saved segment", a.getSegment},
		{"PUT", "/api/v1/segments/{id}", segmentEditors, "Change a segment's name and filter", a.updateSegment},
		{"GET", "/api/v1/segments/{id}/members", leadReaders, "The segment's members now, in contact ID order, a page at a time", a.segmentMembers},
		{"GET", "/api/v1/segments/{id}/feedback", leadReaders, "Personalization feedback given by the segment's members: counts per rating, average, comments", a.segmentFeedback},
		{"GET", "/api/v1/sensitive", leadReaders, "Attributes and event types flagged as special category or sensitive topic", a.getSensitive},
		{"PUT", "/api/v1/sensitive", sensitiveRoles, "Replace the sensitive-data flags", a.putSensitive},
		{"GET", "/api/v1/sensitive/report", leadReaders, "Which scoring rules and segments touch flagged data (used only with explicit consent)", a.sensitiveReport},
		{"POST", "/api/v1/imports", importers, "Import contacts from CSV or JSON with a mapping and their declared source (dry run and all-or-nothing on request)", a.importContacts},
		{"GET", "/api/v1/imports/{id}", exportReaders, "One recorded import: its source and counts", a.getImport},
		{"GET", "/api/v1/exports/contacts", exportReaders, "Every contact with its provenance as CSV or JSON (streamed)", a.exportContacts},
		{"GET", "/api/v1/art14-tasks", noticeWorkers, "The Art. 14 GDPR notice duties for third-party data, the oldest first", a.listArt14Tasks},
		{"POST", "/api/v1/art14-tasks/{id}/done", noticeWorkers, "Record that the person was informed: a notice_given event in the ledger closes the task", a.completeArt14Task},
		{"GET", "/api/v1/campaigns", campaignReaders, "List e-mail campaigns, newest first", a.listCampaigns},
		{"POST", "/api/v1/campaigns", campaignEditors, "Create a draft e-mail campaign (nurture sequence); an unknown merge field is refused naming it", a.createCampaign},
		{"GET", "/api/v1/campaigns/notification-secret", adminOnly, "The secret the mail provider signs bounce and complaint notifications with, and where to send them", a.campaignNotificationSecret},
		{"GET", "/api/v1/campaigns/{id}", campaignReaders, "Get a campaign with its steps", a.getCampaign},
		{"PUT", "/api/v1/campaigns/{id}", campaignEditors, "Replace a draft's settings and steps (drafts only; a scheduled campaign is a 409)", a.updateCampaign},
		{"POST", "/api/v1/campaigns/{id}/schedule", campaignEditors, "Schedule a draft: the audience is resolved now, the first step is due at starts_at", a.scheduleCampaign},
		{"POST", "/api/v1/campaigns/{id}/pause", campaignEditors, "Pause sending; queued messages wait", a.pauseCampaign},
		{"POST", "/api/v1/campaigns/{id}/resume", campaignEditors, "Resume a paused campaign", a.resumeCampaign},
		{"POST", "/api/v1/campaigns/{id}/preview", campaignEditors, "Render a step for one contact", a.previewCampaign},
		{"POST", "/api/v1/campaigns/{id}/test", campaignEditors, "Send a step to one address, marked as a test (never to the audience, not counted)", a.testCampaign},
		{"GET", "/api/v1/campaigns/{id}/report", campaignReaders, "What became of the campaign's messages: sent, skipped by reason code, delivered, bounced", a.campaignReport},
	}
}

// Mount registers every route on the server behind bearer-token
// authentication and the route's role check.
func (a *API) Mount(s *web.Server) {
	if a.Now == nil {
		a.Now = func() time.Time { return time.Now().UTC() }
	}
	if a.Log == nil {
		a.Log = slog.Default()
	}
	a.authn = a.Auth
	for _, rt := range a.Routes() {
		if len(rt.Roles) == 0 {
			panic("api: route " + rt.Pattern() + " declares no roles")
		}
		s.Handle(rt.Pattern(), a.wrap(rt))
	}
}

func (a *API) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		secret, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || secret == "" {
			web.WriteError(w, r, web.Errorf(http.StatusUnauthorized, "unauthenticated", "send an API token as Authorization: Bearer <token>"))
			return
		}
		p, err := a.authn.Authenticate(r.Context(), strings.TrimSpace(secret))
		if err != nil {
			if err == auth.ErrUnauthenticated {
				web.WriteError(w, r, web.Errorf(http.StatusUnauthorized, "unauthenticated", "the API token is unknown or revoked"))
				return
			}
			web.WriteError(w, r, err)
			return
		}
		web.AddLogAttrs(r.Context(), slog.String("workspace_id", p.WorkspaceID), slog.String("token_id", p.TokenID))
		if !rt.Admits(p.Role) {
			// A refused attempt to change or read personal data is recorded too.
			a.audited(rt, w, r, p, func(w http.ResponseWriter, r *http.Request) {
				web.WriteError(w, r, web.Errorf(http.StatusForbidden, "forbidden", "role "+string(p.Role)+" may not do this"))
			})
			return
		}
		a.audited(rt, w, r, p, func(w http.ResponseWriter, r *http.Request) {
			if err := rt.Handle(w, r, p); err != nil {
				web.WriteError(w, r, err)
			}
		})
	})
}
