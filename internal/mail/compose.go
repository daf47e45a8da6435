// Package mail composes and sends fairlead's outbound e-mail: the double
// opt-in request, preference-center links and campaign messages.
//
// Compose is pure (no I/O): it turns a Message into an RFC 5322 message with
// the legally required footer (imprint, privacy notice, opt-out) and the
// RFC 8058 one-click unsubscribe headers. A Sender delivers the bytes;
// SMTPSender does so over SMTP.
package mail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/validate"
)

// Message is one e-mail to compose. From, To, Subject and Text are
// required; HTML is optional and adds an HTML alternative.
type Message struct {
	// From is one address, with an optional display name in any script:
	// "Müller GmbH <news@example.de>".
	From string
	// To is one or more addresses separated by commas.
	To string
	// ReplyTo is optional, one or more addresses.
	ReplyTo string
	Subject string
	// Text is the plain-text body; it is always sent.
	Text string
	// HTML is an optional HTML body sent as an alternative to Text.
	HTML string
	// Footer, when set, is appended to both bodies; with an UnsubscribeURL
	// it also adds the one-click unsubscribe headers.
	Footer *Footer
	// MessageID is "<unique@domain>"; empty makes one from a new UUIDv7
	// and the From domain.
	MessageID string
	// Date defaults to the current time.
	Date time.Time
	// Headers are extra header fields (X-…, Precedence, Auto-Submitted,
	// Feedback-ID, …). Fields that Compose writes itself are refused.
	Headers map[string]string
}

// reserved are the header fields Compose writes itself; setting them
// through Headers would produce duplicates that receivers resolve
// differently (and Bcc would disclose recipients).
var reserved = map[string]string{
	"date": "Date", "from": "From", "sender": "From", "to": "To", "cc": "To", "bcc": "To",
	"reply-to": "ReplyTo", "subject": "Subject", "message-id": "MessageID",
	"mime-version": "", "content-type": "Text/HTML", "content-transfer-encoding": "",
	"list-unsubscribe": "Footer.UnsubscribeURL", "list-unsubscribe-post": "Footer.UnsubscribeURL",
}

// Compose renders m as an RFC 5322 message: UTF-8, quoted-printable bodies,
// multipart/alternative when HTML is set, RFC 2047 encoded display names and
// subject. Bad input (a line break in a header value, a malformed address,
// a footer link that is not https) is a *validate.Error naming the field;
// the message text never repeats the addresses or values themselves.
func Compose(m Message) ([]byte, error) {
	var b bytes.Buffer
	if err := ComposeTo(&b, m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ComposeTo is Compose into b, which it resets first: a sender composing
// one message after another reuses one buffer instead of growing a new one
// for each.
func ComposeTo(b *bytes.Buffer, m Message) error {
	b.Reset()
	for _, f := range []struct{ name, v string }{
		{"from", m.From}, {"to", m.To}, {"reply_to", m.ReplyTo}, {"subject", m.Subject}, {"message_id", m.MessageID},
	} {
		if err := CheckHeaderValue(f.name, f.v); err != nil {
			return err
		}
	}
	from, err := parseFrom(m.From)
	if err != nil {
		return err
	}
	to, err := parseList("to", m.To, true)
	if err != nil {
		return err
	}
	replyTo, err := parseList("reply_to", m.ReplyTo, false)
	if err != nil {
		return err
	}
	if strings.TrimSpace(m.Subject) == "" {
		return validate.Required("subject")
	}
	if strings.TrimSpace(m.Text) == "" {
		return validate.Required("text")
	}
	msgID, err := messageID(m.MessageID, from.Address)
	if err != nil {
		return err
	}
	extra, err := extraHeaders(m.Headers)
	if err != nil {
		return err
	}
	text, html := m.Text, m.HTML
	var unsubscribe string
	if m.Footer != nil {
		if err := m.Footer.validate(); err != nil {
			return err
		}
		text = appendTextFooter(text, m.Footer)
		if html != "" {
			html = appendHTMLFooter(html, m.Footer)
		}
		unsubscribe = m.Footer.UnsubscribeURL
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}

	writeHeader(b, "Date", date.Format(time.RFC1123Z))
	writeHeader(b, "From", formatAddr("From", from))
	if len(replyTo) > 0 {
		writeHeader(b, "Reply-To", formatList("Reply-To", replyTo))
	}
	writeHeader(b, "To", formatList("To", to))
	writeHeader(b, "Message-ID", msgID)
	writeHeader(b, "Subject", encodeUnstructured("Subject", m.Subject))
	writeHeader(b, "MIME-Version", "1.0")
	if unsubscribe != "" {
		// RFC 8058 §3.1: one https URI that takes a POST with the body
		// "List-Unsubscribe=One-Click"; receivers only offer the one-click
		// button when the message is DKIM-signed covering both fields.
		writeHeader(b, "List-Unsubscribe", "<"+unsubscribe+">")
		writeHeader(b, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	}
	for _, h := range extra {
		writeHeader(b, h[0], h[1])
	}
	if html == "" {
		writeHeader(b, "Content-Type", "text/plain; charset=utf-8")
		writeHeader(b, "Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		sc := scratch.Get().(*[]byte)
		*sc = appendQP((*sc)[:0], text)
		b.Write(*sc)
		scratch.Put(sc)
		return nil
	}
	// The encoded parts go to a pooled buffer: their hash names the
	// boundary, which the header before them carries.
	sc := scratch.Get().(*[]byte)
	defer scratch.Put(sc)
	*sc = appendQP((*sc)[:0], text)
	n := len(*sc)
	*sc = appendQP(*sc, html)
	textPart, htmlPart := (*sc)[:n], (*sc)[n:]
	boundary := boundaryFor(textPart, htmlPart)
	writeHeader(b, "Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	for _, p := range []struct {
		ctype string
		body  []byte
	}{{"text/plain; charset=utf-8", textPart}, {"text/html; charset=utf-8", htmlPart}} {
		b.WriteString("--" + boundary + "\r\n")
		writeHeader(b, "Content-Type", p.ctype)
		writeHeader(b, "Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		b.Write(p.body)
	}
	b.WriteString("--" + boundary + "--\r\n")
	return nil
}

// Envelope returns the SMTP envelope of m: the bare From address and every
// To address.
func (m Message) Envelope() (Envelope, error) {
	if err := CheckHeaderValue("from", m.From); err != nil {
		return Envelope{}, err
	}
	if err := CheckHeaderValue("to", m.To); err != nil {
		return Envelope{}, err
	}
	from, err := parseFrom(m.From)
	if err != nil {
		return Envelope{}, err
	}
	to, err := parseList("to", m.To, true)
	if err != nil {
		return Envelope{}, err
	}
	env := Envelope{From: from.Address}
	for _, a := range to {
		env.To = append(env.To, a.Address)
	}
	return env, nil
}

func parseFrom(s string) (*mail.Address, error) {
	if strings.TrimSpace(s) == "" {
		return nil, validate.Required("from")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, validate.Invalid("from", `from must be one e-mail address, optionally with a name: "Name <news@example.com>"`)
	}
	return a, nil
}

func parseList(field, s string, required bool) ([]*mail.Address, error) {
	if strings.TrimSpace(s) == "" {
		if required {
			return nil, validate.Required(field)
		}
		return nil, nil
	}
	as, err := mail.ParseAddressList(s)
	if err != nil {
		return nil, validate.Invalid(field, field+` must be e-mail addresses separated by commas, each optionally with a name: "Name <someone@example.com>"`)
	}
	return as, nil
}

func formatList(name string, as []*mail.Address) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = formatAddr(name, a)
	}
	return strings.Join(parts, ", ")
}

// formatAddr Q-encodes non-ASCII display names itself: net/mail's
// B-encoding is unreadable in raw form and does not leave room for the
// field name, so its first word can overrun the 76-character line.
func formatAddr(field string, a *mail.Address) string {
	if isASCII(a.Name) {
		return a.String()
	}
	return qEncode(a.Name, max(76-len(field)-2, 24)) + " " + (&mail.Address{Address: a.Address}).String()
}

// messageID checks a given Message-ID or makes one. The domain part names
// the sender so IDs of different installations never collide.
func messageID(given, fromAddr string) (string, error) {
	if given == "" {
		domain := fromAddr[strings.LastIndexByte(fromAddr, '@')+1:]
		return "<" + id.New() + "@" + domain + ">", nil
	}
	inner, ok := strings.CutPrefix(given, "<")
	if ok {
		inner, ok = strings.CutSuffix(inner, ">")
	}
	left, right, at := strings.Cut(inner, "@")
	if !ok || !at || left == "" || right == "" || strings.ContainsAny(inner, " \t<>()[]\\,;:\"") || !isASCII(inner) {
		return "", validate.Invalid("message_id", `message_id must look like "<unique@example.com>"`)
	}
	return given, nil
}

// extraHeaders checks the caller's header fields and returns them sorted by
// name, so the same message composes to the same bytes.
func extraHeaders(h map[string]string) ([][2]string, error) {
	out := make([][2]string, 0, len(h))
	for name, v := range h {
		field := "headers[" + name + "]"
		if !validFieldName(name) {
			return nil, validate.Invalid("headers", "header names must be 1 to 76 printable ASCII characters without spaces or colons")
		}
		if use, ok := reserved[strings.ToLower(name)]; ok {
			msg := field + " is written by fairlead itself"
			if use != "" {
				msg += "; set " + use + " instead"
			}
			return nil, validate.Invalid(field, msg)
		}
		if err := CheckHeaderValue(field, v); err != nil {
			return nil, err
		}
		out = append(out, [2]string{name, encodeUnstructured(name, v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out, nil
}

func validFieldName(name string) bool {
	if name == "" || len(name) > 76 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// CheckHeaderValue refuses what would let a value break out of its header
// field: CR or LF (header injection), other control characters, and
// invalid UTF-8. The error names the field, never the value.
func CheckHeaderValue(field, v string) error {
	if strings.ContainsAny(v, "\r\n") {
		return validate.Invalid(field, field+" must not contain line breaks (CR or LF)")
	}
	if !utf8.ValidString(v) {
		return validate.Invalid(field, field+" must be valid UTF-8")
	}
	for _, r := range v {
		if r != '\t' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)) {
			return validate.Invalid(field, field+" must not contain control characters")
		}
	}
	return nil
}

// encodeUnstructured returns the body of an unstructured field (Subject,
// X-…) as ASCII that folds: RFC 2047 Q-encoding when it holds non-ASCII
// text, something a decoder would take for an encoded word, or a word too
// long to fold.
func encodeUnstructured(name, v string) string {
	needs := !isASCII(v) || strings.Contains(v, "=?") ||
		// Parsers trim field bodies; encoded words keep the spaces.
		v != strings.TrimSpace(v) ||
		// Long words and runs of spaces cannot be folded; encoded words
		// can be split.
		!foldsWithin78(name, v)
	if !needs {
		return v
	}
	// The first word shares its line with "Name: ".
	return qEncode(v, max(76-len(name)-2, 24))
}

// qEncode writes v as RFC 2047 Q encoded words, the first at most first
// characters long, the others 75 (RFC 2047 §2), so every line stays within
// 76; a character is never split. mime.QEncoding cannot be used: it leaves
// ASCII alone even where that would be misread.
func qEncode(v string, first int) string {
	const prefix, suffix = "=?utf-8?q?", "?="
	limit := first
	var out, word strings.Builder
	flush := func() {
		if word.Len() == 0 {
			return
		}
		if out.Len() > 0 {
			out.WriteByte(' ')
		}
		out.WriteString(prefix + word.String() + suffix)
		word.Reset()
		limit = 75
	}
	for _, r := range v {
		var enc string
		switch {
		case r == ' ':
			enc = "_"
		case r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!*+-/", r)):
			enc = string(r)
		default:
			var buf [utf8.UTFMax]byte
			n := utf8.EncodeRune(buf[:], r)
			for _, c := range buf[:n] {
				enc += fmt.Sprintf("=%02X", c)
			}
		}
		if len(prefix)+word.Len()+len(enc)+len(suffix) > limit {
			flush()
		}
		word.WriteString(enc)
	}
	flush()
	return out.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// writeHeader writes one field folded at spaces so lines stay within 78
// characters where the value allows (RFC 5322 §2.2.3).
func writeHeader(b *bytes.Buffer, name, value string) {
	if fitsOneLine(name, value) {
		// What fold writes when no word needs a new line, without
		// splitting the value into words.
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
		return
	}
	b.WriteString(fold(name, value))
}

// fitsOneLine: "name: value" is within 78 characters, so fold would not
// break it anywhere.
func fitsOneLine(name, value string) bool { return len(name)+2+len(value) <= 78 }

func fold(name, value string) string {
	var b strings.Builder
	line := len(name) + 1
	b.WriteString(name)
	b.WriteByte(':')
	for i, w := range strings.Split(value, " ") {
		// Never fold before an empty word: that would make a line of
		// whitespace only, which RFC 5322 forbids.
		if i > 0 && w != "" && line+1+len(w) > 78 && line > len(name)+1 {
			b.WriteString("\r\n")
			line = 0
		}
		b.WriteByte(' ')
		b.WriteString(w)
		line += 1 + len(w)
	}
	b.WriteString("\r\n")
	return b.String()
}

// foldsWithin78 reports whether fold keeps every line of the field within
// 78 characters.
func foldsWithin78(name, value string) bool {
	if fitsOneLine(name, value) {
		return true
	}
	for _, l := range strings.Split(fold(name, value), "\r\n") {
		if len(l) > 78 {
			return false
		}
	}
	return true
}

// scratch holds the encoded bodies of a message being composed.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// appendQP appends s encoded as quoted-printable with CRLF line ends,
// ending in CRLF, to dst: byte for byte what mime/quotedprintable's
// Writer makes of the body (FuzzQP compares them), without its per-call
// buffers, for the two bodies of every campaign message.
func appendQP(dst []byte, s string) []byte {
	var e qpEncoder
	e.dst = dst
	body := strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	for i := 0; i < len(body); i++ {
		if b := body[i]; b >= '!' && b <= '~' && b != '=' && e.i < 75 {
			// The common case of write, inline.
			e.line[e.i] = b
			e.i++
			e.cr = false
			continue
		}
		e.byte(body[i])
	}
	if !strings.HasSuffix(body, "\n") {
		e.byte('\n')
	}
	e.checkLastByte()
	return append(e.dst, e.line[:e.i]...)
}

// qpEncoder is quotedprintable.Writer (Binary false) appending to dst.
type qpEncoder struct {
	dst  []byte
	line [78]byte
	i    int
	cr   bool
}

func (e *qpEncoder) byte(b byte) {
	if b >= '!' && b <= '~' && b != '=' || b == ' ' || b == '\t' || b == '\n' || b == '\r' {
		e.write(b)
		return
	}
	e.encode(b)
}

func (e *qpEncoder) write(b byte) {
	if b == '\n' || b == '\r' {
		if e.cr && b == '\n' {
			e.cr = false
			return
		}
		if b == '\r' {
			e.cr = true
		}
		e.checkLastByte()
		e.crlf()
		return
	}
	if e.i == 75 {
		e.softBreak()
	}
	e.line[e.i] = b
	e.i++
	e.cr = false
}

func (e *qpEncoder) encode(b byte) {
	if 75-e.i < 3 {
		e.softBreak()
	}
	const upperhex = "0123456789ABCDEF"
	e.line[e.i], e.line[e.i+1], e.line[e.i+2] = '=', upperhex[b>>4], upperhex[b&0x0f]
	e.i += 3
}

func (e *qpEncoder) checkLastByte() {
	if e.i == 0 {
		return
	}
	if b := e.line[e.i-1]; b == ' ' || b == '\t' {
		e.i--
		e.encode(b)
	}
}

func (e *qpEncoder) softBreak() {
	e.line[e.i] = '='
	e.i++
	e.crlf()
}

func (e *qpEncoder) crlf() {
	e.line[e.i], e.line[e.i+1] = '\r', '\n'
	e.i += 2
	e.dst = append(e.dst, e.line[:e.i]...)
	e.i = 0
}

// boundaryFor derives the multipart boundary from the encoded parts: the
// same message composes to the same bytes (golden tests, DKIM re-signing),
// and no part can contain a boundary that depends on its own hash.
// "=_" cannot occur in quoted-printable output (RFC 2045 §6.7).
func boundaryFor(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	return "=_fairlead_" + hex.EncodeToString(h.Sum(nil)[:12])
}
