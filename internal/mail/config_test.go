package mail

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/validate"
)

func TestParseSMTPURL(t *testing.T) {
	cases := []struct {
		in   string
		want SMTPConfig
	}{
		{"smtp://user:s3cret@mail.example:587?tls=starttls",
			SMTPConfig{Host: "mail.example", Port: 587, Username: "user", Password: "s3cret", TLS: StartTLS, Timeout: DefaultTimeout}},
		{"smtp://mail.example",
			SMTPConfig{Host: "mail.example", Port: 587, TLS: StartTLS, Timeout: DefaultTimeout}},
		{"smtps://user:p%40ss%3Aw%2Frd%23@mail.example",
			SMTPConfig{Host: "mail.example", Port: 465, Username: "user", Password: "p@ss:w/rd#", TLS: ImplicitTLS, Timeout: DefaultTimeout}},
		{"smtp://mail.example?tls=tls",
			SMTPConfig{Host: "mail.example", Port: 465, TLS: ImplicitTLS, Timeout: DefaultTimeout}},
		{"smtp://relay.internal?tls=none",
			SMTPConfig{Host: "relay.internal", Port: 25, TLS: NoTLS, Timeout: DefaultTimeout}},
		{"smtp://u:p@127.0.0.1:2525?tls=none&insecure_skip_verify=true&timeout=5s&from=Demo%20%3Cnews%40demo.example%3E&helo=fairlead.demo.example&max_idle=0",
			SMTPConfig{Host: "127.0.0.1", Port: 2525, Username: "u", Password: "p", TLS: NoTLS, Timeout: 5 * time.Second,
				InsecureSkipVerify: true, From: `"Demo" <news@demo.example>`, HeloName: "fairlead.demo.example", MaxIdle: -1}},
		{"smtp://mail.example?max_idle=8",
			SMTPConfig{Host: "mail.example", Port: 587, TLS: StartTLS, Timeout: DefaultTimeout, MaxIdle: 8}},
		{"smtp://[::1]:25/?tls=starttls&insecure_skip_verify=true",
			SMTPConfig{Host: "::1", Port: 25, TLS: StartTLS, Timeout: DefaultTimeout, InsecureSkipVerify: true}},
	}
	for _, c := range cases {
		got, err := ParseSMTPURL(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.in, got, c.want)
		}
		// String round-trips, without the password.
		escaped := strings.TrimPrefix(url.UserPassword("", got.Password).String(), ":")
		again, err := ParseSMTPURL(strings.Replace(got.String(), "xxxxx", escaped, 1))
		if err != nil || again != got {
			t.Errorf("%s: String() %q parses to %+v (%v)", c.in, got.String(), again, err)
		}
		if len(got.Password) > 3 && strings.Contains(got.String(), got.Password) {
			t.Errorf("String() shows the password: %s", got.String())
		}
	}
}

func TestParseSMTPURLErrors(t *testing.T) {
	const pw = "Geheim-Passwort-42"
	cases := []struct{ in, part string }{
		{"", "scheme"},
		{"http://mail.example", "scheme"},
		{"mail.example:587", "scheme"},
		{"smtp://", "host"},
		{"smtp:mail.example", "host"},
		{"smtp://user:" + pw + "@mail.example:99999", "port"},
		{"smtp://user:" + pw + "@mail.example:abc", "port"},
		{"smtp://user@mail.example", "password"},
		{"smtp://user:" + pw + "@mail.example?tls=ssl", "tls must be one of starttls, tls, none"},
		{"smtps://user:" + pw + "@mail.example?tls=starttls", "smtps://"},
		{"smtp://user:" + pw + "@mail.example?tls=none", "clear text"},
		{"smtp://user:" + pw + "@mail.example?insecure_skip_verify=true", "loopback"},
		{"smtp://user:" + pw + "@127.0.0.1?insecure_skip_verify=yes!", "insecure_skip_verify"},
		{"smtp://user:" + pw + "@mail.example?timeout=5", "timeout"},
		{"smtp://user:" + pw + "@mail.example?timeout=1h", "timeout"},
		{"smtp://user:" + pw + "@mail.example?from=not-an-address", "from"},
		{"smtp://user:" + pw + "@mail.example?helo=bad_name!", "helo"},
		{"smtp://user:" + pw + "@mail.example?color=blue", "parameter"},
		{"smtp://user:" + pw + "@mail.example?tls=tls&tls=none", "more than once"},
		{"smtp://user:" + pw + "@mail.example/path", "path"},
		{"smtp://user:" + pw + "@mail.example?max_idle=17", "max_idle"},
		// Special characters left unescaped in the password: the URL
		// splits in the wrong place, and no piece may be echoed.
		{"smtp://user:Geheim#Passwort42@mail.example", "the port"},
		{"smtp://user:Geheim/Passwort42@mail.example", "port"},
		{"smtp://user:Geheim?tls=Passwort42@mail.example", "port"},
		{"smtp://user:Geheim%zzPasswort42@mail.example", "user name or password"},
	}
	for _, c := range cases {
		_, err := ParseSMTPURL(c.in)
		var ve *validate.Error
		if !errors.As(err, &ve) || ve.Field != "FAIRLEAD_SMTP_URL" {
			t.Errorf("%q: got %v, want a validate.Error on FAIRLEAD_SMTP_URL", c.in, err)
			continue
		}
		if !strings.Contains(err.Error(), c.part) {
			t.Errorf("%q: error %q does not name %q", c.in, err, c.part)
		}
		for _, secret := range []string{pw, "Geheim", "Passwort42"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%q: error shows the password: %v", c.in, err)
			}
		}
	}
}
