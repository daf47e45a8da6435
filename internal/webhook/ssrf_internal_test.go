package webhook

import (
	"net/netip"
	"testing"
)

func TestBlockedAddresses(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "127.1.2.3", "10.0.0.1", "10.255.255.255", "172.16.0.1", "192.168.1.1",
		"169.254.169.254", "100.64.0.1", "100.127.255.254", "0.0.0.0", "0.1.2.3", "224.0.0.1", "255.255.255.255",
		"::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
		"::ffff:169.254.169.254", "64:ff9b::a00:1", "2002:a00:1::1", "198.18.0.1", "240.0.0.1"} {
		if !blocked(netip.MustParseAddr(a)) {
			t.Errorf("%s is not refused", a)
		}
		if err := checkDial("tcp", netip.AddrPortFrom(netip.MustParseAddr(a), 443).String()); err == nil {
			t.Errorf("dial to %s allowed", a)
		}
	}
	for _, a := range []string{"93.184.215.14", "8.8.8.8", "100.128.0.1", "172.32.0.1", "2606:4700::6810:84e5", "1.1.1.1"} {
		if blocked(netip.MustParseAddr(a)) {
			t.Errorf("public %s is refused", a)
		}
	}
	if err := checkDial("udp", "8.8.8.8:53"); err == nil {
		t.Error("udp dial allowed")
	}
}
