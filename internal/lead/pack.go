package lead

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A contact's score contributions are stored packed, as one text in its
// lead_state row (migration 0025): a recompute then writes one row per
// contact instead of one per contribution with its index entry, and the
// unchanged-skip compares one string. The format is plain text so the
// migration could carry the old rows over in SQL:
//
//	kind TAB rule TAB event_id TAB event_type TAB event_name TAB points TAB capped TAB at TAB rule_version
//
// one entry a line; kind is "f" (fit) or "e" (engagement), capped "0" or
// "1", at the event's time in Unix microseconds (rows carried over from
// SQLite keep the stored timestamp text). A fit entry has no time of its
// own: it was evaluated when the state's score_ref_at was written. Tabs,
// line feeds and backslashes in the text fields are escaped as \t, \n, \\.
// Entries are in a canonical order (fit first in rule order, then by time,
// rule and event), so equal contributions give equal text.

// sortContribs puts cs into the packed text's canonical order.
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
		return strings.Compare(a.eventID, b.eventID)
	})
}

// packContribs returns the packed text of cs, which must be in canonical
// order (sortContribs).
func packContribs(cs []contribution) string {
	if len(cs) == 0 {
		return ""
	}
	return string(appendPacked(make([]byte, 0, len(cs)*96), cs))
}

// appendPacked appends the packed text of cs to b: a recompute packs a
// whole batch into one buffer and makes one string of it.
func appendPacked(b []byte, cs []contribution) []byte {
	for i, c := range cs {
		if i > 0 {
			b = append(b, '\n')
		}
		if c.kind == "fit" {
			b = append(b, 'f', '\t')
			b = appendEscaped(b, c.ruleID)
			b = append(b, "\t\t\t\t"...)
			b = strconv.AppendFloat(b, c.points, 'g', -1, 64)
			b = append(b, "\t0\t\t"...)
		} else {
			b = append(b, 'e', '\t')
			b = appendEscaped(b, c.ruleID)
			b = append(b, '\t')
			b = appendEscaped(b, c.eventID)
			b = append(b, '\t')
			b = appendEscaped(b, c.eventType)
			b = append(b, '\t')
			b = appendEscaped(b, c.eventName)
			b = append(b, '\t')
			b = strconv.AppendFloat(b, c.points, 'g', -1, 64)
			if c.capped {
				b = append(b, "\t1\t"...)
			} else {
				b = append(b, "\t0\t"...)
			}
			b = strconv.AppendInt(b, c.at.UnixMicro(), 10)
			b = append(b, '\t')
		}
		b = strconv.AppendInt(b, int64(c.version), 10)
	}
	return b
}

func appendEscaped(b []byte, s string) []byte {
	// A loop over the bytes, not strings.ContainsAny: a recompute packs
	// some 16 million fields at 1,000,000 contacts, almost none with a
	// character to escape, and ContainsAny builds its set anew each call.
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\t' || c == '\n' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\\':
			b = append(b, '\\', '\\')
		default:
			b = append(b, s[i])
		}
	}
	return b
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

// unpackContribs reads a packed text; fit entries get fitAt as their time.
func unpackContribs(s string, fitAt time.Time) ([]contribution, error) {
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
