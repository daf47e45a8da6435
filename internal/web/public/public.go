// Package public serves fairlead's public pages under /p/: pages for the
// people whose data fairlead holds, without login. They are server-rendered
// with html/template (every value escaped) in the language of the content.
package public

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/web"
)

//go:embed templates/*.html
var templateFS embed.FS

// templates are parsed once at start; a broken template stops the start.
var templates = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// NoticeSource finds a published notice version by its hash.
type NoticeSource interface {
	Published(ctx context.Context, hash string) (consent.Notice, error)
}

// Pages holds what the public pages need.
type Pages struct {
	Notices NoticeSource
	Log     *slog.Logger
}

// Mount registers the public routes.
func (p *Pages) Mount(s *web.Server) {
	if p.Log == nil {
		p.Log = slog.Default()
	}
	s.Handle("GET /p/notices/{id}", http.HandlerFunc(p.notice))
}

type labels struct{ Version, Date string }

var texts = map[string]labels{
	"de": {Version: "Fassung", Date: "Stand"},
	"en": {Version: "Version", Date: "Date"},
}

func (p *Pages) notice(w http.ResponseWriter, r *http.Request) {
	n, err := p.Notices.Published(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		p.render(w, r, http.StatusNotFound, "notfound.html", nil)
		return
	}
	if err != nil {
		p.Log.ErrorContext(r.Context(), "public notice", "request_id", web.RequestID(r.Context()), "err", err)
		http.Error(w, "Interner Fehler / internal error", http.StatusInternalServerError)
		return
	}
	// Paragraphs at blank lines, line breaks kept: the text is shown as it
	// was written (and hashed), never interpreted as HTML.
	var paras [][]string
	for _, para := range strings.Split(strings.ReplaceAll(n.Body, "\r\n", "\n"), "\n\n") {
		if strings.TrimSpace(para) != "" {
			paras = append(paras, strings.Split(strings.TrimSpace(para), "\n"))
		}
	}
	date := n.CreatedAt.Format("02.01.2006")
	if n.Language == "en" {
		date = n.CreatedAt.Format("2 January 2006")
	}
	p.render(w, r, http.StatusOK, "notice.html", map[string]any{
		"Lang": n.Language, "Title": n.Title, "Paragraphs": paras, "Hash": n.Hash,
		"Date": date, "ISODate": n.CreatedAt.Format("2006-01-02"), "T": texts[n.Language],
	})
}

func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	p.renderCSP(w, r, status, name, data, "default-src 'none'; style-src 'unsafe-inline'")
}

func (p *Pages) renderCSP(w http.ResponseWriter, r *http.Request, status int, name string, data any, csp string) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		p.Log.ErrorContext(r.Context(), "render public page", "page", name, "err", err)
		http.Error(w, "Interner Fehler / internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", csp)
	if name == "notice.html" {
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
