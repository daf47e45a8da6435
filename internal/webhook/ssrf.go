package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/fairlead/fairlead/internal/validate"
)

// Webhook URLs are typed in by workspace admins, and fairlead's process
// usually sits inside a network with databases, metadata services and admin
// consoles that the outside cannot reach. Without a guard an admin of one
// workspace could point an endpoint at them (SSRF). The guard checks the
// address actually dialled, after DNS resolution, in the dialer's Control
// hook: a name that resolves to a public address when saved and to
// 127.0.0.1 when used (DNS rebinding) is refused all the same.

// blockedPrefixes are refused unless AllowPrivate is set, in addition to
// what netip classifies as loopback, private, link-local, multicast and
// unspecified.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // CGNAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64: may embed any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("::ffff:0:0/96"),  // IPv4-mapped (unmapped below; kept for safety)
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("2002::/16"),      // 6to4: may embed any IPv4 address
	netip.MustParsePrefix("2001::/32"),      // Teredo: may embed any IPv4 address
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("255.255.255.255/32"),
}

// errBlockedAddress is returned by the dialer for a refused address.
var errBlockedAddress = errors.New("address refused: private, loopback, link-local, multicast or reserved (FAIRLEAD_WEBHOOK_ALLOW_PRIVATE)")

// blocked reports whether a is an address the guard refuses.
func blocked(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// checkDial is the dialer's Control hook: address is the IP and port about
// to be connected to.
func checkDial(network, address string) error {
	if network != "tcp4" && network != "tcp6" && network != "tcp" {
		return fmt.Errorf("network %s refused", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("unparsable dial address: %w", err)
	}
	if blocked(ap.Addr()) {
		return errBlockedAddress
	}
	return nil
}

// guardedTransport is the HTTP transport of deliveries: no proxy from the
// environment (a proxy would dial for us, past the guard), the address
// guard unless private targets are allowed, and a timeout on every phase.
func guardedTransport(allowPrivate bool, timeout time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = func(network, address string, _ syscall.RawConn) error { return checkDial(network, address) }
	}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    min(timeout, 5*time.Second),
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// maxURL keeps stored URLs reasonable.
const maxURL = 2000

// checkURL validates an endpoint URL when saved: https, or http to a
// loopback host when private targets are allowed; no credentials (the
// secret signs instead); no literal address the guard would refuse. Names
// are not resolved here: the guard checks what they resolve to at each
// delivery.
func (s *Service) checkURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", validate.Required("url")
	}
	if len(raw) > maxURL {
		return "", validate.Invalid("url", fmt.Sprintf("url must be at most %d characters", maxURL))
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", validate.Invalid("url", "url must be an absolute https:// URL, e.g. https://erp.example.com/hooks/fairlead")
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	loopback := host == "localhost" || strings.HasSuffix(host, ".localhost")
	ip, ipErr := netip.ParseAddr(strings.Trim(host, "[]"))
	if ipErr == nil {
		loopback = ip.Unmap().IsLoopback()
	}
	switch {
	case scheme == "https":
	case scheme == "http" && loopback && s.opts.AllowPrivate:
	case scheme == "http":
		return "", &validate.Error{Field: "url", Code: "https_required", Allowed: []string{"https"},
			Message: "url must use https:// (plain http is allowed only to a loopback address with FAIRLEAD_WEBHOOK_ALLOW_PRIVATE=true)"}
	default:
		return "", validate.OneOf("url", scheme, []string{"https"})
	}
	if u.User != nil {
		return "", validate.Invalid("url", "url must not contain a user name or password: receivers verify the Fairlead-Signature header instead")
	}
	if u.Fragment != "" {
		return "", validate.Invalid("url", "url must not contain a fragment (#…)")
	}
	if !s.opts.AllowPrivate && (loopback || (ipErr == nil && blocked(ip))) {
		return "", &validate.Error{Field: "url", Code: "address_refused",
			Message: "url points to a private, loopback, link-local or reserved address; set FAIRLEAD_WEBHOOK_ALLOW_PRIVATE=true to allow that"}
	}
	u.Scheme, u.Host = scheme, strings.ToLower(u.Host)
	return u.String(), nil
}
