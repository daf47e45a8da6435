package lead

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A contact's score contributions are stored packed, as one value in its
// lead_state row: a recompute then writes one row per contact, and the
// unchanged-skip compares one byte string. Since migration 0029 the value
// is binary and holds only what the score and the caps need: per entry
//
//	flags, rule ID, points, rule version[, time]
//
// after a leading format byte (packBinary). flags: bit 0 engagement (else
// fit), bit 1 capped, bit 2 points stored as a zigzag varint (whole
// numbers) instead of the 8 bytes of a float64. The rule ID is a uvarint
// length and its bytes, the version a uvarint, an engagement entry's time
// a zigzag varint of microseconds since the entry before it (since the
// Unix epoch for the first). The event's ID, type and name are not stored:
// they are the track_events row at that time that matches the rule, and
// the score history and the access export read them from there
// (eventsFor). At three events a contact's value is about 45 bytes; the
// text form was about 220, most of it each event's 36-character ID, type
// and name.
//
// A fit entry has no time of its own: it was evaluated when the state's
// score_ref_at was written. Entries are in a canonical order (fit first in
// rule order, then by time, rule, points, capped and version), so equal
// contributions give equal bytes.
//
// Rows written before 0029 hold the text form of migration 0025 (one line
// an entry, tab-separated kind rule event_id event_type event_name points
// capped at rule_version, at in Unix microseconds or, carried over from
// SQLite, the stored timestamp text); they are read as they are
// (unpackText) until the row is next written.

// packBinary starts a packed value in the binary form; a text one starts
// with "f" or "e".
const packBinary = 1

const (
	flagEngagement = 1 << iota
	flagCapped
	flagWhole
)

// sortContribs puts cs into the packed value's canonical order.
func sortContribs(cs []contribution) {
	slices.SortStableFunc(cs, func(a, b contribution) int {
		if a.kind != b.kind {
			if a.kind == "fit" {
				return -1
			}
			return 1
		}
		if a.kind == "fit" {
			return 0
		}
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		if c := strings.Compare(a.ruleID, b.ruleID); c != 0 {
			return c
		}
		if c := cmp.Compare(a.points, b.points); c != 0 {
			return c
		}
		if a.capped != b.capped {
			if !a.capped {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.version, b.version)
	})
}

// packContribs returns the packed value of cs, which must be in canonical
// order (sortContribs).
func packContribs(cs []contribution) []byte {
	if len(cs) == 0 {
		return []byte{}
	}
	return appendPacked(make([]byte, 0, 1+len(cs)*20), cs)
}

// maxWhole bounds the points stored as varints: whole numbers up to it
// are exact as float64 and as int64.
const maxWhole = 1 << 52

// appendPacked appends the packed value of cs to b: a recompute packs a
// whole batch into one buffer.
func appendPacked(b []byte, cs []contribution) []byte {
	if len(cs) == 0 {
		return b
	}
	b = append(b, packBinary)
	var prev int64
	for _, c := range cs {
		var flags byte
		if c.kind != "fit" {
			flags |= flagEngagement
		}
		if c.capped {
			flags |= flagCapped
		}
		whole := c.points == math.Trunc(c.points) && math.Abs(c.points) <= maxWhole && !(c.points == 0 && math.Signbit(c.points))
		if whole {
			flags |= flagWhole
		}
		b = append(b, flags)
		b = binary.AppendUvarint(b, uint64(len(c.ruleID)))
		b = append(b, c.ruleID...)
		if whole {
			b = binary.AppendVarint(b, int64(c.points))
		} else {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.points))
		}
		b = binary.AppendUvarint(b, uint64(c.version))
		if flags&flagEngagement != 0 {
			us := c.at.UnixMicro()
			b = binary.AppendVarint(b, us-prev)
			prev = us
		}
	}
	return b
}

var errPacked = errors.New("lead: packed contributions are damaged")

// unpackContribs reads a packed value of either form; fit entries get
// fitAt as their time. Engagement entries of the binary form carry no
// event: their eventID, eventType and eventName are empty.
func unpackContribs(p []byte, fitAt time.Time) ([]contribution, error) {
	if len(p) == 0 {
		return nil, nil
	}
	if p[0] != packBinary {
		return unpackText(string(p), fitAt)
	}
	p = p[1:]
	out := make([]contribution, 0, 4)
	var prev int64
	for len(p) > 0 {
		flags := p[0]
		p = p[1:]
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return nil, errPacked
		}
		c := contribution{kind: "fit", ruleID: string(p[k : k+int(n)]), at: fitAt}
		p = p[k+int(n):]
		if flags&flagWhole != 0 {
			v, k := binary.Varint(p)
			if k <= 0 {
				return nil, errPacked
			}
			c.points, p = float64(v), p[k:]
		} else {
			if len(p) < 8 {
				return nil, errPacked
			}
			c.points, p = math.Float64frombits(binary.LittleEndian.Uint64(p)), p[8:]
		}
		v, k := binary.Uvarint(p)
		if k <= 0 {
			return nil, errPacked
		}
		c.version, p = int(v), p[k:]
		c.capped = flags&flagCapped != 0
		if flags&flagEngagement != 0 {
			d, k := binary.Varint(p)
			if k <= 0 {
				return nil, errPacked
			}
			prev += d
			c.kind, c.at, p = "engagement", time.UnixMicro(prev).UTC(), p[k:]
		}
		out = append(out, c)
	}
	return out, nil
}

func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// sqliteTime is how the SQLite driver stores timestamps; rows carried over
// by the migration there keep it.
const sqliteTime = "2006-01-02 15:04:05.999999999-07:00"

// unpackText reads the text form of migration 0025; fit entries get fitAt
// as their time.
func unpackText(s string, fitAt time.Time) ([]contribution, error) {
	if s == "" {
		return nil, nil
	}
	out := make([]contribution, 0, strings.Count(s, "\n")+1)
	var f [9]string
	for s != "" {
		line := s
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		n := 0
		for n < 8 {
			i := strings.IndexByte(line, '\t')
			if i < 0 {
				break
			}
			f[n], line = line[:i], line[i+1:]
			n++
		}
		if n != 8 {
			return nil, fmt.Errorf("lead: packed contribution with %d fields, want 9", n+1)
		}
		f[8] = line
		var c contribution
		switch f[0] {
		case "f":
			c.kind, c.at = "fit", fitAt
		case "e":
			c.kind = "engagement"
		default:
			return nil, fmt.Errorf("lead: packed contribution of kind %q", f[0])
		}
		c.ruleID, c.eventID, c.eventType, c.eventName = unescape(f[1]), unescape(f[2]), unescape(f[3]), unescape(f[4])
		p, err := strconv.ParseFloat(f[5], 64)
		if err != nil {
			return nil, fmt.Errorf("lead: packed contribution points: %w", err)
		}
		c.points, c.capped = p, f[6] == "1"
		if c.kind == "engagement" {
			if c.at, err = packedTime(f[7]); err != nil {
				return nil, err
			}
		}
		v, err := strconv.Atoi(f[8])
		if err != nil {
			return nil, fmt.Errorf("lead: packed contribution version: %w", err)
		}
		c.version = v
		out = append(out, c)
	}
	return out, nil
}

func packedTime(s string) (time.Time, error) {
	if us, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMicro(us).UTC(), nil
	}
	for _, layout := range []string{sqliteTime, time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("lead: packed contribution time %q", s)
}
