package mail

import (
	"crypto/x509"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/validate"
)

// TLSMode says how an SMTP connection is protected.
type TLSMode string

const (
	// StartTLS upgrades a plain connection (submission port 587); the
	// sender refuses to continue when the server does not offer it.
	StartTLS TLSMode = "starttls"
	// ImplicitTLS speaks TLS from the first byte (port 465, RFC 8314).
	ImplicitTLS TLSMode = "tls"
	// NoTLS is clear text: for local relays and test servers.
	NoTLS TLSMode = "none"
)

// TLSModes are the values of the tls= parameter.
var TLSModes = []string{string(StartTLS), string(ImplicitTLS), string(NoTLS)}

// DefaultTimeout bounds one whole delivery, connecting included.
const DefaultTimeout = 30 * time.Second

// SMTPConfig says how to reach the SMTP server. ParseSMTPURL fills it from
// FAIRLEAD_SMTP_URL.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	TLS      TLSMode
	// From is the default sender address ("" when not configured).
	From string
	// Timeout bounds one delivery: dial, TLS, AUTH and the transfer.
	Timeout time.Duration
	// InsecureSkipVerify skips certificate checks; only for loopback hosts.
	InsecureSkipVerify bool
	// RootCAs, when set, replaces the system roots (tests with a
	// self-signed server certificate).
	RootCAs *x509.CertPool
	// HeloName is the name sent in EHLO (default "localhost").
	HeloName string
	// MaxIdle is how many connections stay open between messages for
	// reuse: 0 means DefaultMaxIdle, negative none.
	MaxIdle int
}

const smtpURLField = "FAIRLEAD_SMTP_URL"

func urlErr(msg string) error { return validate.Invalid(smtpURLField, msg) }

// urlOneOf is validate.OneOf without the value: a password with an
// unescaped "?" ends up in the query, and its pieces must not be echoed.
func urlOneOf(part string, allowed []string) error {
	return &validate.Error{Field: smtpURLField, Code: "invalid_value", Allowed: allowed,
		Message: part + " must be one of " + strings.Join(allowed, ", ")}
}

// ParseSMTPURL reads FAIRLEAD_SMTP_URL:
//
//	smtp://user:pass@host:587?tls=starttls   (tls=starttls|tls|none; default starttls, port 587)
//	smtps://user:pass@host                   (implicit TLS, port 465)
//
// Optional parameters: from=, timeout= (Go duration, default 30s),
// insecure_skip_verify=true (loopback hosts only), helo=, max_idle= (0 to
// 16 connections kept for reuse, default 2). Errors name the
// part that is wrong and never contain the password.
func ParseSMTPURL(s string) (SMTPConfig, error) {
	var c SMTPConfig
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		// url.Parse errors quote the whole URL, password included.
		part := "the URL"
		switch msg := err.Error(); {
		case strings.Contains(msg, "port"):
			part = "the port"
		case strings.Contains(msg, "userinfo"), strings.Contains(msg, "escape"):
			part = "the user name or password"
		case strings.Contains(msg, "host"):
			part = "the host"
		case strings.Contains(msg, "scheme"):
			part = "the scheme"
		}
		return c, urlErr(part + " is malformed; write smtp://user:password@host:587 and percent-encode @ : / ? # % in the user name and password")
	}
	switch u.Scheme {
	case "smtp", "smtps":
	default:
		return c, urlOneOf("the scheme", []string{"smtp", "smtps"})
	}
	if u.Opaque != "" || u.Host == "" {
		return c, urlErr("the host is missing; write smtp://host:587 or smtps://host")
	}
	if u.Path != "" && u.Path != "/" {
		return c, urlErr("a path is not allowed after the host (percent-encode / in the password)")
	}
	if u.Fragment != "" || strings.HasSuffix(u.String(), "#") {
		return c, urlErr("a # fragment is not allowed (percent-encode # in the password as %23)")
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return c, urlErr("the host is missing; write smtp://host:587 or smtps://host")
	}
	if net.ParseIP(c.Host) == nil && !validHostName(c.Host) {
		return c, urlErr("the host must be a host name or an IP address")
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
		if c.Username == "" {
			return c, urlErr("the user name is empty")
		}
		if c.Password == "" {
			return c, urlErr("the password is missing; write smtp://user:password@host")
		}
		if err := CheckHeaderValue("user", c.Username+c.Password); err != nil {
			return c, urlErr("the user name and password must not contain control characters")
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return c, urlErr("the query (after ?) is malformed")
	}
	allowed := []string{"tls", "from", "timeout", "insecure_skip_verify", "helo", "max_idle"}
	for k, vs := range q {
		if !contains(allowed, k) {
			return c, urlOneOf("every parameter after ?", allowed)
		}
		if len(vs) != 1 {
			return c, urlErr("parameter " + k + " is given more than once")
		}
	}

	switch tls := q.Get("tls"); {
	case u.Scheme == "smtps" && (tls == "" || tls == string(ImplicitTLS)):
		c.TLS = ImplicitTLS
	case u.Scheme == "smtps":
		return c, urlErr("smtps:// always uses implicit TLS (tls=tls); use smtp:// for another mode")
	case tls == "":
		c.TLS = StartTLS
	case contains(TLSModes, tls):
		c.TLS = TLSMode(tls)
	default:
		return c, urlOneOf("tls", TLSModes)
	}

	switch p := u.Port(); {
	case p == "":
		c.Port = map[TLSMode]int{StartTLS: 587, ImplicitTLS: 465, NoTLS: 25}[c.TLS]
	default:
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return c, urlErr("the port must be a number from 1 to 65535")
		}
		c.Port = n
	}

	if v := q.Get("from"); v != "" {
		a, err := mail.ParseAddress(v)
		if err != nil || CheckHeaderValue("from", v) != nil {
			return c, urlErr("from must be an e-mail address, optionally with a name (percent-encoded)")
		}
		c.From = a.String()
	}

	c.Timeout = DefaultTimeout
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 10*time.Minute {
			return c, urlErr("timeout must be a duration from 1s to 10m, like 30s")
		}
		c.Timeout = d
	}

	if v := q.Get("insecure_skip_verify"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, urlOneOf("insecure_skip_verify", []string{"true", "false"})
		}
		if b && !IsLoopback(c.Host) {
			return c, urlErr("insecure_skip_verify=true is allowed only for a loopback host (127.0.0.1, ::1, localhost): elsewhere it lets anyone on the path read the password and the messages")
		}
		c.InsecureSkipVerify = b
	}

	if v := q.Get("helo"); v != "" {
		if !validHeloName(v) {
			return c, urlErr("helo must be a host name (letters, digits, dots and hyphens)")
		}
		c.HeloName = v
	}

	if v := q.Get("max_idle"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxIdleConfigured {
			return c, urlErr("max_idle must be a number from 0 to 16")
		}
		c.MaxIdle = n
		if n == 0 {
			c.MaxIdle = -1
		}
	}

	if c.TLS == NoTLS && c.Username != "" && !IsLoopback(c.Host) {
		return c, urlErr("tls=none would send the password in clear text; use tls=starttls or smtps://, or a loopback host")
	}
	return c, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func validHostName(s string) bool { return validHeloName(strings.ReplaceAll(s, "_", "-")) }

func validHeloName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// String is the configuration as an smtp(s):// URL with the password
// replaced by "xxxxx", for logs and diagnostics.
func (c SMTPConfig) String() string {
	u := url.URL{Scheme: "smtp", Host: joinHostPort(c.Host, c.Port)}
	q := url.Values{}
	if c.TLS == ImplicitTLS {
		u.Scheme = "smtps"
	} else if c.TLS != "" {
		q.Set("tls", string(c.TLS))
	}
	if c.Username != "" {
		u.User = url.User(c.Username)
		if c.Password != "" {
			u.User = url.UserPassword(c.Username, "xxxxx")
		}
	}
	if c.From != "" {
		q.Set("from", c.From)
	}
	if c.Timeout != 0 && c.Timeout != DefaultTimeout {
		q.Set("timeout", c.Timeout.String())
	}
	if c.InsecureSkipVerify {
		q.Set("insecure_skip_verify", "true")
	}
	if c.HeloName != "" {
		q.Set("helo", c.HeloName)
	}
	if c.MaxIdle != 0 {
		q.Set("max_idle", strconv.Itoa(max(c.MaxIdle, 0)))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == 0 {
		return host
	}
	return host + ":" + strconv.Itoa(port)
}
