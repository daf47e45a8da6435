package sms

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/validate"
)

// gateway stands in for the provider: a real HTTP server on loopback that
// records requests and answers with the status it is told.
type gateway struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []request
	// status answers the n-th request (0-based); nil means 200.
	status func(n int) int
}

type request struct {
	path, query, auth, ctype string
	body                     map[string]string
}

func startGateway(t *testing.T, status func(n int) int) *gateway {
	g := &gateway{status: status}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		var body map[string]string
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			http.Error(w, "bad JSON", http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		n := len(g.got)
		g.got = append(g.got, request{r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})
		g.mu.Unlock()
		code := http.StatusOK
		if g.status != nil {
			code = g.status(n)
		}
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(code)
		io.WriteString(w, `{"error":"number +4915112345678 unknown"}`)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gateway) requests() []request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]request(nil), g.got...)
}

func gatewayFor(t *testing.T, rawURL string) *HTTPGateway {
	t.Helper()
	c, err := ParseGatewayURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return NewHTTPGateway(c, nil)
}

func TestSendBasicAuth(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	u := strings.Replace(g.srv.URL, "http://", "http://acct:t0ken@", 1) + "/api/send?from=Fairlead&api_version=2"
	if err := gatewayFor(t, u).Send(context.Background(), "+4915112345678", "Ihr Code: 123456 – grüße"); err != nil {
		t.Fatal(err)
	}
	got := g.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	r := got[0]
	if r.path != "/api/send" || r.query != "api_version=2" || r.ctype != "application/json" {
		t.Errorf("request %+v", r)
	}
	if r.auth != "Basic YWNjdDp0MGtlbg==" {
		t.Errorf("Authorization %q", r.auth)
	}
	want := map[string]string{"to": "+4915112345678", "text": "Ihr Code: 123456 – grüße", "from": "Fairlead"}
	if len(r.body) != 3 || r.body["to"] != want["to"] || r.body["text"] != want["text"] || r.body["from"] != want["from"] {
		t.Errorf("body %v, want %v", r.body, want)
	}
}

func TestSendBearerAndFieldNames(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	u := g.srv.URL + "/v1/messages?auth=bearer&token=abc%2Fdef&to_field=recipient&text_field=message&timeout=5s"
	if err := gatewayFor(t, u).Send(context.Background(), "+431234567", "Hallo"); err != nil {
		t.Fatal(err)
	}
	r := g.requests()[0]
	if r.auth != "Bearer abc/def" || r.query != "" {
		t.Errorf("auth %q query %q", r.auth, r.query)
	}
	if len(r.body) != 2 || r.body["recipient"] != "+431234567" || r.body["message"] != "Hallo" {
		t.Errorf("body %v", r.body)
	}
}

func TestStatusDecidesRetry(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		status    int
		permanent bool
	}{
		{400, true}, {401, true}, {403, true}, {404, true}, {422, true}, {301, true},
		{408, false}, {429, false}, {500, false}, {502, false}, {503, false},
	} {
		g := startGateway(t, func(int) int { return c.status })
		err := gatewayFor(t, g.srv.URL+"/send").Send(context.Background(), "+4915112345678", "x")
		var ge *GatewayError
		if !errors.As(err, &ge) || ge.Status != c.status {
			t.Errorf("%d: got %v", c.status, err)
			continue
		}
		if Permanent(err) != c.permanent {
			t.Errorf("%d: Permanent = %v, want %v", c.status, Permanent(err), c.permanent)
		}
		if strings.Contains(err.Error(), "+49") || strings.Contains(err.Error(), "15112345678") {
			t.Errorf("%d: error shows the number: %v", c.status, err)
		}
		if c.status == 429 && ge.RetryAfter != 7*time.Second {
			t.Errorf("Retry-After %v", ge.RetryAfter)
		}
	}
	// 2xx other than 200 also means sent.
	g := startGateway(t, func(int) int { return http.StatusAccepted })
	if err := gatewayFor(t, g.srv.URL).Send(context.Background(), "+4915112345678", "x"); err != nil {
		t.Errorf("202: %v", err)
	}
}

func TestNetworkErrorsRetry(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	err := gatewayFor(t, "http://"+addr+"/send?api_key=k3y-secret").Send(context.Background(), "+4915112345678", "x")
	if err == nil || Permanent(err) {
		t.Fatalf("connection refused: %v", err)
	}
	if strings.Contains(err.Error(), "k3y-secret") {
		t.Errorf("error shows the API key: %v", err)
	}

	// A gateway that never answers is cut off by ctx.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice the client hanging up.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(func() {
		slow.CloseClientConnections()
		slow.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = gatewayFor(t, slow.URL).Send(ctx, "+4915112345678", "x")
	if !errors.Is(err, context.DeadlineExceeded) || Permanent(err) || time.Since(start) > 3*time.Second {
		t.Fatalf("slow gateway: %v after %v", err, time.Since(start))
	}
}

func TestSendRefusesBadInput(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	gw := gatewayFor(t, g.srv.URL)
	for _, c := range []struct{ to, text, field string }{
		{"015112345678", "x", "to"},
		{"+49 151 12345678", "x", "to"},
		{"+0123456789", "x", "to"},
		{"+49151", "x", "to"},
		{"+4915112345678", " ", "text"},
		{"+4915112345678", strings.Repeat("a", MaxText+1), "text"},
		{"+4915112345678", "\xff", "text"},
	} {
		err := gw.Send(context.Background(), c.to, c.text)
		var ve *validate.Error
		if !errors.As(err, &ve) || ve.Field != c.field || !Permanent(err) {
			t.Errorf("%q %.10q: got %v, want a validation error on %s", c.to, c.text, err, c.field)
		}
		if err != nil && strings.Contains(err.Error(), "15112345678") {
			t.Errorf("error shows the number: %v", err)
		}
	}
	if n := len(g.requests()); n != 0 {
		t.Errorf("%d requests for bad input", n)
	}
}

func TestParseGatewayURL(t *testing.T) {
	c, err := ParseGatewayURL("https://acct:t%40ken@sms.example/api/send?from=Shop&api_key=abc")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Endpoint: "https://sms.example/api/send?api_key=abc", Auth: Basic, Username: "acct", Token: "t@ken", From: "Shop",
		ToField: "to", TextField: "text", FromField: "from", Timeout: DefaultTimeout}
	if c != want {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	if s := c.String(); strings.Contains(s, "t@ken") || strings.Contains(s, "t%40ken") || strings.Contains(s, "abc") {
		t.Errorf("String shows secrets: %s", s)
	}
	c, err = ParseGatewayURL("https://sms.example/send?token=s3cr3t-token")
	if err != nil || c.Auth != Bearer || c.Token != "s3cr3t-token" || c.Endpoint != "https://sms.example/send" {
		t.Errorf("bearer by token=: %+v %v", c, err)
	}
	if strings.Contains(c.String(), "s3cr3t") {
		t.Errorf("String shows the token: %s", c.String())
	}

	const secret = "Sehr-Geheim-99"
	for _, bad := range []struct{ in, part string }{
		{"http://sms.example/send?token=" + secret, "https"},
		{"ftp://sms.example/send", "scheme"},
		{"https:///send", "host"},
		{"https://sms.example/send?auth=digest&token=" + secret, "auth must be one of basic, bearer, none"},
		{"https://sms.example/send?auth=basic&token=" + secret, "auth=basic"},
		{"https://sms.example/send?auth=bearer", "auth=bearer"},
		{"https://sms.example/send?auth=none&token=" + secret, "auth=none"},
		{"https://u:" + secret + "@sms.example/send?token=" + secret, "not both"},
		{"https://sms.example/send?token=" + secret + "&to_field=a%20b", "to_field"},
		{"https://sms.example/send?token=" + secret + "&to_field=text", "must differ"},
		{"https://sms.example/send?token=" + secret + "&timeout=forever", "timeout"},
		{"https://sms.example/send?token=a&token=" + secret, "more than once"},
		{"https://u:Sehr#Geheim-99@sms.example/send", "malformed"},
	} {
		_, err := ParseGatewayURL(bad.in)
		var ve *validate.Error
		if !errors.As(err, &ve) || ve.Field != "FAIRLEAD_SMS_URL" || !strings.Contains(err.Error(), bad.part) {
			t.Errorf("%q: got %v, want an error naming %q", bad.in, err, bad.part)
		}
		if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "Geheim")) {
			t.Errorf("%q: error shows the token: %v", bad.in, err)
		}
	}
}
