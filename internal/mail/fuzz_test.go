package mail

import (
	"bufio"
	"bytes"
	"mime"
	"mime/quotedprintable"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseSMTPURL: no input panics, and neither the error nor String()
// ever shows the password.
func FuzzParseSMTPURL(f *testing.F) {
	for _, s := range []string{
		"smtp://user:s3cret@mail.example:587?tls=starttls",
		"smtps://user:p%40ss@mail.example",
		"smtp://u:p@127.0.0.1:2525?tls=none&insecure_skip_verify=true&timeout=5s&from=a%40b.example",
		"smtp://user:Geheim?tls=Passwort42@mail.example",
		"smtp://user:Geheim#Passwort@mail.example",
		"smtp://[::1]:25/?helo=x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseSMTPURL(s)
		if err == nil {
			// A password equal to another part (host, user) is no leak:
			// only text that changes with the password is.
			other := c
			other.Password = "other password"
			if c.Password != "" && strings.Contains(c.String(), c.Password) && !strings.Contains(other.String(), c.Password) {
				t.Fatalf("String() shows the password: %q", c.String())
			}
			if c.Port < 1 || c.Port > 65535 || c.Host == "" {
				t.Fatalf("accepted %q as %+v", s, c)
			}
			if c.InsecureSkipVerify && !IsLoopback(c.Host) {
				t.Fatalf("insecure_skip_verify for %q", c.Host)
			}
			return
		}
		// The password is whatever sits between the first ":" after "//"
		// and the last "@" of the authority, however the URL is broken.
		rest, ok := strings.CutPrefix(s, "smtp://")
		if !ok {
			rest, ok = strings.CutPrefix(s, "smtps://")
		}
		at := strings.LastIndex(rest, "@")
		if !ok || at < 0 {
			return
		}
		_, pw, ok := strings.Cut(rest[:at], ":")
		if !ok || len(pw) < 6 {
			return
		}
		if u, perr := url.PathUnescape(pw); perr == nil {
			pw = u
		}
		// Words the messages themselves use are no evidence.
		clean := strings.ReplaceAll(s, pw, "PW")
		_, err2 := ParseSMTPURL(clean)
		if strings.Contains(err.Error(), pw) && (err2 == nil || !strings.Contains(err2.Error(), pw)) {
			t.Fatalf("error shows the password %q: %v", pw, err)
		}
	})
}

// FuzzHeaderValue: whatever the subject, Compose either refuses it or
// writes exactly the header fields it means to, with the subject decoding
// back to the input.
func FuzzHeaderValue(f *testing.F) {
	for _, s := range []string{"Hallo", "Grüße\r\nBcc: x@example.com", "=?utf-8?q?x?=", " a  b ", "\x00", "ä\tb", strings.Repeat("ß", 90)} {
		f.Add(s)
	}
	dec := new(mime.WordDecoder)
	f.Fuzz(func(t *testing.T, s string) {
		m := Message{From: "a@example.com", To: "b@example.com", Subject: s, Text: "x",
			MessageID: "<1@example.com>", Headers: map[string]string{"X-Test": s}}
		raw, err := Compose(m)
		if err != nil {
			if CheckHeaderValue("subject", s) == nil && strings.TrimSpace(s) != "" {
				t.Fatalf("refused a clean subject %q: %v", s, err)
			}
			return
		}
		if strings.ContainsAny(s, "\r\n") {
			t.Fatalf("accepted a line break in %q", s)
		}
		head, _, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
		if !ok {
			t.Fatal("no end of header")
		}
		var names []string
		for _, line := range strings.Split(string(head), "\r\n") {
			if len(line) > 78 {
				t.Fatalf("line of %d characters: %q", len(line), line)
			}
			if line[0] == ' ' || line[0] == '\t' {
				if strings.TrimSpace(line) == "" {
					t.Fatalf("whitespace-only continuation line in %q", head)
				}
				continue
			}
			name, _, _ := strings.Cut(line, ":")
			names = append(names, name)
		}
		if got := strings.Join(names, ","); got != "Date,From,To,Message-ID,Subject,MIME-Version,X-Test,Content-Type,Content-Transfer-Encoding" {
			t.Fatalf("header fields %s for %q", got, s)
		}
		unfolded := strings.ReplaceAll(string(head), "\r\n ", " ")
		for _, line := range strings.Split(unfolded, "\r\n") {
			v, ok := strings.CutPrefix(line, "Subject: ")
			if !ok {
				continue
			}
			got, err := dec.DecodeHeader(v)
			if err != nil || got != s {
				t.Fatalf("subject %q comes back as %q (%v)", s, got, err)
			}
		}
	})
}

// The DATA content written in one piece is byte for byte what
// textproto's DotWriter writes.
func FuzzDotStuffed(f *testing.F) {
	for _, s := range []string{"", ".", "a", "a\r\n", ".a\r\n.\r\n..\r\n", "a\nb", "a\r", "a\r\r\nb", "a\r\r\r\n.b\r", "\n\n.", "x\r\n.\r", "\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want bytes.Buffer
		tw := textproto.NewWriter(bufio.NewWriter(&want))
		dw := tw.DotWriter()
		dw.Write(raw)
		dw.Close()
		if got := appendDotStuffed([]byte("prefix\r"), raw); !bytes.Equal(got[7:], want.Bytes()) {
			t.Fatalf("%q: got %q, want %q", raw, got[7:], want.Bytes())
		}
	})
}

// The body encoder is byte for byte mime/quotedprintable's Writer over
// the normalised body.
func FuzzQP(f *testing.F) {
	for _, s := range []string{"", "Grüße\n", "a \n\tb\t", strings.Repeat("x", 80) + "=\r\n" + strings.Repeat("ä", 40), "line \r\rend ", strings.Repeat("ab ", 30) + "\n.\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
		if !strings.HasSuffix(n, "\n") {
			n += "\n"
		}
		var want bytes.Buffer
		w := quotedprintable.NewWriter(&want)
		w.Write([]byte(n))
		w.Close()
		if got := appendQP([]byte("x"), s); !bytes.Equal(got[1:], want.Bytes()) {
			t.Fatalf("%q: got %q, want %q", s, got[1:], want.Bytes())
		}
	})
}
