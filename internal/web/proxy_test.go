package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/web"
)

// TestClientBehindTrustedProxies: over real HTTP on loopback, the handler
// sees the client X-Forwarded-For names only when the peer is a trusted
// proxy, read from the right past the trusted hops.
func TestClientBehindTrustedProxies(t *testing.T) {
	t.Parallel()
	serve := func(t *testing.T, trusted string) string {
		ps, err := config.ParseProxies(trusted)
		if err != nil {
			t.Fatal(err)
		}
		s := web.NewServer(web.Options{TrustedProxies: ps})
		s.Handle("GET /who", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.RemoteAddr)
		}))
		ts := httptest.NewServer(s.Handler())
		t.Cleanup(ts.Close)
		return ts.URL
	}
	get := func(t *testing.T, url string, xff ...string) string {
		req, err := http.NewRequest("GET", url+"/who", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if a, err := netip.ParseAddrPort(string(b)); err == nil {
			return a.Addr().String()
		}
		return string(b)
	}
	untrusted := serve(t, "")
	if got := get(t, untrusted, "198.51.100.7"); got != "127.0.0.1" {
		t.Errorf("no trusted proxies: client %s, want the peer 127.0.0.1", got)
	}
	other := serve(t, "10.0.0.0/8")
	if got := get(t, other, "198.51.100.7"); got != "127.0.0.1" {
		t.Errorf("peer not a trusted proxy: client %s, want the peer (the header is anybody's)", got)
	}
	viaProxy := serve(t, "127.0.0.1, 10.0.0.0/8")
	for _, c := range []struct {
		xff  []string
		want string
	}{
		{[]string{"198.51.100.7"}, "198.51.100.7"},
		{nil, "127.0.0.1"},
		// The client made up the left part; the proxy appended the rest.
		{[]string{"203.0.113.66, 198.51.100.7"}, "198.51.100.7"},
		{[]string{"198.51.100.7, 10.1.2.3"}, "198.51.100.7"},
		{[]string{"198.51.100.7", "10.1.2.3"}, "198.51.100.7"},
		{[]string{"2001:db8::5"}, "2001:db8::5"},
		{[]string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{[]string{"10.9.9.9, 10.1.2.3"}, "10.9.9.9"},
		{[]string{"not-an-address"}, "127.0.0.1"},
		{[]string{"198.51.100.7, bogus, 10.1.2.3"}, "127.0.0.1"},
	} {
		if got := get(t, viaProxy, c.xff...); got != c.want {
			t.Errorf("X-Forwarded-For %q: client %s, want %s", c.xff, got, c.want)
		}
	}
}
