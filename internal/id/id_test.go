package id

import (
	"encoding/hex"
	"sort"
	"testing"
	"time"
)

func TestNewIsVersion7AndOrdered(t *testing.T) {
	t.Parallel()
	const n = 10000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = New()
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("IDs made one after another must sort in creation order")
	}
	seen := make(map[string]bool, n)
	for _, s := range ids {
		if !Valid(s) {
			t.Fatalf("%q is not a canonical UUID", s)
		}
		if s[14] != '7' {
			t.Fatalf("%q: version nibble %c, want 7", s, s[14])
		}
		if v := s[19]; v != '8' && v != '9' && v != 'a' && v != 'b' {
			t.Fatalf("%q: variant nibble %c, want RFC 9562 variant", s, v)
		}
		if seen[s] {
			t.Fatalf("duplicate %q", s)
		}
		seen[s] = true
	}
}

func TestNewAtEncodesTime(t *testing.T) {
	t.Parallel()
	a := NewAt(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	b := NewAt(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if a[:8] == b[:8] || a > b {
		t.Fatalf("timestamps not encoded in order: %s %s", a, b)
	}
}

func TestValid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"0190f3c4-8a2b-7c3d-9e4f-0a1b2c3d4e5f", true},
		{"0190F3C4-8A2B-7C3D-9E4F-0A1B2C3D4E5F", false},
		{"", false},
		{"0190f3c4-8a2b-7c3d-9e4f-0a1b2c3d4e5", false},
		{"0190f3c4x8a2b-7c3d-9e4f-0a1b2c3d4e5f", false},
		{"0190f3c4-8a2b-7c3d-9e4f-0a1b2c3d4e5g", false},
		{"' OR 1=1 --", false},
	} {
		if got := Valid(tc.in); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestAppendTextMatchesHex(t *testing.T) {
	for i := range 1000 {
		var b [16]byte
		for j := range b {
			b[j] = byte(i*31 + j*j*7 + i>>3)
		}
		if i == 0 {
			b = [16]byte{0: 0xff, 15: 0xff}
		}
		h := hex.EncodeToString(b[:])
		want := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
		if got := string(AppendText([]byte("x"), b[:])); got != "x"+want {
			t.Fatalf("%x: got %q, want %q", b, got, want)
		}
		if back, ok := Bytes(want); !ok || back != b {
			t.Fatalf("%q does not read back: %x %v", want, back, ok)
		}
	}
}

func BenchmarkAppendText(b *testing.B) {
	k := []byte{0x01, 0x93, 0xb1, 0xc2, 0xde, 0xad, 0x70, 0x00, 0x80, 0x00, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54}
	buf := make([]byte, 0, 36)
	for b.Loop() {
		buf = AppendText(buf[:0], k)
	}
}
