package app

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/web/admin"
)

// uiClient is a browser-like client of the admin UI: a cookie jar and no
// automatic redirects, so tests see each answer.
type uiClient struct {
	t   *testing.T
	h   *harness
	c   *http.Client
	jar *cookiejar.Jar
}

func (h *harness) ui() *uiClient {
	jar, _ := cookiejar.New(nil)
	return &uiClient{t: h.t, h: h, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request as a same-origin browser would.
func (c *uiClient) do(method, path string, form url.Values, header ...string) (int, http.Header, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.h.url+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

func (c *uiClient) login(email, password string) (int, string) {
	c.t.Helper()
	st, hd, body := c.do("POST", "/admin/login", url.Values{"workspace": {"demo"}, "email": {email}, "password": {password}, "next": {"/admin/"}})
	if st == http.StatusSeeOther {
		return st, hd.Get("Location")
	}
	return st, body
}

// roleUser creates a user with role in the demo workspace and returns its
// e-mail address; the password is rolePassword.
const rolePassword = "a long role password"

func (h *harness) roleUser(role auth.Role) string {
	h.t.Helper()
	email := string(role) + "-" + id.New()[:8] + "@example.com"
	if _, err := auth.NewStore(h.db, nil).CreateUser(context.Background(), h.ws.ID, auth.NewUser{Email: email, Name: string(role), Role: string(role), Password: rolePassword}); err != nil {
		h.t.Fatal(err)
	}
	return email
}

func TestAdminLoginAndPages(t *testing.T) {
	t.Parallel()
	eachDemo(t, func(t *testing.T, h *harness) {
		c := h.ui()
		if st, hd, _ := c.do("GET", "/admin/contacts", nil); st != http.StatusSeeOther || !strings.HasPrefix(hd.Get("Location"), "/admin/login?next=") {
			t.Fatalf("without a session: %d %s", st, hd.Get("Location"))
		}
		if st, loc := c.login(h.cfg.AdminEmail, "wrong password!!"); st != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d %s", st, loc)
		}
		if st, loc := c.login(h.cfg.AdminEmail, h.cfg.AdminPassword); st != http.StatusSeeOther || loc != "/admin/" {
			t.Fatalf("login: %d %s", st, loc)
		}
		var cookie *http.Cookie
		for _, ck := range c.jar.Cookies(mustURL(t, h.url)) {
			cookie = ck
		}
		if cookie == nil || cookie.Name != "fairlead_session" {
			t.Fatalf("session cookie: %+v", cookie)
		}
		var n int
		if err := h.db.R.QueryRow(`SELECT COUNT(*) FROM admin_sessions WHERE id = $1`, cookie.Value).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the token itself is stored (n=%d, %v)", n, err)
		}
		for _, p := range []string{"/admin/", "/admin/contacts", "/admin/forms", "/admin/forms/new", "/admin/forms/demo-newsletter", "/admin/privacy/dsr", "/admin/privacy/retention",
			"/admin/privacy/retention?plan=1", "/admin/privacy/webhooks", "/admin/privacy/audit", "/admin/outbox", "/admin/settings", "/admin/settings/purposes",
			"/admin/settings/notices", "/admin/settings/users", "/admin/settings/record", "/p/transparency/demo", "/admin/account", "/admin/leads", "/admin/campaigns", "/admin/suppliers", "/admin/ledger/verify"} {
			st, _, body := c.do("GET", p, nil)
			if st != http.StatusOK {
				t.Errorf("GET %s: %d\n%s", p, st, body)
			}
		}
		// Bad input is shown next to its field, and nothing is saved.
		for _, bad := range []struct {
			path  string
			form  url.Values
			field string
		}{
			{"/admin/settings", url.Values{"mail_from": {"not an address"}, "imprint_de": {"Neues Impressum"}}, `id="mail_from-err"`},
			{"/admin/settings/processors", url.Values{"name": {"Mailer"}, "service": {"mail"}, "location": {"DE"}, "dpa_signed_on": {"gestern"}, "data_categories": {"email"}}, `id="pr-dpa_signed_on-err"`},
			{"/admin/settings/users", url.Values{"email": {"new@example.com"}, "role": {"sales"}, "password": {"short"}}, `id="u-password-err"`},
			{"/admin/settings/purposes", url.Values{"key": {"Bad Key"}, "kind": {"direct_marketing"}}, `id="p-key-err"`},
		} {
			st, _, body := c.do("POST", bad.path, bad.form)
			if st != http.StatusUnprocessableEntity || !strings.Contains(body, bad.field) {
				t.Errorf("POST %s with bad input: %d, want 422 with %s\n%.2000s", bad.path, st, bad.field, body)
			}
		}
		if st, _, body := c.do("GET", "/admin/settings", nil); st != 200 || strings.Contains(body, "Neues Impressum") {
			t.Errorf("a refused settings change saved part of it")
		}
		if st, _, _ := c.do("POST", "/admin/settings/processors", url.Values{"name": {"Mailer GmbH"}, "service": {"e-mail delivery"}, "location": {"DE"}, "dpa_signed_on": {"2026-01-15"}, "data_categories": {"email, name"}}); st != http.StatusSeeOther {
			t.Errorf("add a processor: %d", st)
		}
		if st, _, body := c.do("GET", "/p/transparency/demo", nil, "Cookie", ""); st != 200 || !strings.Contains(body, "Mailer GmbH") || strings.Contains(body, "2026-01-15") {
			t.Errorf("transparency page: %d (must name the processor, not the agreement date)\n%.500s", st, body)
		}
		// The language picked is kept in the session.
		if st, hd, _ := c.do("POST", "/admin/lang", url.Values{"lang": {"de"}, "next": {"/admin/forms"}}); st != http.StatusSeeOther || hd.Get("Location") != "/admin/forms" {
			t.Fatalf("switch language: %d %s", st, hd.Get("Location"))
		}
		if _, _, body := c.do("GET", "/admin/", nil); !strings.Contains(body, `<html lang="de">`) || !strings.Contains(body, "Übersicht") {
			t.Fatalf("after switching to German:\n%.400s", body)
		}
		c.do("POST", "/admin/lang", url.Values{"lang": {"en"}})
		cid := h.contactByEmailCreate("lin@example.com")
		st, _, body := c.do("GET", "/admin/contacts/"+cid, nil)
		if st != 200 || !strings.Contains(body, `data-purpose="newsletter" data-channel="email" data-allowed="false"`) {
			t.Fatalf("contact page: %d\n%s", st, body)
		}
		st, _, body = c.do("GET", "/admin/contacts?q=lin@example.com", nil)
		if st != 200 || !strings.Contains(body, cid) {
			t.Fatalf("search by e-mail: %d\n%s", st, body)
		}
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (h *harness) contactByEmailCreate(email string) string {
	h.t.Helper()
	r := h.do("POST", "/api/v1/contacts", h.tokens[auth.RoleAdmin], map[string]any{"email": email, "first_name": "Lin", "audience": "b2c", "relationship": "prospect"})
	if r.Status != 201 {
		h.t.Fatalf("create contact: %d %s", r.Status, r.Body)
	}
	return r.json(h.t)["id"].(string)
}

// checkAdminMatrix is the admin UI's part of the route/role matrix: every
// /admin route mounted is declared in the UI's table; without a session a
// page sends to the login and an action answers 401; each role is admitted
// or refused with 403 exactly as declared.
func checkAdminMatrix(t *testing.T, h *harness) {
	t.Helper()
	ctx := context.Background()
	routes := (&admin.UI{}).Routes()
	declared := map[string]bool{"GET /admin": true}
	for _, rt := range routes {
		declared[rt.Pattern()] = true
	}
	for _, p := range h.srv.Patterns() {
		if strings.Contains(p, " /admin") && !declared[p] {
			t.Errorf("%s is mounted but not declared in the admin route table", p)
		}
	}
	users := map[auth.Role]string{}
	as := auth.NewStore(h.db, nil)
	for _, role := range auth.Roles {
		u, err := as.CreateUser(ctx, h.ws.ID, auth.NewUser{Email: "matrix-" + string(role) + "@example.com", Role: string(role), Password: rolePassword})
		if err != nil {
			t.Fatal(err)
		}
		users[role] = u.ID
	}
	sessions := admin.NewSessions(h.db, 0, 0, nil)
	for _, rt := range routes {
		if rt.Public() {
			continue
		}
		path := strings.NewReplacer("{id}", id.New(), "{key}", "no-such-form", "{file}", "pico.min.css").Replace(rt.Path)
		var form url.Values
		if rt.Method == "POST" {
			form = url.Values{}
		}
		st, hd, _ := h.ui().do(rt.Method, path, form)
		switch {
		case rt.Method == "GET" && (st != http.StatusSeeOther || !strings.HasPrefix(hd.Get("Location"), "/admin/login")):
			t.Errorf("%s without a session: %d %s, want 303 to the login", rt.Pattern(), st, hd.Get("Location"))
		case rt.Method != "GET" && st != http.StatusUnauthorized:
			t.Errorf("%s without a session: %d, want 401", rt.Pattern(), st)
		}
		for _, role := range auth.Roles {
			tok, err := sessions.Create(ctx, h.ws.ID, users[role], "en", false)
			if err != nil {
				t.Fatal(err)
			}
			c := h.ui()
			c.jar.SetCookies(mustURL(t, h.url), []*http.Cookie{{Name: "fairlead_session", Value: tok, Path: "/"}})
			st, _, body := c.do(rt.Method, path, form)
			admitted := rt.Admits(role)
			switch {
			case admitted && (st == 401 || st == 403 || st >= 500):
				t.Errorf("%s as %s: %d, want the route to admit it\n%.500s", rt.Pattern(), role, st, body)
			case !admitted && st != http.StatusForbidden:
				t.Errorf("%s as %s: %d, want 403", rt.Pattern(), role, st)
			}
		}
	}
}

// TestAdminCrossOriginRefused: a logged-in user's browser sent a form from
// another site (a CSRF attempt). The stdlib cross-origin protection refuses
// it before the handler runs, and nothing is recorded.
func TestAdminCrossOriginRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "sqlite")
	c := h.ui()
	if st, loc := c.login(h.cfg.AdminEmail, h.cfg.AdminPassword); st != http.StatusSeeOther {
		t.Fatalf("login: %d %s", st, loc)
	}
	cid := h.contactByEmailCreate("csrf@example.com")
	before := h.ledgerCount(cid)
	form := url.Values{"objection_type": {"direct_marketing"}, "channel": {"any"}}
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Sec-Fetch-Site", "", "Origin", "https://evil.example"},
	} {
		st, _, body := c.do("POST", "/admin/contacts/"+cid+"/objection", form, hdr...)
		if st != http.StatusForbidden || !strings.Contains(body, "another site") {
			t.Errorf("cross-origin POST with %v: %d\n%.300s", hdr, st, body)
		}
	}
	if n := h.ledgerCount(cid); n != before {
		t.Fatalf("a refused cross-origin POST recorded %d events", n-before)
	}
	// The same form from the page itself is recorded.
	if st, _, body := c.do("POST", "/admin/contacts/"+cid+"/objection", form); st != http.StatusSeeOther {
		t.Fatalf("same-origin POST: %d\n%.300s", st, body)
	}
	if n := h.ledgerCount(cid); n != before+1 {
		t.Fatalf("same-origin POST: %d events, want %d", n, before+1)
	}
}

func (h *harness) ledgerCount(cid string) int {
	h.t.Helper()
	var n int
	if err := h.db.R.QueryRow(`SELECT COUNT(*) FROM ledger_events WHERE workspace_id = $1 AND contact_id = $2`, h.ws.ID, cid).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// TestAdminLockout: after five wrong passwords the account is locked, even
// for the right password, and the answer says until when.
func TestAdminLockout(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			email := h.roleUser(auth.RoleMarketing)
			c := h.ui()
			for i := range admin.DefaultAccountLimit {
				if st, body := c.login(email, "not the password"); st != http.StatusUnauthorized {
					t.Fatalf("failure %d: %d\n%.300s", i+1, st, body)
				}
			}
			st, body := c.login(email, rolePassword)
			if st != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed attempts") {
				t.Fatalf("right password while locked: %d\n%.500s", st, body)
			}
			// Another account is not locked by this one's failures.
			if st, loc := h.ui().login(h.cfg.AdminEmail, h.cfg.AdminPassword); st != http.StatusSeeOther {
				t.Fatalf("another account: %d %s", st, loc)
			}
		})
	}
}

// TestAdminTOTPLogin enrols a second factor through the pages, activates it
// with a code, and logs in again: the password alone reaches only the code
// page, a reused code is refused, the next one logs in.
func TestAdminTOTPLogin(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			email := h.roleUser(auth.RoleDPO)
			c := h.ui()
			if st, loc := c.login(email, rolePassword); st != http.StatusSeeOther {
				t.Fatalf("login: %d %s", st, loc)
			}
			st, _, body := c.do("POST", "/admin/account/totp", url.Values{})
			m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(body)
			if st != 200 || m == nil || !strings.Contains(body, "otpauth://totp/") || !strings.Contains(body, "data:image/png;base64,") {
				t.Fatalf("enrol: %d\n%s", st, body)
			}
			secret := m[1]
			if st, _, body := c.do("POST", "/admin/account/totp/activate", url.Values{"code": {"12345"}}); st != http.StatusUnprocessableEntity || !strings.Contains(body, `id="code-err"`) {
				t.Fatalf("activate with a bad code: %d\n%.300s", st, body)
			}
			code, _ := totp.GenerateCode(secret, time.Now())
			if st, _, body := c.do("POST", "/admin/account/totp/activate", url.Values{"code": {code}}); st != 200 || !strings.Contains(body, "second factor is active") {
				t.Fatalf("activate: %d\n%.300s", st, body)
			}
			c.do("POST", "/admin/logout", url.Values{})

			c = h.ui()
			if st, loc := c.login(email, rolePassword); st != http.StatusSeeOther || loc != "/admin/login/totp" {
				t.Fatalf("login with a second factor: %d %s", st, loc)
			}
			if st, hd, _ := c.do("GET", "/admin/contacts", nil); st != http.StatusSeeOther || hd.Get("Location") != "/admin/login/totp" {
				t.Fatalf("a page before the code: %d %s", st, hd.Get("Location"))
			}
			if st, _, _ := c.do("POST", "/admin/login/totp", url.Values{"code": {code}}); st != http.StatusUnauthorized {
				t.Fatalf("the activation's code again: %d, want 401", st)
			}
			next, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
			if st, hd, _ := c.do("POST", "/admin/login/totp", url.Values{"code": {next}}); st != http.StatusSeeOther || hd.Get("Location") != "/admin/" {
				t.Fatalf("the next code: %d %s", st, hd.Get("Location"))
			}
			if st, _, _ := c.do("GET", "/admin/privacy/dsr", nil); st != http.StatusOK {
				t.Fatalf("a page after the code: %d", st)
			}
		})
	}
}

// TestAdminRoleDenied: roles that may not do something get 403 and
// nothing changes.
func TestAdminRoleDenied(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			cid := h.contactByEmailCreate("keep@example.com")
			viewer, marketing := h.ui(), h.ui()
			viewer.login(h.roleUser(auth.RoleViewer), rolePassword)
			marketing.login(h.roleUser(auth.RoleMarketing), rolePassword)
			if st, _, body := viewer.do("GET", "/admin/contacts/"+cid, nil); st != http.StatusForbidden || strings.Contains(body, "keep@example.com") {
				t.Fatalf("viewer on a contact page: %d", st)
			}
			if st, _, _ := marketing.do("POST", "/admin/contacts/"+cid+"/erase", url.Values{"confirm": {"ERASE"}}); st != http.StatusForbidden {
				t.Fatalf("marketing erasing: %d", st)
			}
			if r := h.do("GET", "/api/v1/contacts/"+cid, h.tokens[auth.RoleAdmin], nil); r.json(t)["erased"] != false {
				t.Fatalf("contact after a refused erasure: %s", r.Body)
			}
			// The refused attempt is in the audit trail, with field names only.
			var n int
			if err := h.db.R.QueryRow(`SELECT COUNT(*) FROM audit_events WHERE workspace_id = $1 AND route = 'POST /admin/contacts/{id}/erase' AND resource_id = $2 AND status = 403 AND action = 'delete'`, h.ws.ID, cid).Scan(&n); err != nil || n != 1 {
				t.Fatalf("audit entries of the refused erasure: %d %v", n, err)
			}
			if st, _, body := viewer.do("GET", "/admin/", nil); st != http.StatusOK || strings.Contains(body, `href="/admin/contacts"`) {
				t.Fatalf("viewer's dashboard: %d; the menu must not offer contacts", st)
			}
		})
	}
}

// totp returns the second factors as newInstance wires them.
func (h *harness) totp() *admin.TOTP {
	contacts, _, _, _ := h.consent()
	return admin.NewTOTP(h.db, contacts.Keys(), "fairlead", nil)
}
