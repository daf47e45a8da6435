package public

import (
	"context"
	"errors"
	"html"
	"net/http"

	"github.com/fairlead/fairlead/internal/capture/token"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/web"
)

// DSR serves the identity check of a data subject request: the GET only
// shows a button (mail scanners open links), the POST verifies.
type DSR struct {
	Verify func(ctx context.Context, tok string) error
	Log    interface {
		ErrorContext(ctx context.Context, msg string, args ...any)
	}
}

// Mount registers the page.
func (d *DSR) Mount(s *web.Server) {
	s.Handle("GET /p/dsr/verify/{token}", http.HandlerFunc(d.page))
	s.Handle("POST /p/dsr/verify/{token}", http.HandlerFunc(d.verify))
}

var dsrTexts = map[string]map[string]string{
	"de": {"title": "Ihren Antrag bestätigen", "body": "Bitte bestätigen Sie, dass der Antrag zu Ihren Daten von Ihnen stammt.", "button": "Ja, der Antrag ist von mir",
		"done_title": "Danke – Ihr Antrag ist bestätigt", "done": "Wir bearbeiten Ihren Antrag und melden uns innerhalb der gesetzlichen Frist.",
		"bad_title": "Dieser Link ist nicht (mehr) gültig", "bad": "Bitte wenden Sie sich an uns, wenn Sie einen neuen Link brauchen.",
		"err_title": "Ein Fehler ist aufgetreten", "err": "Bitte versuchen Sie es später erneut."},
	"en": {"title": "Confirm your request", "body": "Please confirm that the request about your data comes from you.", "button": "Yes, I made this request",
		"done_title": "Thank you – your request is confirmed", "done": "We are working on your request and will answer within the legal deadline.",
		"bad_title": "This link is not valid (any more)", "bad": "Please contact us if you need a new link.",
		"err_title": "An error occurred", "err": "Please try again later."},
}

func (d *DSR) write(w http.ResponseWriter, r *http.Request, status int, title, body string, form bool) {
	lang := pageLang(r, []string{"de", "en"})
	t := dsrTexts[lang]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	out := `<!doctype html><html lang="` + lang + `"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>` +
		html.EscapeString(t[title]) + `</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}button{font:inherit;padding:.5rem 1rem}</style></head><body><h1>` +
		html.EscapeString(t[title]) + `</h1><p>` + html.EscapeString(t[body]) + `</p>`
	if form {
		out += `<form method="post"><input type="hidden" name="lang" value="` + lang + `"><button type="submit">` + html.EscapeString(t["button"]) + `</button></form>`
	}
	_, _ = w.Write([]byte(out + `</body></html>`))
}

func (d *DSR) page(w http.ResponseWriter, r *http.Request) {
	d.write(w, r, http.StatusOK, "title", "body", true)
}

func (d *DSR) verify(w http.ResponseWriter, r *http.Request) {
	err := d.Verify(r.Context(), r.PathValue("token"))
	switch {
	case err == nil:
		d.write(w, r, http.StatusOK, "done_title", "done", false)
	case errors.Is(err, token.ErrInvalid) || errors.Is(err, token.ErrExpired) || errors.Is(err, store.ErrNotFound):
		d.write(w, r, http.StatusNotFound, "bad_title", "bad", false)
	default:
		if d.Log != nil {
			d.Log.ErrorContext(r.Context(), "verify data subject request", "request_id", web.RequestID(r.Context()), "err", err)
		}
		d.write(w, r, http.StatusInternalServerError, "err_title", "err", false)
	}
}
