package mail

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/smtp"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/mail/smtptest"
)

func senderFor(t *testing.T, srv *smtptest.Server) *SMTPSender {
	t.Helper()
	c, err := ParseSMTPURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	return NewSMTPSender(c)
}

func composeFor(t *testing.T, to string) (Envelope, []byte) {
	t.Helper()
	m := germanMessage()
	m.To = to
	raw, err := Compose(m)
	if err != nil {
		t.Fatal(err)
	}
	env, err := m.Envelope()
	if err != nil {
		t.Fatal(err)
	}
	return env, raw
}

func TestSMTPSendDelivers(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]smtptest.Options{
		"plain":          {},
		"auth loopback":  {Username: "fairlead", Password: "pw with spaces & ümlaut"},
		"starttls+plain": {Username: "fairlead", Password: "s3cret", TLS: true},
		"starttls+login": {Username: "fairlead", Password: "s3cret", TLS: true, AuthMechanisms: []string{"LOGIN"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, opts)
			env, raw := composeFor(t, "Jürgen <juergen@example.de>, ada@example.com")
			if err := senderFor(t, srv).Send(context.Background(), env, raw); err != nil {
				t.Fatal(err)
			}
			got := srv.WaitFor(t, 1, 5*time.Second)[0]
			if got.From != "news@mueller-soehne.example" || strings.Join(got.To, ",") != "juergen@example.de,ada@example.com" {
				t.Errorf("envelope %q → %q", got.From, got.To)
			}
			if !bytes.Equal(got.Data, raw) {
				t.Errorf("the server received other bytes than were sent:\n%s", got.Data)
			}
			if got.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
				t.Errorf("header lost: %v", got.Header)
			}
			text, err := got.Text()
			if err != nil || !strings.Contains(text, "https://news.mueller-soehne.example/p/doi/tok3n") {
				t.Errorf("text part %q (%v)", text, err)
			}
			if html, _ := got.HTML(); !strings.Contains(html, "Anmeldung bestätigen") {
				t.Errorf("HTML part %q", html)
			}
		})
	}
}

// TestSMTPNonASCIIAddress: the contact store accepts jürgen@müller.example;
// such a message goes out with SMTPUTF8, or fails permanently where the
// server lacks it.
func TestSMTPNonASCIIAddress(t *testing.T) {
	t.Parallel()
	env, raw := composeFor(t, "Jürgen <jürgen@müller.example>")
	srv := smtptest.Start(t, smtptest.Options{})
	if err := senderFor(t, srv).Send(context.Background(), env, raw); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, 1, 5*time.Second)[0]
	if len(got.To) != 1 || got.To[0] != "jürgen@müller.example" {
		t.Errorf("RCPT TO %q", got.To)
	}
	if to, err := got.Header.AddressList("To"); err != nil || to[0].Address != "jürgen@müller.example" || to[0].Name != "Jürgen" {
		t.Errorf("To header %v (%v)", to, err)
	}

	old := smtptest.Start(t, smtptest.Options{NoSMTPUTF8: true})
	err := senderFor(t, old).Send(context.Background(), env, raw)
	if !errors.Is(err, ErrNoSMTPUTF8) || !Permanent(err) {
		t.Fatalf("server without SMTPUTF8: %v", err)
	}
	if n := len(old.Messages()); n != 0 {
		t.Fatalf("%d messages accepted", n)
	}
	// ASCII messages still go to that server.
	env, raw = composeFor(t, "ada@example.com")
	if err := senderFor(t, old).Send(context.Background(), env, raw); err != nil {
		t.Fatal(err)
	}
}

func TestSMTPDefaultFrom(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	c, err := ParseSMTPURL(srv.URL() + "&from=" + url.QueryEscape("Shop <bounces@shop.example>"))
	if err != nil {
		t.Fatal(err)
	}
	_, raw := composeFor(t, "ada@example.com")
	if err := NewSMTPSender(c).Send(context.Background(), Envelope{To: []string{"ada@example.com"}}, raw); err != nil {
		t.Fatal(err)
	}
	if got := srv.WaitFor(t, 1, 5*time.Second)[0].From; got != "bounces@shop.example" {
		t.Errorf("MAIL FROM %q, want the configured from=", got)
	}
}

func TestSMTPVerifiesCertificate(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{TLS: true})
	c, _ := ParseSMTPURL(srv.URL())
	c.InsecureSkipVerify = false
	env, raw := composeFor(t, "ada@example.com")
	if err := NewSMTPSender(c).Send(context.Background(), env, raw); err == nil || Permanent(err) {
		t.Fatalf("self-signed certificate without trust: %v", err)
	}
	c.RootCAs = srv.CertPool()
	if err := NewSMTPSender(c).Send(context.Background(), env, raw); err != nil {
		t.Fatalf("with the server's certificate trusted: %v", err)
	}
}

func TestSMTPNoFallbackToCleartext(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	c, _ := ParseSMTPURL(srv.URL())
	c.TLS = StartTLS
	env, raw := composeFor(t, "ada@example.com")
	err := NewSMTPSender(c).Send(context.Background(), env, raw)
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("server without STARTTLS: %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages went out in clear text", n)
	}
}

func TestSMTPErrorsDecideRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("550 recipient", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Options{Reject: func(rcpt string) bool { return rcpt == "gone@example.com" }})
		env, raw := composeFor(t, "ada@example.com, gone@example.com")
		err := senderFor(t, srv).Send(ctx, env, raw)
		var se *SMTPError
		if !errors.As(err, &se) || se.Code != 550 || se.Command != "RCPT TO" || se.Recipient != 1 || se.Enhanced != "5.1.1" {
			t.Fatalf("got %#v", err)
		}
		if !Permanent(err) {
			t.Error("550 is not permanent")
		}
		if strings.Contains(err.Error(), "@") || strings.Contains(err.Error(), "gone") {
			t.Errorf("error shows the address: %v", err)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("delivered to the other recipient only: %d messages", n)
		}
	})

	t.Run("451 then accepted", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Options{FailFirst: 2})
		env, raw := composeFor(t, "ada@example.com")
		s := senderFor(t, srv)
		for i := 0; i < 2; i++ {
			err := s.Send(ctx, env, raw)
			var se *SMTPError
			// The server offers CHUNKING: the message went as one BDAT.
			if !errors.As(err, &se) || se.Code != 451 || se.Command != "BDAT" {
				t.Fatalf("attempt %d: %v", i+1, err)
			}
			if Permanent(err) {
				t.Fatal("451 is permanent")
			}
		}
		if err := s.Send(ctx, env, raw); err != nil {
			t.Fatalf("third attempt: %v", err)
		}
		if n := len(srv.Messages()); n != 1 {
			t.Fatalf("%d messages kept", n)
		}
	})

	t.Run("535 bad password", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Options{Username: "u", Password: "right", TLS: true})
		c, _ := ParseSMTPURL(srv.URL())
		c.Password = "wrong-password"
		env, raw := composeFor(t, "ada@example.com")
		err := NewSMTPSender(c).Send(ctx, env, raw)
		var se *SMTPError
		if !errors.As(err, &se) || se.Code != 535 || se.Command != "AUTH" || !Permanent(err) {
			t.Fatalf("got %v", err)
		}
		if strings.Contains(err.Error(), "wrong-password") {
			t.Error("error shows the password")
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		c, _ := ParseSMTPURL("smtp://" + addr + "?tls=none")
		env, raw := composeFor(t, "ada@example.com")
		err := NewSMTPSender(c).Send(ctx, env, raw)
		if err == nil || Permanent(err) {
			t.Fatalf("got %v, want a retryable error", err)
		}
	})

	t.Run("bad envelope", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Options{})
		for _, env := range []Envelope{
			{From: "a@example.com"},
			{To: []string{"b@example.com"}},
			{From: "a@example.com", To: []string{"b@example.com\r\nRCPT TO:<c@example.com>"}},
			{From: "a@example.com>\r\nRCPT TO:<c@example.com", To: []string{"b@example.com"}},
			{From: "a@example.com", To: []string{"Name <b@example.com>"}},
		} {
			err := senderFor(t, srv).Send(ctx, env, []byte("Subject: x\r\n\r\nx\r\n"))
			if err == nil || !Permanent(err) {
				t.Errorf("%q: got %v, want a permanent validation error", env, err)
			}
		}
		if n := len(srv.Messages()); n != 0 {
			t.Fatalf("%d messages accepted", n)
		}
	})
}

// TestSMTPHonoursContext: a server that accepts the connection and never
// answers must not hold a job longer than its context allows.
func TestSMTPHonoursContext(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn // open, never answered
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	c, _ := ParseSMTPURL("smtp://" + ln.Addr().String() + "?tls=none&timeout=1m")
	s := NewSMTPSender(c)
	env, raw := composeFor(t, "ada@example.com")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Send(ctx, env, raw)
	if !errors.Is(err, context.DeadlineExceeded) || Permanent(err) {
		t.Fatalf("got %v, want a retryable deadline error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("returned after %v", d)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	if err := s.Send(ctx, env, raw); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}

	// The configured timeout bounds the exchange without a ctx deadline.
	c.Timeout = 300 * time.Millisecond
	if err := NewSMTPSender(c).Send(context.Background(), env, raw); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("configured timeout: %v", err)
	}
}

func TestAuthNeedsTLSOffLoopback(t *testing.T) {
	for _, a := range []smtp.Auth{&plainAuth{"u", "p", "mail.example"}, &loginAuth{"u", "p", "mail.example"}} {
		if _, _, err := a.Start(&smtp.ServerInfo{Name: "mail.example", TLS: false}); err == nil {
			t.Errorf("%T sends credentials in clear text to a remote host", a)
		}
		if _, _, err := a.Start(&smtp.ServerInfo{Name: "other.example", TLS: true}); err == nil {
			t.Errorf("%T authenticates to another host", a)
		}
		if _, _, err := a.Start(&smtp.ServerInfo{Name: "mail.example", TLS: true}); err != nil {
			t.Errorf("%T over TLS: %v", a, err)
		}
	}
}

func TestSMTPReusesConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, raw := composeFor(t, "ada@example.com")

	srv := smtptest.Start(t, smtptest.Options{Username: "u", Password: "p", TLS: true})
	s := senderFor(t, srv)
	for i := 0; i < 5; i++ {
		if err := s.Send(ctx, env, raw); err != nil {
			t.Fatal(err)
		}
	}
	// One TCP connection: the session before STARTTLS and the one after.
	if n := srv.Sessions(); n != 2 {
		t.Errorf("%d sessions for 5 messages, want 2", n)
	}

	// A connection the server dropped while idle is replaced, and the
	// message still goes out once.
	s.mu.Lock()
	s.idle[0].nc.Close()
	s.mu.Unlock()
	if err := s.Send(ctx, env, raw); err != nil {
		t.Fatalf("after the idle connection died: %v", err)
	}
	if n := srv.Count(); n != 6 {
		t.Errorf("%d messages, want 6", n)
	}
	s.Close()
	s.mu.Lock()
	idle := len(s.idle)
	s.mu.Unlock()
	if idle != 0 {
		t.Errorf("%d idle connections after Close", idle)
	}

	// max_idle=0 turns reuse off.
	plain := smtptest.Start(t, smtptest.Options{})
	c, _ := ParseSMTPURL(plain.URL() + "&max_idle=0")
	s = NewSMTPSender(c)
	for i := 0; i < 3; i++ {
		if err := s.Send(ctx, env, raw); err != nil {
			t.Fatal(err)
		}
	}
	if n := plain.Sessions(); n != 3 {
		t.Errorf("%d sessions without reuse, want 3", n)
	}
}

func TestSMTPConcurrentSends(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{Username: "u", Password: "p"})
	s := senderFor(t, srv)
	t.Cleanup(func() { s.Close() })
	env, raw := composeFor(t, "ada@example.com")
	errs := make(chan error, 40)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 5; i++ {
				errs <- s.Send(context.Background(), env, raw)
			}
		}()
	}
	for i := 0; i < 40; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Count(); n != 40 {
		t.Fatalf("%d of 40 messages", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.idle) > DefaultMaxIdle {
		t.Errorf("%d idle connections kept, limit %d", len(s.idle), DefaultMaxIdle)
	}
}
