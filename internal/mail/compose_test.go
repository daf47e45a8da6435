package mail

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/validate"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var testDate = time.Date(2026, 12, 1, 9, 30, 0, 0, time.FixedZone("CET", 3600))

func germanMessage() Message {
	return Message{
		From:      "Müller & Söhne GmbH <news@mueller-soehne.example>",
		To:        "Jürgen Groß <juergen@example.de>",
		ReplyTo:   "Kundenservice <service@mueller-soehne.example>",
		Subject:   "Bitte bestätigen Sie Ihre Anmeldung zum Newsletter über Frühlingsangebote für Gärten",
		Text:      "Guten Tag Herr Groß,\n\nbitte bestätigen Sie Ihre Anmeldung:\nhttps://news.mueller-soehne.example/p/doi/tok3n\n\nViele Grüße\nIhr Team von Müller & Söhne",
		HTML:      "<!doctype html><html><body><p>Guten Tag Herr Groß,</p><p><a href=\"https://news.mueller-soehne.example/p/doi/tok3n\">Anmeldung bestätigen</a></p></body></html>",
		MessageID: "<0193b1c2-0000-7000-8000-000000000001@mueller-soehne.example>",
		Date:      testDate,
		Headers:   map[string]string{"Auto-Submitted": "auto-generated", "X-Kampagne": "Frühling 2027"},
		Footer: &Footer{
			Imprint:        "Müller & Söhne GmbH\nMusterstraße 1, 10115 Berlin\nGeschäftsführer: Max Müller\nHRB 12345, Amtsgericht Charlottenburg",
			PrivacyURL:     "https://mueller-soehne.example/datenschutz",
			PreferencesURL: "https://news.mueller-soehne.example/p/prefs/tok3n",
			UnsubscribeURL: "https://news.mueller-soehne.example/p/unsubscribe/tok3n",
			Lang:           "de",
		},
	}
}

func englishMessage() Message {
	return Message{
		From:      "Fairlead Demo <hello@demo.example>",
		To:        "Ada Lovelace <ada@example.com>",
		Subject:   "Your preferences were updated",
		Text:      "Hello Ada,\r\n\r\nyour preferences were saved. A line that is long enough to need a soft line break in quoted-printable encoding, because it exceeds seventy-six characters.\r\n",
		MessageID: "<0193b1c2-0000-7000-8000-000000000002@demo.example>",
		Date:      time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC),
		Footer: &Footer{
			Imprint:        "Demo Ltd, 1 Example Street, London",
			PrivacyURL:     "https://demo.example/privacy",
			UnsubscribeURL: "http://127.0.0.1:8080/p/unsubscribe/t",
			Lang:           "en",
		},
	}
}

func TestComposeGolden(t *testing.T) {
	for name, m := range map[string]Message{"de_multipart": germanMessage(), "en_text": englishMessage()} {
		t.Run(name, func(t *testing.T) {
			got, err := Compose(m)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".eml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("composed message differs from %s (go test -update rewrites it):\n%s", path, got)
			}
			checkWellFormed(t, got)
		})
	}
}

// checkWellFormed parses the message as a receiver would and checks the
// line rules of RFC 5322 and RFC 2045.
func checkWellFormed(t *testing.T, raw []byte) {
	t.Helper()
	for i, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 78 {
			t.Errorf("line %d has %d characters (> 78): %q", i+1, len(line), line)
		}
		if bytes.ContainsAny(line, "\r\n") {
			t.Errorf("line %d has a bare CR or LF", i+1)
		}
		for _, c := range line {
			if c >= 0x80 {
				t.Errorf("line %d has a non-ASCII byte", i+1)
				break
			}
		}
	}
	if _, err := mail.ReadMessage(bytes.NewReader(raw)); err != nil {
		t.Fatalf("does not parse: %v", err)
	}
}

func parsed(t *testing.T, raw []byte) (*mail.Message, map[string]string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string]string{}
	ct, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	read := func(r io.Reader, cte string) string {
		if cte != "quoted-printable" {
			t.Fatalf("Content-Transfer-Encoding %q", cte)
		}
		b, err := io.ReadAll(quotedprintable.NewReader(r))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if ct != "multipart/alternative" {
		parts[ct] = read(msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
		return msg, parts
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[pct] = read(p, p.Header.Get("Content-Transfer-Encoding"))
	}
	return msg, parts
}

func TestComposeDecodesBack(t *testing.T) {
	m := germanMessage()
	raw, err := Compose(m)
	if err != nil {
		t.Fatal(err)
	}
	msg, parts := parsed(t, raw)
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("Subject decodes to %q (%v), want %q", subject, err, m.Subject)
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Müller & Söhne GmbH" || from[0].Address != "news@mueller-soehne.example" {
		t.Errorf("From = %v (%v)", from, err)
	}
	if k, _ := dec.DecodeHeader(msg.Header.Get("X-Kampagne")); k != "Frühling 2027" {
		t.Errorf("X-Kampagne = %q", k)
	}
	if got := msg.Header.Get("List-Unsubscribe"); got != "<https://news.mueller-soehne.example/p/unsubscribe/tok3n>" {
		t.Errorf("List-Unsubscribe = %q", got)
	}
	if got := msg.Header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", got)
	}
	if d, err := msg.Header.Date(); err != nil || !d.Equal(testDate) {
		t.Errorf("Date = %v (%v)", d, err)
	}
	if msg.Header.Get("MIME-Version") != "1.0" || msg.Header.Get("Message-ID") != m.MessageID {
		t.Errorf("MIME-Version %q, Message-ID %q", msg.Header.Get("MIME-Version"), msg.Header.Get("Message-ID"))
	}
	text, html := parts["text/plain"], parts["text/html"]
	for _, want := range []string{"Guten Tag Herr Groß,\r\n", "Impressum:", "Musterstraße 1", "Datenschutzerklärung: https://mueller-soehne.example/datenschutz",
		"Einstellungen verwalten: https://news.mueller-soehne.example/p/prefs/tok3n", "Abmelden: https://news.mueller-soehne.example/p/unsubscribe/tok3n"} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"Müller &amp; Söhne GmbH<br>", `<a href="https://news.mueller-soehne.example/p/unsubscribe/tok3n" style="color:#555">Abmelden</a>`, "</footer>\r\n</body></html>"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, html)
		}
	}
}

func TestComposeEnglishFooterAndDefaults(t *testing.T) {
	m := englishMessage()
	m.MessageID, m.Date = "", time.Time{}
	raw, err := Compose(m)
	if err != nil {
		t.Fatal(err)
	}
	msg, parts := parsed(t, raw)
	if ct := msg.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q without HTML", ct)
	}
	if id := msg.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@demo.example>") {
		t.Errorf("generated Message-ID %q", id)
	}
	if d, err := msg.Header.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("default Date %v (%v)", d, err)
	}
	text := parts["text/plain"]
	for _, want := range []string{"Legal notice:", "Privacy notice: https://demo.example/privacy", "Unsubscribe: http://127.0.0.1:8080/p/unsubscribe/t"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Manage preferences") {
		t.Error("a link without URL is rendered")
	}
}

func TestComposeWithoutFooterHasNoListHeaders(t *testing.T) {
	m := germanMessage()
	m.Footer = nil
	raw, err := Compose(m)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("List-Unsubscribe")) || bytes.Contains(raw, []byte("Impressum")) {
		t.Error("footer or List-Unsubscribe without Footer")
	}
	// A footer without unsubscribe link (the double opt-in request: the
	// recipient has not subscribed yet) has no List-Unsubscribe either.
	m.Footer = germanMessage().Footer
	m.Footer.UnsubscribeURL = ""
	raw, _ = Compose(m)
	if bytes.Contains(raw, []byte("List-Unsubscribe")) {
		t.Error("List-Unsubscribe without UnsubscribeURL")
	}
}

func TestComposeRejects(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(m *Message)
		field string
	}{
		{"subject CRLF", func(m *Message) { m.Subject = "Hallo\r\nBcc: victim@example.com" }, "subject"},
		{"subject LF", func(m *Message) { m.Subject = "Hallo\nX: y" }, "subject"},
		{"subject CR", func(m *Message) { m.Subject = "Hallo\rX: y" }, "subject"},
		{"subject NUL", func(m *Message) { m.Subject = "a\x00b" }, "subject"},
		{"subject invalid UTF-8", func(m *Message) { m.Subject = "a\xffb" }, "subject"},
		{"from newline", func(m *Message) { m.From = "a@example.com\nBcc: b@example.com" }, "from"},
		{"to newline", func(m *Message) { m.To = "a@example.com\r\n" }, "to"},
		{"reply-to newline", func(m *Message) { m.ReplyTo = "a@example.com\r\nX: y" }, "reply_to"},
		{"message-id newline", func(m *Message) { m.MessageID = "<a@b>\r\nX: y" }, "message_id"},
		{"header value newline", func(m *Message) { m.Headers = map[string]string{"X-Tag": "a\r\nBcc: c@example.com"} }, "headers[X-Tag]"},
		{"header name colon", func(m *Message) { m.Headers = map[string]string{"X-Tag: a\r\nBcc": "v"} }, "headers"},
		{"header Bcc", func(m *Message) { m.Headers = map[string]string{"bcc": "c@example.com"} }, "headers[bcc]"},
		{"header List-Unsubscribe", func(m *Message) { m.Headers = map[string]string{"List-Unsubscribe": "<https://x.example>"} }, "headers[List-Unsubscribe]"},
		{"unsubscribe newline", func(m *Message) { m.Footer.UnsubscribeURL = "https://x.example/u\r\nBcc: c@example.com" }, "footer.unsubscribe_url"},
		{"unsubscribe http", func(m *Message) { m.Footer.UnsubscribeURL = "http://news.example/u" }, "footer.unsubscribe_url"},
		{"unsubscribe mailto", func(m *Message) { m.Footer.UnsubscribeURL = "mailto:u@news.example" }, "footer.unsubscribe_url"},
		{"unsubscribe relative", func(m *Message) { m.Footer.UnsubscribeURL = "/p/unsubscribe/t" }, "footer.unsubscribe_url"},
		{"privacy with bracket", func(m *Message) { m.Footer.PrivacyURL = "https://x.example/a>b" }, "footer.privacy_url"},
		{"lang", func(m *Message) { m.Footer.Lang = "fr" }, "footer.lang"},
		{"imprint missing", func(m *Message) { m.Footer.Imprint = " " }, "footer.imprint"},
		{"from missing", func(m *Message) { m.From = "" }, "from"},
		{"from two", func(m *Message) { m.From = "a@example.com, b@example.com" }, "from"},
		{"to missing", func(m *Message) { m.To = "" }, "to"},
		{"to malformed", func(m *Message) { m.To = "not an address" }, "to"},
		{"subject missing", func(m *Message) { m.Subject = "" }, "subject"},
		{"text missing", func(m *Message) { m.Text = "" }, "text"},
		{"message-id malformed", func(m *Message) { m.MessageID = "no-brackets@x" }, "message_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := germanMessage()
			c.edit(&m)
			raw, err := Compose(m)
			var ve *validate.Error
			if !errors.As(err, &ve) {
				t.Fatalf("got %v (%d bytes), want a *validate.Error", err, len(raw))
			}
			if ve.Field != c.field {
				t.Errorf("field %q, want %q (%v)", ve.Field, c.field, err)
			}
			for _, secret := range []string{"victim", "a@example.com", "b@", "not an address"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error repeats the input %q: %v", secret, err)
				}
			}
		})
	}
	if err := CheckLinkURL("u", "fr"); err == nil {
		t.Error("CheckLinkURL accepted a bare word")
	}
	if err := CheckLinkURL("u", "http://[::1]:8080/u"); err != nil {
		t.Errorf("http to ::1: %v", err)
	}
}

func TestSubjectFoldsAndRoundTrips(t *testing.T) {
	dec := new(mime.WordDecoder)
	for _, s := range []string{
		"Short",
		"  leading and trailing spaces  ",
		"=?utf-8?q?looks_encoded?=",
		strings.Repeat("lang ", 40),
		strings.Repeat("x", 1200),
		strings.Repeat("ä", 100),
		"Tab\tseparated",
	} {
		m := englishMessage()
		m.Subject = s
		raw, err := Compose(m)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		checkWellFormed(t, raw)
		msg, _ := parsed(t, raw)
		got, err := dec.DecodeHeader(msg.Header.Get("Subject"))
		if err != nil || strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(s), " ") {
			t.Errorf("%q decodes to %q (%v)", s, got, err)
		}
	}
}

func TestEnvelope(t *testing.T) {
	m := germanMessage()
	m.To = "Jürgen <juergen@example.de>, ada@example.com"
	env, err := m.Envelope()
	if err != nil {
		t.Fatal(err)
	}
	if env.From != "news@mueller-soehne.example" || len(env.To) != 2 || env.To[0] != "juergen@example.de" || env.To[1] != "ada@example.com" {
		t.Errorf("envelope %+v", env)
	}
}
