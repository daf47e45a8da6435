package admin

import (
	"html/template"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"regexp"
	"strings"

	"github.com/fairlead/fairlead/internal/mail/outbox"
)

// linkRE finds the links in an outbox message, so that a person walking
// the double opt-in on a laptop can click them.
var linkRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// linkify escapes text and turns its links into anchors.
func linkify(text string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range linkRE.FindAllStringIndex(text, -1) {
		b.WriteString(template.HTMLEscapeString(text[last:m[0]]))
		u := template.HTMLEscapeString(text[m[0]:m[1]])
		b.WriteString(`<a href="` + u + `" class="outbox-link">` + u + `</a>`)
		last = m[1]
	}
	b.WriteString(template.HTMLEscapeString(text[last:]))
	return template.HTML(b.String())
}

// plainText is the text part of a stored raw message, decoded, so the
// outbox shows what the person would read and its links work.
func plainText(raw string) string {
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		return raw
	}
	dec := func(enc string, r io.Reader) string {
		if strings.EqualFold(enc, "quoted-printable") {
			r = quotedprintable.NewReader(r)
		}
		b, _ := io.ReadAll(io.LimitReader(r, 1<<20))
		return string(b)
	}
	mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if !strings.HasPrefix(mt, "multipart/") {
		return dec(m.Header.Get("Content-Transfer-Encoding"), m.Body)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return raw
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			return dec(p.Header.Get("Content-Transfer-Encoding"), p)
		}
	}
}

func bodyOf(it outbox.Item) template.HTML {
	if it.Channel == outbox.Email {
		return linkify(plainText(it.Body))
	}
	return linkify(it.Body)
}

type outboxItem struct {
	outbox.Item
	Linked template.HTML
}

func (u *UI) outboxPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	items, err := u.Outbox.List(ctx, s.WorkspaceID, 50, r.URL.Query().Get("before"))
	if err != nil {
		return err
	}
	set, err := u.Settings.Effective(ctx, s.WorkspaceID)
	if err != nil {
		return err
	}
	var rows []outboxItem
	for _, it := range items {
		rows = append(rows, outboxItem{it, bodyOf(it)})
	}
	p := u.newPage(r, s, "outbox", "outbox_title")
	p.Data = map[string]any{"Items": rows, "SMTP": set.SMTPURL != "", "SMS": set.SMSURL != ""}
	return u.render(w, http.StatusOK, "outbox", "", p)
}

func (u *UI) outboxItem(w http.ResponseWriter, r *http.Request, s *Session) error {
	it, err := u.Outbox.Get(r.Context(), s.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "outbox", "outbox_title")
	p.Data = map[string]any{"Items": []outboxItem{{it, linkify(it.Body)}}, "One": true}
	return u.render(w, http.StatusOK, "outbox", "", p)
}
