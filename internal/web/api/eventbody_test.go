package api

import (
	"reflect"
	"testing"
)

var eventBodies = []string{
	`{"events":[{"contact_id":"0190f3a2-7c4e-7d2a-9b1c-3f5e8a7b6c5d","type":"page_view","name":"/pricing","ref":"r1","props":{"utm_source":"news","a":"b"},"at":"2026-11-30T10:00:00Z"},{"type":"download","name":"whitepaper","visitor":{"ip":"203.0.113.9","user_agent":"Mozilla/5.0"},"gpc":true,"device_access":false}]}`,
	` { "events" : [ ] } `,
	`{"type":"page_view","name":"/","at":"2026-11-30T10:00:00.123456+01:00","props":{}}`,
	`{}`,
	`{"type":"page_view","visitor":{}}`,
	// What the fast path leaves to encoding/json:
	`{"events":null}`,
	`{"events":[null]}`,
	`{"type":"x","events":[]}`,
	`{"events":[],"type":"x"}`,
	`{"Type":"page_view"}`,
	`{"type":"a","type":"b"}`,
	`{"type":"caf\u00e9"}`,
	`{"type":"page_view","at":"yesterday"}`,
	`{"type":"page_view","at":null}`,
	`{"type":"page_view","gpc":1}`,
	`{"type":"page_view","props":{"n":1}}`,
	`{"type":"page_view","unknown":true}`,
	`{"type":"page_view"} {}`,
	`[{"type":"page_view"}]`,
	"{\"type\":\"\xff\"}",
	`{"type":"page_view"`,
	``,
}

// TestDecodeEventsFast: the fast path takes the usual bodies and leaves
// the rest to encoding/json; what it takes, it decodes as encoding/json
// does.
func TestDecodeEventsFast(t *testing.T) {
	t.Parallel()
	for i, b := range eventBodies {
		evs, ok := decodeEventsFast([]byte(b))
		if want := i < 5; ok != want {
			t.Errorf("%s: fast path %v, want %v", b, ok, want)
		}
		if ok {
			same(t, []byte(b), evs)
		}
	}
}

func same(t *testing.T, body []byte, fast []apiEvent) {
	t.Helper()
	slow, err := decodeEvents(body)
	if err != nil {
		t.Fatalf("%q: fast path took a body encoding/json refuses: %v", body, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%q:\nfast %+v\nslow %+v", body, fast, slow)
	}
}

func FuzzDecodeEventsFast(f *testing.F) {
	for _, b := range eventBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if evs, ok := decodeEventsFast(body); ok {
			same(t, body, evs)
		}
	})
}
