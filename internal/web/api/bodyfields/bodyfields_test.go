package bodyfields

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// decoded is how the names were found before: decoding the whole body into
// maps. Names must give the same answer for every input.
func decoded(b []byte) []string {
	var obj map[string]json.RawMessage
	var names []string
	seen := map[string]bool{}
	add := func(m map[string]json.RawMessage) {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				names = append(names, k)
			}
		}
	}
	if json.Unmarshal(b, &obj) == nil {
		add(obj)
	} else {
		var arr []map[string]json.RawMessage
		if json.Unmarshal(b, &arr) == nil {
			for _, m := range arr {
				add(m)
			}
		}
	}
	slices.Sort(names)
	return names
}

var seeds = []string{
	``, `{}`, `[]`, `null`, `1`, `"x"`, `true`,
	`{"events":[{"type":"page_view","props":{"a":"b"}}],"z":1}`,
	` { "b" : [1, {"x": "]"}], "a":"\"}" , "b":null } `,
	`[{"a":1},null,{"b":{"c":[]}},{"a":2}]`,
	`[{"a":1},2]`, `[1]`, `[[]]`, `[null]`,
	`{"\u0041":1,"A":2,"k\\ey":3}`, `{"\ud800":1,"é":2,"` + "\xff" + `":3}`,
	`{"a":1}x`, `{"a":1,}`, `{"a" 1}`, `{"a":tru}`, `{"a":-1.5e+3,"b":0}`,
	`[{"a":1}`, "{\"a\":\"\t\"}",
}

func TestNamesAsDecoded(t *testing.T) {
	for _, s := range seeds {
		if got, want := Names([]byte(s)), decoded([]byte(s)); !slices.Equal(got, want) {
			t.Errorf("%q: %q, decoded %q", s, got, want)
		}
	}
	if got := Names([]byte(`{"events":[{"type":"x"}],"name":"n"}`)); strings.Join(got, ",") != "events,name" {
		t.Fatalf("top-level names only: %q", got)
	}
}

func FuzzNames(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Names(b), decoded(b); !slices.Equal(got, want) {
			t.Fatalf("%q: %q, decoded %q", b, got, want)
		}
	})
}

func BenchmarkNames(b *testing.B) {
	var evs []map[string]any
	for i := range 100 {
		evs = append(evs, map[string]any{"contact_id": "0190a1b2-0000-7000-8000-000000000000", "type": "page_view", "name": "/p/" + strings.Repeat("x", i%7),
			"props": map[string]string{"path": "/a"}, "visitor": map[string]string{"ip": "198.51.100.1", "user_agent": "Mozilla/5.0"}})
	}
	body, _ := json.Marshal(map[string]any{"events": evs})
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Names(body)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decoded(body)
		}
	})
}
