package public

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/capture/form"
	"github.com/fairlead/fairlead/internal/web"
	"github.com/fairlead/fairlead/internal/workspace"
)

// Capture serves the pages a lead sees: hosted forms and their embed
// script, the double opt-in confirmation, the SMS code page, the
// preference center and the one-click unsubscribe.
type Capture struct {
	Pages   *Pages
	Service *capture.Service
	// Workspaces finds the workspace of the bare preference-center page.
	Workspaces func(r *http.Request, slug string) (string, error)
	// Limit is submissions (and other writes) per client IP and minute;
	// 0 = no limit.
	Limit   int
	limiter *limiter
}

// Mount registers the capture pages.
func (c *Capture) Mount(s *web.Server) {
	c.limiter = newLimiter(c.Limit, time.Minute)
	s.Handle("GET /p/forms/{key}", http.HandlerFunc(c.formPage))
	s.Handle("POST /p/forms/{key}", http.HandlerFunc(c.submit))
	s.Handle("OPTIONS /p/forms/{key}", http.HandlerFunc(c.preflight))
	s.Handle("GET /p/forms/{key}/embed.js", http.HandlerFunc(c.embedJS))
	s.Handle("GET /p/forms/{key}/thanks", http.HandlerFunc(c.thanks))
	s.Handle("GET /p/forms/{key}/ebook", http.HandlerFunc(c.ebook))
	s.Handle("GET /p/confirm/{token}", http.HandlerFunc(c.confirmPage))
	s.Handle("POST /p/confirm/{token}", http.HandlerFunc(c.confirm))
	s.Handle("POST /p/confirm/{token}/resend", http.HandlerFunc(c.resend))
	s.Handle("GET /p/confirm-sms/{token}", http.HandlerFunc(c.codePage))
	s.Handle("POST /p/confirm-sms/{token}", http.HandlerFunc(c.confirmCode))
	s.Handle("GET /p/preferences", http.HandlerFunc(c.prefRequestPage))
	s.Handle("POST /p/preferences", http.HandlerFunc(c.prefRequest))
	s.Handle("GET /p/preferences/{token}", http.HandlerFunc(c.prefPage))
	s.Handle("POST /p/preferences/{token}/{action}", http.HandlerFunc(c.prefAction))
	s.Handle("GET /p/preferences/{token}/export", http.HandlerFunc(c.prefExport))
	s.Handle("GET /p/unsubscribe/{token}", http.HandlerFunc(c.unsubscribePage))
	s.Handle("POST /p/unsubscribe/{token}", http.HandlerFunc(c.unsubscribe))
}

func meta(r *http.Request) capture.Meta {
	return capture.Meta{IP: clientIP(r), UserAgent: r.UserAgent()}
}

func clientIP(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// pageLang picks the page language: ?lang=, then the form's languages in
// the order of Accept-Language, then the form's first language.
func pageLang(r *http.Request, offered []string) string {
	if len(offered) == 0 {
		offered = []string{"de", "en"}
	}
	if l := r.URL.Query().Get("lang"); slices.Contains(offered, l) {
		return l
	}
	if l := r.PostFormValue("lang"); slices.Contains(offered, l) {
		return l
	}
	return headerLang(r, offered)
}

// headerLang is pageLang without the form's lang field: for a request
// whose body is not read yet (reading it is bounded by the handler).
func headerLang(r *http.Request, offered []string) string {
	if len(offered) == 0 {
		offered = []string{"de", "en"}
	}
	if l := r.URL.Query().Get("lang"); slices.Contains(offered, l) {
		return l
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		if len(tag) >= 2 && slices.Contains(offered, tag[:2]) {
			return tag[:2]
		}
	}
	return offered[0]
}

func nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)
}

// page renders a capture template; data gets Lang, T (texts) and Nonce.
func (c *Capture) page(w http.ResponseWriter, r *http.Request, status int, name, lang string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	if lang != "en" {
		lang = "de"
	}
	n := nonce()
	data["Lang"], data["T"], data["Nonce"] = lang, ui[lang], n
	data["OtherLang"] = map[string]string{"de": "en", "en": "de"}[lang]
	if _, ok := data["PageTitle"]; !ok {
		if t, ok := data["Title"].(string); ok && t != "" {
			data["PageTitle"] = t
		} else if f, ok := data["Form"].(formView); ok {
			data["PageTitle"] = f.Title
		} else {
			data["PageTitle"] = ui[lang][pageTitles[name]]
		}
	}
	c.Pages.renderCSP(w, r, status, name, data, "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-"+n+"'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
}

var pageTitles = map[string]string{"thanks.html": "thanks_title", "confirm.html": "confirm_title", "confirmed.html": "confirmed_title",
	"link.html": "link_invalid_title", "resent.html": "resent_title", "code.html": "code_title", "preferences.html": "pref_title",
	"prefrequest.html": "prefreq_title", "prefsent.html": "prefsent_title", "preflink.html": "preflink_title", "unsubscribe.html": "unsub_title",
	"unsubscribed.html": "unsubscribed_title", "gone.html": "gone_title", "error.html": "error_title", "ebook.html": "ebook_title"}

func (c *Capture) fail(w http.ResponseWriter, r *http.Request, lang string, err error) {
	c.Pages.Log.ErrorContext(r.Context(), "public capture page", "request_id", web.RequestID(r.Context()), "route", r.Pattern, "err", err)
	c.page(w, r, http.StatusInternalServerError, "error.html", lang, map[string]any{"RequestID": web.RequestID(r.Context())})
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// formView is a form prepared for the template.
type formView struct {
	Key, Title, Intro, Action string
	Fields                    []fieldView
	Consents                  []consentView
	PrivacyURL                string
	Langs                     []string
}

type fieldView struct {
	Name, Type, Label, Value, Error string
	Required                        bool
	MaxLength                       int
	Options                         []optionView
	Autocomplete                    string
}

type optionView struct{ Value, Label string }

type consentView struct {
	Key, Text, NoticeURL, Error string
	Required, Checked           bool
}

var autocomplete = map[string]string{"email": "email", "phone": "tel", "first_name": "given-name", "last_name": "family-name",
	"company": "organization", "job_title": "organization-title", "street": "street-address", "postal_code": "postal-code", "city": "address-level2", "country": "country-name"}

func (c *Capture) view(rd capture.Rendered, values url.Values, errs []form.FieldError) formView {
	d, l := rd.Form.Definition, rd.Lang
	byField := map[string]string{}
	for _, e := range errs {
		if _, ok := byField[e.Field]; !ok {
			byField[e.Field] = e.MessageIn(l)
		}
	}
	v := formView{Key: d.Key, Title: d.Title[l], Intro: d.Intro[l], Action: "/p/forms/" + d.Key, Langs: d.Languages}
	for _, f := range d.Fields {
		fv := fieldView{Name: f.Name, Type: f.Type, Label: f.Label[l], Value: values.Get(f.Name), Error: byField[f.Name], Required: f.Required, MaxLength: f.MaxLength, Autocomplete: autocomplete[f.Name]}
		for _, o := range f.Options {
			fv.Options = append(fv.Options, optionView{Value: o.Value, Label: o.Label[l]})
		}
		v.Fields = append(v.Fields, fv)
	}
	for _, k := range d.Consents {
		n := rd.Consents[k.Key]
		ticked := slices.Contains([]string{"1", "on", "yes", "true"}, values.Get(k.Key))
		v.Consents = append(v.Consents, consentView{Key: k.Key, Text: n.Body, NoticeURL: "/p/notices/" + n.Hash, Error: byField[k.Key], Required: k.Required, Checked: ticked})
	}
	if rd.Privacy.Hash != "" {
		v.PrivacyURL = "/p/notices/" + rd.Privacy.Hash
	}
	return v
}

func (c *Capture) formPage(w http.ResponseWriter, r *http.Request) {
	f, err := c.Service.PublicForm(r.Context(), r.PathValue("key"))
	if errors.Is(err, capture.ErrFormNotFound) {
		c.page(w, r, http.StatusNotFound, "gone.html", pageLang(r, nil), map[string]any{"Missing": true})
		return
	}
	if err != nil {
		c.fail(w, r, "de", err)
		return
	}
	rd, err := c.Service.Render(r.Context(), f, pageLang(r, f.Definition.Languages))
	if err != nil {
		c.fail(w, r, "de", err)
		return
	}
	c.page(w, r, http.StatusOK, "form.html", rd.Lang, map[string]any{"Form": c.view(rd, nil, nil)})
}

// cors answers an embedding page's origin when the form allows it.
func (c *Capture) cors(w http.ResponseWriter, r *http.Request, f capture.Form) {
	o := r.Header.Get("Origin")
	if o != "" && slices.Contains(f.Definition.AllowedOrigins, o) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", o)
		h.Set("Vary", "Origin")
		h.Set("Access-Control-Allow-Methods", "POST")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Accept")
		h.Set("Access-Control-Max-Age", "600")
	}
}

func (c *Capture) preflight(w http.ResponseWriter, r *http.Request) {
	f, err := c.Service.PublicForm(r.Context(), r.PathValue("key"))
	if err != nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	c.cors(w, r, f)
	w.WriteHeader(http.StatusNoContent)
}

const maxFormBytes = 64 << 10

func (c *Capture) submit(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	f, err := c.Service.PublicForm(r.Context(), key)
	if errors.Is(err, capture.ErrFormNotFound) {
		if wantsJSON(r) {
			web.WriteError(w, r, web.Errorf(http.StatusNotFound, "form_not_found", "no form "+key))
			return
		}
		c.page(w, r, http.StatusNotFound, "gone.html", pageLang(r, nil), map[string]any{"Missing": true})
		return
	}
	if err != nil {
		c.fail(w, r, "de", err)
		return
	}
	c.cors(w, r, f)
	// The body is read only below, bounded: pageLang would read it
	// unbounded for the lang field.
	lang := headerLang(r, f.Definition.Languages)
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") && !strings.HasPrefix(ct, "multipart/form-data") {
		if wantsJSON(r) {
			web.WriteError(w, r, web.Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the form as application/x-www-form-urlencoded or multipart/form-data"))
			return
		}
		c.page(w, r, http.StatusUnsupportedMediaType, "gone.html", lang, map[string]any{"BadRequest": true})
		return
	}
	if !c.limiter.allow(clientIP(r)) {
		w.Header().Set("Retry-After", "60")
		if wantsJSON(r) {
			web.WriteError(w, r, web.Errorf(http.StatusTooManyRequests, "rate_limited", "too many submissions from this address; try again in a minute"))
			return
		}
		c.page(w, r, http.StatusTooManyRequests, "gone.html", lang, map[string]any{"Limited": true})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	var perr error
	if strings.HasPrefix(ct, "multipart/form-data") {
		perr = r.ParseMultipartForm(maxFormBytes)
	} else {
		perr = r.ParseForm()
	}
	if perr != nil {
		if wantsJSON(r) {
			web.WriteError(w, r, web.Errorf(http.StatusBadRequest, "bad_form", "the form data cannot be read (too large or malformed)"))
			return
		}
		c.page(w, r, http.StatusBadRequest, "gone.html", lang, map[string]any{"BadRequest": true})
		return
	}
	lang = pageLang(r, f.Definition.Languages)
	res, err := c.Service.SubmitTo(r.Context(), f, r.PostForm, lang, meta(r))
	var se *capture.SubmitError
	if errors.As(err, &se) {
		if wantsJSON(r) {
			type fe struct {
				Field   string `json:"field"`
				Code    string `json:"code"`
				Message string `json:"message"`
			}
			out := make([]fe, 0, len(se.Errors))
			for _, e := range se.Errors {
				out = append(out, fe{e.Field, e.Code, e.MessageIn(se.Lang)})
			}
			web.WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": map[string]any{"code": "invalid_submission", "message": out[0].Message, "field": out[0].Field, "fields": out}})
			return
		}
		rd, rerr := c.Service.Render(r.Context(), f, se.Lang)
		if rerr != nil {
			c.fail(w, r, lang, rerr)
			return
		}
		c.page(w, r, http.StatusUnprocessableEntity, "form.html", rd.Lang, map[string]any{"Form": c.view(rd, r.PostForm, se.Errors), "HasErrors": true})
		return
	}
	if err != nil {
		if wantsJSON(r) {
			web.WriteError(w, r, err)
			return
		}
		c.fail(w, r, lang, err)
		return
	}
	next := "/p/forms/" + url.PathEscape(key) + "/thanks?lang=" + res.Lang
	if res.SMSToken != "" {
		next = "/p/confirm-sms/" + res.SMSToken + "?lang=" + res.Lang
	}
	if wantsJSON(r) {
		web.WriteJSON(w, http.StatusAccepted, map[string]any{"status": "check_inbox", "next": next})
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Capture) thanks(w http.ResponseWriter, r *http.Request) {
	f, err := c.Service.PublicForm(r.Context(), r.PathValue("key"))
	if err != nil {
		c.page(w, r, http.StatusNotFound, "gone.html", pageLang(r, nil), map[string]any{"Missing": true})
		return
	}
	l := pageLang(r, f.Definition.Languages)
	c.page(w, r, http.StatusOK, "thanks.html", l, map[string]any{"Title": f.Definition.Title[l], "Success": f.Definition.Success[l]})
}

// ebook is the demo content offer: a small text standing in for the
// e-book a real workspace links (its offer URL may point anywhere).
func (c *Capture) ebook(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("key") != "demo-newsletter" {
		c.page(w, r, http.StatusNotFound, "gone.html", pageLang(r, nil), map[string]any{"Missing": true})
		return
	}
	c.page(w, r, http.StatusOK, "ebook.html", pageLang(r, nil), nil)
}

func (c *Capture) confirmPage(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	conf, err := c.Service.CheckLink(r.Context(), tok)
	l := pageLang(r, []string{conf.Lang, "de", "en"})
	switch {
	case errors.Is(err, capture.ErrLinkExpired), errors.Is(err, capture.ErrLinkInvalid):
		c.page(w, r, http.StatusNotFound, "link.html", l, map[string]any{"Expired": errors.Is(err, capture.ErrLinkExpired), "Token": tok})
		return
	case err != nil:
		c.fail(w, r, l, err)
		return
	}
	// A GET never confirms: mail scanners open links. The page confirms
	// by POST, sent by its script at once, with a button as fallback.
	c.page(w, r, http.StatusOK, "confirm.html", l, map[string]any{"Token": tok, "Already": conf.AlreadyConfirmed, "Title": conf.Form.Definition.Title[l], "Offer": offerOf(conf, l)})
}

func offerOf(conf capture.Confirmation, l string) map[string]string {
	if o := conf.Form.Definition.Offer; o != nil {
		return map[string]string{"Title": o.Title[l], "URL": o.URL}
	}
	return nil
}

func (c *Capture) confirm(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	if !c.limiter.allow(clientIP(r)) {
		c.page(w, r, http.StatusTooManyRequests, "gone.html", pageLang(r, nil), map[string]any{"Limited": true})
		return
	}
	conf, err := c.Service.Confirm(r.Context(), tok, meta(r))
	l := pageLang(r, []string{conf.Lang, "de", "en"})
	switch {
	case errors.Is(err, capture.ErrLinkExpired), errors.Is(err, capture.ErrLinkInvalid):
		c.page(w, r, http.StatusNotFound, "link.html", l, map[string]any{"Expired": errors.Is(err, capture.ErrLinkExpired), "Token": tok})
		return
	case err != nil:
		c.fail(w, r, l, err)
		return
	}
	c.page(w, r, http.StatusOK, "confirmed.html", l, map[string]any{"Already": conf.AlreadyConfirmed, "Title": conf.Form.Definition.Title[l], "Offer": offerOf(conf, l)})
}

func (c *Capture) resend(w http.ResponseWriter, r *http.Request) {
	if !c.limiter.allow(clientIP(r)) {
		c.page(w, r, http.StatusTooManyRequests, "gone.html", pageLang(r, nil), map[string]any{"Limited": true})
		return
	}
	l, codeToken, err := c.Service.Resend(r.Context(), r.PathValue("token"))
	if err != nil {
		c.fail(w, r, pageLang(r, nil), err)
		return
	}
	if codeToken != "" {
		http.Redirect(w, r, "/p/confirm-sms/"+codeToken+"?lang="+pageLang(r, []string{l, "de", "en"}), http.StatusSeeOther)
		return
	}
	c.page(w, r, http.StatusOK, "resent.html", pageLang(r, []string{l, "de", "en"}), nil)
}

func (c *Capture) codePage(w http.ResponseWriter, r *http.Request) {
	c.page(w, r, http.StatusOK, "code.html", pageLang(r, nil), map[string]any{"Token": r.PathValue("token")})
}

func (c *Capture) confirmCode(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	if !c.limiter.allow(clientIP(r)) {
		c.page(w, r, http.StatusTooManyRequests, "gone.html", pageLang(r, nil), map[string]any{"Limited": true})
		return
	}
	code := strings.TrimSpace(r.PostFormValue("code"))
	conf, err := c.Service.ConfirmCode(r.Context(), tok, code, meta(r))
	l := pageLang(r, []string{conf.Lang, "de", "en"})
	switch {
	case errors.Is(err, capture.ErrCodeWrong):
		c.page(w, r, http.StatusUnprocessableEntity, "code.html", l, map[string]any{"Token": tok, "Wrong": true})
	case errors.Is(err, capture.ErrCodeLocked), errors.Is(err, capture.ErrLinkExpired), errors.Is(err, capture.ErrLinkInvalid):
		c.page(w, r, http.StatusUnprocessableEntity, "link.html", l, map[string]any{"Expired": true, "Token": tok, "Locked": errors.Is(err, capture.ErrCodeLocked)})
	case err != nil:
		c.fail(w, r, l, err)
	default:
		c.page(w, r, http.StatusOK, "confirmed.html", l, map[string]any{"Already": conf.AlreadyConfirmed, "Title": conf.Form.Definition.Title[l], "Offer": offerOf(conf, l)})
	}
}

func (c *Capture) prefRequestPage(w http.ResponseWriter, r *http.Request) {
	c.page(w, r, http.StatusOK, "prefrequest.html", pageLang(r, nil), map[string]any{"Workspace": r.URL.Query().Get("w")})
}

func (c *Capture) prefRequest(w http.ResponseWriter, r *http.Request) {
	l := pageLang(r, nil)
	if !c.limiter.allow(clientIP(r)) {
		c.page(w, r, http.StatusTooManyRequests, "gone.html", l, map[string]any{"Limited": true})
		return
	}
	slug := r.PostFormValue("w")
	if slug == "" {
		slug = workspace.DemoSlug
	}
	if ws, err := c.Workspaces(r, slug); err == nil {
		if err := c.Service.RequestLink(r.Context(), ws, r.PostFormValue("email"), l); err != nil {
			c.fail(w, r, l, err)
			return
		}
	}
	// The same answer whether or not the address (or workspace) is known.
	c.page(w, r, http.StatusOK, "prefsent.html", l, nil)
}

func (c *Capture) prefPage(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	v, err := c.Service.Preferences(r.Context(), tok)
	c.prefResult(w, r, tok, v, err, "")
}

func (c *Capture) prefResult(w http.ResponseWriter, r *http.Request, tok string, v capture.PreferencesView, err error, done string) {
	l := pageLang(r, nil)
	switch {
	case errors.Is(err, capture.ErrLinkExpired), errors.Is(err, capture.ErrLinkInvalid):
		c.page(w, r, http.StatusNotFound, "preflink.html", l, map[string]any{"Expired": errors.Is(err, capture.ErrLinkExpired)})
		return
	case err != nil:
		c.fail(w, r, l, err)
		return
	}
	c.page(w, r, http.StatusOK, "preferences.html", l, map[string]any{"Token": tok, "V": v, "Done": done})
}

func (c *Capture) prefAction(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	m := meta(r)
	var v capture.PreferencesView
	var err error
	action := r.PathValue("action")
	switch action {
	case "withdraw":
		v, err = c.Service.Withdraw(r.Context(), tok, r.PostFormValue("purpose"), r.PostFormValue("channel"), m)
		if r.PostFormValue("purpose") == "" {
			action = "withdraw_all"
		}
	case "withdraw-all":
		v, err = c.Service.Withdraw(r.Context(), tok, "", "", m)
		action = "withdraw_all"
	case "object":
		v, err = c.Service.Object(r.Context(), tok, m)
	case "erasure":
		v, err = c.Service.RequestErasure(r.Context(), tok, m)
	default:
		c.page(w, r, http.StatusNotFound, "gone.html", pageLang(r, nil), map[string]any{"Missing": true})
		return
	}
	c.prefResult(w, r, tok, v, err, action)
}

func (c *Capture) prefExport(w http.ResponseWriter, r *http.Request) {
	b, err := c.Service.Export(r.Context(), r.PathValue("token"))
	if err != nil {
		c.prefResult(w, r, r.PathValue("token"), capture.PreferencesView{}, err, "")
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="fairlead-export.json"`)
	_, _ = w.Write(b)
}

func (c *Capture) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	p, ch, err := c.Service.CheckUnsubscribe(tok)
	l := pageLang(r, nil)
	if err != nil {
		c.page(w, r, http.StatusNotFound, "preflink.html", l, nil)
		return
	}
	c.page(w, r, http.StatusOK, "unsubscribe.html", l, map[string]any{"Token": tok, "Purpose": p, "Channel": ch})
}

// unsubscribe is the RFC 8058 one-click POST (body
// "List-Unsubscribe=One-Click" from the mail client) and the page's button.
func (c *Capture) unsubscribe(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	p, ch, err := c.Service.Unsubscribe(r.Context(), tok, meta(r))
	l := pageLang(r, nil)
	switch {
	case errors.Is(err, capture.ErrLinkInvalid):
		c.page(w, r, http.StatusNotFound, "preflink.html", l, nil)
	case err != nil:
		c.fail(w, r, l, err)
	default:
		c.page(w, r, http.StatusOK, "unsubscribed.html", l, map[string]any{"Purpose": p, "Channel": ch})
	}
}

// embedJS is the small script of the embed snippet: it posts the form it
// sits in to the same endpoint and shows the answer in place.
func (c *Capture) embedJS(w http.ResponseWriter, r *http.Request) {
	f, err := c.Service.PublicForm(r.Context(), r.PathValue("key"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	action, _ := json.Marshal("/p/forms/" + f.Key)
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write([]byte(strings.ReplaceAll(embedScript, "__ACTION__", string(action))))
}

const embedScript = `(function(){
  var s = document.currentScript, base = new URL(s.src).origin, action = base + __ACTION__;
  var f = document.querySelector('form[data-fairlead-form]');
  if (!f) return;
  f.addEventListener('submit', function(e){
    e.preventDefault();
    var out = f.querySelector('[data-fairlead-result]');
    fetch(action, {method: 'POST', headers: {'Accept': 'application/json'}, body: new URLSearchParams(new FormData(f))})
      .then(function(r){ return r.json().then(function(j){ return {ok: r.ok, j: j}; }); })
      .then(function(x){
        if (out) out.textContent = x.ok ? (f.getAttribute('data-success') || 'OK') : x.j.error.message;
        if (x.ok) f.reset();
      })
      .catch(function(){ if (out) out.textContent = 'Error'; });
  });
})();
`

// limiter counts requests per key in fixed windows; memory is bounded by
// dropping the table at each new window.
type limiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	start  time.Time
	counts map[string]int
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window, counts: map[string]int{}}
}

func (l *limiter) allow(key string) bool {
	if l == nil || l.max <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.start) >= l.window || len(l.counts) > 100_000 {
		l.start, l.counts = now, map[string]int{}
	}
	l.counts[key]++
	return l.counts[key] <= l.max
}
