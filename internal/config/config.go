// Package config builds fairlead's one Config value from FAIRLEAD_*
// environment variables and command-line flags (flags win). It is built once
// in main and passed down; there is no global configuration.
package config

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Config is the bootstrap configuration. Settings that operators change at
// run time per workspace (SMTP, imprint, …) live in the database instead.
type Config struct {
	Addr            string
	DataDir         string
	DatabaseURL     string
	AdminEmail      string
	AdminPassword   string
	LogLevel        string
	LogFormat       string
	Workers         int
	MaxBodyBytes    int64
	ShutdownTimeout time.Duration
	// MasterKey is the base64 master key that wraps the per-contact data
	// keys; empty on SQLite means <data-dir>/master.key (see keyring).
	MasterKey string
	// MasterKeyPrevious is the master key being rotated away from: what it
	// wrapped still opens, nothing new is wrapped with it. Empty on SQLite
	// means <data-dir>/master.key.previous when present.
	MasterKeyPrevious string
	// PublicURL is the base of links in messages ("" = http://Addr).
	PublicURL string
	// SMTPURL and SMSURL are the default gateways of every workspace; empty
	// = the dev outbox in the database.
	SMTPURL string
	SMSURL  string
	// MailFrom is the default sender address.
	MailFrom string
	// FormRateLimit is public form submissions per client IP and minute (0 = off).
	FormRateLimit int
	// WebhookMaxAttempts is how often a webhook delivery is tried before it
	// is dead (the dead-letter state).
	WebhookMaxAttempts int
	// WebhookAllowPrivate lets webhook endpoints use private, loopback and
	// link-local addresses (and plain http to loopback).
	WebhookAllowPrivate bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client: its address goes into consent evidence, rate limits and
	// pseudonyms, so without them every visitor behind a proxy is the proxy.
	TrustedProxies []netip.Prefix
	// DKIMKeyFile, DKIMSelector and DKIMDomain sign campaign messages with
	// DKIM when all three are set.
	DKIMKeyFile, DKIMSelector, DKIMDomain string
}

// Public returns the base URL of public links.
func (c Config) Public() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	return "http://" + c.Addr
}

// Option describes one setting: its environment variable, flag, default and
// whether it is a secret (redacted whenever printed).
type Option struct {
	Env     string
	Flag    string
	Default string
	Secret  bool
	Usage   string
	set     func(c *Config, v string) error
}

// Options is the single table of settings; the README's table is generated
// from the same facts (see TestREADMEListsEveryOption).
var Options = []Option{
	{Env: "FAIRLEAD_ADDR", Flag: "addr", Default: "127.0.0.1:8080", Usage: "HTTP listen address (host:port)",
		set: func(c *Config, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("want host:port, e.g. 127.0.0.1:8080")
			}
			c.Addr = v
			return nil
		}},
	{Env: "FAIRLEAD_DATA_DIR", Flag: "data-dir", Default: "fairlead-data", Usage: "directory of the embedded SQLite database (used when FAIRLEAD_DATABASE_URL is empty)",
		set: func(c *Config, v string) error { c.DataDir = v; return nil }},
	{Env: "FAIRLEAD_DATABASE_URL", Flag: "database-url", Default: "", Secret: true, Usage: "postgres://user:pass@host/db to run on PostgreSQL; empty = embedded SQLite",
		set: func(c *Config, v string) error {
			if v != "" && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
				return fmt.Errorf("want a postgres:// or postgresql:// URL, or empty for SQLite")
			}
			c.DatabaseURL = v
			return nil
		}},
	{Env: "FAIRLEAD_ADMIN_EMAIL", Flag: "admin-email", Default: "admin@example.com", Usage: "login of the admin user created on first start",
		set: func(c *Config, v string) error {
			if !strings.Contains(v, "@") {
				return fmt.Errorf("want an e-mail address")
			}
			c.AdminEmail = v
			return nil
		}},
	{Env: "FAIRLEAD_ADMIN_PASSWORD", Flag: "", Default: "", Secret: true, Usage: "password of the admin user created on first start; empty = generate one and print it once",
		set: func(c *Config, v string) error {
			if v != "" && len(v) < 12 {
				return fmt.Errorf("want at least 12 characters")
			}
			c.AdminPassword = v
			return nil
		}},
	{Env: "FAIRLEAD_LOG_LEVEL", Flag: "log-level", Default: "info", Usage: "debug, info, warn or error",
		set: func(c *Config, v string) error {
			switch v {
			case "debug", "info", "warn", "error":
				c.LogLevel = v
				return nil
			}
			return fmt.Errorf("want one of debug, info, warn, error")
		}},
	{Env: "FAIRLEAD_LOG_FORMAT", Flag: "log-format", Default: "text", Usage: "text or json",
		set: func(c *Config, v string) error {
			if v != "text" && v != "json" {
				return fmt.Errorf("want text or json")
			}
			c.LogFormat = v
			return nil
		}},
	{Env: "FAIRLEAD_WORKERS", Flag: "workers", Default: "4", Usage: "background jobs run at once by this process (0 = run no jobs here)",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 256 {
				return fmt.Errorf("want a whole number from 0 to 256")
			}
			c.Workers = n
			return nil
		}},
	{Env: "FAIRLEAD_MAX_BODY_BYTES", Flag: "max-body-bytes", Default: "1048576", Usage: "largest accepted request body in bytes",
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1024 || n > 1<<30 {
				return fmt.Errorf("want a whole number from 1024 to 1073741824")
			}
			c.MaxBodyBytes = n
			return nil
		}},
	{Env: "FAIRLEAD_MASTER_KEY", Flag: "", Default: "", Secret: true, Usage: "base64 of 32 random bytes that protects all personal data; empty on SQLite = read or create <data-dir>/master.key; required on PostgreSQL",
		set: func(c *Config, v string) error {
			if v == "" {
				c.MasterKey = ""
				return nil
			}
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
			if err != nil || len(b) != 32 {
				return fmt.Errorf("want base64 of exactly 32 bytes, e.g. from: head -c 32 /dev/urandom | base64")
			}
			c.MasterKey = strings.TrimSpace(v)
			return nil
		}},
	{Env: "FAIRLEAD_MASTER_KEY_PREVIOUS", Flag: "", Default: "", Secret: true, Usage: "during a master key rotation, the old master key (base64), so data it wrapped still opens until `fairlead keys rotate` has rewrapped it; empty on SQLite = read <data-dir>/master.key.previous when present",
		set: func(c *Config, v string) error {
			if v == "" {
				c.MasterKeyPrevious = ""
				return nil
			}
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
			if err != nil || len(b) != 32 {
				return fmt.Errorf("want base64 of exactly 32 bytes (the master key used before FAIRLEAD_MASTER_KEY)")
			}
			c.MasterKeyPrevious = strings.TrimSpace(v)
			return nil
		}},
	{Env: "FAIRLEAD_PUBLIC_URL", Flag: "public-url", Default: "", Usage: "base URL of the links in messages and embed snippets, e.g. https://leads.example.com; empty = http://FAIRLEAD_ADDR",
		set: func(c *Config, v string) error {
			if v != "" && !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
				return fmt.Errorf("want an http:// or https:// URL")
			}
			c.PublicURL = v
			return nil
		}},
	{Env: "FAIRLEAD_SMTP_URL", Flag: "smtp-url", Default: "", Secret: true, Usage: "default SMTP server of every workspace, e.g. smtp://user:pass@host:587?tls=starttls (smtps:// for TLS on 465); empty = mail goes to the dev outbox",
		set: func(c *Config, v string) error {
			if v != "" && !strings.HasPrefix(v, "smtp://") && !strings.HasPrefix(v, "smtps://") {
				return fmt.Errorf("want an smtp:// or smtps:// URL")
			}
			c.SMTPURL = v
			return nil
		}},
	{Env: "FAIRLEAD_SMS_URL", Flag: "sms-url", Default: "", Secret: true, Usage: "default HTTP SMS gateway (JSON POST), e.g. https://user:token@sms.example/send; empty = SMS go to the dev outbox",
		set: func(c *Config, v string) error {
			if v != "" && !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
				return fmt.Errorf("want an http:// or https:// URL")
			}
			c.SMSURL = v
			return nil
		}},
	{Env: "FAIRLEAD_MAIL_FROM", Flag: "mail-from", Default: "fairlead@localhost", Usage: "default sender address of messages",
		set: func(c *Config, v string) error {
			if !strings.Contains(v, "@") || strings.ContainsAny(v, " <>\r\n") {
				return fmt.Errorf("want a bare e-mail address")
			}
			c.MailFrom = v
			return nil
		}},
	{Env: "FAIRLEAD_FORM_RATE_LIMIT", Flag: "form-rate-limit", Default: "30", Usage: "public form submissions (and other public writes) per client IP and minute; 0 = no limit",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 1_000_000 {
				return fmt.Errorf("want a whole number from 0 to 1000000")
			}
			c.FormRateLimit = n
			return nil
		}},
	{Env: "FAIRLEAD_WEBHOOK_MAX_ATTEMPTS", Flag: "webhook-max-attempts", Default: "12", Usage: "attempts of a webhook delivery before it is dead (dead-letter); retries wait attempt^4 seconds",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 25 {
				return fmt.Errorf("want a whole number from 1 to 25")
			}
			c.WebhookMaxAttempts = n
			return nil
		}},
	{Env: "FAIRLEAD_TRUSTED_PROXIES", Flag: "trusted-proxies", Default: "", Usage: "comma-separated addresses or CIDR ranges of reverse proxies in front of fairlead; from these, the client address is taken from X-Forwarded-For (empty: the peer's address, the header is ignored)",
		set: func(c *Config, v string) error {
			ps, err := ParseProxies(v)
			if err != nil {
				return err
			}
			c.TrustedProxies = ps
			return nil
		}},
	{Env: "FAIRLEAD_WEBHOOK_ALLOW_PRIVATE", Flag: "webhook-allow-private", Default: "false", Usage: "let webhook endpoints use private, loopback, link-local and CGNAT addresses, and http:// to loopback (local receivers, tests); off protects the internal network (SSRF)",
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("want true or false")
			}
			c.WebhookAllowPrivate = b
			return nil
		}},
	{Env: "FAIRLEAD_DKIM_KEY_FILE", Flag: "dkim-key-file", Default: "", Usage: "PEM file with the RSA private key that signs campaign e-mails with DKIM (with the selector and domain); empty = no signature",
		set: func(c *Config, v string) error { c.DKIMKeyFile = v; return nil }},
	{Env: "FAIRLEAD_DKIM_SELECTOR", Flag: "dkim-selector", Default: "", Usage: "DKIM selector: the public key is published at <selector>._domainkey.<domain>",
		set: func(c *Config, v string) error {
			if strings.ContainsAny(v, " ;=.\r\n") {
				return fmt.Errorf("want one DNS label, e.g. mail2026")
			}
			c.DKIMSelector = v
			return nil
		}},
	{Env: "FAIRLEAD_DKIM_DOMAIN", Flag: "dkim-domain", Default: "", Usage: "DKIM signing domain (d=), normally the domain of the sender address",
		set: func(c *Config, v string) error {
			if strings.ContainsAny(v, " ;=@\r\n") {
				return fmt.Errorf("want a domain name, e.g. example.com")
			}
			c.DKIMDomain = v
			return nil
		}},
	{Env: "FAIRLEAD_SHUTDOWN_TIMEOUT", Flag: "shutdown-timeout", Default: "20s", Usage: "how long a stop waits for requests and jobs in flight",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("want a duration such as 20s")
			}
			c.ShutdownTimeout = d
			return nil
		}},
}

// Error names the setting that is wrong.
type Error struct {
	Env, Flag, Value, Problem string
	Secret                    bool
}

func (e *Error) Error() string {
	v := e.Value
	if e.Secret {
		v = "(redacted)"
	}
	name := e.Env
	if e.Flag != "" {
		name += " / --" + e.Flag
	}
	return fmt.Sprintf("invalid setting %s=%q: %s", name, v, e.Problem)
}

// Load builds the Config from defaults, then the environment, then the flags
// registered on fs (call Load after fs.Parse).
func Load(getenv func(string) string, fs *flag.FlagSet) (Config, error) {
	var c Config
	setFlags := map[string]string{}
	if fs != nil {
		fs.Visit(func(f *flag.Flag) { setFlags[f.Name] = f.Value.String() })
	}
	for _, o := range Options {
		v, from := o.Default, ""
		if e := getenv(o.Env); e != "" {
			v, from = e, "env"
		}
		if fv, ok := setFlags[o.Flag]; ok && o.Flag != "" {
			v, from = fv, "flag"
		}
		if err := o.set(&c, v); err != nil {
			_ = from
			return Config{}, &Error{Env: o.Env, Flag: o.Flag, Value: v, Problem: err.Error(), Secret: o.Secret}
		}
	}
	return c, nil
}

// RegisterFlags adds the flags of the named options (all when names is empty).
func RegisterFlags(fs *flag.FlagSet, names ...string) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, o := range Options {
		if o.Flag == "" || (len(names) > 0 && !want[o.Flag]) {
			continue
		}
		fs.String(o.Flag, o.Default, o.Usage+" (env "+o.Env+")")
	}
}

// ErrNoValue is returned by Value for an unknown key.
var ErrNoValue = errors.New("no such setting")

func (c Config) value(env string) string {
	switch env {
	case "FAIRLEAD_ADDR":
		return c.Addr
	case "FAIRLEAD_DATA_DIR":
		return c.DataDir
	case "FAIRLEAD_DATABASE_URL":
		return c.DatabaseURL
	case "FAIRLEAD_ADMIN_EMAIL":
		return c.AdminEmail
	case "FAIRLEAD_ADMIN_PASSWORD":
		return c.AdminPassword
	case "FAIRLEAD_LOG_LEVEL":
		return c.LogLevel
	case "FAIRLEAD_LOG_FORMAT":
		return c.LogFormat
	case "FAIRLEAD_WORKERS":
		return strconv.Itoa(c.Workers)
	case "FAIRLEAD_MAX_BODY_BYTES":
		return strconv.FormatInt(c.MaxBodyBytes, 10)
	case "FAIRLEAD_SHUTDOWN_TIMEOUT":
		return c.ShutdownTimeout.String()
	case "FAIRLEAD_MASTER_KEY":
		return c.MasterKey
	case "FAIRLEAD_MASTER_KEY_PREVIOUS":
		return c.MasterKeyPrevious
	case "FAIRLEAD_PUBLIC_URL":
		return c.PublicURL
	case "FAIRLEAD_SMTP_URL":
		return c.SMTPURL
	case "FAIRLEAD_SMS_URL":
		return c.SMSURL
	case "FAIRLEAD_MAIL_FROM":
		return c.MailFrom
	case "FAIRLEAD_FORM_RATE_LIMIT":
		return strconv.Itoa(c.FormRateLimit)
	case "FAIRLEAD_WEBHOOK_MAX_ATTEMPTS":
		return strconv.Itoa(c.WebhookMaxAttempts)
	case "FAIRLEAD_TRUSTED_PROXIES":
		ps := make([]string, len(c.TrustedProxies))
		for i, p := range c.TrustedProxies {
			ps[i] = p.String()
		}
		return strings.Join(ps, ",")
	case "FAIRLEAD_WEBHOOK_ALLOW_PRIVATE":
		return strconv.FormatBool(c.WebhookAllowPrivate)
	case "FAIRLEAD_DKIM_KEY_FILE":
		return c.DKIMKeyFile
	case "FAIRLEAD_DKIM_SELECTOR":
		return c.DKIMSelector
	case "FAIRLEAD_DKIM_DOMAIN":
		return c.DKIMDomain
	}
	return ""
}

// Print writes the effective configuration, secrets redacted.
func (c Config) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE")
	for _, o := range Options {
		v := c.value(o.Env)
		if o.Secret && v != "" {
			v = "(set, redacted)"
		}
		if v == "" {
			v = "(empty)"
		}
		fmt.Fprintf(tw, "%s\t%s\n", o.Env, v)
	}
	return tw.Flush()
}

// String never shows secrets, so a Config that ends up in a log line is safe.
func (c Config) String() string {
	var b strings.Builder
	for _, o := range Options {
		v := c.value(o.Env)
		if o.Secret && v != "" {
			v = "xxxxx"
		}
		fmt.Fprintf(&b, "%s=%s ", o.Env, v)
	}
	return strings.TrimSpace(b.String())
}

// Backend is "postgres" or "sqlite".
func (c Config) Backend() string {
	if c.DatabaseURL != "" {
		return "postgres"
	}
	return "sqlite"
}

// ParseProxies reads a comma-separated list of IP addresses and CIDR
// ranges; an address stands for itself alone.
func ParseProxies(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR range (like 10.0.0.0/8 or 2001:db8::/32)", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
