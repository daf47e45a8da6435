package mail

import (
	"context"
	"fmt"
	"testing"

	"github.com/fairlead/fairlead/internal/mail/smtptest"
)

// BenchmarkSMTPDeliver composes one message and delivers it to the
// in-process SMTP sink over loopback, per iteration.
func BenchmarkSMTPDeliver(b *testing.B) {
	tlsAuth := smtptest.Options{Discard: true, TLS: true, Username: "fairlead", Password: "s3cret"}
	for _, bc := range []struct {
		name, params string
		opts         smtptest.Options
	}{
		{"plain", "", smtptest.Options{Discard: true}},
		{"starttls+auth", "", tlsAuth},
		// One connection per message, for comparison.
		{"starttls+auth/no-reuse", "&max_idle=0", tlsAuth},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := smtptest.Start(b, bc.opts)
			c, err := ParseSMTPURL(srv.URL() + bc.params)
			if err != nil {
				b.Fatal(err)
			}
			s := NewSMTPSender(c)
			defer s.Close()
			m := germanMessage()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				m.To = fmt.Sprintf("user%d@example.com", i)
				i++
				raw, err := Compose(m)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Send(ctx, Envelope{From: "news@mueller-soehne.example", To: []string{m.To}}, raw); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(srv.Sessions())/float64(b.N), "sessions/msg")
			if got := srv.Count(); got != b.N {
				b.Fatalf("%d of %d messages arrived", got, b.N)
			}
		})
	}
}
