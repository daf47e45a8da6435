// Package admin is fairlead's web UI under /admin/: server-rendered pages
// (html/template), htmx for partial updates, Pico CSS, all embedded. Every
// page works without JavaScript. Pages call the domain services directly,
// the same ones the JSON API handlers use, never the API over HTTP.
//
// Every route is declared in one table (Routes) with the roles it admits;
// the route/role matrix test in internal/app walks it. Other parts of
// fairlead add menu entries through Extensions (see docs/admin.md).
package admin

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/audit"
	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/campaign"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/mail/outbox"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/supplier"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/web"
	"github.com/fairlead/fairlead/internal/webhook"
)

//go:embed assets templates
var files embed.FS

// HandlerFunc is a page handler: it returns an error instead of writing one.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, s *Session) error

// Route is one page or action of the UI. Roles nil marks a public route
// (login, assets).
type Route struct {
	Method  string
	Path    string
	Roles   []auth.Role
	Summary string
	Handle  HandlerFunc
}

// Pattern is the ServeMux pattern of the route.
func (rt Route) Pattern() string { return rt.Method + " " + rt.Path }

// Public reports whether the route is reachable without a session.
func (rt Route) Public() bool { return rt.Roles == nil }

// Admits reports whether role may use the route.
func (rt Route) Admits(role auth.Role) bool {
	for _, r := range rt.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// MenuEntry is an item of the main menu. Parts of fairlead that are built
// apart from this package add their pages by appending a MenuEntry to
// UI.Extensions and mounting their routes with UI.Extend; a menu entry
// declared here but not built in shows a page that says the part is not
// installed.
type MenuEntry struct {
	Key   string // also the path: /admin/{key}
	Label [2]string
	Roles []auth.Role
}

// UI is the admin web interface.
type UI struct {
	DB       *store.DB
	Auth     *auth.Store
	Contacts *contact.Store
	Ledger   *consent.Ledger
	Purposes *consent.Purposes
	Notices  *consent.Notices
	Audience *audience.Resolver
	Capture  *capture.Service
	Outbox   *outbox.Outbox
	Settings *capture.SettingsStore
	Privacy  *privacy.Service
	Webhooks *webhook.Service
	// Suppliers is the backflow acquisition behind the supplier and letter pages.
	Suppliers *supplier.Backflow
	// Leads is scoring, lifecycle, hand-off and segments behind the lead pages.
	Leads *lead.Service
	// Campaigns is the e-mail campaigns behind the campaign pages.
	Campaigns *campaign.Service
	Audit     *audit.Trail
	Jobs      *jobs.Queue
	// Dashboards holds the dashboard's figures; Mount makes one from the
	// services above when nil. Its Run is what keeps them fresh.
	Dashboards *Dashboards
	// CheckGatewayURL validates an SMTP or SMS gateway URL before it is saved.
	CheckGatewayURL capture.URLCheck

	Sessions *Sessions
	Throttle *Throttle
	TOTP     *TOTP
	// SecureCookie sets Secure on the session cookie; see SecureFor.
	SecureCookie bool
	// Extensions are menu entries of parts built elsewhere.
	Extensions []MenuEntry
	Now        func() time.Time
	Log        *slog.Logger

	extra  []Route
	pages  map[string]*template.Template
	assets http.Handler
}

// SecureFor decides the Secure flag of the session cookie: it is left off
// only when fairlead listens on a loopback address and its public URL is
// plain http — a laptop, where the browser talks to 127.0.0.1 without TLS
// and would otherwise drop the cookie. Anything reachable from elsewhere, or
// served through https, gets Secure.
func SecureFor(listenAddr, publicURL string) bool {
	if strings.HasPrefix(strings.ToLower(publicURL), "https://") {
		return true
	}
	host, _, err := net.SplitHostPort(listenAddr)
	if err != nil {
		host = listenAddr
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

var (
	all            = auth.Roles
	adminOnly      = []auth.Role{auth.RoleAdmin}
	adminOrDPO     = []auth.Role{auth.RoleAdmin, auth.RoleDPO}
	people         = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleSales, auth.RoleDPO}
	consentTaker   = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleDPO}
	formEditors    = []auth.Role{auth.RoleAdmin, auth.RoleMarketing}
	outboxRoles    = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleDPO}
	privacyRoles   = []auth.Role{auth.RoleAdmin, auth.RoleDPO}
	catalogEditors = []auth.Role{auth.RoleAdmin, auth.RoleDPO, auth.RoleMarketing}
)

// Routes is the table of every /admin route.
func (u *UI) Routes() []Route {
	rs := []Route{
		{"GET", "/admin/assets/{file}", nil, "Embedded CSS, htmx and their licences", u.asset},
		{"GET", "/admin/login", nil, "Login form", u.loginPage},
		{"POST", "/admin/login", nil, "Log in with e-mail and password", u.login},

		{"GET", "/admin/login/totp", all, "Enter the TOTP code of a login", u.totpPage},
		{"POST", "/admin/login/totp", all, "Check the TOTP code of a login", u.totpLogin},
		{"POST", "/admin/logout", all, "Log out", u.logout},
		{"POST", "/admin/lang", all, "Switch the language of the UI", u.setLang},
		{"GET", "/admin/account", all, "Own account: second factor", u.accountPage},
		{"POST", "/admin/account/totp", all, "Start enrolling a TOTP second factor", u.totpEnrol},
		{"POST", "/admin/account/totp/activate", all, "Activate the TOTP second factor with a code", u.totpActivate},
		{"POST", "/admin/account/totp/remove", all, "Remove the own TOTP second factor", u.totpRemove},

		{"GET", "/admin/", all, "Dashboard", u.dashboard},

		{"GET", "/admin/contacts", people, "Contacts: list and search", u.contacts},
		{"GET", "/admin/contacts/{id}", people, "A contact: values, consent timeline, may-I-contact matrix", u.contactPage},
		{"POST", "/admin/contacts/{id}/consent", consentTaker, "Record a consent received by phone", u.recordPhoneConsent},
		{"POST", "/admin/contacts/{id}/objection", people, "Record an objection to direct marketing", u.recordObjection},
		{"POST", "/admin/contacts/{id}/dsr", privacyRoles, "Start a data subject request", u.openDSR},
		{"GET", "/admin/ledger/verify", adminOrDPO, "Verify the ledger's hash chain", u.verifyLedger},

		{"GET", "/admin/forms", all, "Forms", u.forms},
		{"GET", "/admin/forms/new", formEditors, "Form builder for a new form", u.formEdit},
		{"GET", "/admin/forms/{key}", all, "Form builder, preview and embed snippet", u.formEdit},
		{"POST", "/admin/forms/check", formEditors, "Lint a form definition (live findings)", u.formCheck},
		{"POST", "/admin/forms", formEditors, "Save a form", u.formSave},

		{"GET", "/admin/privacy/dsr", privacyRoles, "Data subject request queue", u.dsrQueue},
		{"GET", "/admin/privacy/dsr/{id}", privacyRoles, "One data subject request", u.dsrPage},
		{"POST", "/admin/privacy/dsr/{id}/complete", privacyRoles, "Close a data subject request", u.dsrComplete},
		{"GET", "/admin/contacts/{id}/erase", privacyRoles, "Confirm an erasure", u.eraseConfirm},
		{"POST", "/admin/contacts/{id}/erase", privacyRoles, "Erase a contact", u.erase},
		{"GET", "/admin/contacts/{id}/export", privacyRoles, "Access export of a contact (Art. 15)", u.export},
		{"GET", "/admin/privacy/retention", privacyRoles, "Retention policies and the dry-run plan", u.retention},
		{"GET", "/admin/privacy/webhooks", adminOrDPO, "Connected systems and their deliveries", u.webhooks},
		{"POST", "/admin/privacy/webhooks/deliveries/{id}/redeliver", adminOnly, "Queue a delivery again", u.redeliver},
		{"GET", "/admin/privacy/audit", adminOrDPO, "Audit trail with filters", u.auditPage},

		{"GET", "/admin/outbox", outboxRoles, "Dev outbox: mail and SMS that would have been sent", u.outboxPage},
		{"GET", "/admin/outbox/{id}", outboxRoles, "One message of the dev outbox", u.outboxItem},

		{"GET", "/admin/settings", adminOnly, "Settings: imprint, sender, gateways", u.settingsPage},
		{"POST", "/admin/settings", adminOnly, "Change imprint, sender and gateways", u.saveSettings},
		{"POST", "/admin/settings/test", adminOnly, "Send a test e-mail or SMS through the configured gateway", u.testMessage},
		{"GET", "/admin/settings/purposes", all, "Business purposes", u.purposesPage},
		{"POST", "/admin/settings/purposes", catalogEditors, "Add a business purpose", u.createPurpose},
		{"GET", "/admin/settings/notices", all, "Notice versions and their differences", u.noticesPage},
		{"POST", "/admin/settings/notices", catalogEditors, "Store a new notice version", u.createNotice},
		{"GET", "/admin/settings/users", adminOnly, "Users and API tokens", u.usersPage},
		{"POST", "/admin/settings/users", adminOnly, "Create a user", u.createUser},
		{"POST", "/admin/settings/users/{id}", adminOnly, "Change a user's role or disable it", u.updateUser},
		{"POST", "/admin/settings/tokens", adminOnly, "Create an API token (shown once)", u.createToken},
		{"POST", "/admin/settings/tokens/{id}/revoke", adminOnly, "Revoke an API token", u.revokeToken},
		{"GET", "/admin/settings/record", adminOrDPO, "Record of processing activities (Art. 30), printable", u.recordPage},
		{"POST", "/admin/settings/processors", adminOrDPO, "Add a processor to the record", u.addProcessor},
		{"POST", "/admin/settings/processors/{id}/remove", adminOrDPO, "Remove a processor from the record", u.removeProcessor},
		{"GET", "/p/transparency/{workspace}", nil, "Public transparency page generated from the record", u.transparency},

		{"GET", "/admin/suppliers", supplierReaders, "Suppliers (dream=1: only dream clients) and a new one", u.suppliersPage},
		{"POST", "/admin/suppliers", supplierEditors, "Create a supplier", u.createSupplier},
		{"GET", "/admin/suppliers/{id}", supplierReaders, "A supplier: contact persons, first inquiries, contracts", u.supplierPage},
		{"POST", "/admin/suppliers/{id}", supplierEditors, "Change a supplier's name, language, dream-client flag or notes", u.updateSupplier},
		{"POST", "/admin/suppliers/{id}/contacts", supplierEditors, "Add a contact person (an existing contact or a new one)", u.addSupplierContact},
		{"POST", "/admin/suppliers/{id}/inquiries", supplierEditors, "Generate the first-inquiry text linking the current supplier notice", u.createInquiry},
		{"POST", "/admin/supplier-inquiries/{id}/sent", supplierEditors, "Mark an inquiry sent: records notice_given", u.markInquirySent},
		{"POST", "/admin/suppliers/{id}/contracts", supplierEditors, "Record a concluded contract; queues the scheduled letters", u.recordContract},
		{"GET", "/admin/letters", supplierReaders, "Letter templates, schedules and batches; create a batch", u.lettersPage},
		{"GET", "/admin/letters/templates/new", supplierEditors, "Letter template editor for a new template", u.letterTemplatePage},
		{"GET", "/admin/letters/templates/{id}", supplierReaders, "A letter template with its versions", u.letterTemplatePage},
		{"POST", "/admin/letters/templates", supplierEditors, "Save a letter template version (unknown merge fields are refused)", u.saveLetterTemplate},
		{"POST", "/admin/letters/templates/{id}/schedule", supplierEditors, "Set a template's schedule", u.setLetterSchedule},
		{"POST", "/admin/letters/batches", supplierEditors, "Create a letter batch: the engine decides every contact person now", u.createLetterBatch},
		{"GET", "/admin/letters/batches/{id}", supplierReaders, "A letter batch: letters, left-out contacts with reasons, PDF preview", u.batchPage},
		{"GET", "/admin/letters/batches/{id}/pdf", supplierReaders, "The batch's letters as one PDF (inline=1: for the preview)", u.batchPDF},
		{"GET", "/admin/letters/batches/{id}/manifest", supplierReaders, "The batch's CSV manifest for the print-and-mail service", u.batchManifest},
		{"GET", "/admin/contacts/{id}/sales", supplierReaders, "Sales view of a contact: responses and the current matrix", u.salesPage},
		{"POST", "/admin/contacts/{id}/responses", supplierEditors, "Log an inbound response: opens an inbound request", u.logResponse},

		{"GET", "/admin/leads", leadReaders, "Saved segments", u.segmentsPage},
		{"GET", "/admin/leads/sales", salesViewRoles, "Handed-off leads with owner and the channels the engine allows now (mine=1: own leads)", u.salesLeadsPage},
		{"GET", "/admin/leads/segments/new", leadEditors, "Segment editor for a new segment", u.segmentPage},
		{"GET", "/admin/leads/segments/{id}", leadReaders, "A segment: name and JSON filter", u.segmentPage},
		{"POST", "/admin/leads/segments", leadEditors, "Save a new segment (a bad filter is refused naming the part)", u.saveSegment},
		{"POST", "/admin/leads/segments/preview", leadEditors, "Count the contacts a filter matches now, without saving it (htmx fragment)", u.previewSegment},
		{"POST", "/admin/leads/segments/{id}", leadEditors, "Change a segment's name and filter", u.saveSegment},
		{"GET", "/admin/leads/scoring", leadReaders, "The active scoring and lifecycle rules as JSON, and their versions", u.scoringPage},
		{"POST", "/admin/leads/scoring", leadEditors, "Save the scoring rules as a new version; queues the recompute", u.saveScoring},
		{"GET", "/admin/contacts/{id}/score", leadReaders, "A contact's score with every contribution explained, and its stage changes", u.scorePage},
		{"POST", "/admin/contacts/{id}/stage", leadEditors, "Move a contact to a stage by hand, with the reason (stages allowed per role)", u.moveStage},
		{"GET", "/admin/leads/segments/{id}/members", leadReaders, "A segment's members now, a page at a time (keyset)", u.segmentMembers},
		{"GET", "/admin/leads/segments/{id}/feedback", leadReaders, "Personalization feedback of a segment's members: ratings, average, comments", u.segmentFeedback},
		{"POST", "/admin/leads/scoring/recompute", leadEditors, "Queue the recompute of every score with the active rules", u.recomputeScores},

		{"GET", "/admin/campaigns", campaignReaders, "E-mail campaigns with their status", u.campaignsPage},
		{"GET", "/admin/campaigns/new", campaignEditors, "Campaign form for a new draft (from=<id>: a copy of that campaign)", u.campaignNew},
		{"POST", "/admin/campaigns", campaignEditors, "Create a draft campaign (an unknown merge field is refused next to its step)", u.createCampaign},
		{"GET", "/admin/campaigns/{id}/edit", campaignEditors, "Campaign form for a draft (a campaign past its draft: a copy)", u.campaignEdit},
		{"POST", "/admin/campaigns/{id}", campaignEditors, "Change a draft's settings and steps (drafts only)", u.updateCampaign},
		{"GET", "/admin/campaigns/{id}", campaignReaders, "A campaign: steps, status actions, preview and test send", u.campaignPage},
		{"POST", "/admin/campaigns/{id}/preview", campaignEditors, "Render a step for one contact", u.previewCampaign},
		{"POST", "/admin/campaigns/{id}/test", campaignEditors, "Send a step to one address, marked as a test", u.testCampaign},
		{"POST", "/admin/campaigns/{id}/schedule", campaignEditors, "Schedule a draft: the audience is resolved now", u.scheduleCampaign},
		{"POST", "/admin/campaigns/{id}/pause", campaignEditors, "Pause sending", u.pauseCampaign},
		{"POST", "/admin/campaigns/{id}/resume", campaignEditors, "Resume a paused campaign", u.resumeCampaign},
		{"GET", "/admin/campaigns/{id}/report", campaignReaders, "What became of the campaign's messages, with a bar chart", u.campaignReportPage},
	}
	for _, e := range u.menu() {
		if e.builtin {
			continue
		}
		rs = append(rs, Route{"GET", "/admin/" + e.Key, e.Roles, "Extension point: " + e.Label[0], u.extensionPage})
	}
	return append(rs, u.extra...)
}

// NewDashboards is the dashboard figures of the UI's services.
func (u *UI) NewDashboards() *Dashboards {
	return &Dashboards{DB: u.DB, Leads: u.Leads, Jobs: u.Jobs, Webhooks: u.Webhooks, Now: u.Now, Log: u.Log}
}

// Extend adds routes of another part of fairlead; call before Mount.
func (u *UI) Extend(rs ...Route) { u.extra = append(u.extra, rs...) }

// Mount registers every route on the server. State-changing requests pass
// the stdlib cross-origin protection (Sec-Fetch-Site / Origin against the
// host) before anything else.
func (u *UI) Mount(s *web.Server) {
	if u.Now == nil {
		u.Now = func() time.Time { return time.Now().UTC() }
	}
	if u.Log == nil {
		u.Log = slog.Default()
	}
	if u.Dashboards == nil {
		u.Dashboards = u.NewDashboards()
	}
	u.parse()
	sub, _ := fs.Sub(files, "assets")
	u.assets = http.FileServerFS(sub)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.Log.InfoContext(r.Context(), "cross-origin request refused", "request_id", web.RequestID(r.Context()), "route", r.Pattern)
		u.errorPage(w, r, nil, http.StatusForbidden, "err_cross_origin")
	}))
	for _, rt := range u.Routes() {
		if rt.Roles != nil && len(rt.Roles) == 0 {
			panic("admin: route " + rt.Pattern() + " declares no roles")
		}
		s.Handle(rt.Pattern(), cop.Handler(u.wrap(rt)))
	}
	s.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
}

// cookieName: with Secure the __Host- prefix binds the cookie to this host
// and path /, so a sibling subdomain cannot plant one.
func (u *UI) cookieName() string {
	if u.SecureCookie {
		return "__Host-fairlead_session"
	}
	return "fairlead_session"
}

func (u *UI) setCookie(w http.ResponseWriter, tok string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: u.cookieName(), Value: tok, Path: "/", MaxAge: maxAge,
		Secure: u.SecureCookie, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// The admin pages load their own CSS, script and the QR image; the rest of
// the house policy (no frames, no foreign origins) stays.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func (u *UI) session(r *http.Request) (*Session, error) {
	c, err := r.Cookie(u.cookieName())
	if err != nil {
		return nil, ErrNoSession
	}
	return u.Sessions.Lookup(r.Context(), c.Value)
}

func (u *UI) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		var s *Session
		if !rt.Public() {
			var err error
			s, err = u.session(r)
			if err != nil {
				if !errors.Is(err, ErrNoSession) {
					u.fail(w, r, nil, err)
					return
				}
				u.toLogin(w, r)
				return
			}
			web.AddLogAttrs(r.Context(), slog.String("workspace_id", s.WorkspaceID), slog.String("user_id", s.UserID))
			if s.SecondFactor && rt.Path != "/admin/login/totp" && rt.Path != "/admin/logout" {
				http.Redirect(w, r, "/admin/login/totp", http.StatusSeeOther)
				return
			}
			if !rt.Admits(s.Role) {
				// A refused attempt to change or read personal data is recorded too.
				u.audited(rt, w, r, s, func(w http.ResponseWriter) { u.errorPage(w, r, s, http.StatusForbidden, "err_forbidden") })
				return
			}
		}
		u.audited(rt, w, r, s, func(w http.ResponseWriter) {
			if err := rt.Handle(w, r, s); err != nil {
				u.fail(w, r, s, err)
			}
		})
	})
}

// toLogin sends a visitor without a session to the login page, and back
// here after it. htmx requests get the redirect as a header, or htmx would
// paste the login page into a fragment.
func (u *UI) toLogin(w http.ResponseWriter, r *http.Request) {
	next := "/admin/"
	if r.Method == http.MethodGet {
		next = r.URL.RequestURI()
	}
	loc := "/admin/login?next=" + url.QueryEscape(next)
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", loc)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		u.errorPage(w, r, nil, http.StatusUnauthorized, "err_login_first")
		return
	}
	http.Redirect(w, r, loc, http.StatusSeeOther)
}

// fail answers an error a handler returned.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, s *Session, err error) {
	var ve *validate.Error
	switch {
	case errors.Is(err, store.ErrNotFound):
		u.errorPage(w, r, s, http.StatusNotFound, "err_not_found")
	case errors.As(err, &ve):
		u.errorPage(w, r, s, http.StatusBadRequest, "", ve.Message)
	case errors.Is(err, context.Canceled):
	default:
		u.Log.ErrorContext(r.Context(), "admin page failed", "request_id", web.RequestID(r.Context()), "route", r.Pattern, "err", err)
		u.errorPage(w, r, s, http.StatusInternalServerError, "err_internal")
	}
}

// safeNext keeps a redirect after login inside the admin UI.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/admin/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/admin/"
	}
	return next
}

func (u *UI) asset(w http.ResponseWriter, r *http.Request, _ *Session) error {
	// Assets are versioned with the binary; a day's caching is safe and
	// spares the login page most of its weight.
	w.Header().Set("Cache-Control", "public, max-age=86400")
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + r.PathValue("file")
	u.assets.ServeHTTP(w, r2)
	return nil
}
