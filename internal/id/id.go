// Package id makes the identifiers fairlead stores: UUIDv7 (RFC 9562), so that
// primary keys sort by creation time on both SQLite and PostgreSQL and inserts
// stay append-mostly in the B-trees.
package id

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

var (
	mu     sync.Mutex
	lastMs int64
	seq    uint16
)

// New returns a new UUIDv7 in its canonical text form.
//
// Within one millisecond the 12-bit rand_a field is used as a counter
// (RFC 9562 §6.2 method 1) so IDs made by one process are strictly ordered.
func New() string {
	return NewAt(time.Now())
}

// NewAt returns a UUIDv7 whose timestamp is t (used by generators of
// synthetic data that want realistic creation times).
func NewAt(t time.Time) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("id: crypto/rand failed: " + err.Error())
	}
	ms := t.UnixMilli()
	mu.Lock()
	if ms <= lastMs {
		seq++
		if seq > 0x0fff {
			lastMs++
			seq = 0
		}
		ms = lastMs
	} else {
		lastMs = ms
		seq = binary.BigEndian.Uint16(b[6:8]) & 0x01ff // leave head-room for the counter
	}
	s := seq
	mu.Unlock()

	b[0] = byte(ms >> 40)
	b[1] = byte(ms >> 32)
	b[2] = byte(ms >> 24)
	b[3] = byte(ms >> 16)
	b[4] = byte(ms >> 8)
	b[5] = byte(ms)
	b[6] = 0x70 | byte(s>>8)&0x0f
	b[7] = byte(s)
	b[8] = b[8]&0x3f | 0x80
	return format(b)
}

func format(b [16]byte) string { return string(AppendText(nil, b[:])) }

// hexPairs holds the two lower-case hex digits of every byte value:
// audience listings turn hundreds of thousands of stored keys into text,
// and a table lookup per byte is about three times faster than
// encoding/hex's two nibble lookups with their bounds checks.
var hexPairs = func() (t [512]byte) {
	const digits = "0123456789abcdef"
	for i := range 256 {
		t[2*i], t[2*i+1] = digits[i>>4], digits[i&0x0f]
	}
	return t
}()

// AppendText appends the canonical text of a 16-byte ID to dst.
func AppendText(dst, b []byte) []byte {
	_ = b[15]
	var out [36]byte
	pair := func(at int, v byte) {
		p := int(v) * 2
		out[at], out[at+1] = hexPairs[p], hexPairs[p+1]
	}
	pair(0, b[0])
	pair(2, b[1])
	pair(4, b[2])
	pair(6, b[3])
	out[8] = '-'
	pair(9, b[4])
	pair(11, b[5])
	out[13] = '-'
	pair(14, b[6])
	pair(16, b[7])
	out[18] = '-'
	pair(19, b[8])
	pair(21, b[9])
	out[23] = '-'
	pair(24, b[10])
	pair(26, b[11])
	pair(28, b[12])
	pair(30, b[13])
	pair(32, b[14])
	pair(34, b[15])
	return append(dst, out[:]...)
}

// Bytes returns the 16 bytes of a canonical UUID text (ok false otherwise).
func Bytes(s string) (b [16]byte, ok bool) {
	if !Valid(s) {
		return b, false
	}
	for i, j := range [][2]int{{0, 8}, {9, 13}, {14, 18}, {19, 23}, {24, 36}} {
		off := [...]int{0, 4, 6, 8, 10}[i]
		if _, err := hex.Decode(b[off:], []byte(s[j[0]:j[1]])); err != nil {
			return b, false
		}
	}
	return b, true
}

// ErrInvalid is returned by Parse for anything that is not a canonical UUID.
var ErrInvalid = errors.New("not a valid UUID")

// Valid reports whether s is a canonical, lower-case UUID text (the form
// fairlead writes). Handlers check IDs from URLs with it before they reach
// the database, so a malformed ID is a 404 on both backends rather than a
// PostgreSQL cast error — and an upper-case one too: PostgreSQL's uuid type
// would match it while SQLite's text would not.
func Valid(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
