package mail

import (
	"html"
	"net"
	"net/url"
	"strings"

	"github.com/fairlead/fairlead/internal/validate"
)

// Footer is what every commercial message must carry: the imprint
// (Impressum, § 5 DDG), the privacy notice (Art. 13 GDPR) and, once the
// recipient has subscribed, a way to object at any time (§ 7 (3) UWG,
// Art. 21 GDPR). Lang ("de" or "en") selects the labels.
type Footer struct {
	Imprint                                    string
	PrivacyURL, PreferencesURL, UnsubscribeURL string
	Lang                                       string
	// ObjectionNotice prints the notice the existing-customer exemption
	// needs in every message (§ 7 (3) Nr. 4 UWG): the recipient may object
	// at any time at no cost beyond basic transmission rates.
	ObjectionNotice bool
}

// Langs are the footer languages.
var Langs = []string{"de", "en"}

type footerLabels struct{ imprint, privacy, preferences, unsubscribe, objection string }

var labels = map[string]footerLabels{
	"de": {"Impressum", "Datenschutzerklärung", "Einstellungen verwalten", "Abmelden",
		"Sie können der Verwendung Ihrer E-Mail-Adresse für Werbung jederzeit widersprechen (Abmelden), ohne dass hierfür andere als die Übermittlungskosten nach den Basistarifen entstehen."},
	"en": {"Legal notice", "Privacy notice", "Manage preferences", "Unsubscribe",
		"You may object to the use of your e-mail address for advertising at any time (Unsubscribe), at no cost other than the transmission costs at basic rates."},
}

func (f *Footer) validate() error {
	if _, ok := labels[f.Lang]; !ok {
		return validate.OneOf("footer.lang", f.Lang, Langs)
	}
	if strings.TrimSpace(f.Imprint) == "" {
		return validate.Required("footer.imprint")
	}
	for _, u := range []struct{ field, v string }{
		{"footer.privacy_url", f.PrivacyURL}, {"footer.preferences_url", f.PreferencesURL}, {"footer.unsubscribe_url", f.UnsubscribeURL},
	} {
		if u.v == "" {
			continue
		}
		if err := CheckLinkURL(u.field, u.v); err != nil {
			return err
		}
	}
	return nil
}

// CheckLinkURL accepts an absolute https URL, or http to a loopback address
// (127.0.0.1, ::1, localhost) so local set-ups and tests work. Receivers
// ignore RFC 8058 one-click links that are not https, and a clear-text link
// would expose the token in it.
func CheckLinkURL(field, s string) error {
	if err := CheckHeaderValue(field, s); err != nil {
		return err
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" || u.User != nil {
		return validate.Invalid(field, field+" must be an absolute https:// URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && IsLoopback(u.Hostname()):
	default:
		return validate.Invalid(field, field+" must be an https:// URL (http:// only to 127.0.0.1, ::1 or localhost)")
	}
	if strings.ContainsAny(s, " <>\"") || len(s) > 900 {
		return validate.Invalid(field, field+" must be a URL of at most 900 characters without spaces, quotes or angle brackets")
	}
	return nil
}

// IsLoopback reports whether host (no port) is a loopback IP or
// "localhost".
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (f *Footer) links() [][2]string {
	l := labels[f.Lang]
	var out [][2]string
	for _, p := range [][2]string{{l.privacy, f.PrivacyURL}, {l.preferences, f.PreferencesURL}, {l.unsubscribe, f.UnsubscribeURL}} {
		if p[1] != "" {
			out = append(out, p)
		}
	}
	return out
}

// appendTextFooter adds the footer after the usenet signature separator
// ("-- "), which mail clients recognise and quote-strip in replies.
func appendTextFooter(text string, f *Footer) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(text, "\r\n \t"))
	b.WriteString("\n\n-- \n")
	b.WriteString(labels[f.Lang].imprint + ":\n")
	b.WriteString(strings.TrimSpace(strings.ReplaceAll(f.Imprint, "\r\n", "\n")))
	b.WriteString("\n")
	if f.ObjectionNotice {
		b.WriteString("\n" + labels[f.Lang].objection + "\n")
	}
	if links := f.links(); len(links) > 0 {
		b.WriteString("\n")
		for _, l := range links {
			b.WriteString(l[0] + ": " + l[1] + "\n")
		}
	}
	return b.String()
}

// appendHTMLFooter puts the footer before </body> when the document has
// one, else at the end. Inline styles: mail clients drop <style> blocks.
func appendHTMLFooter(doc string, f *Footer) string {
	var b strings.Builder
	b.WriteString("<footer lang=\"" + f.Lang + "\" style=\"margin-top:2em;padding-top:1em;border-top:1px solid #ccc;font-size:12px;color:#555\">\n")
	b.WriteString("<p><strong>" + html.EscapeString(labels[f.Lang].imprint) + "</strong><br>\n")
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(f.Imprint, "\r\n", "\n")), "\n")
	for i, line := range lines {
		b.WriteString(html.EscapeString(strings.TrimSpace(line)))
		if i < len(lines)-1 {
			b.WriteString("<br>")
		}
		b.WriteString("\n")
	}
	b.WriteString("</p>\n")
	if f.ObjectionNotice {
		b.WriteString("<p>" + html.EscapeString(labels[f.Lang].objection) + "</p>\n")
	}
	if links := f.links(); len(links) > 0 {
		b.WriteString("<p>")
		for i, l := range links {
			if i > 0 {
				b.WriteString(" &middot; ")
			}
			b.WriteString(`<a href="` + html.EscapeString(l[1]) + `" style="color:#555">` + html.EscapeString(l[0]) + `</a>`)
		}
		b.WriteString("</p>\n")
	}
	b.WriteString("</footer>\n")
	footer := b.String()
	if i := lastIndexFold(doc, "</body>"); i >= 0 {
		return doc[:i] + footer + doc[i:]
	}
	return strings.TrimRight(doc, "\r\n") + "\n" + footer
}

// lastIndexFold is strings.LastIndex(strings.ToLower(s), lower) for an
// ASCII lower, without lowering a copy of the whole document.
func lastIndexFold(s, lower string) int {
	for i := len(s) - len(lower); i >= 0; i-- {
		if s[i] == '<' && strings.EqualFold(s[i:i+len(lower)], lower) {
			return i
		}
	}
	return -1
}
