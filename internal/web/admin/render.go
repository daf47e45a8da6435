package admin

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/web"
)

// Page is what every template gets.
type Page struct {
	Lang    string
	S       *Session
	Title   string
	Active  string
	Menu    []menuItem
	Flash   string
	Errors  map[string]string // field -> message, shown next to the field
	Data    any
	Path    string
	Partial bool
}

type menuItem struct {
	Key, Label, Href string
	Active           bool
}

// T translates a text key into the page's language.
func (p *Page) T(key string) string { return tr(p.Lang, key) }

// Tf translates and formats.
func (p *Page) Tf(key string, args ...any) string { return fmt.Sprintf(tr(p.Lang, key), args...) }

// Err is the message for a field, "" when it is fine.
func (p *Page) Err(field string) string { return p.Errors[field] }

// Can reports whether the user's role is among roles (for showing actions).
func (p *Page) Can(roles ...string) bool {
	if p.S == nil {
		return false
	}
	return slices.Contains(roles, string(p.S.Role))
}

// Date formats a time for the page's language.
func (p *Page) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if p.Lang == "de" {
		return t.UTC().Format("02.01.2006 15:04") + " UTC"
	}
	return t.UTC().Format("2006-01-02 15:04") + " UTC"
}

// Num writes a score or a number of days with one decimal at most, with
// the page's decimal mark.
func (p *Page) Num(f float64) string {
	s := strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
	if p.Lang == "de" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

// Days writes a delay in seconds as days.
func (p *Page) Days(sec int) string { return p.Num(float64(sec) / 86400) }

type menuDef struct {
	MenuEntry
	builtin bool
}

func (u *UI) menu() []menuDef {
	m := []menuDef{
		{MenuEntry{"", [2]string{"Dashboard", "Übersicht"}, all}, true},
		{MenuEntry{"contacts", [2]string{"Contacts", "Kontakte"}, people}, true},
		{MenuEntry{"forms", [2]string{"Forms", "Formulare"}, all}, true},
		{MenuEntry{"leads", [2]string{"Leads & segments", "Leads & Segmente"}, leadReaders}, true},
		{MenuEntry{"campaigns", [2]string{"Campaigns", "Kampagnen"}, campaignReaders}, true},
		{MenuEntry{"suppliers", [2]string{"Suppliers & letters", "Lieferanten & Briefe"}, supplierReaders}, true},
		{MenuEntry{"privacy/dsr", [2]string{"Privacy", "Datenschutz"}, privacyRoles}, true},
		{MenuEntry{"outbox", [2]string{"Outbox", "Postausgang"}, outboxRoles}, true},
		{MenuEntry{"settings/purposes", [2]string{"Settings", "Einstellungen"}, all}, true},
	}
	for _, e := range u.Extensions {
		replaced := false
		for i := range m {
			if m[i].Key == e.Key {
				m[i] = menuDef{e, true}
				replaced = true
			}
		}
		if !replaced {
			m = append(m, menuDef{e, true})
		}
	}
	return m
}

func (u *UI) menuFor(s *Session, active string) []menuItem {
	var out []menuItem
	if s == nil {
		return nil
	}
	for _, e := range u.menu() {
		if !slices.Contains(e.Roles, s.Role) {
			continue
		}
		label := e.Label[0]
		if s.Lang == "de" {
			label = e.Label[1]
		}
		top := strings.SplitN(e.Key, "/", 2)[0]
		out = append(out, menuItem{Key: e.Key, Label: label, Href: "/admin/" + e.Key, Active: top == active})
	}
	return out
}

var funcs = template.FuncMap{
	"join": strings.Join,
	"add":  func(a, b int) int { return a + b },
	"list": func(s ...string) []string { return s },
	// kinds lists the purpose kinds (the argument only anchors the pipe).
	"kinds": func(any) []string { return consent.Kinds },
	"contains": func(list []string, s string) bool {
		return slices.Contains(list, s)
	},
}

func (u *UI) parse() {
	u.pages = map[string]*template.Template{}
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html"))
	names, _ := fs.Glob(files, "templates/*.html")
	for _, n := range names {
		b := path.Base(n)
		if b == "layout.html" {
			continue
		}
		t := template.Must(base.Clone())
		u.pages[strings.TrimSuffix(b, ".html")] = template.Must(t.ParseFS(files, n))
	}
}

// lang is the session's language, or for visitors without one the first of
// de/en in Accept-Language.
func langOf(r *http.Request, s *Session) string {
	if s != nil && s.Lang != "" {
		return s.Lang
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case tag == "de" || strings.HasPrefix(tag, "de-"):
			return "de"
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			return "en"
		}
	}
	return "en"
}

func (u *UI) newPage(r *http.Request, s *Session, active, titleKey string) *Page {
	p := &Page{Lang: langOf(r, s), S: s, Active: active, Path: r.URL.Path, Errors: map[string]string{}}
	p.Title = tr(p.Lang, titleKey)
	p.Menu = u.menuFor(s, active)
	p.Partial = r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Boosted") != "true"
	return p
}

// render writes a page; block, when set, renders only that template (an
// htmx fragment).
func (u *UI) render(w http.ResponseWriter, status int, name, block string, p *Page) error {
	t, ok := u.pages[name]
	if !ok {
		return fmt.Errorf("admin: no template %s", name)
	}
	var b bytes.Buffer
	var err error
	if block != "" {
		err = t.ExecuteTemplate(&b, block, p)
	} else {
		err = t.ExecuteTemplate(&b, "layout.html", p)
	}
	if err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
	return nil
}

func (u *UI) errorPage(w http.ResponseWriter, r *http.Request, s *Session, status int, key string, msg ...string) {
	p := u.newPage(r, s, "", "error")
	text := ""
	if key != "" {
		text = p.T(key)
	}
	if len(msg) > 0 {
		text = strings.Join(msg, " ")
	}
	p.Data = map[string]any{"Status": status, "Message": text}
	if err := u.render(w, status, "error", "", p); err != nil {
		web.WriteError(w, r, web.Errorf(status, "error", text))
	}
}
