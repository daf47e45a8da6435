package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/mail/smtptest"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// page is a public page as a person's browser gets it (no redirects
// followed, no API checks: these are HTML pages).
type page struct {
	Status int
	Header http.Header
	Body   string
}

func (h *harness) page(method, path string, form url.Values, header ...string) page {
	h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	u := path
	if !strings.HasPrefix(u, "http") {
		u = h.url + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", "fairlead-test-browser/1.0")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{Status: res.StatusCode, Header: res.Header, Body: string(b)}
}

// textOf returns the decoded text/plain part of a received message.
func textOf(t *testing.T, raw []byte) (string, mail.Header) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a message: %v\n%s", err, raw)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	decode := func(enc string, r io.Reader) string {
		if strings.EqualFold(enc, "quoted-printable") {
			r = quotedprintable.NewReader(r)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		return decode(m.Header.Get("Content-Transfer-Encoding"), m.Body), m.Header
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no text/plain part: %v", err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			return decode(p.Header.Get("Content-Transfer-Encoding"), p), m.Header
		}
	}
}

var linkRE = regexp.MustCompile(`https?://[^\s<>"]+`)

func linkWith(t *testing.T, text, part string) string {
	t.Helper()
	for _, l := range linkRE.FindAllString(text, -1) {
		if strings.Contains(l, part) {
			return l
		}
	}
	t.Fatalf("no link with %q in:\n%s", part, text)
	return ""
}

// decision asks the API whether the contact may be contacted now.
func (h *harness) decision(contactID, purpose, channel string) (bool, []any) {
	h.t.Helper()
	r := h.do("GET", "/api/v1/contacts/"+contactID+"/contactability?purpose="+purpose+"&channel="+channel, h.tokens[auth.RoleAdmin], nil)
	if r.Status != 200 {
		h.t.Fatalf("contactability: %d %s", r.Status, r.Body)
	}
	m := r.json(h.t)
	reasons, _ := m["reasons"].([]any)
	return m["allowed"] == true, reasons
}

func (h *harness) contactByEmail(email string) string {
	h.t.Helper()
	r := h.do("GET", "/api/v1/contacts?email="+url.QueryEscape(email), h.tokens[auth.RoleAdmin], nil)
	cs, _ := r.json(h.t)["contacts"].([]any)
	if len(cs) != 1 {
		h.t.Fatalf("want one contact for the address, got %d: %s", len(cs), r.Body)
	}
	return cs[0].(map[string]any)["id"].(string)
}

func (h *harness) startQueue() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := h.queue.Start(ctx); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		cancel()
		sctx, c2 := context.WithTimeout(context.Background(), 5*time.Second)
		defer c2()
		_ = h.queue.Stop(sctx)
	})
}

var fastJobs = jobs.Options{PollInterval: 20 * time.Millisecond, Backoff: func(int) time.Duration { return 50 * time.Millisecond }}

// TestDoubleOptInEndToEnd walks the whole flow with a real SMTP server
// receiving the mail: submit the demo form -> the confirmation mail arrives
// -> a GET of its link confirms nothing -> the page's POST confirms -> the
// engine allows e-mail for the newsletter -> the welcome mail carries the
// footer and RFC 8058 headers -> its one-click POST withdraws -> the engine
// denies. The SMTP server refuses the first two deliveries: the
// confirmation is retried, not lost, and the failure is visible.
func TestDoubleOptInEndToEnd(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			sink := smtptest.Start(t, smtptest.Options{Username: "fairlead", Password: "s3cret-pass", FailFirst: 2})
			h := newHarnessWith(t, d, func(c *config.Config) { c.SMTPURL = sink.URL(); c.Workers = 2; c.MailFrom = "news@demo.example" }, fastJobs)
			h.seedDemo()
			h.startQueue()

			p := h.page("GET", "/p/forms/demo-newsletter", nil)
			if p.Status != 200 || !strings.Contains(p.Body, `name="email"`) || !strings.Contains(p.Body, "Newsletter") || !strings.Contains(p.Body, `name="website"`) {
				t.Fatalf("form page %d:\n%s", p.Status, p.Body)
			}
			p = h.page("POST", "/p/forms/demo-newsletter", url.Values{"email": {" Ada.Lovelace@Example.COM "}, "first_name": {"Ada"}, "newsletter_email": {"1"}, "lang": {"de"}})
			if p.Status != http.StatusSeeOther || !strings.Contains(p.Header.Get("Location"), "/thanks") {
				t.Fatalf("submit: %d %v %s", p.Status, p.Header, p.Body)
			}
			cid := h.contactByEmail("ada.lovelace@example.com")
			if ok, reasons := h.decision(cid, "newsletter", "email"); ok || !slices.Contains(reasons, any("consent_pending_doi")) {
				t.Fatalf("before confirmation: allowed=%v %v", ok, reasons)
			}

			msgs := sink.WaitFor(t, 1, 20*time.Second)
			text, hdr := textOf(t, msgs[0].Data)
			if got := msgs[0].To; len(got) != 1 || got[0] != "ada.lovelace@example.com" {
				t.Fatalf("confirmation went to %v", got)
			}
			if hdr.Get("List-Unsubscribe") != "" {
				t.Fatal("the confirmation request is not marketing and carries no unsubscribe")
			}
			if !strings.Contains(text, "Demo GmbH") {
				t.Fatalf("confirmation mail lacks the imprint:\n%s", text)
			}
			link := linkWith(t, text, "/p/confirm/")
			// The failed deliveries are visible on the job.
			var jl struct {
				Jobs []struct {
					Attempt   int    `json:"attempt"`
					LastError string `json:"last_error"`
				} `json:"jobs"`
			}
			_ = json.Unmarshal(h.do("GET", "/api/v1/jobs?kind=capture.send_doi_email", h.tokens[auth.RoleAdmin], nil).Body, &jl)
			if len(jl.Jobs) != 1 || jl.Jobs[0].Attempt != 3 || !strings.Contains(jl.Jobs[0].LastError, "451") {
				t.Fatalf("the refused deliveries are not visible on the job: %+v", jl.Jobs)
			}

			// A mail scanner's GET confirms nothing.
			for range 3 {
				if p := h.page("GET", link, nil); p.Status != 200 || !strings.Contains(p.Body, `method="post"`) || !strings.Contains(p.Body, "<script nonce=") {
					t.Fatalf("confirm page %d:\n%s", p.Status, p.Body)
				}
			}
			if ok, _ := h.decision(cid, "newsletter", "email"); ok {
				t.Fatal("a GET of the link confirmed the consent")
			}
			p = h.page("POST", link, url.Values{})
			if p.Status != 200 || !strings.Contains(p.Body, `id="confirmed"`) || !strings.Contains(p.Body, "/p/forms/demo-newsletter/ebook") {
				t.Fatalf("confirm POST %d:\n%s", p.Status, p.Body)
			}
			if ok, reasons := h.decision(cid, "newsletter", "email"); !ok || reasons[0] != "consent_valid" {
				t.Fatalf("after confirmation: allowed=%v %v", ok, reasons)
			}
			// A second click is harmless.
			if p := h.page("POST", link, url.Values{}); p.Status != 200 || !strings.Contains(p.Body, "bereits bestätigt") {
				t.Fatalf("second click %d:\n%s", p.Status, p.Body)
			}
			// The ledger holds the confirmation with its method, time and user agent.
			led := h.do("GET", "/api/v1/contacts/"+cid+"/ledger", h.tokens[auth.RoleAdmin], nil)
			if b := string(led.Body); strings.Count(b, `"consent_confirmed"`) != 1 || !strings.Contains(b, `"email_link"`) || !strings.Contains(b, "fairlead-test-browser/1.0") || !strings.Contains(b, "form:demo-newsletter@1") {
				t.Fatalf("ledger after confirmation: %s", b)
			}

			// The welcome mail is marketing: footer and one-click unsubscribe.
			msgs = sink.WaitFor(t, 2, 20*time.Second)
			wtext, whdr := textOf(t, msgs[1].Data)
			lu, lup := whdr.Get("List-Unsubscribe"), whdr.Get("List-Unsubscribe-Post")
			if lup != "List-Unsubscribe=One-Click" || !strings.HasPrefix(lu, "<"+h.url+"/p/unsubscribe/") {
				t.Fatalf("welcome headers: List-Unsubscribe=%q List-Unsubscribe-Post=%q", lu, lup)
			}
			for _, want := range []string{"Demo GmbH", "/p/notices/", "/p/preferences/", "/p/unsubscribe/", "/p/forms/demo-newsletter/ebook"} {
				if !strings.Contains(wtext, want) {
					t.Fatalf("welcome mail lacks %q:\n%s", want, wtext)
				}
			}
			// The use of the consent is recorded right after the mail left.
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(string(h.do("GET", "/api/v1/contacts/"+cid+"/ledger", h.tokens[auth.RoleAdmin], nil).Body), `"consent_used"`) {
				if time.Now().After(deadline) {
					t.Fatal("no consent_used after the welcome mail")
				}
				time.Sleep(20 * time.Millisecond)
			}
			// RFC 8058: the mail client POSTs List-Unsubscribe=One-Click.
			unsub := strings.Trim(lu, "<>")
			p = h.page("POST", unsub, url.Values{"List-Unsubscribe": {"One-Click"}})
			if p.Status != 200 {
				t.Fatalf("one-click unsubscribe: %d %s", p.Status, p.Body)
			}
			if ok, reasons := h.decision(cid, "newsletter", "email"); ok || reasons[0] != "consent_withdrawn" {
				t.Fatalf("after unsubscribe: allowed=%v %v", ok, reasons)
			}
			// The use of the consent and the withdrawal are in the ledger. The
			// use is recorded just after the welcome mail has left, so the
			// sink can have it a moment before the ledger does.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				led = h.do("GET", "/api/v1/contacts/"+cid+"/ledger", h.tokens[auth.RoleAdmin], nil)
				b := string(led.Body)
				if strings.Contains(b, `"consent_used"`) && strings.Contains(b, `"one_click_unsubscribe"`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("ledger after unsubscribe: %s", b)
				}
			}
			// The values keep their provenance.
			vals := h.do("GET", "/api/v1/contacts/"+cid+"/values", h.tokens[auth.RoleAdmin], nil)
			if b := string(vals.Body); vals.Status != 200 || !strings.Contains(b, `"first_name"`) || !strings.Contains(b, "form:demo-newsletter@1") {
				t.Fatalf("values: %d %s", vals.Status, b)
			}
		})
	}
}

// TestWorkspaceSMTPAndIPSetting: a workspace's own SMTP server overrides
// FAIRLEAD_SMTP_URL; with record_ip the IP address is kept, sealed, in the
// evidence (and only then).
func TestWorkspaceSMTPAndIPSetting(t *testing.T) {
	t.Parallel()
	global := smtptest.Start(t, smtptest.Options{})
	own := smtptest.Start(t, smtptest.Options{Username: "ws", Password: "own-secret-1"})
	h := newHarnessWith(t, store.SQLite, func(c *config.Config) { c.SMTPURL = global.URL(); c.Workers = 2 }, fastJobs)
	h.seedDemo()
	h.startQueue()
	submit := func(email string) string {
		if p := h.page("POST", "/p/forms/demo-newsletter", url.Values{"email": {email}, "newsletter_email": {"1"}}); p.Status != 303 {
			t.Fatalf("submit: %d", p.Status)
		}
		return h.contactByEmail(email)
	}
	first := submit("one@example.com")
	global.WaitFor(t, 1, 10*time.Second)
	if r := h.do("PATCH", "/api/v1/settings", h.tokens[auth.RoleAdmin], map[string]any{"smtp_url": own.URL(), "record_ip": true}); r.Status != 200 {
		t.Fatalf("settings: %d %s", r.Status, r.Body)
	}
	second := submit("two@example.com")
	msgs := own.WaitFor(t, 1, 10*time.Second)
	if msgs[0].To[0] != "two@example.com" || len(global.Messages()) != 1 {
		t.Fatalf("the workspace's own server was not used: own=%v global=%d", msgs[0].To, len(global.Messages()))
	}
	ledger := func(cid string) string {
		return string(h.do("GET", "/api/v1/contacts/"+cid+"/ledger", h.tokens[auth.RoleAdmin], nil).Body)
	}
	if strings.Contains(ledger(first), `"ip_address"`) {
		t.Fatal("IP recorded without record_ip")
	}
	if !strings.Contains(ledger(second), `"ip_address":"127.0.0.1"`) {
		t.Fatalf("IP not recorded with record_ip: %s", ledger(second))
	}
	var raw []byte
	if err := h.db.R.QueryRow(`SELECT sealed_evidence FROM ledger_events WHERE contact_id = $1 AND kind = 'consent_requested'`, second).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "127.0.0.1") {
		t.Fatal("the IP address is stored in clear")
	}
}
