package public

import (
	"context"
	"errors"
	"html"
	"net/http"
	"strconv"

	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/web"
)

// Feedback serves "how does our personalization feel?": a plain form (no
// JavaScript) with a 1–5 scale and an optional comment, reached by a
// signed link per contact.
type Feedback struct {
	Check  func(ctx context.Context, tok string) error
	Submit func(ctx context.Context, tok string, rating int, comment string) error
	Log    interface {
		ErrorContext(ctx context.Context, msg string, args ...any)
	}
}

// Mount registers the page.
func (f *Feedback) Mount(s *web.Server) {
	s.Handle("GET /p/feedback/{token}", http.HandlerFunc(f.page))
	s.Handle("POST /p/feedback/{token}", http.HandlerFunc(f.submit))
}

var feedbackTexts = map[string]map[string]string{
	"de": {"title": "Wie passend finden Sie unsere Inhalte?", "body": "Wir wählen Inhalte und Angebote für Sie aus. Wie empfinden Sie das?",
		"low": "1 = gar nicht passend", "high": "5 = sehr passend", "comment": "Kommentar (freiwillig)",
		"warning": "Bitte geben Sie hier keine personenbezogenen Daten ein (keine Namen, Adressen, Telefonnummern, Gesundheitsangaben).",
		"button":  "Absenden", "done_title": "Danke für Ihre Rückmeldung", "done": "Ihre Antwort hilft uns, weniger und passender zu schreiben.",
		"bad_title": "Dieser Link ist nicht (mehr) gültig", "bad": "Die Rückmeldung ist über diesen Link nicht möglich.",
		"invalid":   "Bitte wählen Sie einen Wert von 1 bis 5; der Kommentar darf höchstens 1000 Zeichen haben.",
		"err_title": "Ein Fehler ist aufgetreten", "err": "Bitte versuchen Sie es später erneut."},
	"en": {"title": "How well do our contents suit you?", "body": "We choose contents and offers for you. How does that feel?",
		"low": "1 = not at all", "high": "5 = very well", "comment": "Comment (optional)",
		"warning": "Please do not enter personal data here (no names, addresses, phone numbers or health details).",
		"button":  "Send", "done_title": "Thank you for your feedback", "done": "Your answer helps us write less and better.",
		"bad_title": "This link is not valid (any more)", "bad": "Feedback is not possible through this link.",
		"invalid":   "Please choose a value from 1 to 5; the comment may have at most 1000 characters.",
		"err_title": "An error occurred", "err": "Please try again later."},
}

func (f *Feedback) write(w http.ResponseWriter, r *http.Request, status int, title, body string, form bool) {
	lang := pageLang(r, []string{"de", "en"})
	t := feedbackTexts[lang]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	out := `<!doctype html><html lang="` + lang + `"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>` +
		html.EscapeString(t[title]) + `</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}fieldset{border:0;padding:0}label{margin-right:1rem}textarea{width:100%;font:inherit}button{font:inherit;padding:.5rem 1rem}.warn{font-size:.9rem;color:#7a4b00}</style></head><body><h1>` +
		html.EscapeString(t[title]) + `</h1><p>` + html.EscapeString(t[body]) + `</p>`
	if form {
		out += `<form method="post"><input type="hidden" name="lang" value="` + lang + `"><fieldset><legend>` + html.EscapeString(t["low"]) + ` … ` + html.EscapeString(t["high"]) + `</legend>`
		for i := 1; i <= 5; i++ {
			n := strconv.Itoa(i)
			out += `<label><input type="radio" name="rating" value="` + n + `" required> ` + n + `</label>`
		}
		out += `</fieldset><p><label for="comment">` + html.EscapeString(t["comment"]) + `</label><br><textarea id="comment" name="comment" rows="4" maxlength="1000"></textarea></p><p class="warn">` +
			html.EscapeString(t["warning"]) + `</p><button type="submit">` + html.EscapeString(t["button"]) + `</button></form>`
	}
	_, _ = w.Write([]byte(out + `</body></html>`))
}

func (f *Feedback) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *validate.Error
	switch {
	case errors.As(err, &ve) && ve.Field == "token", errors.Is(err, store.ErrNotFound):
		f.write(w, r, http.StatusNotFound, "bad_title", "bad", false)
	case errors.As(err, &ve):
		f.write(w, r, http.StatusBadRequest, "title", "invalid", true)
	default:
		if f.Log != nil {
			f.Log.ErrorContext(r.Context(), "personalization feedback", "request_id", web.RequestID(r.Context()), "err", err)
		}
		f.write(w, r, http.StatusInternalServerError, "err_title", "err", false)
	}
}

func (f *Feedback) page(w http.ResponseWriter, r *http.Request) {
	if err := f.Check(r.Context(), r.PathValue("token")); err != nil {
		f.fail(w, r, err)
		return
	}
	f.write(w, r, http.StatusOK, "title", "body", true)
}

func (f *Feedback) submit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.write(w, r, http.StatusBadRequest, "title", "invalid", true)
		return
	}
	rating, err := strconv.Atoi(r.PostForm.Get("rating"))
	if err != nil {
		rating = 0
	}
	if err := f.Submit(r.Context(), r.PathValue("token"), rating, r.PostForm.Get("comment")); err != nil {
		f.fail(w, r, err)
		return
	}
	f.write(w, r, http.StatusOK, "done_title", "done", false)
}
