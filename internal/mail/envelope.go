package mail

import "context"

// Envelope is the SMTP envelope: the return path (MAIL FROM) and the
// recipients (RCPT TO), bare addresses without names.
type Envelope struct {
	From string
	To   []string
}

// Sender delivers one composed message.
type Sender interface {
	Send(ctx context.Context, env Envelope, raw []byte) error
}
