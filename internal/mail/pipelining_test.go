package mail

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
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
	chunking   bool   // offers CHUNKING (RFC 3030) too
	reject     string // RCPT TO answered 550

	mu     sync.Mutex
	ahead  []string // commands that arrived before the previous reply
	bodies int
	chunks []string // the messages received by BDAT
}

func startScript(t *testing.T, pipelining bool, reject string) *scriptServer {
	t.Helper()
	return start(t, &scriptServer{pipelining: pipelining, reject: reject})
}

func start(t *testing.T, s *scriptServer) *scriptServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
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
	valid := 0 // accepted recipients of the transaction
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
			if s.chunking {
				w.WriteString("250-script\r\n250-8BITMIME\r\n250-CHUNKING\r\n250 PIPELINING\r\n")
			} else if s.pipelining {
				w.WriteString("250-script\r\n250-8BITMIME\r\n250 PIPELINING\r\n")
			} else {
				w.WriteString("250-script\r\n250 8BITMIME\r\n")
			}
			w.Flush()
		case strings.HasPrefix(cmd, "RCPT") && s.reject != "" && strings.Contains(cmd, strings.ToUpper(s.reject)):
			say("550 5.1.1 no such user")
		case strings.HasPrefix(cmd, "RCPT"):
			valid++
			say("250 ok")
		case strings.HasPrefix(cmd, "MAIL"):
			valid = 0
			say("250 ok")
		case strings.HasPrefix(cmd, "BDAT"):
			f := strings.Fields(cmd)
			n, err := strconv.Atoi(f[1])
			if err != nil || len(f) != 3 || f[2] != "LAST" {
				say("501 5.5.4 syntax")
				return
			}
			body := make([]byte, n)
			if _, err := io.ReadFull(r, body); err != nil {
				return
			}
			if valid == 0 {
				say("554 5.5.1 no valid recipients")
				continue
			}
			s.mu.Lock()
			s.bodies++
			s.chunks = append(s.chunks, string(body))
			s.mu.Unlock()
			say("250 2.0.0 queued")
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

// With CHUNKING and PIPELINING offered, a message to one recipient leaves
// as MAIL FROM, RCPT TO and one BDAT LAST chunk in one write, and arrives
// byte for byte; a refused recipient is the message's error and nothing is
// delivered; a message to several recipients still goes by DATA, which a
// refused one stops for all.
func TestSMTPChunking(t *testing.T) {
	t.Parallel()
	s := start(t, &scriptServer{pipelining: true, chunking: true, reject: "gone@example.com"})
	snd := s.sender(t)
	env, raw := composeFor(t, "ada@example.com")
	for range 3 {
		if err := snd.Send(context.Background(), env, raw); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	ahead, chunks := strings.Join(s.ahead, " "), append([]string(nil), s.chunks...)
	s.mu.Unlock()
	if len(chunks) != 3 || chunks[0] != string(raw) {
		t.Fatalf("%d chunks, the first %d bytes (sent %d)", len(chunks), len(chunks[0]), len(raw))
	}
	if !strings.Contains(ahead, "MAIL") || !strings.Contains(ahead, "RCPT") {
		t.Fatalf("commands were not pipelined: %q", ahead)
	}
	genv, graw := composeFor(t, "gone@example.com")
	err := snd.Send(context.Background(), genv, graw)
	var se *SMTPError
	if !errors.As(err, &se) || se.Command != "RCPT TO" || se.Code != 550 || se.Recipient != 0 || !Permanent(err) {
		t.Fatalf("refused recipient gave %v", err)
	}
	env2, raw2 := composeFor(t, "ada@example.com, gone@example.com")
	if err := snd.Send(context.Background(), env2, raw2); !errors.As(err, &se) || se.Command != "RCPT TO" || se.Recipient != 1 {
		t.Fatalf("refused second recipient gave %v", err)
	}
	if err := snd.Send(context.Background(), env, raw); err != nil {
		t.Fatalf("after the refusals: %v", err)
	}
	s.mu.Lock()
	bodies, n := s.bodies, len(s.chunks)
	s.mu.Unlock()
	if bodies != 4 || n != 4 {
		t.Fatalf("%d messages delivered, %d by BDAT, want 4 and 4 (none for the refused ones)", bodies, n)
	}
}
