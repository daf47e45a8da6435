package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/mail/smtptest"
	"github.com/fairlead/fairlead/internal/store"
)

// chromiumPath is Debian's chromium; scripts/test.sh installs it.
const chromiumPath = "/usr/bin/chromium"

// browserStep bounds one step in the browser, so that a page that never
// shows what the test waits for fails in seconds and names the step. It
// leaves room for the race detector, which slows the server several times.
const browserStep = 20 * time.Second

// lockedBuffer keeps chromium's output; the allocator writes it from its
// own goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newBrowser starts a headless chromium with a fresh profile and returns
// its first tab. Without chromium the test skips locally, but fails where
// the browser test must run (CI, make test).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("FAIRLEAD_REQUIRE_BROWSER") == "1" {
			t.Fatalf("the browser test needs Debian's chromium at %s (apt-get install chromium): %v", chromiumPath, err)
		}
		t.Skipf("no chromium at %s (apt-get install chromium); skipping the browser test", chromiumPath)
	}
	profile := filepath.Join(t.TempDir(), "profile")
	out := &lockedBuffer{}
	// The whole browser lives at most this long, whatever a step does.
	root, stop := context.WithTimeout(context.Background(), 3*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(root,
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// Containers have a small /dev/shm; chromium crashes when it fills.
		chromedp.Flag("disable-dev-shm-usage", true),
		// A German visitor: the pages pick their language from this.
		chromedp.Flag("accept-lang", "de-DE,de"),
		chromedp.WindowSize(1000, 700),
		chromedp.UserDataDir(profile),
		chromedp.CombinedOutput(out),
	)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		stop()
		// Chromium's helper processes can still write into the profile for
		// a moment after the browser exits; t.TempDir's own removal would
		// then fail the test.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if t.Failed() {
			t.Logf("chromium output:\n%s", out)
		}
	})
	// The first run starts the browser and binds it to tab's lifetime, so
	// it must not get a step's shorter deadline.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start chromium: %v\n%s", err, out)
	}
	return tab
}

// browse runs steps in the tab within browserStep.
func browse(t *testing.T, tab context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	browseFor(t, tab, what, chromedp.Steps(steps...))
}

// browseFor runs one action in the tab within browserStep and returns its value.
func browseFor[T any](t *testing.T, tab context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserStep)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		// What the page shows now explains most failures.
		lctx, lcancel := context.WithTimeout(tab, 5*time.Second)
		defer lcancel()
		html, _ := chromedp.Run(lctx, chromedp.OuterHTML(chromedp.CSS("html")))
		loc, _ := chromedp.Run(lctx, chromedp.Location())
		t.Fatalf("%s: %v\npage now at %s:\n%s", what, err, loc, html)
	}
	return v
}

// screenshot saves the whole page as docs/screenshots/NAME.png, only when
// FAIRLEAD_SCREENSHOTS=1: an ordinary run writes nothing into the tree.
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	if os.Getenv("FAIRLEAD_SCREENSHOTS") != "1" {
		return
	}
	png := browseFor(t, tab, "screenshot "+name, chromedp.FullScreenshot(100))
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// submit clicks the page's submit button and waits for the page it leads
// to, which must be at a URL containing want.
func submit(t *testing.T, tab context.Context, what, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserStep)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`form button[type="submit"]`)))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if resp.Status != 200 || !strings.Contains(resp.URL, want) {
		t.Fatalf("%s: ended on %d %s, want a page at %s", what, resp.Status, resp.URL, want)
	}
}

// mailsTo waits until n messages to addr have arrived and returns them in
// the order of arrival.
func mailsTo(t *testing.T, sink *smtptest.Server, addr string, n int) []smtptest.Received {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got []smtptest.Received
		for _, m := range sink.Messages() {
			if slices.Contains(m.To, addr) {
				got = append(got, m)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages to the address, want %d", len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBrowserDoubleOptIn walks the double opt-in in a real browser: fill in
// the demo form and tick the consent by its label -> the "check your inbox"
// page -> open the link from the mail, and the page's own script (allowed
// by its CSP nonce) confirms by POST without a click -> the engine allows.
// Without JavaScript the same page confirms only with its button. Then the
// preference center from the welcome mail withdraws the consent -> the
// engine denies. One run on SQLite: the HTTP end-to-end test covers both
// engines; this one covers what only a browser does (scripts, CSP, labels,
// forms).
func TestBrowserDoubleOptIn(t *testing.T) {
	tab := newBrowser(t)
	sink := smtptest.Start(t, smtptest.Options{})
	h := newHarnessWith(t, store.SQLite, func(c *config.Config) { c.SMTPURL = sink.URL(); c.Workers = 2; c.MailFrom = "news@demo.example" }, fastJobs)
	h.seedDemo()
	h.startQueue()

	const ada = "ada@example.com"
	browse(t, tab, "open the form",
		chromedp.Navigate(h.url+"/p/forms/demo-newsletter"),
		chromedp.WaitVisible(chromedp.ID("f-email")),
		chromedp.SendKeys(chromedp.ID("f-email"), ada),
		chromedp.SendKeys(chromedp.ID("f-first_name"), "Ada"),
		// A person ticks the box by its text as often as by the box itself.
		chromedp.Click(chromedp.CSS(`label[for="c-newsletter_email"] span`)),
	)
	if !browseFor(t, tab, "read the consent box", chromedp.JavascriptAttribute[bool](chromedp.ID("c-newsletter_email"), "checked")) {
		t.Fatal("a click on the consent's label did not tick its box")
	}
	screenshot(t, tab, "form")
	submit(t, tab, "submit the form", "/p/forms/demo-newsletter/thanks")
	if h1 := browseFor(t, tab, "read the thanks page", chromedp.Text(chromedp.CSS("h1"))); !strings.Contains(h1, "bitte prüfen Sie Ihr Postfach") {
		t.Fatalf("thanks page heading: %q", h1)
	}
	cid := h.contactByEmail(ada)
	if ok, reasons := h.decision(cid, "newsletter", "email"); ok || !slices.Contains(reasons, any("consent_pending_doi")) {
		t.Fatalf("before confirmation: allowed=%v %v", ok, reasons)
	}

	// The link from the mail: the page's script confirms at once.
	text, _ := textOf(t, mailsTo(t, sink, ada, 1)[0].Data)
	link := linkWith(t, text, "/p/confirm/")
	browse(t, tab, "open the confirmation link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("confirmed")),
	)
	if ok, reasons := h.decision(cid, "newsletter", "email"); !ok || reasons[0] != "consent_valid" {
		t.Fatalf("after the page confirmed: allowed=%v %v", ok, reasons)
	}
	led := h.do("GET", "/api/v1/contacts/"+cid+"/ledger", h.tokens[auth.RoleAdmin], nil)
	if b := string(led.Body); strings.Count(b, `"consent_confirmed"`) != 1 || !strings.Contains(b, `"email_link"`) || !strings.Contains(b, "Chrome/") {
		t.Fatalf("ledger after the browser confirmed: %s", b)
	}
	screenshot(t, tab, "confirmed")

	// Without JavaScript the page waits for its button. A second browser
	// context keeps the two visitors apart.
	const grace = "grace@example.org"
	noJS, cancelNoJS := chromedp.NewContext(tab, chromedp.WithNewBrowserContext())
	defer cancelNoJS()
	if err := chromedp.Do(noJS); err != nil {
		t.Fatalf("open a tab without JavaScript: %v", err)
	}
	browse(t, noJS, "disable JavaScript", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	browse(t, noJS, "submit the form without JavaScript",
		chromedp.Navigate(h.url+"/p/forms/demo-newsletter"),
		chromedp.SendKeys(chromedp.ID("f-email"), grace),
		chromedp.Click(chromedp.ID("c-newsletter_email")),
	)
	submit(t, noJS, "submit the form without JavaScript", "/p/forms/demo-newsletter/thanks")
	gid := h.contactByEmail(grace)
	text, _ = textOf(t, mailsTo(t, sink, grace, 1)[0].Data)
	browse(t, noJS, "open the confirmation link without JavaScript",
		chromedp.Navigate(linkWith(t, text, "/p/confirm/")),
		chromedp.WaitVisible(chromedp.ID("confirm-button")),
	)
	// A script that ran would have submitted during parsing, before the
	// load event Navigate waited for; give a submission time to land.
	time.Sleep(300 * time.Millisecond)
	if ok, _ := h.decision(gid, "newsletter", "email"); ok {
		t.Fatal("the confirmation page confirmed with JavaScript disabled")
	}
	if hidden := browseFor(t, noJS, "read the script's notice", chromedp.JavascriptAttribute[bool](chromedp.ID("auto"), "hidden")); !hidden {
		t.Fatal("the notice that the confirmation is being sent shows without JavaScript")
	}
	browse(t, noJS, "click the confirmation button",
		chromedp.Click(chromedp.ID("confirm-button")),
		chromedp.WaitVisible(chromedp.ID("confirmed")),
	)
	if ok, reasons := h.decision(gid, "newsletter", "email"); !ok || reasons[0] != "consent_valid" {
		t.Fatalf("after the button: allowed=%v %v", ok, reasons)
	}

	// The preference center from the welcome mail withdraws.
	wtext, _ := textOf(t, mailsTo(t, sink, ada, 2)[1].Data)
	const row = `tr[data-purpose="newsletter"][data-channel="email"]`
	browse(t, tab, "open the preference center",
		chromedp.Navigate(linkWith(t, wtext, "/p/preferences/")),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-status="confirmed"] button.withdraw`)),
	)
	screenshot(t, tab, "preferences")
	browse(t, tab, "withdraw the newsletter consent",
		chromedp.Click(chromedp.CSS(row+` button.withdraw`)),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-status="withdrawn"]`)),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if done := browseFor(t, tab, "read the success message", chromedp.Text(chromedp.ID("done"))); !strings.Contains(done, "Widerruf ist gespeichert") {
		t.Fatalf("success message: %q", done)
	}
	if ok, reasons := h.decision(cid, "newsletter", "email"); ok || reasons[0] != "consent_withdrawn" {
		t.Fatalf("after withdrawing in the browser: allowed=%v %v", ok, reasons)
	}
}

// setField sets a form control's value the way typing does, so that htmx
// sees the input event.
func setField(sel, value string) chromedp.Action[chromedp.Void] {
	return script(`(function(){var e=document.querySelector(` + jsString(sel) + `);e.value=` + jsString(value) + `;e.dispatchEvent(new Event("input",{bubbles:true}));return true})()`)
}

// script runs JavaScript in the page for a step that is not a user's.
func script(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		return err
	})
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// outboxLink opens the admin outbox and returns the first link in it that
// contains part, waiting for the worker to have put the message there.
func outboxLink(t *testing.T, tab context.Context, h *harness, part string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		browse(t, tab, "open the outbox", chromedp.Navigate(h.url+"/admin/outbox"), chromedp.WaitVisible(chromedp.CSS("main h1")))
		links := browseFor(t, tab, "read the outbox links", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("a.outbox-link")).map(a => a.href)`))
		for _, l := range links {
			if strings.Contains(l, part) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no link with %s in the outbox: %v", part, links)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBrowserAdmin walks the admin UI in a real browser on SQLite, with no
// SMTP server (so mail lands in the dev outbox the UI shows): log in as the
// demo admin, build a form with a lint finding and fix it, sign up on it as
// a visitor, confirm through the outbox link, see the matrix turn green,
// withdraw in the preference center and see it turn red, then erase the
// person and see them gone.
func TestBrowserAdmin(t *testing.T) {
	tab := newBrowser(t)
	h := newHarnessWith(t, store.SQLite, func(c *config.Config) { c.Workers = 2; c.MailFrom = "news@demo.example" }, fastJobs)
	h.seedDemo()
	h.startQueue()

	// The demo admin that serve creates on first start.
	browse(t, tab, "log in",
		chromedp.Navigate(h.url+"/admin/forms"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), h.cfg.AdminEmail),
		chromedp.SendKeys(chromedp.ID("password"), h.cfg.AdminPassword),
	)
	submit(t, tab, "log in", "/admin/forms")
	if h1 := browseFor(t, tab, "read the forms page", chromedp.Text(chromedp.CSS("main h1"))); h1 != "Formulare" {
		t.Fatalf("forms heading (German from Accept-Language): %q", h1)
	}

	// A new form whose checkbox is ticked in advance: the live check names
	// the finding, saving is refused, the fix saves.
	browse(t, tab, "open the form builder",
		chromedp.Navigate(h.url+"/admin/forms/new"),
		chromedp.WaitVisible(chromedp.ID("definition")),
	)
	def := browseFor(t, tab, "read the starter definition", chromedp.Value(chromedp.ID("definition")))
	def = strings.Replace(def, `"key": "new-form"`, `"key": "browser-signup"`, 1)
	bad := strings.Replace(def, `"pre_ticked": false`, `"pre_ticked": true`, 1)
	if bad == def || !strings.Contains(def, `"key": "browser-signup"`) {
		t.Fatalf("unexpected starter definition:\n%s", def)
	}
	browse(t, tab, "enter a definition with a pre-ticked box",
		setField("#definition", bad),
		chromedp.WaitVisible(chromedp.CSS(`#finding-list li[data-code="consent_pre_ticked"]`)),
	)
	screenshot(t, tab, "admin-form-builder")
	browse(t, tab, "try to save it", chromedp.Click(chromedp.ID("save-button")), chromedp.WaitVisible(chromedp.ID("definition-err")))
	if n := browseFor(t, tab, "count saved forms", chromedp.Evaluate[int](`document.querySelectorAll("#finding-list li").length`)); n == 0 {
		t.Fatal("the refused save shows no findings")
	}
	browse(t, tab, "fix the definition",
		setField("#definition", def),
		chromedp.WaitVisible(chromedp.ID("no-findings")),
		chromedp.Click(chromedp.ID("save-button")),
		chromedp.WaitVisible(chromedp.ID("snippet")),
	)
	if loc := browseFor(t, tab, "read the saved form's address", chromedp.Location()); !strings.Contains(loc, "/admin/forms/browser-signup") {
		t.Fatalf("after saving: %s", loc)
	}

	// A visitor signs up on the new form.
	const mia = "mia@example.com"
	browse(t, tab, "sign up as a visitor",
		chromedp.Navigate(h.url+"/p/forms/browser-signup"),
		chromedp.WaitVisible(chromedp.ID("f-email")),
		chromedp.SendKeys(chromedp.ID("f-email"), mia),
		chromedp.Click(chromedp.ID("c-newsletter_email")),
	)
	submit(t, tab, "submit the sign-up", "/p/forms/browser-signup/thanks")
	cid := h.contactByEmail(mia)

	// The confirmation link from the dev outbox, as the UI shows it.
	browse(t, tab, "confirm through the outbox link",
		chromedp.Navigate(outboxLink(t, tab, h, "/p/confirm/")),
		chromedp.WaitVisible(chromedp.ID("confirmed")),
	)
	cell := `td[data-purpose="newsletter"][data-channel="email"]`
	browse(t, tab, "find the contact by e-mail",
		chromedp.Navigate(h.url+"/admin/contacts?q="+url.QueryEscape(mia)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-contact="`+cid+`"] a`)),
		chromedp.Click(chromedp.CSS(`tr[data-contact="`+cid+`"] a`)),
		chromedp.WaitVisible(chromedp.CSS(cell+`[data-allowed="true"]`)),
	)
	if txt := browseFor(t, tab, "read the green cell", chromedp.Text(chromedp.CSS(cell))); !strings.Contains(txt, "consent_valid") || !strings.Contains(txt, "erlaubt") {
		t.Fatalf("matrix cell after confirmation: %q", txt)
	}
	browse(t, tab, "wait for the chain check", chromedp.WaitVisible(chromedp.ID("chain-state")))
	screenshot(t, tab, "admin-contact")

	// The preference center from the welcome mail withdraws.
	const row = `tr[data-purpose="newsletter"][data-channel="email"]`
	browse(t, tab, "withdraw in the preference center",
		chromedp.Navigate(outboxLink(t, tab, h, "/p/preferences/")),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-status="confirmed"] button.withdraw`)),
		chromedp.Click(chromedp.CSS(row+` button.withdraw`)),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-status="withdrawn"]`)),
	)
	browse(t, tab, "see the matrix turn red",
		chromedp.Navigate(h.url+"/admin/contacts/"+cid),
		chromedp.WaitVisible(chromedp.CSS(cell+`[data-allowed="false"]`)),
	)
	if txt := browseFor(t, tab, "read the red cell", chromedp.Text(chromedp.CSS(cell))); !strings.Contains(txt, "consent_withdrawn") || !strings.Contains(txt, "Widerruf") {
		t.Fatalf("matrix cell after withdrawal: %q", txt)
	}

	// An erasure request: open the case, see it in the queue, erase with
	// the confirmation step, and the person is gone.
	browse(t, tab, "open an erasure request",
		script(`document.querySelectorAll("details").forEach(d => d.open = true), true`),
		chromedp.SetValue(chromedp.ID("dsr-type"), "erasure"),
		chromedp.Click(chromedp.CSS(`form[action$="/dsr"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("case-status")),
	)
	browse(t, tab, "open the queue", chromedp.Navigate(h.url+"/admin/privacy/dsr"), chromedp.WaitVisible(chromedp.ID("dsr-table")))
	screenshot(t, tab, "admin-dsr-queue")
	browse(t, tab, "erase",
		chromedp.Navigate(h.url+"/admin/contacts/"+cid+"/erase"),
		chromedp.WaitVisible(chromedp.ID("confirm")),
		chromedp.SendKeys(chromedp.ID("confirm"), "ja"),
		chromedp.Click(chromedp.ID("erase-button")),
		chromedp.WaitVisible(chromedp.ID("confirm-err")),
		chromedp.SendKeys(chromedp.ID("confirm"), "LÖSCHEN"),
		chromedp.Click(chromedp.ID("erase-button")),
		chromedp.WaitVisible(chromedp.CSS(`#erase-outcome[data-outcome="erased"]`)),
	)
	browse(t, tab, "search the erased person",
		chromedp.Navigate(h.url+"/admin/contacts?q="+url.QueryEscape(mia)),
		chromedp.WaitVisible(chromedp.ID("no-results")),
	)
	if ok, reasons := h.decision(cid, "newsletter", "email"); ok || reasons[0] != "erased" {
		t.Fatalf("after the erasure: allowed=%v %v", ok, reasons)
	}

	// The dashboard counts the walk: one request, confirmed; one withdrawal.
	// A few leads along the lifecycle fill the funnel; the figures are the
	// background refresher's, recomputed here at once.
	for i, stage := range []string{"lead", "lead", "marketing_qualified", "sales_qualified", "customer"} {
		lid := h.contactByEmailCreate(fmt.Sprintf("funnel%d@example.com", i))
		if r := h.do("POST", "/api/v1/contacts/"+lid+"/stage", h.tokens[auth.RoleAdmin], map[string]any{"stage": stage, "reason": "from the trade fair"}); r.Status != 200 {
			t.Fatalf("move: %d %s", r.Status, r.Body)
		}
	}
	h.refreshDashboard()
	browse(t, tab, "open the dashboard", chromedp.Navigate(h.url+"/admin/"), chromedp.WaitVisible(chromedp.ID("doi-rate")), chromedp.WaitVisible(chromedp.ID("funnel")))
	if rate := browseFor(t, tab, "read the confirmation rate", chromedp.Text(chromedp.ID("doi-rate"))); rate != "100 %" {
		t.Fatalf("double opt-in rate on the dashboard: %q", rate)
	}
	screenshot(t, tab, "admin-dashboard")
}
