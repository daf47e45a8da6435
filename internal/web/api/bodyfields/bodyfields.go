// Package bodyfields lists the field names of a JSON request body for the
// audit trail, which records which fields a request set but never their
// values.
package bodyfields

import (
	"encoding/json"
	"slices"
)

// Names are the sorted, distinct names of the top-level fields of a JSON
// object; for an array of objects (or nulls), the names of its objects'
// fields. Anything else, and invalid JSON, has none.
//
// It scans the body instead of decoding it into maps: the body of a batch
// of events is large, its values are never needed here, and the handler
// decodes it anyway. json.Valid keeps the answer for malformed bodies what
// a decoder would give.
func Names(b []byte) []string {
	if !json.Valid(b) {
		return nil
	}
	s := scanner{b: b}
	s.ws()
	switch b[s.i] {
	case '{':
		s.object()
	case '[':
		s.i++
		s.ws()
		if b[s.i] == ']' {
			break
		}
		for {
			switch b[s.i] {
			case '{':
				s.object()
			case 'n':
				s.i += len("null")
			default:
				return nil
			}
			s.ws()
			if b[s.i] == ']' {
				break
			}
			s.i++ // ','
			s.ws()
		}
	default:
		return nil
	}
	slices.Sort(s.names)
	return slices.Compact(s.names)
}

// scanner walks a body json.Valid accepted, so it checks no syntax.
type scanner struct {
	b     []byte
	i     int
	names []string
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// object reads the object at s.i, adding its keys, and leaves s.i after it.
func (s *scanner) object() {
	s.i++ // '{'
	s.ws()
	if s.b[s.i] == '}' {
		s.i++
		return
	}
	for {
		start := s.i
		plain := s.str()
		if plain {
			s.names = append(s.names, string(s.b[start+1:s.i-1]))
		} else {
			// Escapes and non-ASCII bytes: the decoder's own unquoting,
			// which also replaces invalid UTF-8.
			var k string
			_ = json.Unmarshal(s.b[start:s.i], &k)
			s.names = append(s.names, k)
		}
		s.ws()
		s.i++ // ':'
		s.ws()
		s.value()
		s.ws()
		if s.b[s.i] == '}' {
			s.i++
			return
		}
		s.i++ // ','
		s.ws()
	}
}

// str skips the string at s.i; plain reports that it has neither escapes
// nor bytes outside ASCII.
func (s *scanner) str() (plain bool) {
	plain = true
	s.i++
	for {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return plain
		case c == '\\':
			plain = false
			s.i += 2
		case c >= 0x80:
			plain = false
			s.i++
		default:
			s.i++
		}
	}
}

// value skips the value at s.i.
func (s *scanner) value() {
	switch s.b[s.i] {
	case '"':
		s.str()
	case '{', '[':
		depth := 0
		for {
			switch s.b[s.i] {
			case '"':
				s.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				return
			}
		}
	default:
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return
			}
			s.i++
		}
	}
}
