package mail

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
)

// scriptServer is a minimal SMTP server on loopback that notes, for each
// command, whether the next one had already arrived before it answered:
// only a pipelining client sends RCPT TO before the reply to MAIL FROM.
type scriptServer struct {
	ln         net.Listener
	pipelining bool
	reject     string // RCPT TO answered 550

	mu     sync.Mutex
	ahead  []string // commands that arrived before the previous reply
	bodies int
}

func startScript(t *testing.T, pipelining bool, reject string) *scriptServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptServer{ln: ln, pipelining: pipelining, reject: reject}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *scriptServer) serve(c net.Conn) {
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(l string) { w.WriteString(l + "\r\n"); w.Flush() }
	say("220 script ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		if r.Buffered() > 0 && !strings.HasPrefix(cmd, "EHLO") {
			s.mu.Lock()
			s.ahead = append(s.ahead, strings.Fields(cmd)[0])
			s.mu.Unlock()
		}
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			if s.pipelining {
				w.WriteString("250-script\r\n250-8BITMIME\r\n250 PIPELINING\r\n")
			} else {
				w.WriteString("250-script\r\n250 8BITMIME\r\n")
			}
			w.Flush()
		case strings.HasPrefix(cmd, "RCPT") && s.reject != "" && strings.Contains(cmd, strings.ToUpper(s.reject)):
			say("550 5.1.1 no such user")
		case strings.HasPrefix(cmd, "DATA"):
			say("354 go ahead")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			s.mu.Lock()
			s.bodies++
			s.mu.Unlock()
			say("250 2.0.0 queued")
		case strings.HasPrefix(cmd, "QUIT"):
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func (s *scriptServer) sender(t *testing.T) *SMTPSender {
	t.Helper()
	c, err := ParseSMTPURL("smtp://" + s.ln.Addr().String() + "?tls=none&max_idle=1")
	if err != nil {
		t.Fatal(err)
	}
	snd := NewSMTPSender(c)
	t.Cleanup(func() { snd.Close() })
	return snd
}

// With PIPELINING offered, MAIL FROM, RCPT TO and DATA leave in one write
// (RFC 2920); without it the client waits for every reply. Either way a
// refused recipient is the message's error and nothing is delivered, and
// the session stays usable for the next message.
func TestSMTPPipelining(t *testing.T) {
	t.Parallel()
	for _, pipelining := range []bool{true, false} {
		s := startScript(t, pipelining, "gone@example.com")
		snd := s.sender(t)
		env, raw := composeFor(t, "ada@example.com")
		for range 3 {
			if err := snd.Send(context.Background(), env, raw); err != nil {
				t.Fatalf("pipelining %v: %v", pipelining, err)
			}
		}
		s.mu.Lock()
		ahead, bodies := strings.Join(s.ahead, " "), s.bodies
		s.mu.Unlock()
		if bodies != 3 {
			t.Fatalf("pipelining %v: %d messages delivered, want 3", pipelining, bodies)
		}
		if pipelining && !strings.Contains(ahead, "MAIL") {
			t.Fatalf("pipelining offered, but no command was sent ahead of a reply: %q", ahead)
		}
		if !pipelining && ahead != "" {
			t.Fatalf("pipelining not offered, but commands were sent ahead: %q", ahead)
		}
		env2, raw2 := composeFor(t, "ada@example.com, gone@example.com")
		err := snd.Send(context.Background(), env2, raw2)
		var se *SMTPError
		if !errors.As(err, &se) || se.Command != "RCPT TO" || se.Code != 550 || se.Recipient != 1 || !Permanent(err) {
			t.Fatalf("pipelining %v: refused recipient gave %v", pipelining, err)
		}
		if err := snd.Send(context.Background(), env, raw); err != nil {
			t.Fatalf("pipelining %v: after a refusal: %v", pipelining, err)
		}
		s.mu.Lock()
		bodies = s.bodies
		s.mu.Unlock()
		if bodies != 4 {
			t.Fatalf("pipelining %v: %d messages delivered, want 4 (none for the refused one)", pipelining, bodies)
		}
	}
}
