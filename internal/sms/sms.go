// Package sms sends text messages through an HTTP JSON gateway: one POST
// per message, configured by FAIRLEAD_SMS_URL. Providers differ in field
// names and authentication; the URL says which.
package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/validate"
)

// Gateway sends one text message to one phone number (E.164, "+49…").
type Gateway interface {
	Send(ctx context.Context, to, text string) error
}

// Auth says how the gateway learns who is calling.
type Auth string

const (
	// Basic sends the URL's user and password (token) as HTTP Basic auth.
	Basic Auth = "basic"
	// Bearer sends "Authorization: Bearer <token>".
	Bearer Auth = "bearer"
	// NoAuth sends no credentials (a gateway on a trusted network).
	NoAuth Auth = "none"
)

// Auths are the values of the auth= parameter.
var Auths = []string{string(Basic), string(Bearer), string(NoAuth)}

// DefaultTimeout bounds one request.
const DefaultTimeout = 15 * time.Second

// MaxText is the longest text accepted: ten concatenated GSM segments.
const MaxText = 1530

// Config says where and how to post.
type Config struct {
	// Endpoint is the URL to POST to, without credentials and without
	// fairlead's own parameters; other query parameters stay.
	Endpoint string
	Auth     Auth
	Username string
	Token    string
	// From is the sender ID sent with every message ("" leaves it to the
	// gateway).
	From string
	// ToField, TextField and FromField name the JSON fields (default
	// "to", "text", "from").
	ToField, TextField, FromField string
	Timeout                       time.Duration
}

const urlField = "FAIRLEAD_SMS_URL"

func urlErr(msg string) error { return validate.Invalid(urlField, msg) }

// ParseGatewayURL reads FAIRLEAD_SMS_URL:
//
//	https://user:token@sms.example/api/send                 (HTTP Basic)
//	https://sms.example/api/send?auth=bearer&token=…        (Bearer token)
//
// fairlead's parameters are auth=basic|bearer|none, token=, from=,
// to_field=, text_field=, from_field=, timeout=; any other parameter is
// part of the gateway's URL. http:// is allowed only to loopback hosts.
// Errors name the part that is wrong and never show the token.
func ParseGatewayURL(s string) (Config, error) {
	var c Config
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return c, urlErr("the URL is malformed; write https://user:token@sms.example/path and percent-encode @ : / ? # % in the user name and token")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		return c, urlErr("http:// is allowed only to a loopback host (127.0.0.1, ::1, localhost): the token and the phone numbers would travel in clear text; use https://")
	default:
		return c, &validate.Error{Field: urlField, Code: "invalid_value", Allowed: []string{"https", "http"},
			Message: "the scheme must be https (or http to a loopback host)"}
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return c, urlErr("the host is missing; write https://sms.example/path")
	}
	if u.Fragment != "" {
		return c, urlErr("a # fragment is not allowed (percent-encode # in the token as %23)")
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Token, _ = u.User.Password()
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return c, urlErr("the query (after ?) is malformed")
	}
	own := map[string]string{}
	for _, k := range []string{"auth", "token", "from", "to_field", "text_field", "from_field", "timeout"} {
		if vs, ok := q[k]; ok {
			if len(vs) != 1 {
				return c, urlErr("parameter " + k + " is given more than once")
			}
			own[k] = vs[0]
			q.Del(k)
		}
	}
	if own["token"] != "" {
		if c.Token != "" {
			return c, urlErr("give the token either as password in the URL or as token=, not both")
		}
		c.Token = own["token"]
	}
	switch a := own["auth"]; {
	case a == "" && u.User != nil:
		c.Auth = Basic
	case a == "" && c.Token != "":
		c.Auth = Bearer
	case a == "":
		c.Auth = NoAuth
	case a == string(Basic) || a == string(Bearer) || a == string(NoAuth):
		c.Auth = Auth(a)
	default:
		return c, &validate.Error{Field: urlField, Code: "invalid_value", Allowed: Auths, Message: "auth must be one of " + strings.Join(Auths, ", ")}
	}
	switch c.Auth {
	case Basic:
		if c.Username == "" || c.Token == "" {
			return c, urlErr("auth=basic needs user and token in the URL: https://user:token@sms.example/path")
		}
	case Bearer:
		if c.Token == "" {
			return c, urlErr("auth=bearer needs a token: token=… or https://user:token@…")
		}
	case NoAuth:
		if c.Token != "" {
			return c, urlErr("auth=none, but a token is given")
		}
	}
	c.From = own["from"]
	if len(c.From) > 64 || !utf8.ValidString(c.From) {
		return c, urlErr("from must be a sender ID of at most 64 characters")
	}
	c.ToField, c.TextField, c.FromField = "to", "text", "from"
	for k, dst := range map[string]*string{"to_field": &c.ToField, "text_field": &c.TextField, "from_field": &c.FromField} {
		if v, ok := own[k]; ok {
			if !validFieldName(v) {
				return c, urlErr(k + " must be a JSON field name of letters, digits, _ and -")
			}
			*dst = v
		}
	}
	if c.ToField == c.TextField || c.ToField == c.FromField || c.TextField == c.FromField {
		return c, urlErr("to_field, text_field and from_field must differ")
	}
	c.Timeout = DefaultTimeout
	if v := own["timeout"]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 5*time.Minute {
			return c, urlErr("timeout must be a duration from 1s to 5m, like 15s")
		}
		c.Timeout = d
	}
	u.User = nil
	u.RawQuery = q.Encode()
	c.Endpoint = u.String()
	return c, nil
}

func validFieldName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// String describes the configuration for logs: the token and the values
// of the gateway's own query parameters (often API keys) are replaced by
// "xxxxx".
func (c Config) String() string {
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return "(invalid endpoint)"
	}
	q := u.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q.Set(k, "xxxxx")
	}
	if c.Auth == Basic {
		u.User = url.UserPassword(c.Username, "xxxxx")
	}
	q.Set("auth", string(c.Auth))
	if c.Auth == Bearer {
		q.Set("token", "xxxxx")
	}
	if c.From != "" {
		q.Set("from", c.From)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// GatewayError is an answer other than 2xx. It does not carry the response
// body: gateways echo the phone number.
type GatewayError struct {
	Status int
	// RetryAfter is the gateway's Retry-After, when it sent one.
	RetryAfter time.Duration
}

func (e *GatewayError) Error() string {
	return fmt.Sprintf("sms: the gateway answered %d %s", e.Status, http.StatusText(e.Status))
}

// Permanent reports whether retrying err cannot help: a 4xx answer (bad
// number, bad credentials, rejected text), a redirect (wrong endpoint) or
// input refused before sending. 5xx, network errors and timeouts are worth
// a retry, and so are 408, 425 and 429, which ask for one.
func Permanent(err error) bool {
	var ge *GatewayError
	if errors.As(err, &ge) {
		switch ge.Status {
		case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
			return false
		}
		return ge.Status >= 300 && ge.Status < 500
	}
	var ve *validate.Error
	return errors.As(err, &ve)
}

// HTTPGateway posts JSON to the configured endpoint.
type HTTPGateway struct {
	c      Config
	client *http.Client
}

// NewHTTPGateway returns a Gateway for c. client may be nil; redirects are
// never followed (a POST turned into a GET would lose the message).
func NewHTTPGateway(c Config, client *http.Client) *HTTPGateway {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	var cl http.Client
	if client != nil {
		cl = *client
	}
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &HTTPGateway{c: c, client: &cl}
}

// CheckPhone accepts E.164 numbers: "+", a country code and 7 to 15
// digits in all. The error never repeats the number.
func CheckPhone(field, to string) error {
	ok := len(to) >= 8 && len(to) <= 16 && to[0] == '+' && to[1] != '0'
	for i := 1; ok && i < len(to); i++ {
		ok = to[i] >= '0' && to[i] <= '9'
	}
	if !ok {
		return validate.Invalid(field, field+" must be a phone number in international format, like +4930123456789")
	}
	return nil
}

// Send posts one message. The request ends by the configured timeout or
// ctx, whichever comes first.
func (g *HTTPGateway) Send(ctx context.Context, to, text string) error {
	if err := CheckPhone("to", to); err != nil {
		return err
	}
	if strings.TrimSpace(text) == "" {
		return validate.Required("text")
	}
	if !utf8.ValidString(text) || utf8.RuneCountInString(text) > MaxText {
		return validate.Invalid("text", fmt.Sprintf("text must be valid UTF-8 of at most %d characters", MaxText))
	}
	body := map[string]string{g.c.ToField: to, g.c.TextField: text}
	if g.c.From != "" {
		body[g.c.FromField] = g.c.From
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, g.c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.c.Endpoint, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("sms: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "fairlead")
	switch g.c.Auth {
	case Basic:
		req.SetBasicAuth(g.c.Username, g.c.Token)
	case Bearer:
		req.Header.Set("Authorization", "Bearer "+g.c.Token)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		// url.Error prints the URL, and the gateway's query parameters may
		// hold keys: name the host only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("sms: POST to %s: %w", req.URL.Host, err)
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	ge := &GatewayError{Status: resp.StatusCode}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		ge.RetryAfter = time.Duration(s) * time.Second
	}
	return ge
}
