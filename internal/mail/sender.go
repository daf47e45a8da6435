package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fairlead/fairlead/internal/validate"
)

// SMTPError is a refusal by the SMTP server. It carries the reply code and
// the enhanced status code (RFC 3463) but prints neither the server's text
// nor the address: servers quote the recipient in their replies, and these
// errors end up in job logs. Reply holds the text for deliberate display.
type SMTPError struct {
	// Command is the step the server refused: "MAIL FROM", "RCPT TO",
	// "DATA", "BDAT", "AUTH", "STARTTLS", "EHLO" or "greeting".
	Command  string
	Code     int
	Enhanced string
	// Recipient is the index in Envelope.To for RCPT TO refusals.
	Recipient int
	Reply     string
}

func (e *SMTPError) Error() string {
	s := fmt.Sprintf("smtp: server refused %s: %d", e.Command, e.Code)
	if e.Command == "RCPT TO" {
		s = fmt.Sprintf("smtp: server refused RCPT TO for recipient #%d: %d", e.Recipient+1, e.Code)
	}
	if e.Enhanced != "" {
		s += " " + e.Enhanced
	}
	return s
}

// Permanent reports whether retrying err cannot help: a 5xx reply from the
// SMTP server (550 mailbox unavailable, 554 rejected, 535 bad credentials)
// or input the sender refused. Network errors, timeouts and 4xx replies
// (greylisting, full mailbox, rate limits) are worth a retry.
func Permanent(err error) bool {
	var se *SMTPError
	if errors.As(err, &se) {
		return se.Code >= 500 && se.Code < 600
	}
	var ve *validate.Error
	return errors.As(err, &ve) || errors.Is(err, ErrNoSMTPUTF8)
}

// ErrNoSMTPUTF8 means an address holds non-ASCII characters (jürgen@…,
// …@müller.example) and the server does not take them (RFC 6531). It is
// permanent until the server or the address changes.
var ErrNoSMTPUTF8 = errors.New("smtp: the server does not accept non-ASCII addresses (no SMTPUTF8, RFC 6531)")

// SMTPSender delivers over SMTP. It keeps up to MaxIdle authenticated
// connections open between messages: TLS and AUTH cost more than the
// message itself. It is safe for concurrent use.
type SMTPSender struct {
	c SMTPConfig

	mu     sync.Mutex
	idle   []*conn
	closed bool
}

// Limits of connection reuse. Servers close idle sessions (RFC 5321
// §4.5.3.2 lets them after 5 minutes, many do sooner) and cap messages per
// session; staying well below both avoids most stale connections, and a
// stale one is replaced before anything was accepted on it.
const (
	DefaultMaxIdle    = 2
	idleTimeout       = 30 * time.Second
	messagesPerConn   = 50
	maxIdleConfigured = 16
)

// NewSMTPSender returns a Sender for c (from ParseSMTPURL). Close it to
// end the idle connections.
func NewSMTPSender(c SMTPConfig) *SMTPSender {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.HeloName == "" {
		c.HeloName = "localhost"
	}
	if c.TLS == "" {
		c.TLS = StartTLS
	}
	if c.MaxIdle == 0 {
		c.MaxIdle = DefaultMaxIdle
	}
	return &SMTPSender{c: c}
}

// Send delivers raw to every recipient of env, or to none: a refused
// recipient aborts the transaction before DATA. An empty env.From is the
// configured from= address. The whole exchange ends by the configured
// timeout or ctx, whichever comes first.
func (s *SMTPSender) Send(ctx context.Context, env Envelope, raw []byte) (err error) {
	if env.From == "" {
		env.From = s.defaultFrom()
	}
	if err := checkEnvelope(env); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.c.Timeout)
	defer cancel()
	defer func() {
		// An I/O error caused by the deadline or a cancellation is
		// reported as such, so callers see why.
		var se *SMTPError
		if err == nil || errors.As(err, &se) {
			return
		}
		cause := ctx.Err()
		if cause == nil && errors.Is(err, os.ErrDeadlineExceeded) {
			// The connection deadline is the ctx deadline; its timer
			// can fire first.
			cause = context.DeadlineExceeded
		}
		if cause != nil {
			err = fmt.Errorf("%w: %w", cause, err)
		}
	}()
	if c := s.takeIdle(); c != nil {
		c.arm(ctx)
		err := c.deliver(env, raw)
		if err == nil {
			s.release(c)
			return nil
		}
		c.close()
		// A reused session that failed before the server accepted the
		// sender (closed while idle, 421 at its message limit) is
		// replaced; later failures are the message's.
		if !errors.Is(err, errBeforeMail) || ctx.Err() != nil {
			return err
		}
	}
	c, err := s.dial(ctx)
	if err != nil {
		return err
	}
	if err := c.deliver(env, raw); err != nil {
		c.close()
		return err
	}
	s.release(c)
	return nil
}

// Close ends the idle connections; later Sends still work but keep none.
func (s *SMTPSender) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = nil, true
	s.mu.Unlock()
	for _, c := range idle {
		c.nc.SetDeadline(time.Now().Add(time.Second))
		c.quit()
		c.c.Close()
	}
	return nil
}

// takeIdle returns the most recently used idle connection, dropping those
// idle too long.
func (s *SMTPSender) takeIdle() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.idle) > 0 {
		c := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if time.Since(c.lastUsed) < idleTimeout {
			return c
		}
		go c.c.Close()
	}
	return nil
}

// release ends the use of a connection that just delivered: it goes back
// to the idle list, or is closed politely when the list is full, the
// sender closed or the connection has carried enough messages.
func (s *SMTPSender) release(c *conn) {
	c.disarm()
	c.sent++
	c.lastUsed = time.Now()
	s.mu.Lock()
	if !s.closed && s.c.MaxIdle > 0 && len(s.idle) < s.c.MaxIdle && c.sent < messagesPerConn {
		s.idle = append(s.idle, c)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	c.nc.SetDeadline(time.Now().Add(time.Second))
	c.quit()
	c.c.Close()
}

// defaultFrom is the bare address of the configured from= ("" if none).
func (s *SMTPSender) defaultFrom() string {
	if a, err := mail.ParseAddress(s.c.From); err == nil {
		return a.Address
	}
	return ""
}

// checkEnvelope refuses the null return path too: fairlead's messages
// must be able to bounce, or a dead address would never be noticed.
func checkEnvelope(env Envelope) error {
	if env.From == "" {
		return validate.Invalid("from", "from is required: set Envelope.From or from= in FAIRLEAD_SMTP_URL")
	}
	if len(env.To) == 0 {
		return validate.Required("to")
	}
	if err := checkAddr("from", env.From); err != nil {
		return err
	}
	for _, a := range env.To {
		if a == "" {
			return validate.Required("to")
		}
		if err := checkAddr("to", a); err != nil {
			return err
		}
	}
	return nil
}

func checkAddr(field, a string) error {
	if err := CheckHeaderValue(field, a); err != nil {
		return err
	}
	if strings.ContainsAny(a, " <>") || (a != "" && !strings.Contains(a, "@")) {
		return validate.Invalid(field, field+" must be a bare e-mail address (no name, no angle brackets)")
	}
	return nil
}

// conn is one SMTP session.
type conn struct {
	nc       net.Conn
	c        *smtp.Client
	stop     func() bool
	sent     int
	lastUsed time.Time
	// data is the DATA content of the message being sent, reused.
	data []byte
}

// arm binds the connection to ctx for one use: its deadline, and its
// cancellation unblocking whatever read or write is pending.
func (c *conn) arm(ctx context.Context) {
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(dl)
	}
	nc := c.nc
	c.stop = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
}

func (c *conn) disarm() {
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
	c.nc.SetDeadline(time.Time{})
}

// errBeforeMail marks a failure of MAIL FROM that is not a 5xx refusal:
// nothing of the message was accepted yet.
var errBeforeMail = errors.New("before MAIL FROM was accepted")

func (s *SMTPSender) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: s.c.Host, RootCAs: s.c.RootCAs,
		InsecureSkipVerify: s.c.InsecureSkipVerify && IsLoopback(s.c.Host), MinVersion: tls.VersionTLS12}
}

func (s *SMTPSender) dial(ctx context.Context) (*conn, error) {
	addr := net.JoinHostPort(s.c.Host, strconv.Itoa(s.c.Port))
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtp: connect to %s: %w", addr, err)
	}
	c := &conn{nc: nc}
	c.arm(ctx)
	fail := func(err error) (*conn, error) {
		c.disarm()
		nc.Close()
		return nil, err
	}
	if s.c.TLS == ImplicitTLS {
		tc := tls.Client(nc, s.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(fmt.Errorf("smtp: TLS with %s: %w", addr, err))
		}
		nc = tc
	}
	sc, err := smtp.NewClient(nc, s.c.Host)
	if err != nil {
		return fail(replyError("greeting", -1, err))
	}
	c.c = sc
	if err := sc.Hello(s.c.HeloName); err != nil {
		return fail(replyError("EHLO", -1, err))
	}
	if s.c.TLS == StartTLS {
		if ok, _ := sc.Extension("STARTTLS"); !ok {
			// Never fall back to clear text: a man in the middle can strip
			// the STARTTLS offer.
			return fail(fmt.Errorf("smtp: %s does not offer STARTTLS (use tls=none only for a local relay)", addr))
		}
		if err := sc.StartTLS(s.tlsConfig()); err != nil {
			return fail(replyError("STARTTLS", -1, err))
		}
	}
	if s.c.Username != "" {
		if err := s.auth(sc); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

func (s *SMTPSender) auth(c *smtp.Client) error {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return errors.New("smtp: the server does not offer AUTH, but a user name is configured")
	}
	var a smtp.Auth
	switch fields := strings.Fields(strings.ToUpper(mechs)); {
	case contains(fields, "PLAIN"):
		a = &plainAuth{user: s.c.Username, pass: s.c.Password, host: s.c.Host}
	case contains(fields, "LOGIN"):
		// Some providers (Microsoft 365 among them) offer only LOGIN
		// besides OAuth.
		a = &loginAuth{user: s.c.Username, pass: s.c.Password, host: s.c.Host}
	default:
		return fmt.Errorf("smtp: the server offers AUTH %s; fairlead speaks PLAIN and LOGIN", strings.Join(fields, " "))
	}
	if err := c.Auth(a); err != nil {
		return replyError("AUTH", -1, err)
	}
	return nil
}

func (c *conn) deliver(env Envelope, raw []byte) error {
	if needsUTF8(env, raw) {
		// net/smtp asks for SMTPUTF8 when offered; without it a server
		// would take or mangle the bytes as it pleases.
		if ok, _ := c.c.Extension("SMTPUTF8"); !ok {
			return ErrNoSMTPUTF8
		}
	}
	if ok, _ := c.c.Extension("PIPELINING"); ok {
		if ok, _ := c.c.Extension("CHUNKING"); ok && len(env.To) == 1 && canonical(raw) {
			return c.deliverChunked(env, raw)
		}
		return c.deliverPipelined(env, raw)
	}
	if err := c.c.Mail(env.From); err != nil {
		return mailError(err)
	}
	for i, to := range env.To {
		if err := c.c.Rcpt(to); err != nil {
			return replyError("RCPT TO", i, err)
		}
	}
	w, err := c.c.Data()
	if err != nil {
		return replyError("DATA", -1, err)
	}
	if _, err := w.Write(raw); err != nil {
		w.Close()
		return fmt.Errorf("smtp: transfer the message: %w", err)
	}
	if err := w.Close(); err != nil {
		return replyError("DATA", -1, err)
	}
	return nil
}

func mailError(err error) error {
	err = replyError("MAIL FROM", -1, err)
	if !Permanent(err) {
		err = fmt.Errorf("%w (%w)", err, errBeforeMail)
	}
	return err
}

// deliverPipelined sends MAIL FROM, every RCPT TO and DATA in one write
// and then reads their replies in order (RFC 2920), so a message costs two
// round trips instead of three plus one per recipient. Every reply is
// still checked: the first refusal is the message's error, exactly as
// without pipelining. On any error the caller closes the connection, which
// also aborts a transaction whose DATA the server accepted although a
// recipient was refused (RFC 5321 §4.1.1.4: nothing is delivered without
// the final dot).
func (c *conn) deliverPipelined(env Envelope, raw []byte) error {
	w := c.c.Text.W
	params := ""
	if ok, _ := c.c.Extension("8BITMIME"); ok {
		params += " BODY=8BITMIME"
	}
	if ok, _ := c.c.Extension("SMTPUTF8"); ok && needsUTF8(env, raw) {
		params += " SMTPUTF8"
	}
	w.WriteString("MAIL FROM:<" + env.From + ">" + params + "\r\n")
	for _, to := range env.To {
		w.WriteString("RCPT TO:<" + to + ">\r\n")
	}
	w.WriteString("DATA\r\n")
	if err := w.Flush(); err != nil {
		// Nothing was answered yet: a stale session, as when MAIL FROM
		// fails on it.
		return mailError(err)
	}
	if _, _, err := c.c.Text.ReadResponse(250); err != nil {
		return mailError(err)
	}
	var first error
	for i := range env.To {
		if _, _, err := c.c.Text.ReadResponse(25); err != nil && first == nil {
			first = replyError("RCPT TO", i, err)
		}
	}
	if _, _, err := c.c.Text.ReadResponse(354); err != nil {
		if first != nil {
			return first
		}
		return replyError("DATA", -1, err)
	}
	if first != nil {
		return first
	}
	// The message and its final dot in one write: the buffered writer is
	// empty after the flush above, so it hands a message larger than its
	// buffer to the connection as it is.
	c.data = appendDotStuffed(c.data[:0], raw)
	if _, err := w.Write(c.data); err != nil {
		return fmt.Errorf("smtp: transfer the message: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("smtp: transfer the message: %w", err)
	}
	if cap(c.data) > 1<<20 {
		c.data = nil // an unusually large message is not kept
	}
	if _, _, err := c.c.Text.ReadResponse(250); err != nil {
		return replyError("DATA", -1, err)
	}
	return nil
}

// deliverChunked sends MAIL FROM, RCPT TO and the whole message as one
// BDAT chunk (RFC 3030 CHUNKING, pipelined by RFC 2920) in one write, then
// reads the three replies: one write and one read per message, where DATA
// needs two of each (the content may only follow the 354). It is used for
// one recipient only: with several, a refused one would not stop the
// chunk from being delivered to the others, where DATA is abandoned before
// its final dot. BDAT carries the bytes as they are, so the message must
// already end its lines in CRLF (Compose's output does).
func (c *conn) deliverChunked(env Envelope, raw []byte) error {
	w := c.c.Text.W
	b := c.data[:0]
	b = append(b, "MAIL FROM:<"...)
	b = append(b, env.From...)
	b = append(b, '>')
	if ok, _ := c.c.Extension("8BITMIME"); ok {
		b = append(b, " BODY=8BITMIME"...)
	}
	if ok, _ := c.c.Extension("SMTPUTF8"); ok && needsUTF8(env, raw) {
		b = append(b, " SMTPUTF8"...)
	}
	b = append(b, "\r\nRCPT TO:<"...)
	b = append(b, env.To[0]...)
	b = append(b, ">\r\nBDAT "...)
	b = strconv.AppendInt(b, int64(len(raw)), 10)
	b = append(b, " LAST\r\n"...)
	b = append(b, raw...)
	c.data = b
	if cap(c.data) > 1<<20 {
		c.data = nil // an unusually large message is not kept
	}
	// The buffered writer is empty between messages, so it hands all of
	// this to the connection in one write.
	if _, err := w.Write(b); err != nil {
		return mailError(err)
	}
	if err := w.Flush(); err != nil {
		return mailError(err)
	}
	if _, _, err := c.c.Text.ReadResponse(250); err != nil {
		return mailError(err)
	}
	_, _, rerr := c.c.Text.ReadResponse(25)
	if _, _, err := c.c.Text.ReadResponse(250); err != nil {
		if rerr != nil {
			return replyError("RCPT TO", 0, rerr)
		}
		return replyError("BDAT", -1, err)
	}
	if rerr != nil {
		// The server took the chunk although it refused the only
		// recipient: nothing can have been delivered, but the session
		// is in no state to trust.
		return replyError("RCPT TO", 0, rerr)
	}
	return nil
}

// canonical reports whether every line of raw ends in CRLF and no CR
// stands alone, as a BDAT chunk must be sent.
func canonical(raw []byte) bool {
	if len(raw) < 2 || raw[len(raw)-2] != '\r' || raw[len(raw)-1] != '\n' {
		return false
	}
	return bytes.Count(raw, []byte{'\n'}) == bytes.Count(raw, []byte("\r\n")) && bytes.Count(raw, []byte{'\r'}) == bytes.Count(raw, []byte("\r\n"))
}

// needsUTF8 reports whether the envelope or the header section holds
// non-ASCII text (RFC 6532 addresses; Compose encodes everything else).
func needsUTF8(env Envelope, raw []byte) bool {
	for _, a := range append([]string{env.From}, env.To...) {
		if !isASCII(a) {
			return true
		}
	}
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	return !isASCII(string(head))
}

// quit ends the session politely; the messages are accepted already, so
// a failure here changes nothing.
func (c *conn) quit() { _ = c.c.Quit() }

func (c *conn) close() {
	c.disarm()
	c.c.Close()
}

// replyError turns a server reply into an *SMTPError and passes other
// errors (network, TLS) through with the step named.
func replyError(cmd string, rcpt int, err error) error {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return fmt.Errorf("smtp: %s: %w", cmd, err)
	}
	e := &SMTPError{Command: cmd, Code: te.Code, Reply: te.Msg, Recipient: rcpt}
	if f, _, _ := strings.Cut(te.Msg, " "); isEnhancedCode(f) {
		e.Enhanced = f
	}
	return e
}

// isEnhancedCode matches "class.subject.detail" (RFC 3463), e.g. 5.1.1.
func isEnhancedCode(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.ContainsAny(parts[0], "245") {
		return false
	}
	for _, p := range parts {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 999 || p == "" {
			return false
		}
	}
	return true
}

// authAllowed is net/smtp's rule, with the loopback test fairlead uses
// everywhere: credentials travel only under TLS or to this machine.
func authAllowed(server *smtp.ServerInfo, host string) error {
	if server.Name != host {
		return errors.New("smtp: AUTH for a different host name")
	}
	if !server.TLS && !IsLoopback(server.Name) {
		return errors.New("smtp: refusing to send the password without TLS to a host that is not loopback")
	}
	return nil
}

type plainAuth struct{ user, pass, host string }

func (a *plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if err := authAllowed(server, a.host); err != nil {
		return "", nil, err
	}
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a *plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("smtp: unexpected AUTH PLAIN challenge")
	}
	return nil, nil
}

type loginAuth struct{ user, pass, host string }

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if err := authAllowed(server, a.host); err != nil {
		return "", nil, err
	}
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch p := strings.ToLower(string(fromServer)); {
	case strings.Contains(p, "user"):
		return []byte(a.user), nil
	case strings.Contains(p, "pass"):
		return []byte(a.pass), nil
	}
	return nil, errors.New("smtp: unexpected AUTH LOGIN challenge")
}

// appendDotStuffed appends raw as DATA content followed by the final dot
// (RFC 5321 §4.5.2), byte for byte what textproto's DotWriter writes for
// it, so the caller can hand the whole message to one write: the
// DotWriter goes through the buffered writer one byte at a time and
// flushes every 4 KiB.
func appendDotStuffed(dst, raw []byte) []byte {
	var tail []byte // the last line, when it has no LF
	for len(raw) > 0 {
		// At the beginning of a line.
		if raw[0] == '.' {
			dst = append(dst, '.')
		}
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			dst, tail = append(dst, raw...), raw
			break
		}
		dst = append(dst, raw[:i]...)
		// A CR right before the LF ends the line as it is; the DotWriter
		// takes every other CR of a run of them as data, so only an odd
		// run counts.
		if crRun(raw[:i])%2 == 0 {
			dst = append(dst, '\r')
		}
		dst = append(dst, '\n')
		raw = raw[i+1:]
		if len(raw) == 0 {
			return append(dst, '.', '\r', '\n')
		}
	}
	if crRun(tail)%2 == 1 {
		return append(dst, '\n', '.', '\r', '\n')
	}
	return append(dst, '\r', '\n', '.', '\r', '\n')
}

// crRun is the number of CRs that end b.
func crRun(b []byte) int {
	n := 0
	for n < len(b) && b[len(b)-1-n] == '\r' {
		n++
	}
	return n
}
