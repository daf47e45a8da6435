package api

import (
	"strings"
	"time"
	"unicode/utf8"
)

// decodeEventsFast decodes the usual shape of a POST /api/v1/events body
// without reflection: {"events": [...]} or one event object, every key
// spelled as documented and given once, strings without escapes,
// "props" an object of strings, "at" a time as encoding/json reads it,
// "visitor" an object of "ip" and "user_agent", "gpc" and
// "device_access" true or false. For anything else it says !ok, and the
// body goes to encoding/json, which then gives the answer and, for a bad
// body, its error. Decoding was an eighth of a batch's CPU.
//
// Whatever it accepts, encoding/json decodes to the same events
// (FuzzDecodeEventsFast).
func decodeEventsFast(body []byte) (evs []apiEvent, ok bool) {
	// One string for the whole body: the fields are slices of it instead
	// of an allocation each.
	p := eventParser{s: string(body)}
	p.ws()
	if !p.eat('{') {
		return nil, false
	}
	p.ws()
	if p.peek() == '"' && strings.HasPrefix(p.s[p.i:], `"events"`) {
		p.i += len(`"events"`)
		p.ws()
		if !p.eat(':') {
			return nil, false
		}
		p.ws()
		if !p.eat('[') {
			return nil, false
		}
		evs = []apiEvent{}
		p.ws()
		if !p.eat(']') {
			for {
				p.ws()
				if !p.eat('{') {
					return nil, false
				}
				var e apiEvent
				if !p.event(&e) {
					return nil, false
				}
				evs = append(evs, e)
				p.ws()
				if p.eat(']') {
					break
				}
				if !p.eat(',') {
					return nil, false
				}
			}
		}
		p.ws()
		if !p.eat('}') {
			return nil, false
		}
	} else {
		var e apiEvent
		if !p.event(&e) {
			return nil, false
		}
		evs = []apiEvent{e}
	}
	p.ws()
	if p.i != len(p.s) {
		return nil, false
	}
	return evs, true
}

type eventParser struct {
	s string
	i int
}

func (p *eventParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *eventParser) eat(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

func (p *eventParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// str reads a string without escapes, control characters or invalid
// UTF-8 (encoding/json would rewrite those), quotes included in raw.
func (p *eventParser) str() (v, raw string, ok bool) {
	if !p.eat('"') {
		return "", "", false
	}
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			v = p.s[start:p.i]
			p.i++
			if !utf8.ValidString(v) {
				return "", "", false
			}
			return v, p.s[start-1 : p.i], true
		case c == '\\' || c < 0x20:
			return "", "", false
		}
		p.i++
	}
	return "", "", false
}

func (p *eventParser) boolean() (v, ok bool) {
	switch {
	case len(p.s)-p.i >= 4 && p.s[p.i:p.i+4] == "true":
		p.i += 4
		return true, true
	case len(p.s)-p.i >= 5 && p.s[p.i:p.i+5] == "false":
		p.i += 5
		return false, true
	}
	return false, false
}

// object reads the members of an object whose '{' is consumed, calling
// member for each key with the parser at its value.
func (p *eventParser) object(member func(key string) bool) bool {
	p.ws()
	if p.eat('}') {
		return true
	}
	for {
		p.ws()
		k, _, ok := p.str()
		if !ok {
			return false
		}
		p.ws()
		if !p.eat(':') {
			return false
		}
		p.ws()
		if !member(k) {
			return false
		}
		p.ws()
		if p.eat('}') {
			return true
		}
		if !p.eat(',') {
			return false
		}
	}
}

const (
	hasContact = 1 << iota
	hasType
	hasName
	hasRef
	hasProps
	hasAt
	hasVisitor
	hasGPC
	hasDevice
)

// event reads an event object whose '{' is consumed.
func (p *eventParser) event(e *apiEvent) bool {
	seen := 0
	once := func(bit int) bool {
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	}
	var ok bool
	return p.object(func(k string) bool {
		switch k {
		case "contact_id":
			if !once(hasContact) {
				return false
			}
			e.ContactID, _, ok = p.str()
		case "type":
			if !once(hasType) {
				return false
			}
			e.Type, _, ok = p.str()
		case "name":
			if !once(hasName) {
				return false
			}
			e.Name, _, ok = p.str()
		case "ref":
			if !once(hasRef) {
				return false
			}
			e.Ref, _, ok = p.str()
		case "props":
			if !once(hasProps) || !p.eat('{') {
				return false
			}
			e.Props = map[string]string{}
			ok = p.object(func(pk string) bool {
				v, _, ok := p.str()
				e.Props[pk] = v
				return ok
			})
		case "at":
			if !once(hasAt) {
				return false
			}
			var raw string
			if _, raw, ok = p.str(); ok {
				var t time.Time
				if t.UnmarshalJSON([]byte(raw)) != nil {
					return false
				}
				e.At = &t
			}
		case "visitor":
			if !once(hasVisitor) || !p.eat('{') {
				return false
			}
			v := &struct {
				IP        string `json:"ip"`
				UserAgent string `json:"user_agent"`
			}{}
			vseen := 0
			ok = p.object(func(vk string) bool {
				var ok bool
				switch {
				case vk == "ip" && vseen&1 == 0:
					vseen |= 1
					v.IP, _, ok = p.str()
				case vk == "user_agent" && vseen&2 == 0:
					vseen |= 2
					v.UserAgent, _, ok = p.str()
				}
				return ok
			})
			e.Visitor = v
		case "gpc":
			if !once(hasGPC) {
				return false
			}
			e.GPC, ok = p.boolean()
		case "device_access":
			if !once(hasDevice) {
				return false
			}
			e.DeviceAccess, ok = p.boolean()
		default:
			return false
		}
		return ok
	})
}
