// Package smtptest runs a real SMTP server in the test process, on
// 127.0.0.1, that keeps what it receives: end-to-end tests send through
// the production SMTP client and read the messages back.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options shape the server's behaviour.
type Options struct {
	// Username and Password, when set, make AUTH mandatory before MAIL.
	Username, Password string
	// AuthMechanisms offered when Username is set: "PLAIN" (default)
	// and/or "LOGIN".
	AuthMechanisms []string
	// TLS offers STARTTLS with a self-signed certificate made in memory.
	TLS bool
	// FailFirst answers 451 (try again later) to the first N messages.
	FailFirst int
	// Reject answers 550 to RCPT TO for recipients it returns true for.
	Reject func(rcpt string) bool
	// Discard accepts messages without keeping them (benchmarks); Count
	// still counts them.
	Discard bool
	// NoSMTPUTF8 stops offering SMTPUTF8 (RFC 6531), like older servers.
	NoSMTPUTF8 bool
}

// Received is one accepted message.
type Received struct {
	From   string
	To     []string
	Data   []byte
	Header mail.Header
}

// Server is a running test SMTP server.
type Server struct {
	srv  *smtp.Server
	ln   net.Listener
	done chan struct{}
	addr string
	t    testing.TB
	cert *tls.Certificate
	opts Options
	pool *x509.CertPool

	mu       sync.Mutex
	msgs     []Received
	count    int
	sessions int
	dataSeen int
	changed  chan struct{}
	log      testLogger
}

// Start listens on 127.0.0.1:0 and serves until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts, changed: make(chan struct{}), t: t}
	s.log.t = t
	if len(s.opts.AuthMechanisms) == 0 {
		s.opts.AuthMechanisms = []string{sasl.Plain}
	}
	if opts.TLS {
		cert, pool, err := selfSigned()
		if err != nil {
			t.Fatalf("smtptest: certificate: %v", err)
		}
		s.pool = pool
		s.cert = &cert
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) serve(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "smtptest.localhost"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 32 << 20
	srv.MaxRecipients = 100
	srv.ErrorLog = &s.log
	// Loopback only; the client enforces TLS before AUTH to other hosts.
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = !s.opts.NoSMTPUTF8
	if s.cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*s.cert}, MinVersion: tls.VersionTLS12}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	s.srv, s.ln, s.done = srv, ln, done
}

// Stop shuts the server down like an outage: open sessions end and new
// connections are refused until Restart.
func (s *Server) Stop() {
	if s.srv == nil {
		return
	}
	s.log.setQuiet(true)
	s.srv.Close()
	// Close may run before Serve has registered the listener.
	s.ln.Close()
	<-s.done
	s.srv = nil
}

// Restart serves again on the same address after Stop.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.srv != nil {
		return
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		t.Fatalf("smtptest: listen again: %v", err)
	}
	s.log.setQuiet(false)
	s.serve(ln)
}

// Addr is host:port.
func (s *Server) Addr() string { return s.addr }

// URL is an smtp:// URL for mail.ParseSMTPURL: with credentials when the
// server wants them, tls=starttls with insecure_skip_verify (loopback) when
// it offers TLS, tls=none otherwise.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.Addr()}
	if s.opts.Username != "" {
		u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	}
	q := url.Values{}
	if s.opts.TLS {
		q.Set("tls", "starttls")
		q.Set("insecure_skip_verify", "true")
	} else {
		q.Set("tls", "none")
	}
	q.Set("timeout", "10s")
	u.RawQuery = q.Encode()
	return u.String()
}

// CertPool trusts the server's certificate (nil without TLS), for clients
// that verify instead of skipping verification.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Messages returns what was accepted so far, oldest first.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Count is the number of messages accepted so far (kept or discarded).
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Sessions is the number of SMTP sessions begun so far (a STARTTLS
// upgrade counts as a second one), to see whether clients reuse
// connections.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// WaitFor waits until at least n messages have arrived and returns them;
// it fails the test after timeout.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, changed := s.count, s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Messages()
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("smtptest: %d of %d messages arrived within %v", got, n, timeout)
			return nil
		}
	}
}

func (s *Server) add(r Received) {
	s.mu.Lock()
	s.count++
	if !s.opts.Discard {
		s.msgs = append(s.msgs, r)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// failData counts a DATA and says whether it is one of the first FailFirst.
func (s *Server) failData() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataSeen++
	return s.dataSeen <= s.opts.FailFirst
}

type session struct {
	s      *Server
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return ss.s.opts.AuthMechanisms
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if !contains(ss.AuthMechanisms(), mech) {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	check := func(user, pass string) error {
		if user != ss.s.opts.Username || pass != ss.s.opts.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Invalid credentials"}
		}
		ss.authed = true
		return nil
	}
	if mech == sasl.Login {
		return &loginServer{check: check}, nil
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if identity != "" && identity != user {
			return errors.New("identity and user name differ")
		}
		return check(user, pass)
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.opts.Reject != nil && ss.s.opts.Reject(to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Mailbox unavailable"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if ss.s.failData() {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	}
	if ss.s.opts.Discard {
		ss.s.add(Received{})
		return nil
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Malformed message header"}
	}
	ss.s.add(Received{From: ss.from, To: append([]string(nil), ss.to...), Data: data, Header: msg.Header})
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// loginServer speaks AUTH LOGIN, which go-sasl offers only as a client.
type loginServer struct {
	check func(user, pass string) error
	user  []byte
	step  int
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if response != nil {
			// Initial response carries the user name.
			l.user, l.step = response, 2
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user, l.step = response, 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(string(l.user), string(response))
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// testLogger writes the server's errors to the test log until Stop. A
// session can outlive Stop by a moment (go-smtp closes connections without
// waiting for their handlers, and a handler in DATA then panics on the
// discarded session); its message would reach a test that has completed,
// which the testing package does not allow. Logging under the lock that
// Stop takes makes Stop wait for a message being written.
type testLogger struct {
	t     testing.TB
	mu    sync.Mutex
	quiet bool
}

func (l *testLogger) Printf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.quiet {
		l.t.Logf("smtptest: "+format, v...)
	}
}

func (l *testLogger) Println(v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.quiet {
		l.t.Log(append([]any{"smtptest:"}, v...)...)
	}
}

func (l *testLogger) setQuiet(q bool) {
	l.mu.Lock()
	l.quiet = q
	l.mu.Unlock()
}

func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smtptest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// Text returns the decoded text/plain body (the text part of a
// multipart/alternative message).
func (r Received) Text() (string, error) { return r.part("text/plain") }

// HTML returns the decoded text/html part ("" when there is none).
func (r Received) HTML() (string, error) { return r.part("text/html") }

func (r Received) part(want string) (string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		return "", err
	}
	ct, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return "", err
	}
	if ct == want {
		return decode(msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
	}
	if !strings.HasPrefix(ct, "multipart/") {
		return "", nil
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		if pct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); pct == want {
			return decode(p, p.Header.Get("Content-Transfer-Encoding"))
		}
	}
}

func decode(r io.Reader, cte string) (string, error) {
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}
