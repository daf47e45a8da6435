package web

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the client of a request that came through trusted
// proxies: X-Forwarded-For read from the right (each proxy appends the
// address it was connected from), skipping the trusted proxies, up to the
// first address that is not one. A header from a peer that is not trusted
// is ignored, since anybody can send one; so is a malformed one.
func clientAddr(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	if len(trusted) == 0 {
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !isTrusted(ap.Addr().Unmap(), trusted) {
		return netip.Addr{}, false
	}
	vals := r.Header.Values("X-Forwarded-For")
	var last netip.Addr
	for i := len(vals) - 1; i >= 0; i-- {
		parts := strings.Split(vals[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return netip.Addr{}, false
			}
			a = a.Unmap().WithZone("")
			if !isTrusted(a, trusted) {
				return a, true
			}
			last = a
		}
	}
	// Proxies all the way: the first of them is as near to the client as
	// the header goes.
	return last, last.IsValid()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
